//! Phase 3 of a step: the force pass (pass 1 over owner blocks, pass 2 over destination
//! ranges), then the body force and the walls.

use rayon::prelude::*;

use super::{add_weight, ForceSummary, System};
use crate::sim::forcefield::{PairBatch, PairContext};
use crate::sim::integrate;
use crate::sim::neighbor::owner_block;
use crate::sim::pair_pass::{BlockOut, LaneSource, PassOne, SUMS};
use crate::sim::parallel::{add_in_order, split_lengths};
use crate::sim::particles::Particles;
use crate::sim::scatter::{self, Destinations};
use crate::sim::team;

impl System {
    /// Pair forces and torques into `particles.f` / `particles.torque`, and `summary`.
    ///
    /// Pass 1 runs over blocks of owners in parallel, sized by the particle count
    /// ([`owner_block`]): in-range pairs go in pair order through [`PairBatch`]es to the
    /// styles; each owner sums its own side in pair order, a partner inside the block takes
    /// its side at once, and the j-sides of the other pairs go to the block's list for the
    /// partner's destination range. Pass 2 applies each range's lists in block (= pair) order
    /// on its own worker ([`scatter`]). Every sum thus has one order whatever the number of
    /// threads.
    pub fn compute_forces(&mut self, update_history: bool) {
        self.forces(update_history, true);
    }

    /// [`System::compute_forces`], taking the [`ForceSummary`] sums only with `tally`.
    pub(super) fn forces(&mut self, update_history: bool, tally: bool) {
        let n = self.particles.len();
        let ob = owner_block(n);
        let n_blocks = n.div_ceil(ob);
        let dest = Destinations::new(n, rayon::current_num_threads());
        self.jside.resize_with(n_blocks, Vec::new);
        let (mut history, mut held) = self.neighbor.take_histories_out();
        let Particles {
            x,
            v,
            omega,
            f,
            torque,
            radius,
            mass,
            kind,
            ..
        } = &mut self.particles;
        let nl = &self.neighbor;
        let ctx = PairContext {
            kind,
            radius,
            mass,
            v,
            omega,
            dt: self.settings.dt,
            update_history,
        };
        let image = self.simbox.image_map();
        let rest = tally && self.rest_virial && self.ff.has_rest_forces();
        let pass = PassOne {
            list: nl,
            x,
            image: &image,
            shifts: &image.shifts(),
            lanes: LaneSource {
                ff: &self.ff,
                ctx: &ctx,
                xy_rate: self.xy_rate,
            },
            dest,
            tally,
            rest,
        };

        // Pass 1.
        let offsets = &nl.offsets;
        let block = |b: usize| (b * ob, ((b + 1) * ob).min(n));
        let owners = || (0..n_blocks).map(|b| block(b).1 - block(b).0);
        let pairs = || (0..n_blocks).map(|b| offsets[block(b).1] - offsets[block(b).0]);
        let work: Vec<_> = split_lengths(f, owners())
            .zip(split_lengths(torque, owners()))
            .zip(split_lengths(&mut history, pairs()).zip(split_lengths(&mut held, pairs())))
            .zip(self.jside.iter_mut())
            .enumerate()
            .map(|(b, (((f, torque), (hist, held)), js))| (b * ob, f, torque, hist, held, js))
            .collect();
        let partials: Vec<[f64; SUMS]> = team::map_items(
            work,
            Box::<PairBatch>::default,
            |batch, (lo, f, torque, hist, held, js)| {
                js.resize_with(dest.parts(), Vec::new);
                js.iter_mut().for_each(Vec::clear);
                pass.block(
                    batch,
                    BlockOut {
                        lo,
                        f,
                        torque,
                        hist,
                        held,
                        js,
                    },
                )
            },
        );
        self.neighbor.put_histories_back(history, held);
        if tally {
            let s = add_in_order(&partials);
            self.summary = ForceSummary {
                step: self.step,
                pe: s[0],
                virial: [s[1], s[2], s[3], s[4], s[5], s[6]],
                contacts: s[7] as u64,
                contact_elastic: s[8],
                virial_at_rest: rest.then(|| [s[9], s[10], s[11], s[12], s[13], s[14]]),
            };
        }

        // Pass 2.
        let p = &mut self.particles;
        scatter::apply(&self.jside, dest, &mut p.f, &mut p.torque, &p.radius);

        // Body force, then walls, act on every particle.
        let g = self.settings.gravity;
        if g != [0.0; 3] {
            p.f.par_chunks_mut(integrate::CHUNK)
                .zip(p.mass.par_chunks(integrate::CHUNK))
                .for_each(|(f, m)| add_weight(f, m, g));
        }
        let (dt, particles) = (self.settings.dt, &mut self.particles);
        for w in &mut self.walls {
            let elastic = w.apply(particles, dt, update_history);
            if tally {
                self.summary.contact_elastic += elastic;
            }
        }
    }
}
