//! The force pass that kicks as it goes (one thread): where nothing acts between two steps,
//! each range of particles gets its deferred final half-kick, the next step's first one
//! and its drift as soon as its forces are complete, while its particles are still in the
//! cache. A separate pass would read them back from memory in a large system: on the
//! 1,000,000-sphere gas integration fell from about 11 to 7 ns per particle-step.

use std::time::{Duration, Instant};

use super::{add_weight, System};
use crate::sim::forcefield::{PairBatch, PairContext};
use crate::sim::integrate;
use crate::sim::neighbor::{owner_block, NeighborList};
use crate::sim::pair_pass::{BlockOut, LaneSource, PassOne};
use crate::sim::particles::Particles;
use crate::sim::scatter::{self, Destinations};

/// When, in a force pass that kicks as it goes, each destination range's forces are
/// complete: after the last owner block that holds one of its particles or lists a pair
/// with one as partner. Within a size class a partner follows its owner in index order,
/// so in a one-class system (the granular gas: every range) a range is complete as soon as
/// its own block is; partners of a smaller class's owners may wait for later blocks.
pub(super) struct KickPlan {
    /// The list it was made for ([`NeighborList::builds`]) and its size.
    builds: u64,
    n: usize,
    pairs: usize,
    /// Ranges of about one owner block each.
    dest: Destinations,
    /// Per owner block: the ranges complete once it is done.
    ready_after: Vec<Vec<usize>>,
}

impl KickPlan {
    fn new(nl: &NeighborList, n: usize, block: usize) -> Self {
        let n_blocks = n.div_ceil(block);
        let dest = Destinations::new(n, n_blocks);
        let mut last: Vec<usize> = (0..dest.parts()).map(|p| (dest.start(p + 1) - 1) / block).collect();
        for (&i, &j) in nl.owner.iter().zip(&nl.partner) {
            let p = dest.of(j as usize);
            last[p] = last[p].max(i as usize / block);
        }
        let mut ready_after = vec![Vec::new(); n_blocks];
        for (p, &b) in last.iter().enumerate() {
            ready_after[b].push(p);
        }
        KickPlan {
            builds: nl.builds,
            n,
            pairs: nl.n_pairs(),
            dest,
            ready_after,
        }
    }

    fn fits(&self, nl: &NeighborList, n: usize) -> bool {
        (self.builds, self.n, self.pairs) == (nl.builds, n, nl.n_pairs())
    }
}

impl System {
    /// Whether a deferred kick may run inside the force pass ([`System::forces_then_kick`]):
    /// on one thread, with no walls (they act after pass 2 on every particle).
    pub(super) fn can_kick_in_force_pass(&self) -> bool {
        rayon::current_num_threads() == 1 && self.walls.is_empty() && !self.particles.is_empty()
    }

    /// The forces of a step whose final half-kick is deferred, with that kick and the next
    /// step's first half-kick and drift ([`integrate::final_then_initial`]) done range by
    /// range inside the force pass, as soon as a range's forces are complete
    /// ([`KickPlan`]): a range's particles are then still in the cache, where a separate
    /// pass reads them back from memory in a large system. One thread; no sums taken. The
    /// same operations in the same order as [`System::forces`] and the separate kick, so
    /// the same bits. Returns the time spent in pass 2 and kicking, and a bound on the
    /// drift's squared speeds [µm²/µs²] ([`integrate::kick_chunk`]).
    pub(super) fn forces_then_kick(&mut self, update_history: bool) -> (Duration, f64) {
        let n = self.particles.len();
        let ob = owner_block(n);
        let n_blocks = n.div_ceil(ob);
        let plan = match self.kick_plan.take() {
            Some(plan) if plan.fits(&self.neighbor, n) => plan,
            _ => KickPlan::new(&self.neighbor, n, ob),
        };
        let dest = plan.dest;
        let s = &self.settings;
        let (dt, g) = (s.dt, s.gravity);
        let kick = integrate::KickSettings::deferred(dt, s.max_step, s.rotate);
        let incoming = &mut self.incoming;
        incoming.resize_with(dest.parts(), Vec::new);
        incoming.iter_mut().for_each(Vec::clear);
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
        let (nl, image) = (&self.neighbor, self.simbox.image_map());
        let shifts = image.shifts();
        let mut batch = Box::<PairBatch>::default();
        let mut kicking = Duration::ZERO;
        let mut speed_bound_sq = 0.0f64;
        for c in 0..n_blocks {
            let (lo, hi) = (c * ob, ((c + 1) * ob).min(n));
            let (pa, pb) = (nl.offsets[lo], nl.offsets[hi]);
            let ctx = PairContext {
                kind,
                radius,
                mass,
                v,
                omega,
                dt,
                update_history,
            };
            let pass = PassOne {
                list: nl,
                x,
                image: &image,
                shifts: &shifts,
                lanes: LaneSource {
                    ff: &self.ff,
                    ctx: &ctx,
                    xy_rate: self.xy_rate,
                },
                dest,
                tally: false,
                rest: false,
            };
            let out = BlockOut {
                lo,
                f: &mut f[lo..hi],
                torque: &mut torque[lo..hi],
                hist: &mut history[pa..pb],
                held: &mut held[pa..pb],
                js: incoming,
            };
            pass.block(&mut batch, out);
            let t = Instant::now();
            for &part in &plan.ready_after[c] {
                let r = dest.start(part)..dest.start(part + 1);
                let (f, torque) = (&mut f[r.clone()], &mut torque[r.clone()]);
                scatter::apply_entries(&incoming[part], r.start, f, torque, radius);
                add_weight(f, &mass[r.clone()], g);
                let mut chunk = integrate::Chunk {
                    x: &mut x[r.clone()],
                    v: &mut v[r.clone()],
                    omega: &mut omega[r.clone()],
                    f,
                    torque,
                    radius: &radius[r.clone()],
                    mass: &mass[r.clone()],
                };
                speed_bound_sq = speed_bound_sq.max(integrate::kick_chunk(&kick, &mut chunk));
            }
            kicking += t.elapsed();
        }
        self.neighbor.put_histories_back(history, held);
        self.kick_plan = Some(plan);
        (kicking, speed_bound_sq)
    }
}
