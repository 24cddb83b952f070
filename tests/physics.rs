//! Analytic and conservation tests of the interaction laws, the integrator and the
//! neighbour list.

mod common;

use common::{mixed_forcefield, norm, polydisperse_gas};
use etwin::sim::ensemble::Fix;
use etwin::sim::forcefield::batch::{LaneInput, PairBatch, LANES};
use etwin::sim::forcefield::hertz_history::HertzHistory;
use etwin::sim::forcefield::lj_sf::{LjCoeff, LjSf};
use etwin::sim::forcefield::{ForceField, History, PairContext, PairInput, PairOut, PairStyle};
use etwin::sim::particles::{sphere_mass, Particles};
use etwin::sim::simbox::SimBox;
use etwin::sim::system::{ForceSummary, StepSettings, System};

/// Two spheres (radii r1, r2) with centres `del` apart along x, velocities and spins given.
struct Pair {
    radius: [f64; 2],
    mass: [f64; 2],
    kind: [u32; 2],
    v: [[f64; 3]; 2],
    omega: [[f64; 3]; 2],
}

impl Pair {
    fn new(r1: f64, r2: f64) -> Self {
        Pair {
            radius: [r1, r2],
            mass: [sphere_mass(r1, 2.0), sphere_mass(r2, 3.0)],
            kind: [1, 1],
            v: [[0.0; 3]; 2],
            omega: [[0.0; 3]; 2],
        }
    }
    fn eval(&self, s: &dyn PairStyle, del: [f64; 3], hist: &mut History, update: bool, dt: f64) -> PairOut {
        let ctx = PairContext {
            kind: &self.kind,
            radius: &self.radius,
            mass: &self.mass,
            v: &self.v,
            omega: &self.omega,
            dt,
            update_history: update,
        };
        let rsq = del.iter().map(|d| d * d).sum();
        let mut out = PairOut::default();
        s.compute(
            &PairInput {
                i: 0,
                j: 1,
                del,
                rsq,
                r: rsq.sqrt(),
                dv: [0.0; 3],
            },
            &ctx,
            hist,
            &mut out,
        );
        out
    }
}

const HERTZ: HertzHistory = HertzHistory {
    kn: 100.0,
    kt: 137.8,
    gamma_n: 30.0,
    gamma_t: 28.77,
    xmu: 0.4,
};

#[test]
fn hertz_normal_force_of_two_spheres_at_rest() {
    let pair = Pair::new(1.5, 2.5);
    let delta = 0.05;
    let r = 4.0 - delta;
    let out = pair.eval(&HERTZ, [r, 0.0, 0.0], &mut [0.0; 4], false, 1e-3);
    // F = K_n δ √(δ R*), R* = r1 r2 / (r1 + r2), repulsive (+x on sphere 1).
    let expected = HERTZ.kn * delta * (delta * 1.5 * 2.5 / 4.0).sqrt();
    assert!(
        (out.f[0] - expected).abs() < 1e-13 * expected,
        "{} vs {expected}",
        out.f[0]
    );
    assert_eq!([out.f[1], out.f[2]], [0.0, 0.0]);
    assert_eq!(out.tor, [0.0; 3]);
    // Not touching: no force, history erased.
    let mut h = [1.0, 2.0, 3.0, 0.5];
    let out = pair.eval(&HERTZ, [4.0 + 1e-12, 0.0, 0.0], &mut h, true, 1e-3);
    assert_eq!(out, PairOut::default());
    assert_eq!(h, [0.0; 4]);
}

#[test]
fn hertz_normal_damping_opposes_approach() {
    let mut pair = Pair::new(1.0, 1.0);
    let delta = 0.02;
    let vn = -0.3; // sphere 1 moves towards sphere 2 (which sits at −x)
    pair.v[0] = [vn, 0.0, 0.0];
    let out = pair.eval(&HERTZ, [2.0 - delta, 0.0, 0.0], &mut [0.0; 4], false, 1e-3);
    let h = (delta * 0.5).sqrt();
    let meff = pair.mass[0] * pair.mass[1] / (pair.mass[0] + pair.mass[1]);
    let expected = h * (HERTZ.kn * delta - meff * HERTZ.gamma_n * vn);
    assert!(
        (out.f[0] - expected).abs() < 1e-13 * expected.abs(),
        "{} vs {expected}",
        out.f[0]
    );
    assert!(
        out.f[0] > h * HERTZ.kn * delta,
        "damping adds repulsion while approaching"
    );
}

#[test]
fn hertz_tangential_spring_builds_up_then_caps_at_coulomb() {
    let mut pair = Pair::new(1.0, 1.0);
    let (delta, dt, vt): (f64, f64, f64) = (0.02, 1e-3, 0.5);
    pair.v[0] = [0.0, vt, 0.0];
    let del = [2.0 - delta, 0.0, 0.0];
    let h = (delta * 0.5).sqrt();
    let meff = pair.mass[0] * pair.mass[1] / (pair.mass[0] + pair.mass[1]);
    let fnorm = HERTZ.kn * delta * h;
    let sticky = HertzHistory { xmu: 1e6, ..HERTZ };
    // Below the cap: s grows by v_t dt per step, F_t = −h (K_t s + m_eff γ_t v_t).
    let mut s = [0.0; 4];
    for step in 1..=5 {
        let out = pair.eval(&sticky, del, &mut s, true, dt);
        let shear = step as f64 * vt * dt;
        assert!((s[1] - shear).abs() < 1e-15, "shear history {s:?}");
        let ft = -h * (sticky.kt * shear + meff * sticky.gamma_t * vt);
        assert!((out.f[1] - ft).abs() < 1e-12 * ft.abs(), "{} vs {ft}", out.f[1]);
        // Torque term (del × F_t)/r = F_t along z for del along x.
        assert!((out.tor[2] - out.f[1] * del[0] / norm(del)).abs() < 1e-15);
    }
    // Fresh contact with a force above the cap: LAMMPS zeroes F_t (history still empty).
    let weak = HertzHistory { xmu: 1e-4, ..HERTZ };
    let mut s0 = [0.0; 4];
    let out = pair.eval(&weak, del, &mut s0, false, dt);
    assert_eq!(out.f[1], 0.0);
    // With history: |F_t| is capped at x_u |F_n| and s rescaled consistently.
    let mut s = [0.0, 0.01, 0.0, 0.0];
    let out = pair.eval(&weak, del, &mut s, true, dt);
    let ft = out.f[1];
    assert!(
        (ft.abs() - weak.xmu * fnorm).abs() < 1e-12 * fnorm * weak.xmu,
        "{ft} vs cap {}",
        weak.xmu * fnorm
    );
    let recomputed = -h * (weak.kt * s[1] + meff * weak.gamma_t * vt);
    assert!(
        (recomputed - ft).abs() < 1e-10 * ft.abs(),
        "rescaled history reproduces the capped force"
    );
}

#[test]
fn lj_sf_vanishes_at_cutoff_and_is_minus_gradient_of_energy() {
    let c = LjCoeff::new(0.7, 1.1, 2.2);
    let (f, e) = c.force_energy(2.2);
    assert_eq!((f, e), (0.0, 0.0));
    let (f, e) = c.force_energy(2.2 * (1.0 - 1e-9));
    assert!(f.abs() < 1e-8 && e.abs() < 1e-16, "continuous at r_c: {f} {e}");
    for r in [1.0, 1.2, 1.3, 1.6, 2.0, 2.19] {
        let hstep = 1e-6;
        let de = (c.force_energy(r + hstep).1 - c.force_energy(r - hstep).1) / (2.0 * hstep);
        let f = c.force_energy(r).0;
        assert!(
            (f + de).abs() < 1e-6 * f.abs().max(1e-3),
            "r={r}: F={f}, -dE/dr={}",
            -de
        );
    }
}

#[test]
fn lj_sf_minimum_sits_where_the_shifted_force_vanishes() {
    // With a far cutoff the shift is negligible: minimum at 2^(1/6) σ, depth −ε.
    let far = LjCoeff::new(1.0, 1.0, 6.0);
    let rmin = 2f64.powf(1.0 / 6.0);
    let (f, e) = far.force_energy(rmin);
    assert!(f.abs() < 1e-3 && (e + 1.0).abs() < 2e-3, "F={f}, E={e}");
    // With the reference's short cutoff the minimum moves inwards: F_LJ(r_min) = F_LJ(r_c).
    let c = LjCoeff::new(0.2, 1.1, 1.4);
    let r0 = common::shifted_force_minimum(&c, 1.0, 1.4 - 1e-9);
    let flj = |r: f64| 24.0 * 0.2 * (2.0 * (1.1 / r).powi(12) - (1.1 / r).powi(6)) / r;
    assert!((flj(r0) - flj(1.4)).abs() < 1e-9, "F_LJ(r_min) = F_LJ(r_c)");
    // F_LJ(r_c) is attractive here, so the minimum moves outwards of 2^(1/6) σ.
    assert!(r0 > 1.1 * rmin && r0 < 1.4, "r_min = {r0}");
    let e0 = c.force_energy(r0).1;
    assert!(
        e0 < c.force_energy(r0 - 1e-3).1 && e0 < c.force_energy(r0 + 1e-3).1,
        "energy minimum"
    );
    assert!(e0 < 0.0);
}

#[test]
fn two_sphere_pair_style_matches_system_forces() {
    // The system pipeline (neighbour list, minimum image, accumulation) on a two-body
    // system across a periodic boundary equals the bare pair law, with opposite forces.
    let mut p = Particles::default();
    p.push(1, 1, [0.3, 5.0, 5.0], 1.0, sphere_mass(1.0, 2.0));
    p.push(2, 1, [9.75, 5.0, 5.0], 1.0, sphere_mass(1.0, 2.0));
    p.v[0] = [0.0, 0.2, 0.0];
    let ff = ForceField::new("hertz", vec![Box::new(HERTZ)]);
    let mut sys = System::new(
        p,
        SimBox::orthogonal([0.0; 3], [10.0; 3], [true; 3]),
        ff,
        StepSettings::default(),
    )
    .unwrap();
    sys.setup().unwrap();
    let a = sys.particles.order_by_id();
    let f1 = sys.particles.f[a[0]];
    let f2 = sys.particles.f[a[1]];
    let delta = 2.0 - 0.55;
    let expected = HERTZ.kn * delta * (delta * 0.5).sqrt();
    assert!((f1[0] - expected).abs() < 1e-12 * expected, "{f1:?} vs {expected}");
    for c in 0..3 {
        assert_eq!(f1[c], -f2[c]);
    }
    assert_eq!(sys.summary.contacts, 1);
}

/// The stress split of the shear runs. Brought to rest, two approaching spheres keep their
/// elastic Hertz virial del·F_el; the damping's share, del · m_eff γ_n h v_approach, is
/// what the full virial adds. Without damping and friction the forces do not depend on
/// velocities, so a moving mixture's at-rest virial is its own.
#[test]
fn at_rest_virial_keeps_only_the_conservative_forces() {
    let mut p = Particles::default();
    p.push(1, 1, [0.3, 5.0, 5.0], 1.0, sphere_mass(1.0, 2.0));
    p.push(2, 1, [9.75, 5.0, 5.0], 1.0, sphere_mass(1.0, 2.0));
    p.v[0] = [-0.2, 0.0, 0.0];
    let ff = ForceField::new("hertz", vec![Box::new(HERTZ)]);
    let b = SimBox::orthogonal([0.0; 3], [10.0; 3], [true; 3]);
    let mut sys = System::new(p, b, ff, StepSettings::default()).unwrap();
    sys.setup().unwrap();
    let (r, delta): (f64, f64) = (0.55, 2.0 - 0.55);
    let h = (delta * 0.5).sqrt();
    let elastic = r * HERTZ.kn * delta * h;
    let meff = 0.5 * sphere_mass(1.0, 2.0);
    let damping = r * meff * HERTZ.gamma_n * h * 0.2;
    let rest = sys.pair_virial_at_rest();
    let full = sys.summary.virial;
    assert!((rest[0] - elastic).abs() < 1e-12 * elastic, "{} vs {elastic}", rest[0]);
    assert!(
        (full[0] - rest[0] - damping).abs() < 1e-12 * elastic,
        "{} vs {damping}",
        full[0] - rest[0]
    );
    assert!(rest[1..].iter().chain(&full[1..]).all(|w| w.abs() < 1e-12 * elastic));

    let mut sys = small_mixture(false);
    sys.run(300, &mut []);
    assert!(sys.summary.contacts > 0, "the test must exercise contacts");
    let (rest, full) = (sys.pair_virial_at_rest(), sys.summary.virial);
    let scale = full.iter().fold(0.0f64, |m, w| m.max(w.abs()));
    for a in 0..6 {
        assert!(
            (rest[a] - full[a]).abs() < 1e-10 * scale,
            "component {a}: {} vs {}",
            rest[a],
            full[a]
        );
    }
}

/// The shear stage's static stress comes with the force sums: the virial at rest taken in
/// the force pass is a pass at rest over the same configuration, bit for bit (a pressed, sheared
/// mixture with damping, friction and a Lees–Edwards image velocity, the box held still).
#[test]
fn virial_at_rest_taken_with_the_sums_equals_a_pass_at_rest() {
    let mut sys = mixture(1.0, 5, true);
    sys.scale_box(&[0, 1, 2], 0.95);
    sys.setup().unwrap();
    etwin::sim::nemd::ShearDeform::start(&mut sys, 2.0, true).unwrap();
    sys.rest_virial = true;
    for _ in 0..5 {
        sys.run(40, &mut []);
        let taken = sys.summary.virial_at_rest.expect("taken with the sums");
        let (pass, full) = (sys.pair_virial_at_rest(), sys.summary.virial);
        assert!(sys.summary.contacts > 100, "{} contacts", sys.summary.contacts);
        let scale = full.iter().fold(0.0f64, |m, w| m.max(w.abs()));
        let damping = (0..6).map(|a| (full[a] - pass[a]).abs()).fold(0.0, f64::max);
        assert!(damping > 1e-6 * scale, "the damping must show in the full virial");
        // The same pairs, separations and lane arithmetic in the same order: the same bits.
        assert_eq!(taken, pass);
        assert_eq!(sys.virial_at_rest(), taken);
    }
    sys.rest_virial = false;
    sys.run(1, &mut []);
    assert_eq!(sys.summary.virial_at_rest, None);
    assert_eq!(sys.virial_at_rest(), sys.pair_virial_at_rest());
}

/// Total momentum is conserved to round-off with every force term on (Newton's third law
/// holds pair by pair).
#[test]
fn momentum_is_conserved_with_damping_and_friction() {
    let radii = [0.5, 0.8, 1.3];
    let (p, b) = polydisperse_gas(10, &radii, 1.02, 1.0, 7);
    let mut sys = System::new(
        p,
        b,
        mixed_forcefield(&radii, 2e4, true, true),
        StepSettings {
            dt: 2e-4,
            skin: 0.2,
            ..Default::default()
        },
    )
    .unwrap();
    sys.setup().unwrap();
    let scale: f64 = (0..sys.particles.len())
        .map(|k| sys.particles.mass[k] * norm(sys.particles.v[k]))
        .sum();
    let p0 = sys.momentum();
    sys.run(2000, &mut []);
    let p1 = sys.momentum();
    let drift = norm(common::sub(p1, p0)) / scale;
    eprintln!(
        "momentum drift / Σ m|v| = {drift:e} after 2000 steps, {} contacts, {} builds",
        sys.summary.contacts, sys.timers.neighbor_builds
    );
    assert!(
        sys.summary.contacts > 0 && sys.timers.neighbor_builds > 1,
        "the test must exercise contacts and rebuilds"
    );
    assert!(drift < 1e-12, "momentum drift {drift:e}");
}

/// 512 spheres of two sizes with lj/sf and Hertz contacts, dissipation on or off.
fn small_mixture(dissipative: bool) -> System {
    let mut sys = mixture(1.02, 11, dissipative);
    sys.setup().unwrap();
    sys
}

/// [`small_mixture`] on a lattice `spacing` × the larger diameter, from `seed`, not set up.
fn mixture(spacing: f64, seed: u64, dissipative: bool) -> System {
    mixture_at(spacing, 1.0, seed, dissipative)
}

/// [`mixture`] with speeds of about `v_rms` [µm/µs].
fn mixture_at(spacing: f64, v_rms: f64, seed: u64, dissipative: bool) -> System {
    let radii = [0.5, 0.7];
    let (p, b) = polydisperse_gas(8, &radii, spacing, v_rms, seed);
    let ff = mixed_forcefield(&radii, 2e5, dissipative, dissipative);
    let settings = StepSettings {
        dt: 1e-4,
        skin: 0.1,
        ..Default::default()
    };
    System::new(p, b, ff, settings).unwrap()
}

/// Without damping and friction the dynamics is Hamiltonian: total energy (pair energy +
/// translational + rotational kinetic) must not drift. Bound: |ΔE| < 1e-5 of the initial
/// kinetic energy over 5000 steps (measured 5.6e-7; contacts last ~60 steps).
#[test]
fn energy_is_conserved_without_damping_and_friction() {
    let mut sys = small_mixture(false);
    let t0 = sys.thermo();
    let e0 = sys.total_energy();
    let ke0 = t0.ke_trans_fj + t0.ke_rot_fj;
    let mut worst: f64 = 0.0;
    let mut collisions = 0;
    for _ in 0..50 {
        sys.run(100, &mut []);
        worst = worst.max((sys.total_energy() - e0).abs());
        collisions += (sys.summary.contacts > 0) as u32;
    }
    eprintln!(
        "energy: max |E − E0| / KE0 = {:.3e} over 5000 steps ({collisions}/50 samples with contacts)",
        worst / ke0
    );
    assert!(collisions > 10, "the test must exercise contacts");
    assert!(worst / ke0 < 1e-5, "energy drift {:e}", worst / ke0);
}

/// The vector (batch) form of each hot style is its scalar law, bit for bit, lane by lane:
/// touching and apart pairs, sticking and sliding contacts, fresh contacts, a Lees–Edwards
/// velocity offset, with and without history updates, and a partly filled batch. So is
/// each lane's force at rest: the scalar law with every velocity zero and the history the
/// pass left, not advanced. A batch that skips the energies (a pass that takes no sums)
/// has the same forces, torques and histories and leaves its energy lanes as they were.
#[test]
fn batch_kernels_equal_the_scalar_laws() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let n = 2 * LANES;
    let radius: Vec<f64> = (0..n).map(|_| rng.random_range(0.3..1.5)).collect();
    let mass: Vec<f64> = radius
        .iter()
        .map(|&r| sphere_mass(r, rng.random_range(0.5..5.0)))
        .collect();
    let kind: Vec<u32> = (0..n).map(|_| rng.random_range(1..=2)).collect();
    let mut vec3 = |s: f64| -> Vec<[f64; 3]> {
        (0..n)
            .map(|_| std::array::from_fn(|_| rng.random_range(-s..s)))
            .collect()
    };
    let (v, omega) = (vec3(2.0), vec3(3.0));
    let still = vec![[0.0; 3]; n];
    let at_rest = PairContext {
        kind: &kind,
        radius: &radius,
        mass: &mass,
        v: &still,
        omega: &still,
        dt: 1e-3,
        update_history: false,
    };
    let mut sliding_at_rest = 0;
    let lj = LjSf::mixed(&[(0.2, 0.9, 1.6), (0.5, 1.8, 3.0)]);
    let low_friction = HertzHistory { xmu: 0.01, ..HERTZ };
    let styles: [&dyn PairStyle; 3] = [&lj, &HERTZ, &low_friction];
    let mut lanes = 0;
    for update in [true, false] {
        let ctx = PairContext {
            kind: &kind,
            radius: &radius,
            mass: &mass,
            v: &v,
            omega: &omega,
            dt: 1e-3,
            update_history: update,
        };
        for style in styles {
            for (len, energies) in [(LANES, true), (LANES / 2 + 3, true), (LANES - 5, false)] {
                let mut batch = PairBatch {
                    rest: true,
                    energies,
                    ..PairBatch::default()
                };
                let mut scalar = Vec::new();
                for k in 0..len {
                    let (i, j) = (2 * k, 2 * k + 1);
                    let dir: [f64; 3] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
                    let reach = 1.2 * (radius[i] + radius[j]);
                    let scale = rng.random_range(0.5..1.0) * reach / norm(dir);
                    let del = dir.map(|d| d * scale);
                    let rsq: f64 = del.iter().map(|d| d * d).sum();
                    let dvx = if k % 5 == 0 { rng.random_range(-1.0..1.0) } else { 0.0 };
                    // A quarter of the contacts are fresh (no shear yet).
                    let h: History = if k % 4 == 0 {
                        [0.0; 4]
                    } else {
                        std::array::from_fn(|_| rng.random_range(-0.05..0.05))
                    };
                    let lane = LaneInput {
                        i,
                        j,
                        slot: k,
                        del,
                        rsq,
                        dvx,
                        ri: radius[i],
                        rj: radius[j],
                    };
                    batch.push(&lane, &h);
                    let input = PairInput {
                        i,
                        j,
                        del,
                        rsq,
                        r: rsq.sqrt(),
                        dv: [dvx, 0.0, 0.0],
                    };
                    let (mut hs, mut out) = (h, PairOut::default());
                    style.compute(&input, &ctx, &mut hs, &mut out);
                    let (mut h_rest, mut rest) = (hs, PairOut::default());
                    let still_input = PairInput { dv: [0.0; 3], ..input };
                    style.compute(&still_input, &at_rest, &mut h_rest, &mut rest);
                    sliding_at_rest += (h_rest != hs) as usize;
                    scalar.push((out, hs, rest));
                }
                batch.prepare();
                style.compute_batch(&mut batch, &ctx);
                assert!(style.has_rest_forces(), "{}", style.name());
                style.add_rest_forces(&mut batch, &ctx);
                for (k, (out, h, rest)) in scalar.iter().enumerate() {
                    let b = batch.out(k);
                    let same =
                        |x: &[f64], y: &[f64]| x.iter().zip(y).all(|(a, c)| a.to_bits() == c.to_bits() || a == c);
                    let what = format!("{} lane {k} (update {update})", style.name());
                    assert!(
                        same(&b.f, &out.f) && same(&b.tor, &out.tor),
                        "{what}: force {b:?} vs {out:?}"
                    );
                    let energy = if energies { [out.energy, out.elastic] } else { [0.0; 2] };
                    assert!(same(&[b.energy, b.elastic], &energy), "{what}: energy");
                    assert!(same(&batch.history(k), h), "{what}: history");
                    let f_rest = [batch.f_rest[0][k], batch.f_rest[1][k], batch.f_rest[2][k]];
                    assert!(
                        same(&f_rest, &rest.f),
                        "{what}: force at rest {f_rest:?} vs {:?}",
                        rest.f
                    );
                }
                lanes += len;
            }
        }
    }
    assert!(lanes > 300);
    // At rest, a contact slides where its spring alone passes the Coulomb cap (the scalar
    // law then rescales the history it was given).
    assert!(sliding_at_rest > 10, "{sliding_at_rest} contacts slide at rest");
}

/// With damping on, energy must decrease (a sign check on the dissipative terms).
#[test]
fn damping_dissipates_energy() {
    let mut sys = small_mixture(true);
    let e0 = sys.total_energy();
    sys.run(3000, &mut []);
    assert!(sys.total_energy() < 0.95 * e0, "{} vs {e0}", sys.total_energy());
}

/// Inside `run`, a step takes the force sums (energy, virial, contacts) only when something
/// reads them after it, as LAMMPS' `eflag`/`vflag`: an observer due, a fix that reads them,
/// or the run's last step. An observer every 7 steps and the end of the run must see the
/// sums of single steps that take them every step; a fix that does not read them sees
/// them as the last tallied step left them, one that does sees its own step's.
#[test]
fn force_sums_are_taken_on_the_steps_that_read_them() {
    struct Sums(Vec<(u64, ForceSummary)>);
    impl etwin::sim::observer::Observer for Sums {
        fn interval(&self) -> u64 {
            7
        }
        fn observe(&mut self, sys: &System) {
            self.0.push((sys.step, sys.summary));
        }
    }
    /// Records the step of the sums it finds at the end of each step.
    struct Stamps(Vec<u64>, bool);
    impl Fix for Stamps {
        fn end_of_step(&mut self, sys: &mut System) {
            self.0.push(sys.summary.step);
        }
        fn reads_force_sums(&self) -> bool {
            self.1
        }
    }
    let (mut lazy, mut every) = (small_mixture(true), small_mixture(true));
    let mut seen = Sums(vec![]);
    lazy.run(600, &mut [&mut seen]);
    let mut expected = vec![];
    for _ in 0..600 {
        every.step();
        if every.step % 7 == 0 {
            expected.push((every.step, every.summary));
        }
    }
    assert!(
        every.summary.contacts > 0 && every.summary.pe != 0.0,
        "the test must exercise both laws"
    );
    assert_eq!(seen.0.len(), 85);
    assert!(
        seen.0.iter().all(|(step, s)| s.step == *step),
        "observed sums of another step"
    );
    assert_eq!(seen.0, expected, "observed sums");
    assert_eq!(lazy.summary, every.summary, "sums at the end of the run");

    let start = lazy.step;
    let (mut quiet, mut reader) = (Stamps(vec![], false), Stamps(vec![], true));
    lazy.run_with(5, &mut [&mut quiet], &mut []);
    assert_eq!(quiet.0, [start, start, start, start, start + 5]);
    lazy.run_with(5, &mut [&mut reader], &mut []);
    assert_eq!(reader.0, (start + 6..=start + 10).collect::<Vec<_>>());
}

/// `run` fuses a step's last half-kick with the next step's first where nothing acts in
/// between (on one thread inside the force pass), with kick factors computed once per list
/// build; the trajectory must equal plain single steps bit for bit, on 1 and 2 threads,
/// through rebuilds that reorder the particles of two sizes and masses changed between two
/// runs, with the velocity cap on and off and an observer that sees the full-step
/// velocities every 7 steps.
#[test]
fn fused_half_kicks_give_the_single_step_trajectory() {
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        for cap in [Some(1.5e-3), None] {
            pool.install(|| fused_half_kicks_against_single_steps(cap));
        }
    }
}

/// [`fused_half_kicks_give_the_single_step_trajectory`] with the displacement cap `cap` [µm].
fn fused_half_kicks_against_single_steps(cap: Option<f64>) {
    struct Speeds(Vec<f64>);
    impl etwin::sim::observer::Observer for Speeds {
        fn interval(&self) -> u64 {
            7
        }
        fn observe(&mut self, sys: &System) {
            self.0.push(sys.thermo().ke_trans_fj);
        }
    }
    // Fast enough that list builds reorder the particles.
    let system = || {
        let mut sys = mixture_at(1.3, 20.0, 11, true);
        sys.settings.max_step = cap;
        sys.setup().unwrap();
        sys
    };
    let (mut fused, mut single) = (system(), system());
    let (mut seen_fused, mut seen_single) = (Speeds(vec![]), Speeds(vec![]));
    // Two runs, the larger spheres made heavier between them (as a stage may).
    for run in 0..2 {
        if run == 1 {
            for sys in [&mut fused, &mut single] {
                let p = &mut sys.particles;
                for (m, &r) in p.mass.iter_mut().zip(&p.radius) {
                    *m *= if r > 0.6 { 1.5 } else { 1.0 };
                }
            }
        }
        fused.run(300, &mut [&mut seen_fused]);
        for _ in 0..300 {
            single.step();
            if single.step % 7 == 0 {
                seen_single.0.push(single.thermo().ke_trans_fj);
            }
        }
    }
    let p = (&fused.particles, &single.particles);
    assert!(fused.summary.contacts > 0, "the test must exercise contacts");
    assert!(
        fused.timers.neighbor_builds > 5,
        "the test must exercise rebuilds: {}",
        fused.timers.neighbor_builds
    );
    assert_eq!(seen_fused.0, seen_single.0, "observed kinetic energies");
    for k in 0..p.0.len() {
        for (a, b) in [(p.0.x[k], p.1.x[k]), (p.0.v[k], p.1.v[k]), (p.0.omega[k], p.1.omega[k])] {
            assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits), "particle {k}");
        }
    }
    assert_eq!(fused.neighbor.history, single.neighbor.history);
}

/// A fix that changes masses every step (as drying shrinks particles) must see the next
/// kick use the new ones: `run_with` with it equals single steps each followed by it.
#[test]
fn kicks_follow_a_fix_that_changes_masses() {
    struct Heavier;
    impl Fix for Heavier {
        fn end_of_step(&mut self, sys: &mut System) {
            for m in sys.particles.mass.iter_mut().step_by(3) {
                *m *= 1.01;
            }
        }
    }
    let (mut fixed, mut single) = (small_mixture(true), small_mixture(true));
    fixed.run_with(40, &mut [&mut Heavier], &mut []);
    for _ in 0..40 {
        single.step();
        Heavier.end_of_step(&mut single);
    }
    let p = (&fixed.particles, &single.particles);
    for k in 0..p.0.len() {
        assert_eq!(p.0.v[k].map(f64::to_bits), p.1.v[k].map(f64::to_bits), "particle {k}");
        assert_eq!(p.0.x[k].map(f64::to_bits), p.1.x[k].map(f64::to_bits), "particle {k}");
    }
}

/// The force loop reads a pair's history only where its flag says it may be non-zero, so
/// the flags must mark exactly the pairs whose history has a bit set, through contacts
/// that form and break and through rebuilds.
#[test]
fn history_flags_mark_exactly_the_nonzero_histories() {
    let mut sys = small_mixture(true);
    let (mut held_seen, mut cleared_seen) = (0, 0);
    let mut was_held = vec![];
    for _ in 0..40 {
        sys.run(50, &mut []);
        let nl = &sys.neighbor;
        assert_eq!(nl.held.len(), nl.history.len());
        for (pair, (h, &held)) in nl.history.iter().zip(&nl.held).enumerate() {
            let nonzero = h.iter().any(|v| v.to_bits() != 0);
            assert_eq!(held, nonzero, "pair {pair}: flag {held}, history {h:?}");
        }
        let held = nl.held.iter().filter(|&&b| b).count();
        held_seen += held;
        if was_held.len() == nl.held.len() {
            cleared_seen += was_held.iter().zip(&nl.held).filter(|(a, b)| **a && !**b).count();
        }
        was_held = nl.held.clone();
    }
    assert!(
        held_seen > 0 && cleared_seen > 0,
        "contacts must form ({held_seen}) and break ({cleared_seen})"
    );
    assert!(sys.timers.neighbor_builds > 1, "the test must exercise rebuilds");
}

/// Shear histories survive neighbour rebuilds, including a change of pair ownership
/// (the owner/partner roles swap when the particle order changes).
#[test]
fn shear_history_survives_rebuilds_and_reordering() {
    let mut p = Particles::default();
    p.push(7, 1, [5.0, 5.0, 5.0], 1.0, sphere_mass(1.0, 2.0));
    p.push(3, 1, [6.98, 5.0, 5.0], 1.0, sphere_mass(1.0, 2.0));
    p.push(11, 1, [5.0, 6.95, 5.0], 1.0, sphere_mass(1.0, 2.0));
    p.v[0] = [0.0, 0.0, 0.4];
    p.v[2] = [0.3, 0.0, 0.0];
    let ff = || ForceField::new("hertz", vec![Box::new(HERTZ)]);
    let settings = StepSettings {
        dt: 1e-3,
        skin: 0.5,
        sort: false,
        ..Default::default()
    };
    let b = SimBox::orthogonal([0.0; 3], [20.0; 3], [true; 3]);
    let mut a = System::new(p.clone(), b, ff(), settings).unwrap();
    a.setup().unwrap();
    a.run(20, &mut []);
    let h_before = a.neighbor.history_between(&a.particles, 7, 3).unwrap();
    assert!(norm([h_before[0], h_before[1], h_before[2]]) > 0.0);
    // Reverse the particle order and rebuild: ownership of (7, 3) flips.
    let n = a.particles.len();
    let owner_before = a.particles.id[(0..n).find(|&i| !a.neighbor.pairs_of(i).is_empty()).unwrap()];
    a.reorder_particles(&(0..n).rev().collect::<Vec<_>>());
    let owner_after = a.particles.id[(0..n).find(|&i| !a.neighbor.pairs_of(i).is_empty()).unwrap()];
    assert_ne!(owner_before, owner_after, "the reorder must swap pair ownership");
    let h_after = a.neighbor.history_between(&a.particles, 7, 3).unwrap();
    assert_eq!(h_before, h_after);
    // And the trajectory continues as without the forced rebuild.
    let mut b2 = System::new(p, b, ff(), settings).unwrap();
    b2.setup().unwrap();
    b2.run(20, &mut []);
    a.compute_forces(false);
    b2.compute_forces(false);
    a.run(30, &mut []);
    b2.run(30, &mut []);
    for id in [3, 7, 11] {
        let ka = a.particles.id.iter().position(|&x| x == id).unwrap();
        let kb = b2.particles.id.iter().position(|&x| x == id).unwrap();
        for c in 0..3 {
            assert!((a.particles.x[ka][c] - b2.particles.x[kb][c]).abs() < 1e-13);
            assert!((a.particles.omega[ka][c] - b2.particles.omega[kb][c]).abs() < 1e-10);
        }
    }
}

/// The list is rebuilt before any pair comes within range, while the box swells, shrinks
/// and shears under moving particles: positions follow the box affinely (as a barostat
/// moves them) or not at all (a tilt with the particles left in place), and every step the
/// pairs in range, found by brute force, must all be listed.
#[test]
fn neighbour_list_misses_no_pair_while_the_box_deforms() {
    // Slow particles leave the rebuilds to the box's deformation, fast ones to their motion.
    for v_rms in [0.4, 4.0] {
        let radii = [0.5, 0.9, 1.6];
        let (p, mut b) = polydisperse_gas(7, &radii, 1.2, v_rms, 11);
        b.tilt = [0.5, -0.3, 0.2];
        let ff = mixed_forcefield(&radii, 2e3, true, true);
        let settings = StepSettings {
            dt: 2e-3,
            skin: 0.3,
            ..Default::default()
        };
        let mut sys = System::new(p, b, ff, settings).unwrap();
        sys.setup().unwrap();
        let reach = sys.ff.reach_table(3);
        let builds0 = sys.timers.neighbor_builds;
        let mut worst = f64::INFINITY;
        for step in 0..600u64 {
            // Breathing: ±13 % over 100 steps about the centre, positions carried along.
            let mu = 1.0 + 2e-3 * ((step as f64) * std::f64::consts::TAU / 200.0).sin();
            sys.scale_box(&[0, 1, 2], mu);
            // Shear: the xy tilt grows, the particles stay where they are.
            sys.simbox.tilt[0] += 2e-3;
            sys.step();
            let q = &sys.particles;
            let mut listed = std::collections::HashSet::new();
            for i in 0..q.len() {
                for pair in sys.neighbor.pairs_of(i) {
                    let j = sys.neighbor.partner[pair] as usize;
                    // The force loop reads each pair's owner from here.
                    assert_eq!(
                        sys.neighbor.owner[pair] as usize, i,
                        "step {step}: owner of pair {pair}"
                    );
                    listed.insert((q.id[i].min(q.id[j]), q.id[i].max(q.id[j])));
                }
            }
            for i in 0..q.len() {
                for j in i + 1..q.len() {
                    let d = sys.simbox.minimum_image(common::sub(q.x[i], q.x[j]));
                    let range = reach.get(q.kind[i], q.kind[j]).range(q.radius[i], q.radius[j]);
                    let r = norm(d);
                    let key = (q.id[i].min(q.id[j]), q.id[i].max(q.id[j]));
                    assert!(
                        r >= range || listed.contains(&key),
                        "v_rms {v_rms}, step {step}: pair {key:?} at {r} < {range} not listed"
                    );
                    worst = worst.min(r - range);
                }
            }
        }
        let builds = sys.timers.neighbor_builds - builds0;
        assert!(builds >= 5, "v_rms {v_rms}: the run must rebuild ({builds})");
        assert!(worst < 0.0, "v_rms {v_rms}: pairs must come within range ({worst})");
    }
}

/// The neighbour list holds exactly the pairs a brute-force O(N²) search finds within
/// range + skin, for random polydisperse sets in orthogonal, triclinic and walled boxes.
#[test]
fn neighbour_list_equals_brute_force() {
    use rand::{Rng, SeedableRng};
    let radii = [0.65, 1.4, 3.1, 5.9]; // 1.3 to 11.8 µm diameters, as dry CBD to large NMC
    let lj = LjSf::mixed(&radii.iter().map(|&r| (0.1, 1.5 * r, 2.4 * r)).collect::<Vec<_>>());
    for (case, (tilt, periodic)) in [
        ([0.0, 0.0, 0.0], [true; 3]),
        ([4.0, -3.0, 2.5], [true; 3]),
        ([-7.9, 6.0, -7.0], [true; 3]),
        ([0.0; 3], [true, true, false]),
        ([2.0, 0.0, 0.0], [true, false, false]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(case as u64);
        let b = SimBox {
            lo: [-3.0, 1.0, 0.0],
            hi: [33.0, 33.0, 40.0],
            tilt,
            periodic,
        };
        let mut p = Particles::default();
        for id in 1..=1500u64 {
            let t = rng.random_range(0..4usize);
            let s = [rng.random::<f64>(), rng.random::<f64>(), rng.random::<f64>()];
            let l = b.lengths();
            let x = [
                b.lo[0] + s[0] * l[0] + s[1] * tilt[0] + s[2] * tilt[1],
                b.lo[1] + s[1] * l[1] + s[2] * tilt[2],
                b.lo[2] + s[2] * l[2],
            ];
            let r = radii[t] * rng.random_range(0.8..1.0);
            p.push(id, t as u32 + 1, x, r, 1.0);
        }
        let styles: Vec<Box<dyn PairStyle>> = vec![Box::new(lj.clone()), Box::new(HERTZ)];
        let ff = ForceField::new("nl", styles);
        let skin = 0.7;
        let mut sys = System::new(
            p,
            b,
            ff,
            StepSettings {
                skin,
                ..Default::default()
            },
        )
        .unwrap();
        sys.rebuild_neighbors();
        let reach = sys.ff.reach_table(4);
        let q = &sys.particles;
        let mut listed = std::collections::BTreeSet::new();
        for i in 0..q.len() {
            // Each owner's pairs in range come before those only within the skin (so that
            // the force loop's range branch mispredicts about once per owner).
            let mut past_range = false;
            for pair in sys.neighbor.pairs_of(i) {
                let j = sys.neighbor.partner[pair] as usize;
                let key = (q.id[i].min(q.id[j]), q.id[i].max(q.id[j]));
                assert!(listed.insert(key), "case {case}: pair {key:?} listed twice");
                let d = b.minimum_image(common::sub(q.x[i], q.x[j]));
                let range = reach.get(q.kind[i], q.kind[j]).range(q.radius[i], q.radius[j]);
                let in_range = d.iter().map(|v| v * v).sum::<f64>() < range * range;
                assert!(
                    !(in_range && past_range),
                    "case {case}: pair {key:?} in range listed after one beyond"
                );
                past_range |= !in_range;
            }
        }
        let mut brute = std::collections::BTreeSet::new();
        for i in 0..q.len() {
            for j in i + 1..q.len() {
                let d = b.minimum_image(common::sub(q.x[i], q.x[j]));
                let rc = reach.get(q.kind[i], q.kind[j]).range(q.radius[i], q.radius[j]) + skin;
                if d.iter().map(|v| v * v).sum::<f64>() < rc * rc {
                    brute.insert((q.id[i].min(q.id[j]), q.id[i].max(q.id[j])));
                }
            }
        }
        eprintln!(
            "case {case}: {} pairs, {} size classes",
            brute.len(),
            sys.neighbor.classes
        );
        assert!(brute.len() > 1000, "case {case} must have many pairs");
        assert_eq!(listed, brute, "case {case}: tilt {tilt:?} periodic {periodic:?}");

        // The per-pair data kept for the list's life: each squared range bounds the exact one
        // from above, each image code (where the build could fix one) shifts the partner to
        // the minimum image.
        let nl = &sys.neighbor;
        let shifts = b.image_map().shifts();
        let mut coded = 0;
        for i in 0..q.len() {
            for pair in nl.pairs_of(i) {
                let j = nl.partner[pair] as usize;
                let range = reach.get(q.kind[i], q.kind[j]).range(q.radius[i], q.radius[j]);
                assert!(
                    nl.range_sq[pair] as f64 >= range * range,
                    "case {case}: range of pair {pair}"
                );
                if let Some(s) = shifts.shift.get(nl.image[pair] as usize) {
                    let d: [f64; 3] = std::array::from_fn(|a| q.x[i][a] - q.x[j][a] - s[a]);
                    let m = b.minimum_image(common::sub(q.x[i], q.x[j]));
                    assert!(
                        (0..3).all(|a| (d[a] - m[a]).abs() < 1e-9),
                        "case {case}: image code {} of pair {pair}: {d:?} vs {m:?}",
                        nl.image[pair]
                    );
                    coded += 1;
                }
            }
        }
        assert!(coded > 0, "case {case}: some pairs must have image codes");
    }
}

/// A periodic box narrower than twice the list's reach (the dense end of an NPT run) lets a
/// partner be in reach through two images: the list holds each image within reach as a
/// pair of its own, the nearest first, and the forces and energy sum every image, as a
/// brute-force sum over images finds them. Checked at the build, then after 400 steps
/// (rebuilds included) on the images the list fixed, which give the same bits on 1 and 2
/// threads. Triclinic, all three widths narrow (27 spheres); and orthogonal, one narrow
/// (432 spheres: four owner blocks, shared among the threads).
#[test]
fn a_box_narrower_than_twice_the_reach_sums_every_image() {
    use rand::{Rng, SeedableRng};
    let lj = LjCoeff::new(1.0, 1.0, 2.5);
    for (case, (cells, edges, tilt)) in [
        ([3, 3, 3], [3.9, 4.1, 4.3], [0.9, -0.5, 0.4]),
        ([3, 12, 12], [3.9, 15.6, 15.6], [0.0; 3]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(case as u64 + 5);
        let b = SimBox {
            lo: [0.0; 3],
            hi: edges,
            tilt,
            periodic: [true; 3],
        };
        let mut p = Particles::default();
        let mut id = 1;
        for iz in 0..cells[2] {
            for iy in 0..cells[1] {
                for ix in 0..cells[0] {
                    let s: [f64; 3] = std::array::from_fn(|k| {
                        ([ix, iy, iz][k] as f64 + 0.5 + rng.random_range(-0.2..0.2)) / cells[k] as f64
                    });
                    let x = [
                        s[0] * edges[0] + s[1] * tilt[0] + s[2] * tilt[1],
                        s[1] * edges[1] + s[2] * tilt[2],
                        s[2] * edges[2],
                    ];
                    p.push(id, 1, x, 0.5, 1.0);
                    let k = p.len() - 1;
                    p.v[k] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
                    id += 1;
                }
            }
        }
        let skin = 0.3;
        let make = || {
            let ff = ForceField::new("LJ", vec![Box::new(LjSf::mixed(&[(1.0, 1.0, 2.5)]))]);
            let settings = StepSettings {
                dt: 2e-3,
                skin,
                ..Default::default()
            };
            let mut sys = System::new(p.clone(), b, ff, settings).unwrap();
            sys.setup().unwrap();
            sys
        };
        // The same bits on 1 and 2 threads.
        let run = |threads| {
            common::with_threads(threads, || {
                let mut sys = make();
                sys.run(400, &mut []);
                common::fingerprint(&sys)
            })
        };
        assert!(run(1) == run(2), "case {case}: 1 and 2 threads differ");
        let mut sys = make();
        let reach = sys.neighbor.reach();
        let w = sys.simbox.perpendicular_widths();
        assert!(
            w[0] < 2.0 * reach && w.iter().all(|&v| v > reach),
            "case {case}: widths {w:?}"
        );
        for stage in ["build", "after 400 steps"] {
            let q = &sys.particles;
            let bx = sys.simbox;
            let [lx, ly, lz] = bx.lengths();
            let [xy, xz, yz] = bx.tilt;
            let shift = |n: [i32; 3]| {
                let [a, b, c] = n.map(f64::from);
                [a * lx + b * xy + c * xz, b * ly + c * yz, c * lz]
            };
            let sep = |i: usize, j: usize, n: [i32; 3]| {
                let s = shift(n);
                [
                    q.x[i][0] - q.x[j][0] - s[0],
                    q.x[i][1] - q.x[j][1] - s[1],
                    q.x[i][2] - q.x[j][2] - s[2],
                ]
            };
            // A pair and image, from the lower id to the higher.
            let key = |i: usize, j: usize, n: [i32; 3]| match q.id[i] < q.id[j] {
                true => (q.id[i], q.id[j], n),
                false => (q.id[j], q.id[i], n.map(|v| -v)),
            };
            // Every (pair, image) within reach, by brute force over images two periods out.
            let (mut brute, mut in_range) = (std::collections::BTreeSet::new(), std::collections::BTreeSet::new());
            let (mut f, mut pe) = (vec![[0.0; 3]; q.len()], 0.0);
            for i in 0..q.len() {
                for j in i + 1..q.len() {
                    for n in (0..125).map(|c| [c % 5 - 2, c / 5 % 5 - 2, c / 25 - 2]) {
                        let d = sep(i, j, n);
                        let r = norm(d);
                        if r < 2.5 + skin {
                            brute.insert(key(i, j, n));
                        }
                        if r < 2.5 {
                            in_range.insert(key(i, j, n));
                            let (fr, e) = lj.force_energy(r);
                            pe += e;
                            for a in 0..3 {
                                f[i][a] += fr * d[a] / r;
                                f[j][a] -= fr * d[a] / r;
                            }
                        }
                    }
                }
            }
            let nl = &sys.neighbor;
            let mut listed = std::collections::BTreeSet::new();
            let mut doubles = 0;
            for i in 0..q.len() {
                let mut first: std::collections::HashMap<usize, f64> = Default::default();
                for pair in nl.pairs_of(i) {
                    let j = nl.partner[pair] as usize;
                    let c = nl.image[pair] as i32;
                    let n = [c % 3 - 1, c / 3 % 3 - 1, c / 9 - 1];
                    let r = norm(sep(i, j, n));
                    match first.get(&j) {
                        Some(&r0) => {
                            // At the build (particles have moved since a later one).
                            let build = stage == "build";
                            assert!(!build || r0 <= r, "case {case}: a farther image of {j} listed first");
                            doubles += 1;
                        }
                        None => {
                            first.insert(j, r);
                        }
                    }
                    let fresh = listed.insert(key(i, j, n));
                    assert!(fresh, "case {case}, {stage}: listed twice");
                }
            }
            if stage == "build" {
                assert_eq!(listed, brute, "case {case}: the pairs and images within reach");
            } else {
                // Since a later build, pairs have moved into and out of the skin.
                assert!(
                    listed.is_superset(&in_range),
                    "case {case}, {stage}: a pair in range not listed"
                );
            }
            assert!(
                doubles > 0,
                "case {case}, {stage}: some partner must be listed through two images"
            );
            let (err, k) = common::max_rel_err(&q.f, &f);
            eprintln!(
                "case {case}, {stage}: {} pairs, {doubles} second images, force error {err:.1e}",
                listed.len()
            );
            assert!(
                err < 1e-10,
                "case {case}, {stage}: particle {k}: {:?} vs {:?}",
                q.f[k],
                f[k]
            );
            assert!(
                (sys.summary.pe - pe).abs() < 1e-10 * pe.abs(),
                "case {case}, {stage}: pe"
            );
            sys.run(400, &mut []);
        }
        assert!(
            sys.timers.neighbor_builds > 1,
            "case {case}: the run must rebuild the list"
        );
    }
}

/// A checkpoint stores a neighbour list as its build positions and box and the histories
/// held; restored, the list is listed again pair for pair, and the run goes on with the
/// same bits as one never saved. Here the box has been scaled and sheared since the list
/// was built, and contacts hold histories.
#[test]
fn a_saved_neighbour_list_is_rebuilt_pair_for_pair() {
    let mut sys = mixture(1.0, 5, true);
    sys.scale_box(&[0, 1, 2], 0.95);
    sys.setup().unwrap();
    let mut deform = etwin::sim::nemd::ShearDeform::start(&mut sys, 2.0, true).unwrap();
    sys.run_with(149, &mut [&mut deform], &mut []);
    let builds = sys.neighbor.builds;
    sys.run_with(1, &mut [&mut deform], &mut []);
    // The box tilts at every step: it has moved since the list was built.
    assert_eq!(sys.neighbor.builds, builds, "no build at the saved step");
    let json = serde_json::to_string(&sys.snapshot()).unwrap();
    let ff = || common::mixed_forcefield(&[0.5, 0.7], 2e5, true, true);
    let mut back = System::restore(serde_json::from_str(&json).unwrap(), ff()).unwrap();
    let (a, b) = (&sys.neighbor, &back.neighbor);
    let (held, pairs) = (a.held.iter().filter(|&&h| h).count(), a.n_pairs());
    assert!(held > 100 && pairs > 500, "{held} held of {pairs} pairs");
    assert_eq!(
        (&a.offsets, &a.partner, &a.owner, &a.image, &a.range_sq),
        (&b.offsets, &b.partner, &b.owner, &b.image, &b.range_sq)
    );
    assert_eq!((&a.history, &a.held), (&b.history, &b.held));
    assert_eq!(
        (a.fixed_images, a.max_range, a.classes, a.builds),
        (b.fixed_images, b.max_range, b.classes, builds)
    );
    let mut deform_back = deform.clone();
    sys.run_with(200, &mut [&mut deform], &mut []);
    back.run_with(200, &mut [&mut deform_back], &mut []);
    assert!(sys.neighbor.builds > builds, "the runs must rebuild their lists");
    assert_eq!(common::fingerprint(&sys), common::fingerprint(&back));
    // A state the caller changed before restoring gets the list a build at the saved
    // positions gives for it, each held history on its particle pair.
    let mut grown: etwin::sim::system::SystemState = serde_json::from_str(&json).unwrap();
    grown.particles.radius[0] *= 1.5;
    let ids = grown.particles.id.clone();
    let grown = System::restore(grown, ff()).unwrap();
    let g = &grown.neighbor;
    assert!(g.n_pairs() > pairs, "a larger sphere has more partners");
    let saved = serde_json::from_str::<etwin::sim::system::SystemState>(&json).unwrap();
    let again = System::restore(saved, ff()).unwrap();
    let nl = &again.neighbor;
    for k in (0..nl.n_pairs()).filter(|&k| nl.held[k]) {
        let (i, j) = (nl.owner[k] as usize, nl.partner[k] as usize);
        let h = g.history_between(&grown.particles, ids[i], ids[j]);
        assert_eq!(h, Some(nl.history[k]), "pair {i}-{j}");
    }
    assert_eq!(g.held.iter().filter(|&&h| h).count(), held);
}

/// 4 × 4 × 4 unit spheres on a periodic cubic lattice of spacing 1.8: each presses on six
/// neighbours with overlap 0.2, all forces balance, and a Hertz law with damping `gamma_n`
/// (no tangential part) acts. Velocities get a small random kick.
fn pressed_lattice(gamma_n: f64) -> System {
    use rand::{Rng, SeedableRng};
    let (n, a) = (4, 1.8);
    let mut p = Particles::default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    for k in 0..n * n * n {
        let x = [k % n, (k / n) % n, k / (n * n)].map(|c| (c as f64 + 0.5) * a);
        p.push(k as u64 + 1, 1, x, 1.0, sphere_mass(1.0, 1.0));
        p.v[k] = [0, 1, 2].map(|_| 1e-6 * rng.random_range(-1.0..1.0));
    }
    let hertz = HertzHistory {
        kn: 1.0,
        kt: 0.0,
        gamma_n,
        gamma_t: 0.0,
        xmu: 0.0,
    };
    let ff = ForceField::new("pressed lattice", vec![Box::new(hertz)]);
    let simbox = SimBox::orthogonal([0.0; 3], [n as f64 * a; 3], [true; 3]);
    let settings = StepSettings {
        dt: 1e-3,
        skin: 0.3,
        ..Default::default()
    };
    let mut sys = System::new(p, simbox, ff, settings).unwrap();
    sys.setup().unwrap();
    sys
}

/// The period-two number of the pressed lattice is known: its top mode alternates along a
/// lattice row, where dt²K + 2dt·C over the mass has eigenvalue 4 (dt γ_n h + dt² 3/2 K_n h / m)
/// (h = √(δ r/2)). Above 1 a small disturbance grows without bound, below 1 it dies out,
/// as the module's analysis says, and the check fails only above 1.
#[test]
fn the_step_is_unstable_exactly_where_the_period_two_number_passes_one() {
    use etwin::sim::stability::{check, period_two_number};
    let (dt, h, m) = (1e-3, (0.2f64 * 0.5).sqrt(), sphere_mass(1.0, 1.0));
    let gamma_for = |number: f64| (number - dt * dt * 1.5 * h / m) / (dt * h);
    for target in [0.9, 0.98, 1.02, 1.1] {
        let mut sys = pressed_lattice(gamma_for(target));
        let number = period_two_number(&sys);
        assert!((number - target).abs() < 1e-9 * target, "{number} vs {target}");
        assert_eq!(check(&sys).is_err(), target > 1.0);
        let speed = |s: &System| s.particles.v.iter().map(|v| norm(*v)).fold(0.0, f64::max);
        let v0 = speed(&sys);
        sys.run(1000, &mut []);
        let growth = speed(&sys) / v0;
        if target > 1.0 {
            assert!(growth > 1e3, "number {target}: the disturbance grew only {growth}×");
        } else {
            assert!(growth < 1.0, "number {target}: the disturbance grew {growth}×");
        }
    }
}
