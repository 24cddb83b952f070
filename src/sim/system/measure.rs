//! What a system's state measures without advancing it: thermodynamic sums, per-particle
//! and at-rest stresses, contacts and their rates, momentum and energy.

use rayon::prelude::*;
use serde::Serialize;

use super::System;
use crate::sim::forcefield::batch::LaneInput;
use crate::sim::forcefield::{ContactRates, PairBatch, PairContext, PairInput};
use crate::sim::neighbor::owner_block;
use crate::sim::pair_pass::outer;
use crate::sim::parallel::{add_in_order, det_sum};
use crate::sim::simbox::ImageMap;

/// Thermodynamic state (LAMMPS thermo conventions; kinetic pressure is translational).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Thermo {
    pub step: u64,
    /// Pair potential energy [fJ] (LAMMPS `pe`).
    pub pe_fj: f64,
    /// Normal elastic energy stored in contacts [fJ] (not part of LAMMPS `pe`).
    pub contact_elastic_fj: f64,
    /// ½ Σ m v² [fJ].
    pub ke_trans_fj: f64,
    /// ½ Σ I ω² [fJ].
    pub ke_rot_fj: f64,
    /// Pressure tensor xx, yy, zz, xy, xz, yz [kPa].
    pub pressure_kpa: [f64; 6],
    /// Its virial part only [kPa].
    pub virial_kpa: [f64; 6],
    /// Scalar pressure (trace / 3) [kPa].
    pub pressure_scalar_kpa: f64,
    pub volume_um3: f64,
    pub contacts: u64,
}

impl System {
    /// Thermodynamic summary of the current state (uses the last force call).
    pub fn thermo(&self) -> Thermo {
        let p = &self.particles;
        let k = det_sum(p.len(), |k| {
            let v = p.v[k];
            let w = p.omega[k];
            let m = p.mass[k];
            let i = p.inertia(k);
            [
                m * v[0] * v[0],
                m * v[1] * v[1],
                m * v[2] * v[2],
                m * v[0] * v[1],
                m * v[0] * v[2],
                m * v[1] * v[2],
                i * (w[0] * w[0] + w[1] * w[1] + w[2] * w[2]),
            ]
        });
        let vol = self.simbox.volume();
        let w = self.summary.virial;
        let mut pressure = [0.0; 6];
        let mut virial = [0.0; 6];
        for a in 0..6 {
            pressure[a] = (k[a] + w[a]) / vol;
            virial[a] = w[a] / vol;
        }
        Thermo {
            step: self.step,
            pe_fj: self.summary.pe,
            contact_elastic_fj: self.summary.contact_elastic,
            ke_trans_fj: 0.5 * (k[0] + k[1] + k[2]),
            ke_rot_fj: 0.5 * k[6],
            pressure_kpa: pressure,
            virial_kpa: virial,
            pressure_scalar_kpa: (pressure[0] + pressure[1] + pressure[2]) / 3.0,
            volume_um3: vol,
            contacts: self.summary.contacts,
        }
    }

    /// Per particle: the number of overlapping neighbours and the pair-force stress
    /// σ = −(1/V) Σ_j ½ del ⊗ f over its pairs (walls excluded), order xx, yy, zz, xy, xz,
    /// yz [kPa], V its sphere volume. For output frames: one extra force pass that leaves
    /// the shear histories as they are.
    pub fn particle_stress(&self) -> (Vec<u32>, Vec<[f64; 6]>) {
        let p = &self.particles;
        let n = p.len();
        let mut contacts = vec![0u32; n];
        let mut w = vec![[0.0f64; 6]; n];
        let ctx = self.pair_context(&p.v, &p.omega);
        let mut batch = Box::<PairBatch>::default();
        self.visit_pair_forces(&ctx, self.xy_rate, 0..n, &mut batch, |i, j, del, rsq, f| {
            let pair = outer(del, f);
            for k in [i, j] {
                for a in 0..6 {
                    w[k][a] += 0.5 * pair[a];
                }
            }
            if rsq < (p.radius[i] + p.radius[j]).powi(2) {
                contacts[i] += 1;
                contacts[j] += 1;
            }
        });
        let stress = (0..n)
            .map(|k| {
                let v = 4.0 / 3.0 * std::f64::consts::PI * p.radius[k].powi(3);
                std::array::from_fn(|a| -w[k][a] / v)
            })
            .collect();
        (contacts, stress)
    }

    /// [`System::pair_virial_at_rest`] of the last force pass's configuration: taken with its
    /// sums when [`System::rest_virial`] is set, every style has a force at rest and those
    /// sums are this step's; else a pass at rest now. The two differ only where a fix moved
    /// the box after the pass (a shear's tilt, by γ̇·dt).
    pub fn virial_at_rest(&self) -> [f64; 6] {
        match self.summary.virial_at_rest {
            Some(w) if self.summary.step == self.step => w,
            _ => self.pair_virial_at_rest(),
        }
    }

    /// The pair virial Σ del ⊗ f (xx, yy, zz, xy, xz, yz) [nN·µm] of the present
    /// configuration brought to rest: every velocity and spin zero, the Lees–Edwards image
    /// at rest, shear histories as they are. What remains are the conservative forces (pair
    /// potentials, elastic overlaps, tangential springs); the full virial less this one is
    /// what the velocity-dependent damping adds. A force pass that changes nothing, over
    /// the owner blocks of [`owner_block`] in parallel, their sums added in block order (the
    /// same bits for any thread count).
    pub fn pair_virial_at_rest(&self) -> [f64; 6] {
        let n = self.particles.len();
        let zeros = vec![[0.0; 3]; n];
        let ctx = self.pair_context(&zeros, &zeros);
        let ob = owner_block(n);
        let partials: Vec<[f64; 6]> = (0..n.div_ceil(ob))
            .into_par_iter()
            .map_init(Box::<PairBatch>::default, |batch, b| {
                let mut w = [0.0; 6];
                self.visit_pair_forces(&ctx, 0.0, b * ob..((b + 1) * ob).min(n), batch, |_, _, del, _, f| {
                    for (a, x) in w.iter_mut().zip(outer(del, f)) {
                        *a += x;
                    }
                });
                w
            })
            .collect();
        add_in_order(&partials)
    }

    /// The context of a force pass that does not advance histories.
    fn pair_context<'a>(&'a self, v: &'a [[f64; 3]], omega: &'a [[f64; 3]]) -> PairContext<'a> {
        let p = &self.particles;
        PairContext {
            kind: &p.kind,
            radius: &p.radius,
            mass: &p.mass,
            v,
            omega,
            dt: self.settings.dt,
            update_history: false,
        }
    }

    /// Calls `visit(i, j, unit normal, rates)` for every listed pair in contact, in pair
    /// order (the unit normal points from j to i).
    pub fn each_contact(&self, mut visit: impl FnMut(usize, usize, [f64; 3], ContactRates)) {
        let p = &self.particles;
        let ctx = self.pair_context(&p.v, &p.omega);
        self.each_pair_in_range(0..p.len(), |i, j, slot, del, rsq, _| {
            if rsq == 0.0 {
                return;
            }
            let r = rsq.sqrt();
            let input = PairInput {
                i,
                j,
                del,
                rsq,
                r,
                dv: [0.0; 3],
            };
            if let Some(rates) = self.ff.contact_rates(&input, &ctx, &self.neighbor.history[slot]) {
                visit(i, j, [del[0] / r, del[1] / r, del[2] / r], rates);
            }
        });
    }

    /// Calls `visit(i, j, slot, del, rsq, image count)` for every listed pair of the
    /// `owners` within its stored range, in pair order, with its separation: through the
    /// pair's image where the list fixes it (as the force loop), else the minimum image.
    #[inline]
    fn each_pair_in_range(
        &self,
        owners: std::ops::Range<usize>,
        mut visit: impl FnMut(usize, usize, usize, [f64; 3], f64, [f64; 3]),
    ) {
        let (p, nl, image) = (&self.particles, &self.neighbor, self.simbox.image_map());
        let fixed = nl.fixed_images && nl.image.len() == nl.partner.len();
        let shifts = image.shifts();
        for i in owners {
            for slot in nl.pairs_of(i) {
                let j = nl.partner[slot] as usize;
                let raw = [p.x[i][0] - p.x[j][0], p.x[i][1] - p.x[j][1], p.x[i][2] - p.x[j][2]];
                let (del, count) = if fixed {
                    let code = nl.image[slot] as usize;
                    let s = shifts.shift[code];
                    ([raw[0] - s[0], raw[1] - s[1], raw[2] - s[2]], ImageMap::periods(code))
                } else {
                    image.apply_counted(raw)
                };
                let rsq = del[0] * del[0] + del[1] * del[1] + del[2] * del[2];
                if rsq < nl.range_sq[slot] as f64 {
                    visit(i, j, slot, del, rsq, count);
                }
            }
        }
    }

    /// Calls `visit(i, j, del, rsq, f)` for every in-range pair of the `owners`, in pair
    /// order, with its force on i; the styles run on batches, from copies of the shear
    /// histories (the list's stay as they are). `xy_rate` is the Lees–Edwards image speed.
    fn visit_pair_forces(
        &self,
        ctx: &PairContext,
        xy_rate: f64,
        owners: std::ops::Range<usize>,
        batch: &mut PairBatch,
        mut visit: impl FnMut(usize, usize, [f64; 3], f64, [f64; 3]),
    ) {
        let mut flush = |batch: &mut PairBatch| {
            batch.prepare();
            self.ff.compute_batch(batch, ctx);
            for k in 0..batch.len {
                let del = [batch.del[0][k], batch.del[1][k], batch.del[2][k]];
                let f = [batch.f[0][k], batch.f[1][k], batch.f[2][k]];
                visit(batch.i[k] as usize, batch.j[k] as usize, del, batch.rsq[k], f);
            }
            batch.len = 0;
        };
        let (p, nl) = (&self.particles, &self.neighbor);
        self.each_pair_in_range(owners, |i, j, slot, del, rsq, count| {
            let lane = LaneInput {
                i,
                j,
                slot,
                del,
                rsq,
                dvx: count[1] * xy_rate,
                ri: p.radius[i],
                rj: p.radius[j],
            };
            batch.push(&lane, &nl.history[slot]);
            if batch.is_full() {
                flush(batch);
            }
        });
        flush(batch);
    }

    /// Total momentum Σ m v [pg·µm/µs].
    pub fn momentum(&self) -> [f64; 3] {
        let p = &self.particles;
        det_sum(p.len(), |k| {
            let m = p.mass[k];
            [m * p.v[k][0], m * p.v[k][1], m * p.v[k][2]]
        })
    }

    /// Total energy: pair potential + contact elastic + translational and rotational
    /// kinetic [fJ]. (The tangential spring energy of contacts is not tallied.)
    pub fn total_energy(&self) -> f64 {
        let t = self.thermo();
        t.pe_fj + t.contact_elastic_fj + t.ke_trans_fj + t.ke_rot_fj
    }
}
