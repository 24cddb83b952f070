//! `gran/hertz/history` with tangential damping (dampflag 1), as LAMMPS defines it.
//!
//! For overlapping spheres (δ = r_i + r_j − r > 0), with h = √(δ r_i r_j / (r_i + r_j)):
//! F_n = h (K_n δ/r − m_eff γ_n (v_r·del)/r²) del,
//! F_t = −h (K_t s + m_eff γ_t v_tr), capped at x_u |F_n| by rescaling the shear history s.
//! A plane wall (LAMMPS `fix wall/gran hertz/history`) is the same law with the wall as a
//! sphere of infinite radius and mass: h = √(δ r_i), m_eff = m_i, see [`Contact::Wall`].
//! Units: K_n, K_t [nN/µm²]; γ_n, γ_t [1/(µs·µm)]; x_u [-].

#[cfg(target_arch = "x86_64")]
mod avx512;

use super::batch::{kept, Lane, PairBatch, LANES};
use super::reference::ReferenceModel;
use super::{ContactRates, History, PairContext, PairInput, PairOut, PairStyle, Reach, NO_HISTORY};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HertzHistory {
    /// Normal stiffness K_n [nN/µm²].
    pub kn: f64,
    /// Tangential stiffness K_t [nN/µm²].
    pub kt: f64,
    /// Normal damping γ_n [1/(µs·µm)].
    pub gamma_n: f64,
    /// Tangential damping γ_t [1/(µs·µm)].
    pub gamma_t: f64,
    /// Coulomb friction coefficient x_u [-].
    pub xmu: f64,
}

/// The bodies in contact.
#[derive(Debug, Clone, Copy)]
pub enum Contact {
    /// Two spheres of radii `ri`, `rj` and masses `mi`, `mj`.
    Pair { ri: f64, rj: f64, mi: f64, mj: f64 },
    /// A sphere of radius `r` and mass `m` against a plane.
    Wall { r: f64, m: f64 },
}

impl Contact {
    /// The spheres of the pair `p`.
    #[inline]
    fn of_pair(p: &PairInput, ctx: &PairContext) -> Self {
        Contact::Pair {
            ri: ctx.radius[p.i],
            rj: ctx.radius[p.j],
            mi: ctx.mass[p.i],
            mj: ctx.mass[p.j],
        }
    }

    /// The distance at which contact begins [µm].
    #[inline]
    fn radius_sum(&self) -> f64 {
        match *self {
            Contact::Pair { ri, rj, .. } => ri + rj,
            Contact::Wall { r, .. } => r,
        }
    }

    /// m_eff [pg] and h = √(δ R*) [µm] at centre distance `r`: both forces scale with h.
    #[inline]
    fn meff_and_h(&self, r: f64) -> (f64, f64) {
        let radsum = self.radius_sum();
        match *self {
            Contact::Pair { ri, rj, mi, mj } => (mi * mj / (mi + mj), ((radsum - r) * ri * rj / radsum).sqrt()),
            Contact::Wall { r: radius, m } => (m, ((radsum - r) * radius).sqrt()),
        }
    }
}

/// Kinematics of a contact: separation `del` = x_i − x_j (or sphere − wall point) [µm],
/// relative velocity `vr` [µm/µs], and `wsum` = r_i ω_i + r_j ω_j [µm/µs].
#[derive(Debug, Clone, Copy)]
pub struct Kinematics {
    pub del: [f64; 3],
    pub rsq: f64,
    /// |del| [µm].
    pub r: f64,
    pub vr: [f64; 3],
    pub wsum: [f64; 3],
}

impl HertzHistory {
    pub fn from_reference(m: &ReferenceModel) -> Self {
        HertzHistory {
            kn: m.kn,
            kt: m.fixed.kt_over_kn * m.kn,
            gamma_n: m.gamma_n,
            gamma_t: m.fixed.gamma_t_over_gamma_n * m.gamma_n,
            xmu: m.xu,
        }
    }

    /// Normal stiffness and damping of a contact at centre distance `r` [µm] (see
    /// [`PairStyle::contact_rates`]); `None` when apart.
    pub fn normal_rates(&self, c: Contact, r: f64) -> Option<ContactRates> {
        if r >= c.radius_sum() {
            return None;
        }
        // F_n = K_n h δ with h ∝ √δ, so dF_n/dδ = 3/2 K_n h.
        let (meff, h) = c.meff_and_h(r);
        Some(ContactRates {
            stiffness: 1.5 * self.kn * h,
            damping: meff * self.gamma_n * h,
        })
    }

    /// Contact force and torque term of one contact; erases the history when apart.
    #[inline]
    pub fn contact(&self, c: Contact, k: &Kinematics, shear: &mut History, dt: f64, update: bool, out: &mut PairOut) {
        let radsum = c.radius_sum();
        if k.rsq >= radsum * radsum {
            // Not touching: the contact's history is erased.
            *shear = NO_HISTORY;
            return;
        }
        let [delx, dely, delz] = k.del;
        let r = k.r;
        let rinv = 1.0 / r;
        let rsqinv = rinv * rinv;

        let [vr1, vr2, vr3] = k.vr;
        let vnnr = vr1 * delx + vr2 * dely + vr3 * delz;
        let vn1 = delx * vnnr * rsqinv;
        let vn2 = dely * vnnr * rsqinv;
        let vn3 = delz * vnnr * rsqinv;
        let vt1 = vr1 - vn1;
        let vt2 = vr2 - vn2;
        let vt3 = vr3 - vn3;

        let wr1 = k.wsum[0] * rinv;
        let wr2 = k.wsum[1] * rinv;
        let wr3 = k.wsum[2] * rinv;

        let (meff, polyhertz) = c.meff_and_h(r);
        let damp = meff * self.gamma_n * vnnr * rsqinv;
        let ccel = (self.kn * (radsum - r) * rinv - damp) * polyhertz;
        // Normal elastic energy ∫ K_n h dδ = (2/5) K_n h δ (h ∝ √δ).
        out.elastic += 0.4 * self.kn * polyhertz * (radsum - r) * (radsum - r);

        let vtr1 = vt1 - (delz * wr2 - dely * wr3);
        let vtr2 = vt2 - (delx * wr3 - delz * wr1);
        let vtr3 = vt3 - (dely * wr1 - delx * wr2);

        if update {
            shear[0] += vtr1 * dt;
            shear[1] += vtr2 * dt;
            shear[2] += vtr3 * dt;
        }
        let shrmag = (shear[0] * shear[0] + shear[1] * shear[1] + shear[2] * shear[2]).sqrt();
        if update {
            // Keep the shear displacement in the tangent plane.
            let rsht = (shear[0] * delx + shear[1] * dely + shear[2] * delz) * rsqinv;
            shear[0] -= rsht * delx;
            shear[1] -= rsht * dely;
            shear[2] -= rsht * delz;
        }

        let mgt = meff * self.gamma_t;
        let mut fs1 = -polyhertz * (self.kt * shear[0] + mgt * vtr1);
        let mut fs2 = -polyhertz * (self.kt * shear[1] + mgt * vtr2);
        let mut fs3 = -polyhertz * (self.kt * shear[2] + mgt * vtr3);

        let fs = (fs1 * fs1 + fs2 * fs2 + fs3 * fs3).sqrt();
        let fnmax = self.xmu * (ccel * r).abs();
        if fs > fnmax {
            if shrmag != 0.0 {
                let ratio = fnmax / fs;
                // With K_t = 0 the history carries no force; avoid 0/0.
                let kt = if self.kt > 0.0 { self.kt } else { f64::INFINITY };
                let d1 = mgt * vtr1 / kt;
                let d2 = mgt * vtr2 / kt;
                let d3 = mgt * vtr3 / kt;
                shear[0] = ratio * (shear[0] + d1) - d1;
                shear[1] = ratio * (shear[1] + d2) - d2;
                shear[2] = ratio * (shear[2] + d3) - d3;
                fs1 *= ratio;
                fs2 *= ratio;
                fs3 *= ratio;
            } else {
                // LAMMPS zeroes (does not cap) the tangential force on a fresh contact.
                fs1 = 0.0;
                fs2 = 0.0;
                fs3 = 0.0;
            }
        }

        out.f[0] += delx * ccel + fs1;
        out.f[1] += dely * ccel + fs2;
        out.f[2] += delz * ccel + fs3;
        out.tor[0] += rinv * (dely * fs3 - delz * fs2);
        out.tor[1] += rinv * (delz * fs1 - delx * fs3);
        out.tor[2] += rinv * (delx * fs2 - dely * fs1);
    }
}

impl PairStyle for HertzHistory {
    fn name(&self) -> &'static str {
        "gran/hertz/history"
    }

    fn reach(&self, _ti: u32, _tj: u32) -> Reach {
        Reach {
            fixed: 0.0,
            radius_sum: true,
        }
    }

    #[inline]
    fn compute(&self, p: &PairInput, ctx: &PairContext, shear: &mut History, out: &mut PairOut) {
        let (i, j) = (p.i, p.j);
        let (ri, rj) = (ctx.radius[i], ctx.radius[j]);
        let (vi, vj, wi, wj) = (ctx.v[i], ctx.v[j], ctx.omega[i], ctx.omega[j]);
        let k = Kinematics {
            del: p.del,
            rsq: p.rsq,
            r: p.r,
            vr: [
                vi[0] - vj[0] - p.dv[0],
                vi[1] - vj[1] - p.dv[1],
                vi[2] - vj[2] - p.dv[2],
            ],
            wsum: [
                ri * wi[0] + rj * wj[0],
                ri * wi[1] + rj * wj[1],
                ri * wi[2] + rj * wj[2],
            ],
        };
        self.contact(Contact::of_pair(p, ctx), &k, shear, ctx.dt, ctx.update_history, out);
    }

    fn contact_rates(&self, p: &PairInput, ctx: &PairContext, _hist: &History) -> Option<ContactRates> {
        self.normal_rates(Contact::of_pair(p, ctx), p.r)
    }

    fn compute_batch(&self, b: &mut PairBatch, ctx: &PairContext) {
        SCRATCH.with_borrow_mut(|g| {
            #[cfg(target_arch = "x86_64")]
            if crate::sim::simd::level() == crate::sim::simd::Level::Avx512 {
                // SAFETY: level() only reports features the processor has.
                unsafe { avx512::gather_motion(g, b, ctx) };
            } else {
                gather_motion(g, b, ctx, 0);
            }
            #[cfg(not(target_arch = "x86_64"))]
            gather_motion(g, b, ctx, 0);
            contact_lanes(self, g, b, ctx.dt, ctx.update_history);
            if b.energies {
                elastic_lanes(self, g, b);
            }
        });
    }

    fn has_rest_forces(&self) -> bool {
        true
    }

    /// The contact kernel itself, on a copy of the lanes with every velocity and spin zero
    /// and the history not advanced: a pass at rest's arithmetic, so its bits.
    fn add_rest_forces(&self, b: &mut PairBatch, ctx: &PairContext) {
        SCRATCH.with_borrow_mut(|g| {
            for k in 0..b.len {
                g.mi[k] = ctx.mass[b.i[k] as usize];
                g.mj[k] = ctx.mass[b.j[k] as usize];
            }
            for lane in g.vr.iter_mut().chain(g.wsum.iter_mut()) {
                lane.fill(0.0);
            }
            let mut at_rest = b.clone();
            at_rest.f = b.f_rest;
            contact_lanes(self, g, &mut at_rest, ctx.dt, false);
            b.f_rest = at_rest.f;
        });
    }
}

crate::multiversioned! {
    /// Masses, relative velocities and spin sums of the batch's pairs from lane `from` on.
    fn gather_motion(g: &mut Gathered, b: &PairBatch, ctx: &PairContext<'_>, from: usize) {
        for k in from..b.len {
            let (i, j) = (b.i[k] as usize, b.j[k] as usize);
            let (ri, rj) = (b.ri[k], b.rj[k]);
            let (vi, vj, wi, wj) = (ctx.v[i], ctx.v[j], ctx.omega[i], ctx.omega[j]);
            g.mi[k] = ctx.mass[i];
            g.mj[k] = ctx.mass[j];
            g.vr[0][k] = vi[0] - vj[0] - b.dvx[k];
            for a in 1..3 {
                g.vr[a][k] = vi[a] - vj[a];
            }
            for a in 0..3 {
                g.wsum[a][k] = ri * wi[a] + rj * wj[a];
            }
        }
    }
}

thread_local! {
    /// Gather space, allocated once per thread.
    static SCRATCH: std::cell::RefCell<Gathered> = std::cell::RefCell::new(Gathered::default());
}

/// Per-lane particle data of a batch's pairs.
struct Gathered {
    mi: Lane,
    mj: Lane,
    /// v_i − v_j − Δv [µm/µs].
    vr: [Lane; 3],
    /// r_i ω_i + r_j ω_j [µm/µs].
    wsum: [Lane; 3],
    /// h = √(δ R*) [µm], kept by the force for the elastic energy.
    h: Lane,
}

impl Default for Gathered {
    fn default() -> Self {
        let z = [0.0; LANES];
        Gathered {
            mi: z,
            mj: z,
            vr: [z; 3],
            wsum: [z; 3],
            h: z,
        }
    }
}

crate::multiversioned! {
    /// [`HertzHistory::contact`] over the lanes, branch-free: the same operations in the
    /// same order, with selects in place of branches, so each lane's result is bit-identical.
    fn contact_lanes(s: &HertzHistory, g: &mut Gathered, b: &mut PairBatch, dt: f64, update: bool) {
        let kt = if s.kt > 0.0 { s.kt } else { f64::INFINITY };
        for k in 0..b.len.min(LANES) {
            let (ri, rj) = (b.ri[k], b.rj[k]);
            let radsum = ri + rj;
            let touch = b.rsq[k] < radsum * radsum;
            let (delx, dely, delz) = (b.del[0][k], b.del[1][k], b.del[2][k]);
            let r = b.r[k];
            let rinv = 1.0 / r;
            let rsqinv = rinv * rinv;
            let (vr1, vr2, vr3) = (g.vr[0][k], g.vr[1][k], g.vr[2][k]);
            let vnnr = vr1 * delx + vr2 * dely + vr3 * delz;
            let vt1 = vr1 - delx * vnnr * rsqinv;
            let vt2 = vr2 - dely * vnnr * rsqinv;
            let vt3 = vr3 - delz * vnnr * rsqinv;
            let wr1 = g.wsum[0][k] * rinv;
            let wr2 = g.wsum[1][k] * rinv;
            let wr3 = g.wsum[2][k] * rinv;
            let (mi, mj) = (g.mi[k], g.mj[k]);
            let meff = mi * mj / (mi + mj);
            let overlap = radsum - r;
            // Apart lanes take 0 under the root; their results are discarded below.
            let polyhertz = (if touch { overlap } else { 0.0 } * ri * rj / radsum).sqrt();
            g.h[k] = polyhertz;
            let damp = meff * s.gamma_n * vnnr * rsqinv;
            let ccel = (s.kn * overlap * rinv - damp) * polyhertz;

            let vtr1 = vt1 - (delz * wr2 - dely * wr3);
            let vtr2 = vt2 - (delx * wr3 - delz * wr1);
            let vtr3 = vt3 - (dely * wr1 - delx * wr2);

            let (h1, h2, h3) = (b.hist[0][k], b.hist[1][k], b.hist[2][k]);
            let (a1, a2, a3) = (h1 + vtr1 * dt, h2 + vtr2 * dt, h3 + vtr3 * dt);
            let (mut s1, mut s2, mut s3) = if update { (a1, a2, a3) } else { (h1, h2, h3) };
            let shrmag = (s1 * s1 + s2 * s2 + s3 * s3).sqrt();
            let rsht = (s1 * delx + s2 * dely + s3 * delz) * rsqinv;
            let (p1, p2, p3) = (s1 - rsht * delx, s2 - rsht * dely, s3 - rsht * delz);
            if update {
                (s1, s2, s3) = (p1, p2, p3);
            }

            let mgt = meff * s.gamma_t;
            let fs1 = -polyhertz * (s.kt * s1 + mgt * vtr1);
            let fs2 = -polyhertz * (s.kt * s2 + mgt * vtr2);
            let fs3 = -polyhertz * (s.kt * s3 + mgt * vtr3);
            let fs = (fs1 * fs1 + fs2 * fs2 + fs3 * fs3).sqrt();
            let fnmax = s.xmu * (ccel * r).abs();
            let slide = fs > fnmax;
            let rescale = slide && shrmag != 0.0;
            let ratio = fnmax / fs;
            let d1 = mgt * vtr1 / kt;
            let d2 = mgt * vtr2 / kt;
            let d3 = mgt * vtr3 / kt;
            if rescale {
                s1 = ratio * (s1 + d1) - d1;
                s2 = ratio * (s2 + d2) - d2;
                s3 = ratio * (s3 + d3) - d3;
            }
            // Sliding on a fresh contact: LAMMPS zeroes the tangential force.
            let (fs1, fs2, fs3) = match (slide, rescale) {
                (false, _) => (fs1, fs2, fs3),
                (true, true) => (fs1 * ratio, fs2 * ratio, fs3 * ratio),
                (true, false) => (0.0, 0.0, 0.0),
            };

            b.hist[0][k] = if touch { s1 } else { 0.0 };
            b.hist[1][k] = if touch { s2 } else { 0.0 };
            b.hist[2][k] = if touch { s3 } else { 0.0 };
            // `+ 0.0` changes no overlap (none is −0.0) but hides that the lane keeps what it
            // held, which the compiler would turn into a masked store of the apart lanes.
            b.hist[3][k] = kept(touch, b.hist[3][k] + 0.0);
            let f = [delx * ccel + fs1, dely * ccel + fs2, delz * ccel + fs3];
            let tor = [
                rinv * (dely * fs3 - delz * fs2),
                rinv * (delz * fs1 - delx * fs3),
                rinv * (delx * fs2 - dely * fs1),
            ];
            // Written out: a loop over the three components was unswitched on `touch`,
            // which brought the masked stores back.
            b.f[0][k] += kept(touch, f[0]);
            b.f[1][k] += kept(touch, f[1]);
            b.f[2][k] += kept(touch, f[2]);
            b.tor[0][k] += kept(touch, tor[0]);
            b.tor[1][k] += kept(touch, tor[1]);
            b.tor[2][k] += kept(touch, tor[2]);
        }
    }
}

crate::multiversioned! {
    /// The normal elastic energy of [`HertzHistory::contact`] over the lanes of the last
    /// [`contact_lanes`], added to `elastic`; only a pass that takes sums asks for it.
    fn elastic_lanes(s: &HertzHistory, g: &Gathered, b: &mut PairBatch) {
        for k in 0..b.len.min(LANES) {
            let radsum = b.ri[k] + b.rj[k];
            let touch = b.rsq[k] < radsum * radsum;
            let overlap = radsum - b.r[k];
            let elastic = 0.4 * s.kn * g.h[k] * overlap * overlap;
            b.elastic[k] += kept(touch, elastic);
        }
    }
}
