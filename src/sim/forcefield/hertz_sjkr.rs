//! `gran/hertz/sjkr`: the dry-state contact law of the reference's calendering (LIGGGHTS
//! `pair_style gran model hertz tangential history cohesion sjkr`), with parameters from
//! material properties.
//!
//! For overlapping spheres (δ = r_i + r_j − r > 0), R* = r_i r_j/(r_i + r_j),
//! m* = m_i m_j/(m_i + m_j), 1/Y* = Σ (1 − ν²)/E, 1/G* = Σ 2(2 − ν)(1 + ν)/E,
//! β = ln e / √(ln² e + π²), S_n = 2Y*√(R*δ), S_t = 8G*√(R*δ):
//! * normal: F_n = (4/3)Y*√(R*δ)·δ − γ_n v_n with γ_n = −2√(5/6) β √(S_n m*),
//!   v_n the normal relative velocity (negative when approaching);
//! * with a yield pressure p_y, the normal elastic force is Thornton's elastic–perfectly
//!   plastic one instead (see [`PairParams::normal_force`]): calendering leaves a permanent
//!   overlap, where Hertz alone gives every bit of the compression back;
//! * cohesion (simplified JKR): −k_c·A, A the area of the lens where the spheres intersect
//!   (π a², a the radius of the intersection circle), k_c the cohesion energy density;
//! * tangential: shear history s (LAMMPS rotation), F_t = −S_t s − γ_t v_t with
//!   γ_t = −2√(5/6) β √(S_t m*), and when |S_t s| > μ|F_n + F_c| the history is rescaled to
//!   the Coulomb cap and the damping dropped (LIGGGHTS `tangential history`; the cohesion
//!   is seen by the cap, LIGGGHTS' default `tangential_reduce off`).
//!
//! A wall is a sphere of infinite mass, and of infinite radius for a plane.
//! Units: E, Y*, G*, k_c [kPa = nN/µm²]; lengths [µm]; masses [pg].

use serde::{Deserialize, Serialize};

use super::hertz_history::Kinematics;
use super::{ContactRates, History, PairContext, PairInput, PairOut, PairStyle, Reach, TypePairTable, NO_HISTORY};

/// √(5/6), from LIGGGHTS' damping coefficient.
const SQRT_5_6: f64 = 0.912_870_929_175_276_9;

/// Material properties of one phase (AM, CBD, the collector foil, the roll).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Material {
    /// Young's modulus E [kPa].
    pub youngs_modulus: f64,
    /// Poisson ratio ν [-].
    pub poisson_ratio: f64,
    /// Coefficient of restitution e [-], (0, 1].
    pub restitution: f64,
    /// Coulomb friction coefficient μ [-].
    pub friction: f64,
    /// Cohesion energy density k_c [kPa = J/m³ · 1e-3].
    pub cohesion_energy_density: f64,
    /// Contact pressure at which the material yields [kPa]; 0 = elastic.
    #[serde(default)]
    pub yield_pressure: f64,
}

/// How a pair's value comes from its two materials' values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mixing {
    /// (a + b)/2
    Arithmetic,
    /// √(ab)
    Geometric,
    /// 2ab/(a + b)
    Harmonic,
    Min,
    Max,
}

impl Mixing {
    pub fn mix(self, a: f64, b: f64) -> f64 {
        match self {
            Mixing::Arithmetic => 0.5 * (a + b),
            Mixing::Geometric => (a * b).sqrt(),
            Mixing::Harmonic if a + b > 0.0 => 2.0 * a * b / (a + b),
            Mixing::Harmonic => 0.0,
            Mixing::Min => a.min(b),
            Mixing::Max => a.max(b),
        }
    }
}

/// The mixing rule of each per-pair parameter. E and ν always combine as Hertz theory
/// says (Y*, G* above); these three have no such law, so a scenario picks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MixingRules {
    /// Default Geometric.
    pub restitution: Mixing,
    /// Default Min: the slipperier surface sets the friction.
    pub friction: Mixing,
    /// Default Geometric: no cohesion with a material that has none.
    pub cohesion: Mixing,
}

impl Default for MixingRules {
    fn default() -> Self {
        MixingRules {
            restitution: Mixing::Geometric,
            friction: Mixing::Min,
            cohesion: Mixing::Geometric,
        }
    }
}

/// The coefficients of one pair of materials.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PairParams {
    /// Y* [kPa].
    pub y_eff: f64,
    /// G* [kPa].
    pub g_eff: f64,
    /// β = ln e / √(ln² e + π²) [-] (≤ 0).
    pub beta: f64,
    /// μ [-].
    pub friction: f64,
    /// k_c [kPa].
    pub cohesion: f64,
    /// p_y [kPa]: the softer yielding material's; 0 = elastic.
    pub yield_pressure: f64,
}

impl PairParams {
    pub fn new(a: &Material, b: &Material, rules: &MixingRules) -> Self {
        let inv_y =
            (1.0 - a.poisson_ratio.powi(2)) / a.youngs_modulus + (1.0 - b.poisson_ratio.powi(2)) / b.youngs_modulus;
        let g = |m: &Material| 2.0 * (2.0 - m.poisson_ratio) * (1.0 + m.poisson_ratio) / m.youngs_modulus;
        let e = rules.restitution.mix(a.restitution, b.restitution);
        let ln_e = e.ln();
        PairParams {
            y_eff: 1.0 / inv_y,
            g_eff: 1.0 / (g(a) + g(b)),
            beta: ln_e / (ln_e * ln_e + std::f64::consts::PI.powi(2)).sqrt(),
            friction: rules.friction.mix(a.friction, b.friction),
            cohesion: rules.cohesion.mix(a.cohesion_energy_density, b.cohesion_energy_density),
            yield_pressure: match (a.yield_pressure, b.yield_pressure) {
                (x, y) if x > 0.0 && y > 0.0 => x.min(y),
                (x, y) => x.max(y),
            },
        }
    }

    /// Normal elastic(–plastic) force [nN] at overlap `delta` [µm] for R* `reff` [µm] after
    /// a largest overlap `delta_max` [µm], and the overlap it would leave unloaded [µm].
    ///
    /// Thornton (1997): Hertz up to the yield overlap δ_y = (π p_y / 2Y*)² R*, where the
    /// contact's centre pressure (2Y*/π)√(δ/R*) reaches p_y; then F = F_y + π p_y R* (δ − δ_y). Unloading
    /// and reloading below δ_max follow a Hertz curve of a flattened radius R_p from the
    /// plastic overlap δ_p: F = (4/3) Y* √R_p (δ − δ_p)^{3/2}, which meets the plastic
    /// branch at δ_max. Elastic (p_y = 0): (4/3) Y* √R* δ^{3/2}, δ_p = 0.
    #[inline]
    pub fn normal_force(&self, reff: f64, delta: f64, delta_max: f64) -> (f64, f64) {
        match self.unloading_curve(reff, delta.max(delta_max)) {
            None => (self.hertz_force(reff, delta), 0.0),
            Some((rp, dp)) => {
                let de = (delta - dp).max(0.0);
                (4.0 / 3.0 * self.y_eff * rp.sqrt() * de * de.sqrt(), dp)
            }
        }
    }

    /// dF/dδ of [`Self::normal_force`] [nN/µm]. At δ ≥ δ_max on the plastic branch, the
    /// loading slope π p_y R* (the softer side: unloading from there is stiffer).
    pub fn normal_stiffness(&self, reff: f64, delta: f64, delta_max: f64) -> f64 {
        match self.unloading_curve(reff, delta.max(delta_max)) {
            None => self.hertz_stiffness(reff, delta),
            Some(_) if delta >= delta_max => std::f64::consts::PI * self.yield_pressure * reff,
            Some((rp, dp)) => self.hertz_stiffness(rp, (delta - dp).max(0.0)),
        }
    }

    /// Normal stiffness and damping of a contact (see
    /// [`PairStyle::contact_rates`](super::PairStyle::contact_rates)) of R* `reff` [µm],
    /// m_eff `meff` [pg], overlap `delta` and largest overlap `delta_max` [µm], whose
    /// intersection area grows by `area_slope` [µm] per unit overlap.
    pub fn normal_rates(&self, reff: f64, meff: f64, delta: f64, delta_max: f64, area_slope: f64) -> ContactRates {
        // The cohesion −k_c A pulls harder as the lens grows: a negative stiffness.
        ContactRates {
            stiffness: self.normal_stiffness(reff, delta, delta_max) - self.cohesion * area_slope,
            damping: self.normal_damping(reff, meff, delta),
        }
    }

    /// The flattened radius R_p and plastic overlap δ_p of the curve below a largest
    /// overlap `dm` past yield (Thornton); `None` while the contact is elastic.
    fn unloading_curve(&self, reff: f64, dm: f64) -> Option<(f64, f64)> {
        let py = self.yield_pressure;
        if py <= 0.0 {
            return None;
        }
        let dy = (std::f64::consts::PI * py / (2.0 * self.y_eff)).powi(2) * reff;
        if dm <= dy {
            return None;
        }
        let fy = self.hertz_force(reff, dy);
        let fmax = fy + std::f64::consts::PI * py * reff * (dm - dy);
        // Thornton's R_p = 4Y*/(3F_max)·X^{3/2} with X = (2F_max + F_y)/(2π p_y), and
        // δ_p = δ_max − (3F_max/(4Y*√R_p))^{2/3}, which is exactly δ_max − c/√X with
        // c = 3F_max/(4Y*): no powf (it was a sixth of a calendering run).
        let x = (2.0 * fmax + fy) / (2.0 * std::f64::consts::PI * py);
        let c = 3.0 * fmax / (4.0 * self.y_eff);
        let sx = x.sqrt();
        Some((x * sx / c, dm - c / sx))
    }

    /// The normal damping coefficient −2√(5/6) β √(S_n m*) [pg/µs] at overlap `delta`.
    fn normal_damping(&self, reff: f64, meff: f64, delta: f64) -> f64 {
        self.damping(self.hertz_stiffness(reff, delta), meff)
    }

    /// LIGGGHTS' damping coefficient −2√(5/6) β √(S m*) [pg/µs] of a spring of stiffness
    /// `stiffness` [nN/µm] on m_eff `meff` [pg].
    fn damping(&self, stiffness: f64, meff: f64) -> f64 {
        -2.0 * SQRT_5_6 * self.beta * (stiffness * meff).sqrt()
    }

    /// S_n = dF/dδ = 2 Y* √(R* δ) of the elastic Hertz force [nN/µm].
    fn hertz_stiffness(&self, reff: f64, delta: f64) -> f64 {
        2.0 * self.y_eff * (reff * delta).sqrt()
    }

    /// The elastic Hertz force (4/3)Y*√(R*δ)·δ [nN] at overlap `delta` [µm] for R* `reff` [µm].
    #[inline]
    pub fn hertz_force(&self, reff: f64, delta: f64) -> f64 {
        4.0 / 3.0 * self.y_eff * (reff * delta).sqrt() * delta
    }

    /// Force and torque term of one contact of overlap `delta` [µm], effective radius
    /// `reff` [µm], effective mass `meff` [pg] and intersection area `area` [µm²].
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn contact(
        &self,
        reff: f64,
        meff: f64,
        delta: f64,
        area: f64,
        k: &Kinematics,
        shear: &mut History,
        dt: f64,
        update: bool,
        out: &mut PairOut,
    ) {
        let [dx, dy, dz] = k.del;
        let rinv = 1.0 / k.r;
        let rsqinv = rinv * rinv;
        let [vr1, vr2, vr3] = k.vr;
        let vnnr = vr1 * dx + vr2 * dy + vr3 * dz;
        let vn = vnnr * rinv;
        let (vn1, vn2, vn3) = (dx * vnnr * rsqinv, dy * vnnr * rsqinv, dz * vnnr * rsqinv);
        let (wr1, wr2, wr3) = (k.wsum[0] * rinv, k.wsum[1] * rinv, k.wsum[2] * rinv);
        let vtr1 = vr1 - vn1 - (dz * wr2 - dy * wr3);
        let vtr2 = vr2 - vn2 - (dx * wr3 - dz * wr1);
        let vtr3 = vr3 - vn3 - (dy * wr1 - dx * wr2);

        let sqrtval = (reff * delta).sqrt();
        let st = 8.0 * self.g_eff * sqrtval;
        let gamma_n = self.normal_damping(reff, meff, delta);
        let gamma_t = self.damping(st, meff);
        let (f_el, dp) = self.normal_force(reff, delta, shear[3]);
        let fn_total = f_el - gamma_n * vn - self.cohesion * area;
        // What unloading would give back.
        out.elastic += 0.4 * f_el * (delta - dp);

        if update {
            shear[3] = shear[3].max(delta);
            shear[0] += vtr1 * dt;
            shear[1] += vtr2 * dt;
            shear[2] += vtr3 * dt;
            // Keep the shear displacement in the tangent plane.
            let rsht = (shear[0] * dx + shear[1] * dy + shear[2] * dz) * rsqinv;
            shear[0] -= rsht * dx;
            shear[1] -= rsht * dy;
            shear[2] -= rsht * dz;
        }
        let mut ft = [-st * shear[0], -st * shear[1], -st * shear[2]];
        let ft_mag = (ft[0] * ft[0] + ft[1] * ft[1] + ft[2] * ft[2]).sqrt();
        let cap = self.friction * fn_total.abs();
        if ft_mag > cap {
            // Sliding: the spring is stretched only as far as friction holds it.
            let ratio = cap / ft_mag;
            for a in 0..3 {
                shear[a] *= ratio;
                ft[a] *= ratio;
            }
        } else {
            ft[0] -= gamma_t * vtr1;
            ft[1] -= gamma_t * vtr2;
            ft[2] -= gamma_t * vtr3;
        }
        let fn_over_r = fn_total * rinv;
        out.f[0] += dx * fn_over_r + ft[0];
        out.f[1] += dy * fn_over_r + ft[1];
        out.f[2] += dz * fn_over_r + ft[2];
        out.tor[0] += rinv * (dy * ft[2] - dz * ft[1]);
        out.tor[1] += rinv * (dz * ft[0] - dx * ft[2]);
        out.tor[2] += rinv * (dx * ft[1] - dy * ft[0]);
    }
}

/// dA/dδ of [`contact_area`] [µm] (δ = r_i + r_j − d; for a plane, r_i − d).
pub fn contact_area_slope(ri: f64, rj: f64, d: f64) -> f64 {
    if rj.is_infinite() {
        // A = π (2 r_i δ − δ²) with δ = r_i − d.
        return if d > 0.0 && d < ri {
            2.0 * std::f64::consts::PI * d
        } else {
            0.0
        };
    }
    if d <= (ri - rj).abs() || d >= ri + rj {
        return 0.0;
    }
    // a² = P Q / (4d²), P = d² − (r_i − r_j)², Q = (r_i + r_j)² − d².
    let p = d * d - (ri - rj).powi(2);
    let q = (ri + rj).powi(2) - d * d;
    let da2_dd = (q - p) / (2.0 * d) - p * q / (2.0 * d * d * d);
    -std::f64::consts::PI * da2_dd
}

/// Area of the circle where two spheres of radii `ri`, `rj` at distance `d` intersect
/// [µm²]; `rj = ∞` is a plane. A sphere inside the other gives the smaller's cross-section.
#[inline]
pub fn contact_area(ri: f64, rj: f64, d: f64) -> f64 {
    if rj.is_infinite() {
        let delta = ri - d;
        return std::f64::consts::PI * (2.0 * ri * delta - delta * delta).max(0.0);
    }
    if d <= (ri - rj).abs() {
        return std::f64::consts::PI * ri.min(rj).powi(2);
    }
    let a2 = (d + ri - rj) * (d - ri + rj) * (ri + rj - d) * (d + ri + rj) / (4.0 * d * d);
    std::f64::consts::PI * a2.max(0.0)
}

/// The law for spheres, one material per type.
#[derive(Debug, Clone, PartialEq)]
pub struct HertzSjkr {
    pub table: TypePairTable<PairParams>,
}

impl HertzSjkr {
    /// `materials[t − 1]` is the material of type `t`.
    pub fn new(materials: &[Material], rules: &MixingRules) -> Self {
        let mut table = TypePairTable::new(materials.len());
        for (i, a) in materials.iter().enumerate() {
            for (j, b) in materials.iter().enumerate().skip(i) {
                table.set(i as u32 + 1, j as u32 + 1, PairParams::new(a, b, rules));
            }
        }
        HertzSjkr { table }
    }
}

impl PairStyle for HertzSjkr {
    fn name(&self) -> &'static str {
        "gran/hertz/sjkr"
    }

    fn reach(&self, _ti: u32, _tj: u32) -> Reach {
        Reach {
            fixed: 0.0,
            radius_sum: true,
        }
    }

    fn max_type(&self) -> Option<u32> {
        Some(self.table.n_types() as u32)
    }

    fn contact_rates(&self, p: &PairInput, ctx: &PairContext, hist: &History) -> Option<ContactRates> {
        let (ri, rj, mi, mj) = (ctx.radius[p.i], ctx.radius[p.j], ctx.mass[p.i], ctx.mass[p.j]);
        let radsum = ri + rj;
        let delta = radsum - p.r;
        if delta <= 0.0 {
            return None;
        }
        let params = self.table.get(ctx.kind[p.i], ctx.kind[p.j]);
        let meff = mi * mj / (mi + mj);
        Some(params.normal_rates(ri * rj / radsum, meff, delta, hist[3], contact_area_slope(ri, rj, p.r)))
    }

    #[inline]
    fn compute(&self, p: &PairInput, ctx: &PairContext, shear: &mut History, out: &mut PairOut) {
        let (i, j) = (p.i, p.j);
        let (ri, rj) = (ctx.radius[i], ctx.radius[j]);
        let radsum = ri + rj;
        if p.rsq >= radsum * radsum {
            *shear = NO_HISTORY;
            return;
        }
        let (vi, vj, wi, wj) = (ctx.v[i], ctx.v[j], ctx.omega[i], ctx.omega[j]);
        let k = Kinematics {
            del: p.del,
            rsq: p.rsq,
            r: p.r,
            vr: std::array::from_fn(|a| vi[a] - vj[a] - p.dv[a]),
            wsum: std::array::from_fn(|a| ri * wi[a] + rj * wj[a]),
        };
        let (mi, mj) = (ctx.mass[i], ctx.mass[j]);
        let params = self.table.get(ctx.kind[i], ctx.kind[j]);
        params.contact(
            ri * rj / radsum,
            mi * mj / (mi + mj),
            radsum - p.r,
            contact_area(ri, rj, p.r),
            &k,
            shear,
            ctx.dt,
            ctx.update_history,
            out,
        );
    }
}
