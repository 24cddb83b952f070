//! Velocity Verlet for spheres (LAMMPS `fix nve/sphere`): translation and rotation.
//!
//! `initial`: v += (dt/2)F/m; x += dt·v; ω += (dt/2)τ/I. Then forces. Then `final_kick`:
//! v += (dt/2)F/m; ω += (dt/2)τ/I. An optional displacement limit per step (LAMMPS
//! `fix nve/limit`) caps |v|·dt, for relaxing badly overlapping initial structures.
//! Per-particle updates are independent, so the chunking never changes a result.
//!
//! `final_then_initial` is the second half-kick of one step followed by the first
//! half-kick and drift of the next, in one pass over memory: when nothing acts between
//! steps (no fix, no observer due), it does the same operations in the same order as the
//! two calls, so results are identical bit for bit, and large systems read their arrays
//! once instead of twice.

use rayon::prelude::*;

use crate::sim::parallel::{self, add_in_order};
use crate::sim::particles::{sphere_inertia, Particles};
use crate::sim::team;

/// Particles per parallel work item.
pub const CHUNK: usize = 2048;

/// `x`, or a zero of its sign where `x` is subnormal (below 2.2·10⁻³⁰⁸ in magnitude): what
/// a processor in flush-to-zero mode gives, applied where thermostats and barostats scale
/// velocities and spins. A particle with nothing to push it (no contact, no force in
/// range) has its motion scaled down step after step; without this it sinks through the
/// subnormals to 5·10⁻³²⁴, where the rounding keeps it for ever, and every later
/// operation on it takes a microcode assist about a hundred times a normal one's cost: the
/// 3945-particle NPT stage spent 0.78 s of 1.23 s integrating. Read as bits, so that the
/// test takes no assist of its own, and branch-free, so that the loops stay vector loops.
#[inline(always)]
pub fn flush_subnormal(x: f64) -> f64 {
    const EXPONENT: u64 = 0x7ff0_0000_0000_0000;
    const SIGN: u64 = 1 << 63;
    let bits = x.to_bits();
    f64::from_bits(if bits & EXPONENT == 0 { bits & SIGN } else { bits })
}

/// First half-kick and drift with the particles' kick factors for `dt` (see
/// [`KickFactors`]). `max_step` [µm] caps each particle's displacement; `rotate` = false
/// leaves angular velocities as they are. Returns a bound on the drift's squared speeds
/// [µm²/µs²] (see [`kick_chunk`]).
pub fn initial(p: &mut Particles, dt: f64, factors: &KickFactors, max_step: Option<f64>, rotate: bool) -> f64 {
    kick_with(p, factors, KickSettings::new(dt, max_step, 1, true, rotate))
}

/// Second half-kick (as [`initial`]).
pub fn final_kick(p: &mut Particles, dt: f64, factors: &KickFactors, max_step: Option<f64>, rotate: bool) {
    kick_with(p, factors, KickSettings::half_kick(dt, max_step, rotate));
}

/// Second half-kick of a step, then first half-kick and drift of the next (as
/// [`initial`]); returns a bound on the drift's squared speeds [µm²/µs²].
pub fn final_then_initial(
    p: &mut Particles,
    dt: f64,
    factors: &KickFactors,
    max_step: Option<f64>,
    rotate: bool,
) -> f64 {
    kick_with(p, factors, KickSettings::deferred(dt, max_step, rotate))
}

fn kick_with(p: &mut Particles, factors: &KickFactors, s: KickSettings) -> f64 {
    debug_assert_eq!(factors.dt, Some(s.dt), "kick factors for this timestep");
    let bounds = map_chunks(p, factors, CHUNK, |mut c| kick_chunk(&s, &mut c));
    bounds.into_iter().fold(0.0, f64::max)
}

/// Per particle, the factors of a half-kick: (dt/2)/m [µs/pg] and (dt/2)/I [µs/(pg·µm²)].
/// Two divisions per particle were a fifth of the granular gas's integration phase.
/// Masses and radii do not change inside a run (`System::run_with`, the Nosé–Hoover loop)
/// unless a fix changes them, so its kicks take them from here, computed when first
/// needed and forgotten at each list build (which may reorder the particles) and after a
/// fix that may change masses: the same divisions, so the same bits. Where they stay in the
/// cache they are kept once per component, as the kick's flat loops read them: repeating
/// them per component at every kick cost another fifth of that phase. In a large system,
/// whose kick streams them from memory, they are kept once per particle and repeated per
/// piece on the stack ([`Factors::thrice`]): a third of the bytes, which took the
/// 1,000,000-sphere gas's integration from 7.0–7.1 to 5.9–6.1 ns per particle-step, where
/// the repetition slowed the 19,683-sphere gas's from 48 to 57 µs per step.
#[derive(Debug, Default)]
pub struct KickFactors {
    /// The timestep they were computed for [µs]; `None`: not computed, or stale.
    dt: Option<f64>,
    /// Values per particle: 3 (one per component) or 1 (see [`KickFactors::layout`]).
    repeat: usize,
    per_mass: Vec<f64>,
    per_inertia: Vec<f64>,
}

/// Particles from which [`KickFactors`] are kept once per particle: between the gases
/// measured (19,683 spheres: faster with them per component; 1,000,000: per particle),
/// where the particles' state (about 250 bytes each with the factors per component) outgrows
/// a 32 MB last-level cache. The layout changes speed only, never a result.
const FACTORS_PER_PARTICLE_FROM: usize = 128_000;

impl KickFactors {
    /// Marks them stale: masses, radii or the particles' order may have changed.
    pub fn forget(&mut self) {
        self.dt = None;
    }

    /// Values per particle for `n` particles: 3 below [`FACTORS_PER_PARTICLE_FROM`], else 1.
    fn layout(n: usize) -> usize {
        if n < FACTORS_PER_PARTICLE_FROM {
            3
        } else {
            1
        }
    }

    /// Computes them for `p` and the timestep `dt` [µs], unless they are for that `dt` and
    /// as many particles and have not been forgotten since.
    pub fn refresh(&mut self, p: &Particles, dt: f64) {
        self.refresh_as(p, dt, Self::layout(p.len()));
    }

    /// [`KickFactors::refresh`] with `repeat` values per particle.
    fn refresh_as(&mut self, p: &Particles, dt: f64, repeat: usize) {
        if self.dt == Some(dt) && self.repeat == repeat && self.per_mass.len() == repeat * p.len() {
            return;
        }
        self.repeat = repeat;
        self.per_mass.resize(repeat * p.len(), 0.0);
        self.per_inertia.resize(repeat * p.len(), 0.0);
        let dtf = 0.5 * dt;
        self.per_mass
            .par_chunks_mut(repeat * CHUNK)
            .zip(self.per_inertia.par_chunks_mut(repeat * CHUNK))
            .zip(p.mass.par_chunks(CHUNK).zip(p.radius.par_chunks(CHUNK)))
            .for_each(|((pm, pi), (m, r))| divide(dtf, repeat, m, r, pm, pi));
        self.dt = Some(dt);
    }

    /// Those of particles `r`.
    pub fn of(&self, r: std::ops::Range<usize>) -> Factors<'_> {
        let k = self.repeat;
        Factors {
            repeat: k,
            per_mass: &self.per_mass[k * r.start..k * r.end],
            per_inertia: &self.per_inertia[k * r.start..k * r.end],
        }
    }
}

/// A chunk's share of [`KickFactors`], `repeat` values per particle.
#[derive(Debug, Clone, Copy)]
pub struct Factors<'a> {
    pub repeat: usize,
    pub per_mass: &'a [f64],
    pub per_inertia: &'a [f64],
}

impl<'a> Factors<'a> {
    /// The factors of particles `r` of the chunk (at most [`SUB`]), one per component: the
    /// stored ones, or `spread` filled with them (the spins' only with `spins`). `spread`
    /// is made on first use, so that the kicks of systems whose factors are stored per
    /// component do not zero it.
    #[inline(always)]
    fn thrice<'b>(
        &self,
        r: std::ops::Range<usize>,
        spins: bool,
        spread: &'b mut Option<[[f64; 3 * SUB]; 2]>,
    ) -> [&'b [f64]; 2]
    where
        'a: 'b,
    {
        if self.repeat == 3 {
            return [
                &self.per_mass[3 * r.start..3 * r.end],
                &self.per_inertia[3 * r.start..3 * r.end],
            ];
        }
        let len = 3 * r.len();
        let [m3, i3] = spread.get_or_insert_with(|| [[0.0; 3 * SUB]; 2]);
        repeat_thrice(&self.per_mass[r.clone()], &mut m3[..len]);
        if spins {
            repeat_thrice(&self.per_inertia[r], &mut i3[..len]);
        }
        [&m3[..len], &i3[..len]]
    }
}

/// Each value of `src` three times in a row into `dst`, eight at a time through constant
/// shuffles.
#[inline(always)]
fn repeat_thrice(src: &[f64], dst: &mut [f64]) {
    let (whole, rest) = src.as_chunks::<8>();
    let (into, rest_into) = dst.as_chunks_mut::<24>();
    for (s, d) in whole.iter().zip(into) {
        *d = std::array::from_fn(|k| s[k / 3]);
    }
    for (&m, d) in rest.iter().zip(rest_into.chunks_exact_mut(3)) {
        d.fill(m);
    }
}

/// (dt/2)/m and (dt/2)/I of each particle, from its mass and radius (`dtf` = dt/2), each
/// `repeat` times.
fn divide(dtf: f64, repeat: usize, mass: &[f64], radius: &[f64], per_mass: &mut [f64], per_inertia: &mut [f64]) {
    let rows = per_mass
        .chunks_exact_mut(repeat)
        .zip(per_inertia.chunks_exact_mut(repeat));
    for ((pm, pi), (&m, &r)) in rows.zip(mass.iter().zip(radius)) {
        pm.fill(dtf / m);
        pi.fill(dtf / (0.4 * r * r * m));
    }
}

/// Consecutive particles' state, as one worker of a pass over particles sees it.
pub struct Chunk<'a> {
    /// The index of its first particle.
    pub lo: usize,
    pub x: &'a mut [[f64; 3]],
    pub v: &'a mut [[f64; 3]],
    pub omega: &'a mut [[f64; 3]],
    pub f: &'a [[f64; 3]],
    pub torque: &'a [[f64; 3]],
    pub radius: &'a [f64],
    pub mass: &'a [f64],
    /// Their share of the [`KickFactors`].
    pub factors: Factors<'a>,
}

impl Chunk<'_> {
    /// Σ m v² + I ω² of the chunk [fJ] (see [`twice_kinetic_sum`]).
    fn twice_kinetic(&self) -> f64 {
        twice_kinetic_sum(self.v, self.omega, self.mass, self.radius)
    }
}

/// Running sums of [`twice_kinetic_sum`]: a power of two, at least 3·[`SUB`].
const SUMS: usize = 4 * SUB;

crate::multiversioned! {
    /// Σ m v² + I ω² of the particles [fJ], [`SUB`] at a time: the velocity and spin
    /// components in memory order, each times its particle's m or I (repeated per
    /// component, as in [`kick_chunk`]); component q of every piece into running sum q,
    /// and the sums halved pairwise at the end (s_q += s_{q+half}). A fixed order, so the
    /// same bits on any thread count; and vector loops, where one running sum per
    /// particle waited on each add (10 % of the NPT stage).
    pub fn twice_kinetic_sum(v: &[[f64; 3]], omega: &[[f64; 3]], mass: &[f64], radius: &[f64]) -> f64 {
        let mut sums = [0.0f64; SUMS];
        let mut m3 = [0.0f64; 3 * SUB];
        let mut i3 = [0.0f64; 3 * SUB];
        for lo in (0..v.len()).step_by(SUB) {
            let hi = (lo + SUB).min(v.len());
            for (k, (&m, &r)) in mass[lo..hi].iter().zip(&radius[lo..hi]).enumerate() {
                m3[3 * k..3 * k + 3].fill(m);
                i3[3 * k..3 * k + 3].fill(sphere_inertia(m, r));
            }
            let (vf, wf) = (v[lo..hi].as_flattened(), omega[lo..hi].as_flattened());
            let terms = vf.iter().zip(wf).zip(m3.iter().zip(&i3));
            for (s, ((&va, &wa), (&m, &i))) in sums.iter_mut().zip(terms) {
                *s += m * (va * va) + i * (wa * wa);
            }
        }
        let mut half = SUMS / 2;
        while half > 0 {
            let (low, high) = sums[..2 * half].split_at_mut(half);
            for (a, b) in low.iter_mut().zip(high.iter()) {
                *a += *b;
            }
            half /= 2;
        }
        sums[0]
    }
}

/// Σ m v² + I ω² of all particles [fJ], in [`then_twice_kinetic`]'s order: the same bits.
pub fn twice_kinetic_total(p: &Particles) -> f64 {
    let parts: Vec<[f64; 1]> = (p.v.par_chunks(parallel::CHUNK).zip(p.omega.par_chunks(parallel::CHUNK)))
        .zip(
            p.mass
                .par_chunks(parallel::CHUNK)
                .zip(p.radius.par_chunks(parallel::CHUNK)),
        )
        .map(|((v, omega), (mass, radius))| [twice_kinetic_sum(v, omega, mass, radius)])
        .collect();
    add_in_order(&parts)[0]
}

/// `act` on every chunk, then Σ m v² + I ω² of the result [fJ], in one pass over memory:
/// the same bits as `act` on all particles followed by [`twice_kinetic_total`].
pub fn then_twice_kinetic(p: &mut Particles, factors: &KickFactors, act: impl Fn(&mut Chunk) + Sync + Send) -> f64 {
    let parts = map_chunks(p, factors, parallel::CHUNK, |mut c| {
        act(&mut c);
        [c.twice_kinetic()]
    });
    add_in_order(&parts)[0]
}

/// `visit` on consecutive chunks of `size` particles in parallel, each with its share of
/// `factors`; the results in chunk order.
pub fn map_chunks<R: Send>(
    p: &mut Particles,
    factors: &KickFactors,
    size: usize,
    visit: impl Fn(Chunk) -> R + Sync + Send,
) -> Vec<R> {
    let Particles {
        x,
        v,
        omega,
        f,
        torque,
        radius,
        mass,
        ..
    } = p;
    let chunks: Vec<Chunk> = (x.chunks_mut(size).zip(v.chunks_mut(size)).zip(omega.chunks_mut(size)))
        .zip(f.chunks(size).zip(torque.chunks(size)))
        .zip(radius.chunks(size).zip(mass.chunks(size)))
        .enumerate()
        .map(|(k, ((((x, v), omega), (f, torque)), (radius, mass)))| {
            let lo = k * size;
            Chunk {
                lo,
                factors: factors.of(lo..lo + x.len()),
                x,
                v,
                omega,
                f,
                torque,
                radius,
                mass,
            }
        })
        .collect();
    team::map_items(chunks, || (), |_, c| visit(c))
}

/// What a kick does to a chunk.
pub struct KickSettings {
    dt: f64,
    vmax: Option<f64>,
    /// Half-kicks in a row (1, or 2 for a final kick fused with the next initial one).
    kicks: usize,
    drift: bool,
    rotate: bool,
}

impl KickSettings {
    fn new(dt: f64, max_step: Option<f64>, kicks: usize, drift: bool, rotate: bool) -> Self {
        KickSettings {
            dt,
            vmax: max_step.map(|l| l / dt),
            kicks,
            drift,
            rotate,
        }
    }

    /// A deferred final half-kick, then the next first half-kick and drift (as
    /// [`final_then_initial`]).
    pub fn deferred(dt: f64, max_step: Option<f64>, rotate: bool) -> Self {
        Self::new(dt, max_step, 2, true, rotate)
    }

    /// One half-kick, no drift (as [`final_kick`]).
    pub fn half_kick(dt: f64, max_step: Option<f64>, rotate: bool) -> Self {
        Self::new(dt, max_step, 1, false, rotate)
    }
}

/// Particles per pass of [`kick_chunk`]: its running maxima per component position stay in
/// the L1 cache.
const SUB: usize = 128;

crate::multiversioned! {
    /// One chunk of particles, [`SUB`] at a time, with its [`KickFactors`] one per component
    /// (as stored, or repeated for the piece: [`Factors::thrice`]), so that every update is
    /// one flat loop over components (a loop over `[f64; 3]` rows needs shuffles to
    /// vectorize, which cost more than the arithmetic). Same operations per component as a
    /// loop over rows, so the same bits. Returns a bound on the drift's squared speeds
    /// [µm²/µs²] (0 without one), Σ_a max |v_a|², which bounds how far any particle moved (see
    /// `System::run_with`): per component, as a flat vector loop (a per-particle speed
    /// cost a nanosecond per particle-step).
    pub fn kick_chunk(s: &KickSettings, c: &mut Chunk<'_>) -> f64 {
        // The largest |v_a| seen at each component position of a piece.
        let mut peaks = [0.0f64; 3 * SUB];
        let mut spread = None;
        let n = c.v.len();
        for lo in (0..n).step_by(SUB) {
            let hi = (lo + SUB).min(n);
            let [dtfm, dtirot] = c.factors.thrice(lo..hi, s.rotate, &mut spread);
            let f = c.f[lo..hi].as_flattened();
            let (v, x) = (c.v[lo..hi].as_flattened_mut(), c.x[lo..hi].as_flattened_mut());
            match (s.vmax, s.kicks, s.drift) {
                // One loop over the components for the kicks and the drift where no limit
                // acts between them: v, f and x are read once (the kick was a quarter of a
                // gas step, mostly loads).
                (None, 2, true) => kick_and_drift::<2>(v, f, dtfm, x, s.dt, &mut peaks),
                (None, 1, true) => kick_and_drift::<1>(v, f, dtfm, x, s.dt, &mut peaks),
                _ => {
                    for _ in 0..s.kicks {
                        for ((va, fa), d) in v.iter_mut().zip(f).zip(dtfm) {
                            *va += d * fa;
                        }
                        if let Some(vmax) = s.vmax {
                            for vk in v.as_chunks_mut::<3>().0 {
                                limit_velocity(vk, vmax);
                            }
                        }
                    }
                    if s.drift {
                        kick_and_drift::<0>(v, f, dtfm, x, s.dt, &mut peaks);
                    }
                }
            }
            if s.rotate {
                let (w, t) = (c.omega[lo..hi].as_flattened_mut(), c.torque[lo..hi].as_flattened());
                match s.kicks {
                    2 => kick_spins::<2>(w, t, dtirot),
                    _ => kick_spins::<1>(w, t, dtirot),
                }
            }
        }
        let mut peak = [0.0f64; 3];
        for row in peaks.chunks_exact(3) {
            for a in 0..3 {
                if row[a] > peak[a] {
                    peak[a] = row[a];
                }
            }
        }
        peak[0] * peak[0] + peak[1] * peak[1] + peak[2] * peak[2]
    }
}

/// `KICKS` half-kicks v += d·f, then the drift x += dt·v, per component in one loop (the
/// same operations as a loop per kick and one for the drift, so the same bits), and the
/// largest |v| at each component position of a piece in `peaks`.
#[inline(always)]
fn kick_and_drift<const KICKS: usize>(v: &mut [f64], f: &[f64], d: &[f64], x: &mut [f64], dt: f64, peaks: &mut [f64]) {
    for ((((va, fa), d), xa), peak) in v.iter_mut().zip(f).zip(d).zip(x.iter_mut()).zip(peaks) {
        let dv = d * fa;
        let mut vn = *va;
        for _ in 0..KICKS {
            vn += dv;
        }
        *va = vn;
        *xa += dt * vn;
        // `max`, not `if a > *peak { *peak = a }`: the conditional store became a masked
        // one (slow on AVX2 hosts). The same values: `max` passes over a NaN as the test did.
        *peak = peak.max(vn.abs());
    }
}

/// `KICKS` half-kicks ω += d·τ per component in one loop (the same bits as a loop per kick).
#[inline(always)]
fn kick_spins<const KICKS: usize>(w: &mut [f64], t: &[f64], d: &[f64]) {
    for ((wa, ta), d) in w.iter_mut().zip(t).zip(d) {
        let dw = d * ta;
        let mut wn = *wa;
        for _ in 0..KICKS {
            wn += dw;
        }
        *wa = wn;
    }
}

#[inline]
fn limit_velocity(v: &mut [f64; 3], vmax: f64) {
    let vsq = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
    if vsq > vmax * vmax {
        let s = vmax / vsq.sqrt();
        for c in v.iter_mut() {
            *c *= s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn particles(n: usize, seed: u64) -> Particles {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut p = Particles::default();
        for k in 0..n {
            let r = rng.random_range(0.5..3.0);
            p.push(k as u64, 1, [0.0; 3], r, rng.random_range(0.1..10.0));
            p.v[k] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
            p.omega[k] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
        }
        p
    }

    /// m v² + I ω² of one sphere, summed per particle: the reference.
    fn twice_kinetic(m: f64, r: f64, v: [f64; 3], w: [f64; 3]) -> f64 {
        m * (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]) + sphere_inertia(m, r) * (w[0] * w[0] + w[1] * w[1] + w[2] * w[2])
    }

    /// The vector sum is the per-particle sum up to rounding, on lengths that end inside a
    /// piece and inside a chunk, and the fused pass gives the total's bits.
    #[test]
    fn kinetic_sums_agree() {
        for n in [1, 2, 7, 127, 128, 129, 1023, 1024, 1025, 3000] {
            let mut p = particles(n, n as u64);
            let plain: f64 = (0..n)
                .map(|k| twice_kinetic(p.mass[k], p.radius[k], p.v[k], p.omega[k]))
                .sum();
            let total = twice_kinetic_total(&p);
            assert!((total - plain).abs() <= 1e-13 * plain, "n = {n}: {total} vs {plain}");
            let mut factors = KickFactors::default();
            factors.refresh(&p, 0.01);
            let fused = then_twice_kinetic(&mut p, &factors, |_| {});
            assert_eq!(fused.to_bits(), total.to_bits(), "n = {n}");
        }
    }

    /// A kick with factors computed for it.
    fn kick(p: &mut Particles, s: KickSettings) -> f64 {
        let mut factors = KickFactors::default();
        factors.refresh(p, s.dt);
        kick_with(p, &factors, s)
    }

    /// The factors are the divisions (dt/2)/m and (dt/2)/I, bit for bit, in both layouts
    /// (once per component, once per particle), on lengths that end inside a piece and
    /// inside a chunk; forgotten, they are computed again for new masses.
    #[test]
    fn kick_factors_are_the_divisions() {
        let dt = 0.003;
        for n in [1, 127, 129, 2049, 3000] {
            for repeat in [3, 1] {
                let mut p = particles(n, n as u64);
                let mut factors = KickFactors::default();
                for round in 0..2 {
                    factors.refresh_as(&p, dt, repeat);
                    let f = factors.of(0..n);
                    assert_eq!((f.repeat, f.per_mass.len()), (repeat, repeat * n));
                    for k in 0..n {
                        let (m, r) = (p.mass[k], p.radius[k]);
                        let (pm, pi) = (0.5 * dt / m, 0.5 * dt / (0.4 * r * r * m));
                        for a in 0..repeat {
                            let at = repeat * k + a;
                            assert_eq!(f.per_mass[at].to_bits(), pm.to_bits(), "n = {n}, {k}");
                            assert_eq!(f.per_inertia[at].to_bits(), pi.to_bits(), "n = {n}, {k}");
                        }
                    }
                    if round == 0 {
                        p.mass.iter_mut().for_each(|m| *m *= 1.5);
                        factors.forget();
                    }
                }
            }
        }
        assert_eq!((KickFactors::layout(19_683), KickFactors::layout(1_000_000)), (3, 1));
    }

    /// Every kick gives the same bits with the factors once per particle as once per
    /// component: deferred, single with a drift, single without, with a speed limit, with
    /// and without spins, on lengths that end inside a piece of 8 and inside a [`SUB`].
    #[test]
    fn both_factor_layouts_kick_alike() {
        let dt = 0.01;
        for n in [1, 7, 9, 127, 129, 300] {
            let start = particles(n, 11 + n as u64);
            let mut f = start.clone();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(n as u64);
            for k in 0..n {
                f.f[k] = std::array::from_fn(|_| rng.random_range(-5.0..5.0));
                f.torque[k] = std::array::from_fn(|_| rng.random_range(-5.0..5.0));
            }
            for rotate in [true, false] {
                let settings = [
                    KickSettings::deferred(dt, None, rotate),
                    KickSettings::new(dt, None, 1, true, rotate),
                    KickSettings::half_kick(dt, None, rotate),
                    KickSettings::deferred(dt, Some(1e-3), rotate),
                ];
                for (case, s) in settings.into_iter().enumerate() {
                    let runs = [3, 1].map(|repeat| {
                        let mut p = f.clone();
                        let mut factors = KickFactors::default();
                        factors.refresh_as(&p, dt, repeat);
                        let bound = kick_with(&mut p, &factors, KickSettings { ..s });
                        (bound.to_bits(), p.x, p.v, p.omega)
                    });
                    assert_eq!(runs[0], runs[1], "n = {n}, rotate {rotate}, case {case}");
                    assert_ne!(runs[0].2, start.v, "n = {n}: the kick acted");
                }
            }
        }
    }

    /// The kicks and drift fused into one loop give the bits of the loop per kick that a
    /// speed limit takes (one far above every speed here, so that it never acts), and of
    /// two one-kick passes.
    #[test]
    fn fused_kick_and_drift_give_the_separate_loops_bits() {
        let (dt, n) = (0.01, 300);
        let mut start = particles(n, 7);
        for (k, (f, t)) in start.f.iter_mut().zip(&mut start.torque).enumerate() {
            *f = [1.0 + k as f64, -0.3 * k as f64, 0.7];
            *t = [0.2, 1.5, -0.01 * k as f64];
        }
        let state = |p: &Particles| {
            [&p.x, &p.v, &p.omega].map(|a| a.as_flattened().iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        };
        for drift in [false, true] {
            let (mut fused, mut limited, mut twice) = (start.clone(), start.clone(), start.clone());
            let b_fused = kick(&mut fused, KickSettings::new(dt, None, 2, drift, true));
            let b_limited = kick(&mut limited, KickSettings::new(dt, Some(1e300 * dt), 2, drift, true));
            assert_eq!(state(&fused), state(&limited), "drift {drift}");
            assert_eq!(b_fused.to_bits(), b_limited.to_bits(), "drift {drift}");
            kick(&mut twice, KickSettings::new(dt, None, 1, false, true));
            kick(&mut twice, KickSettings::new(dt, None, 1, drift, true));
            assert_eq!(state(&fused), state(&twice), "drift {drift}");
        }
    }

    #[test]
    fn subnormals_flush_to_a_zero_of_their_sign_and_nothing_else_changes() {
        let tiny = f64::MIN_POSITIVE;
        for x in [1.0, -2.5e-300, tiny, -tiny, f64::MAX, f64::INFINITY, 0.0, -0.0] {
            assert_eq!(flush_subnormal(x).to_bits(), x.to_bits(), "{x:e}");
        }
        assert!(flush_subnormal(f64::NAN).is_nan());
        for x in [tiny / 2.0, 5e-324, tiny * (1.0 - f64::EPSILON)] {
            assert_eq!(flush_subnormal(x).to_bits(), 0.0f64.to_bits(), "{x:e}");
            assert_eq!(flush_subnormal(-x).to_bits(), (-0.0f64).to_bits(), "{x:e}");
        }
    }

    /// A motion scaled down step after step reaches zero instead of sticking at 5·10⁻³²⁴
    /// (0.7 · 5·10⁻³²⁴ rounds back to it).
    #[test]
    fn motion_scaled_down_for_ever_reaches_zero() {
        assert_eq!(0.7 * 5e-324, 5e-324, "the rounding that keeps it there");
        let mut p = particles(3, 5);
        for _ in 0..3000 {
            p.scale_motion(0.7);
        }
        let all = p.v.as_flattened().iter().chain(p.omega.as_flattened());
        assert!(all.clone().all(|c| *c == 0.0), "{:?} {:?}", p.v, p.omega);
        assert!(all.clone().any(|c| c.is_sign_negative()), "signs kept");
    }
}
