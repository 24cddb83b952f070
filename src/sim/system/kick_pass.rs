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
    /// Per owner block: the first particle not yet kicked once it is done ([`window_starts`]).
    window_start: Vec<usize>,
    /// The forces and torques of the particles not yet kicked ([`ForceWindow`]).
    window: ForceWindow,
}

/// Where a force pass that kicks as it goes sums its forces and torques: from the first
/// particle of the first range not yet kicked to the end of the current block. Once
/// kicked, a force is not read again (the next pass computes its own), so it need not go
/// through `Particles::f`, whose stores a large system sends to memory and back each step.
/// In a one-class system the window holds about one owner block, and stays in the cache.
#[derive(Default)]
struct ForceWindow {
    /// Particle index of the window's first element.
    base: usize,
    f: Vec<[f64; 3]>,
    torque: Vec<[f64; 3]>,
}

impl ForceWindow {
    /// Makes room for particles up to `hi` (excluded).
    fn reach(&mut self, hi: usize) {
        let len = hi - self.base;
        if self.f.len() < len {
            self.f.resize(len, [0.0; 3]);
            self.torque.resize(len, [0.0; 3]);
        }
    }

    /// The forces and torques of particles `r`, which the window must hold.
    fn slices(&mut self, r: std::ops::Range<usize>) -> (&mut [[f64; 3]], &mut [[f64; 3]]) {
        let w = r.start - self.base..r.end - self.base;
        (&mut self.f[w.clone()], &mut self.torque[w])
    }

    /// Drops the particles before `base`, keeping those up to `hi` (excluded).
    fn slide(&mut self, base: usize, hi: usize) {
        let (from, to) = (base - self.base, hi - self.base);
        self.f.copy_within(from..to, 0);
        self.torque.copy_within(from..to, 0);
        self.base = base;
    }
}

/// Per owner block, the first particle of the first range not yet kicked once the block is
/// done, where `last[p]` is the block after which range `p` is kicked: the start of the
/// [`ForceWindow`] for the blocks that follow. Every range past a block's end is kicked
/// later, so the window always ends at the current block's.
fn window_starts(last: &[usize], dest: &Destinations, n_blocks: usize) -> Vec<usize> {
    let mut first = 0;
    (0..n_blocks)
        .map(|c| {
            while last.get(first).is_some_and(|&b| b <= c) {
                first += 1;
            }
            dest.start(first)
        })
        .collect()
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
            window_start: window_starts(&last, &dest, n_blocks),
            window: ForceWindow::default(),
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
    /// pass reads them back from memory in a large system. The forces and torques go
    /// through a [`ForceWindow`], not `particles.f` and `particles.torque`, which keep
    /// those of the last ordinary force pass. One thread; no sums taken. The same
    /// operations in the same order as [`System::forces`] and the separate kick, so the
    /// same bits. Returns the time spent in pass 2 and kicking, and a bound on the
    /// drift's squared speeds [µm²/µs²] ([`integrate::kick_chunk`]).
    pub(super) fn forces_then_kick(&mut self, update_history: bool) -> (Duration, f64) {
        let n = self.particles.len();
        let ob = owner_block(n);
        let n_blocks = n.div_ceil(ob);
        let mut plan = match self.kick_plan.take() {
            Some(plan) if plan.fits(&self.neighbor, n) => plan,
            _ => KickPlan::new(&self.neighbor, n, ob),
        };
        let dest = plan.dest;
        let window = &mut plan.window;
        window.base = 0;
        let s = &self.settings;
        let (dt, g) = (s.dt, s.gravity);
        let kick = integrate::KickSettings::deferred(dt, s.max_step, s.rotate);
        let t = Instant::now();
        self.kick_factors.refresh(&self.particles, dt);
        let factors = &self.kick_factors;
        let mut kicking = t.elapsed();
        let incoming = &mut self.incoming;
        incoming.resize_with(dest.parts(), Vec::new);
        incoming.iter_mut().for_each(Vec::clear);
        let (mut history, mut held) = self.neighbor.take_histories_out();
        let Particles {
            x,
            v,
            omega,
            radius,
            mass,
            kind,
            ..
        } = &mut self.particles;
        let (nl, image) = (&self.neighbor, self.simbox.image_map());
        let shifts = image.shifts();
        let mut batch = Box::<PairBatch>::default();
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
            window.reach(hi);
            let (f, torque) = window.slices(lo..hi);
            let out = BlockOut {
                lo,
                f,
                torque,
                hist: &mut history[pa..pb],
                held: &mut held[pa..pb],
                js: incoming,
            };
            pass.block(&mut batch, out);
            let t = Instant::now();
            for &part in &plan.ready_after[c] {
                let r = dest.start(part)..dest.start(part + 1);
                let (f, torque) = window.slices(r.clone());
                scatter::apply_entries(&incoming[part], r.start, f, torque, radius);
                add_weight(f, &mass[r.clone()], g);
                let mut chunk = integrate::Chunk {
                    lo: r.start,
                    x: &mut x[r.clone()],
                    v: &mut v[r.clone()],
                    omega: &mut omega[r.clone()],
                    f,
                    torque,
                    radius: &radius[r.clone()],
                    mass: &mass[r.clone()],
                    factors: factors.of(r.clone()),
                };
                speed_bound_sq = speed_bound_sq.max(integrate::kick_chunk(&kick, &mut chunk));
            }
            window.slide(plan.window_start[c], hi);
            kicking += t.elapsed();
        }
        self.neighbor.put_histories_back(history, held);
        self.kick_plan = Some(plan);
        (kicking, speed_bound_sq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five ranges of two particles, blocks of three; range 1 waits past range 2's kick (as a
    /// smaller class's range waits on a later block): the window keeps its forces until then.
    #[test]
    fn the_force_window_keeps_every_range_until_it_is_kicked() {
        let dest = Destinations::new(10, 5);
        assert_eq!((0..=5).map(|p| dest.start(p)).collect::<Vec<_>>(), [0, 2, 4, 6, 8, 10]);
        // The block after which each range is kicked.
        let last = [0, 2, 1, 2, 3];
        let starts = window_starts(&last, &dest, 4);
        assert_eq!(starts, [2, 2, 8, 10]);
        let mut w = ForceWindow::default();
        let value = |i: usize| [i as f64, 0.5, -(i as f64)];
        let blocks = [0..3, 3..6, 6..9, 9..10];
        for (c, block) in blocks.into_iter().enumerate() {
            w.reach(block.end);
            let (f, t) = w.slices(block.clone());
            for (k, i) in block.clone().enumerate() {
                (f[k], t[k]) = (value(i), value(i));
            }
            for part in (0..5).filter(|&p| last[p] == c) {
                let r = dest.start(part)..dest.start(part + 1);
                let (f, t) = w.slices(r.clone());
                let want: Vec<_> = r.map(value).collect();
                assert_eq!((f.to_vec(), t.to_vec()), (want.clone(), want), "range {part}");
            }
            w.slide(starts[c], block.end);
        }
        // Range 1 held particles 2..6 in the window until block 2; never more than that.
        assert!(w.f.len() <= 7, "window of {}", w.f.len());
        assert_eq!(w.base, 10);
    }
}
