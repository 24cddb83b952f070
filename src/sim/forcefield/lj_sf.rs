//! `lj/sf`: Lennard-Jones with smoothed (shifted) force, as LAMMPS defines it.
//!
//! F(r) = F_LJ(r) − F_LJ(r_c) along del, E(r) = E_LJ(r) − E_LJ(r_c) + (r − r_c)·F_LJ(r_c),
//! for r < r_c, with F_LJ(r) = 24ε(2(σ/r)¹² − (σ/r)⁶)/r. Force and energy reach zero at r_c.

use super::batch::{kept, Lane, PairBatch, LANES};
use super::reference::ReferenceModel;
use super::{History, PairContext, PairInput, PairOut, PairStyle, Reach, TypePairTable};

/// Coefficients of one type pair.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LjCoeff {
    /// Well depth ε [fJ].
    pub epsilon: f64,
    /// σ [µm].
    pub sigma: f64,
    /// Cutoff r_c [µm]; 0 disables the pair.
    pub cut: f64,
    lj1: f64,
    lj2: f64,
    lj3: f64,
    lj4: f64,
    /// F_LJ(r_c) [nN].
    foffset: f64,
    /// E_LJ(r_c) [fJ].
    eoffset: f64,
}

impl LjCoeff {
    pub fn new(epsilon: f64, sigma: f64, cut: f64) -> Self {
        let s6 = sigma.powi(6);
        let s12 = s6 * s6;
        let mut c = LjCoeff {
            epsilon,
            sigma,
            cut,
            lj1: 48.0 * epsilon * s12,
            lj2: 24.0 * epsilon * s6,
            lj3: 4.0 * epsilon * s12,
            lj4: 4.0 * epsilon * s6,
            foffset: 0.0,
            eoffset: 0.0,
        };
        if cut > 0.0 {
            let r6inv = 1.0 / cut.powi(6);
            c.foffset = r6inv * (c.lj1 * r6inv - c.lj2) / cut;
            c.eoffset = r6inv * (c.lj3 * r6inv - c.lj4);
        }
        c
    }

    /// Force magnitude along del (positive = repulsive) [nN] and energy [fJ] at distance r.
    pub fn force_energy(&self, r: f64) -> (f64, f64) {
        if r >= self.cut {
            return (0.0, 0.0);
        }
        let r6inv = 1.0 / r.powi(6);
        let f = r6inv * (self.lj1 * r6inv - self.lj2) / r - self.foffset;
        let e = r6inv * (self.lj3 * r6inv - self.lj4) - self.eoffset + (r - self.cut) * self.foffset;
        (f, e)
    }
}

/// The `lj/sf` style with explicit per-type-pair coefficients.
#[derive(Debug, Clone)]
pub struct LjSf {
    pub coeff: TypePairTable<LjCoeff>,
}

impl LjSf {
    /// Per-type (ε, σ, r_c) mixed as the reference does: ε geometric, σ and r_c arithmetic.
    pub fn mixed(per_type: &[(f64, f64, f64)]) -> Self {
        let n = per_type.len();
        let mut coeff = TypePairTable::new(n);
        for a in 0..n {
            for b in a..n {
                let (ea, sa, ca) = per_type[a];
                let (eb, sb, cb) = per_type[b];
                let c = if a == b {
                    LjCoeff::new(ea, sa, ca)
                } else {
                    LjCoeff::new((ea * eb).sqrt(), 0.5 * (sa + sb), 0.5 * (ca + cb))
                };
                coeff.set(a as u32 + 1, b as u32 + 1, c);
            }
        }
        LjSf { coeff }
    }

    pub fn from_reference(m: &ReferenceModel) -> Self {
        Self::mixed(&m.lj_per_type())
    }
}

impl PairStyle for LjSf {
    fn name(&self) -> &'static str {
        "lj/sf"
    }

    fn max_type(&self) -> Option<u32> {
        Some(self.coeff.n_types() as u32)
    }

    fn reach(&self, ti: u32, tj: u32) -> Reach {
        Reach {
            fixed: self.coeff.get(ti, tj).cut,
            radius_sum: false,
        }
    }

    #[inline]
    fn compute(&self, p: &PairInput, ctx: &PairContext, _h: &mut History, out: &mut PairOut) {
        let c = self.coeff.get(ctx.kind[p.i], ctx.kind[p.j]);
        if p.rsq >= c.cut * c.cut {
            return;
        }
        let rinv = 1.0 / p.r;
        let r2inv = rinv * rinv;
        let r6inv = r2inv * r2inv * r2inv;
        let forcelj = r6inv * (c.lj1 * r6inv - c.lj2);
        let fpair = (rinv * forcelj - c.foffset) * rinv;
        out.f[0] += p.del[0] * fpair;
        out.f[1] += p.del[1] * fpair;
        out.f[2] += p.del[2] * fpair;
        out.energy += r6inv * (c.lj3 * r6inv - c.lj4) - c.eoffset + (p.r - c.cut) * c.foffset;
    }

    fn compute_batch(&self, b: &mut PairBatch, ctx: &PairContext) {
        SCRATCH.with_borrow_mut(|g| {
            gather_coeffs(self, g, b, ctx, b.energies);
            lj_lanes(g, b.len, &b.del, &b.rsq, &b.r, &mut b.f);
            if b.energies {
                lj_energies(g, b.len, &b.rsq, &b.r, &mut b.energy);
            }
        });
    }

    fn has_rest_forces(&self) -> bool {
        true
    }

    /// The same force: it depends on positions alone.
    fn add_rest_forces(&self, b: &mut PairBatch, ctx: &PairContext) {
        SCRATCH.with_borrow_mut(|g| {
            gather_coeffs(self, g, b, ctx, false);
            lj_lanes(g, b.len, &b.del, &b.rsq, &b.r, &mut b.f_rest);
        });
    }
}

crate::multiversioned! {
    /// The coefficients of the batch's type pairs: those of the force, and with `energies`
    /// those of the energy.
    fn gather_coeffs(s: &LjSf, g: &mut Gathered, b: &PairBatch, ctx: &PairContext<'_>, energies: bool) {
        for k in 0..b.len {
            let c = s.coeff.get(ctx.kind[b.i[k] as usize], ctx.kind[b.j[k] as usize]);
            g.lj[0][k] = c.lj1;
            g.lj[1][k] = c.lj2;
            g.cut[k] = c.cut;
            g.foffset[k] = c.foffset;
            if energies {
                g.lj[2][k] = c.lj3;
                g.lj[3][k] = c.lj4;
                g.eoffset[k] = c.eoffset;
            }
        }
    }
}

thread_local! {
    /// Gather space, allocated once per thread.
    static SCRATCH: std::cell::RefCell<Gathered> = const {
        std::cell::RefCell::new(Gathered {
            lj: [[0.0; LANES]; 4],
            r6inv: [0.0; LANES],
            cut: [0.0; LANES],
            foffset: [0.0; LANES],
            eoffset: [0.0; LANES],
        })
    };
}

/// Per-lane coefficients of a batch's pairs.
struct Gathered {
    lj: [Lane; 4],
    /// (1/r)⁶ [1/µm⁶], kept by the force for the energy.
    r6inv: Lane,
    cut: Lane,
    foffset: Lane,
    eoffset: Lane,
}

crate::multiversioned! {
    /// The force of [`LjSf::compute`] over the first `len` lanes, with a select for the
    /// cutoff (bit-identical), added to `f`; keeps (1/r)⁶ for [`lj_energies`].
    fn lj_lanes(g: &mut Gathered, len: usize, del: &[Lane; 3], rsq: &Lane, r: &Lane, f: &mut [Lane; 3]) {
        for k in 0..len.min(LANES) {
            let cut = g.cut[k];
            let inside = rsq[k] < cut * cut;
            let rinv = 1.0 / r[k];
            let r2inv = rinv * rinv;
            let r6inv = r2inv * r2inv * r2inv;
            g.r6inv[k] = r6inv;
            let forcelj = r6inv * (g.lj[0][k] * r6inv - g.lj[1][k]);
            let fpair = (rinv * forcelj - g.foffset[k]) * rinv;
            // Written out: a loop over the components was unswitched on `inside` (masked
            // stores again).
            f[0][k] += kept(inside, del[0][k] * fpair);
            f[1][k] += kept(inside, del[1][k] * fpair);
            f[2][k] += kept(inside, del[2][k] * fpair);
        }
    }
}

crate::multiversioned! {
    /// The energy of [`LjSf::compute`] over the lanes of the last [`lj_lanes`], added to
    /// `energy`; only a pass that takes sums asks for it.
    fn lj_energies(g: &Gathered, len: usize, rsq: &Lane, r: &Lane, energy: &mut Lane) {
        for k in 0..len.min(LANES) {
            let cut = g.cut[k];
            let inside = rsq[k] < cut * cut;
            let r6inv = g.r6inv[k];
            let e = r6inv * (g.lj[2][k] * r6inv - g.lj[3][k]) - g.eoffset[k] + (r[k] - cut) * g.foffset[k];
            energy[k] += kept(inside, e);
        }
    }
}
