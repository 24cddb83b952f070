//! Pass 1 of the force loop: one block of owners' listed pairs, in pair order, through
//! [`PairBatch`]es to the styles. Each owner sums its own side in pair order, a partner
//! inside the block takes its side at once, and the j-sides of other pairs are filed for
//! pass 2 ([`crate::sim::scatter`]) under their partner's destination range. With fixed
//! images on an AVX-512 processor the walk takes eight listed pairs at a time (`avx512`).

use crate::sim::forcefield::batch::LaneInput;
use crate::sim::forcefield::{has_bits, ForceField, History, PairBatch, PairContext, NO_HISTORY};
use crate::sim::neighbor::NeighborList;
use crate::sim::scatter::{Destinations, JSide};
use crate::sim::simbox::{ImageMap, ImageShifts};
use crate::sim::simd::prefetch;

#[cfg(target_arch = "x86_64")]
mod avx512;

/// Sums a block of pass 1 takes: see [`BlockSink::acc`].
pub(crate) const SUMS: usize = 15;

/// Where pass 1 of the force loop puts a block's results.
struct BlockSink<'a> {
    /// First owner of the block.
    lo: usize,
    /// Owner forces (summed in pair order).
    f: &'a mut [[f64; 3]],
    /// Owner torque terms Σ tor (turned into torques when the block ends).
    tsum: &'a mut [[f64; 3]],
    hist: &'a mut [History],
    /// Whether each slot's history may be non-zero (see [`NeighborList::held`]).
    held: &'a mut [bool],
    /// j-sides of partners outside the block, per destination range.
    js: &'a mut [Vec<(u32, JSide)>],
    dest: Destinations,
    /// Whether to take the sums in `acc`.
    tally: bool,
    /// pe, virial[6], contacts, elastic, virial at rest[6] (with `PairBatch::rest`).
    acc: &'a mut [f64; SUMS],
}

/// One listed pair, as pass 1 of the force loop finds it.
struct ListedPair {
    /// Index among the block's pairs.
    slot: usize,
    i: u32,
    j: u32,
    /// x_i − x_j [µm].
    del: [f64; 3],
    /// Periods of the partner's image along the second cell vector.
    nb: f64,
    /// Squared range bound [µm²].
    range: f32,
}

impl ListedPair {
    /// The pair of `slot`, owner and partner `ij`, of a list whose images are fixed (`code`:
    /// the partner's image).
    #[inline(always)]
    fn fixed(slot: usize, ij: [u32; 2], code: u8, range: f32, x: &[[f64; 3]], shifts: &ImageShifts) -> Self {
        let [i, j] = ij;
        let (xi, xj) = (x[i as usize], x[j as usize]);
        let c = code as usize;
        let s = shifts.shift[c];
        let del = [xi[0] - xj[0] - s[0], xi[1] - xj[1] - s[1], xi[2] - xj[2] - s[2]];
        ListedPair {
            slot,
            i,
            j,
            del,
            nb: shifts.nb[c],
            range,
        }
    }
}

/// A block's listed pairs and what their separations take.
struct BlockList<'a> {
    owner: &'a [u32],
    partner: &'a [u32],
    range_sq: &'a [f32],
    /// Each pair's image, if fixed for the life of the list.
    codes: Option<&'a [u8]>,
    x: &'a [[f64; 3]],
    shifts: &'a ImageShifts,
    image: &'a ImageMap,
}

crate::multiversioned! {
    /// Pass 1 over a block's listed pairs, in order. Two loops rather than a test per pair
    /// (only fixed images read their shift), built for the processor's vector level (its
    /// three-operand encodings spare register copies): each took about 10 % off the
    /// granular gas's force phase.
    fn walk_pairs(sink: &mut BlockSink<'_>, batch: &mut PairBatch, list: &BlockList<'_>, lanes: &LaneSource<'_>) {
        let BlockList { owner, partner, range_sq, codes, x, shifts, image } = *list;
        // `visit` reads `held` unchecked at every slot of the block (< partner.len()).
        assert_eq!(sink.held.len(), partner.len(), "one flag per listed pair");
        let listed = owner.iter().zip(partner).zip(range_sq);
        if let Some(codes) = codes {
            for (slot, (((&i, &j), &range), &c)) in listed.zip(codes).enumerate() {
                let pair = ListedPair::fixed(slot, [i, j], c, range, x, shifts);
                sink.visit(batch, pair, lanes);
            }
        } else {
            for (slot, ((&i, &j), &range)) in listed.enumerate() {
                let (xi, xj) = (x[i as usize], x[j as usize]);
                let (del, count) = image.apply_counted([xi[0] - xj[0], xi[1] - xj[1], xi[2] - xj[2]]);
                let pair = ListedPair { slot, i, j, del, nb: count[1], range };
                sink.visit(batch, pair, lanes);
            }
        }
    }
}

/// What pass 1 needs to turn a pair in range into a lane and compute it.
pub(crate) struct LaneSource<'a> {
    pub ff: &'a ForceField,
    pub ctx: &'a PairContext<'a>,
    /// See [`crate::sim::system::System::xy_rate`].
    pub xy_rate: f64,
}

impl BlockSink<'_> {
    /// Pass 1 for one listed pair: out of range, it drops a history left from a contact;
    /// in range, it joins the batch, which runs when full.
    #[inline(always)]
    fn visit(&mut self, batch: &mut PairBatch, p: ListedPair, src: &LaneSource) {
        let rsq = p.del[0] * p.del[0] + p.del[1] * p.del[1] + p.del[2] * p.del[2];
        let (slot, i, j) = (p.slot, p.i as usize, p.j as usize);
        // SAFETY: slot < partner.len() == held.len(), asserted in `walk_pairs`, the only
        // caller. A checked read costs 5 % of the gas's force phase: it must stay before the
        // range test, where an unchecked one moves into the branches that use it.
        let held = unsafe { *self.held.get_unchecked(slot) };
        if rsq >= p.range as f64 {
            if held {
                self.drop_history(slot);
            }
            return;
        }
        let ctx = src.ctx;
        let lane = LaneInput {
            i,
            j,
            slot,
            del: p.del,
            rsq,
            dvx: p.nb * src.xy_rate,
            ri: ctx.radius[i],
            rj: 0.0, // gathered at the flush
        };
        self.prefetch_lane(ctx, j, slot, held);
        batch.push(&lane, &NO_HISTORY);
        if batch.is_full() {
            self.flush(batch, src.ff, ctx);
        }
    }

    /// A pair out of range drops the history left from a contact.
    #[inline(always)]
    fn drop_history(&mut self, slot: usize) {
        (self.hist[slot], self.held[slot]) = (NO_HISTORY, false);
    }

    /// Only pairs in range touch what a lane gathers, so it is scattered through memory:
    /// start the loads when the lane is pushed and gather them when the batch runs (contact
    /// laws also read velocities, spins and masses).
    #[inline(always)]
    fn prefetch_lane(&self, ctx: &PairContext, j: usize, slot: usize, held: bool) {
        prefetch(&ctx.radius[j]);
        if held {
            prefetch(&self.hist[slot]);
        }
        prefetch(&ctx.v[j]);
        prefetch(&ctx.omega[j]);
        prefetch(&ctx.mass[j]);
    }

    /// Computes the batch and adds its lanes, in pair order, to the block's sums.
    fn flush(&mut self, b: &mut PairBatch, ff: &ForceField, ctx: &PairContext) {
        if b.len == 0 {
            return;
        }
        // The partner radii and held histories were prefetched when the lanes were pushed.
        for k in 0..b.len {
            b.rj[k] = ctx.radius[b.j[k] as usize];
            let slot = b.slot[k] as usize;
            if self.held[slot] {
                b.set_history(k, &self.hist[slot]);
            }
        }
        b.prepare();
        ff.compute_batch(b, ctx);
        // Sums stay in registers: lanes come in pair order, so each owner's lanes are one
        // run, and its force is loaded once and stored once per batch.
        let mut acc = *self.acc;
        let mut owner = usize::MAX;
        let (mut fsum, mut tsum) = ([0.0; 3], [0.0; 3]);
        for k in 0..b.len {
            let i = b.i[k] as usize - self.lo;
            if i != owner {
                if owner != usize::MAX {
                    (self.f[owner], self.tsum[owner]) = (fsum, tsum);
                }
                owner = i;
                (fsum, tsum) = (self.f[i], self.tsum[i]);
            }
            let f = [b.f[0][k], b.f[1][k], b.f[2][k]];
            let tor = [b.tor[0][k], b.tor[1][k], b.tor[2][k]];
            for a in 0..3 {
                fsum[a] += f[a];
                tsum[a] += tor[a];
            }
            // Zero histories are written only over a held one: most pairs of a slurry
            // never touch, and their 32 bytes then stay out of the cache.
            let (h, slot) = (b.history(k), b.slot[k] as usize);
            let nonzero = has_bits(&h);
            if nonzero || self.held[slot] {
                self.hist[slot] = h;
                self.held[slot] = nonzero;
            }
            // A partner inside the block takes its share now (its torque term joins the
            // owner sums, which end up times −r); others wait for pass 2.
            let j = (b.j[k] as usize).wrapping_sub(self.lo);
            if j < self.f.len() {
                let (fj, tj) = (&mut self.f[j], &mut self.tsum[j]);
                for a in 0..3 {
                    fj[a] -= f[a];
                    tj[a] += tor[a];
                }
            } else {
                self.js[self.dest.of(b.j[k] as usize)].push((b.j[k], JSide { f, tor }));
            }
            if self.tally {
                acc[0] += b.energy[k];
                let del = [b.del[0][k], b.del[1][k], b.del[2][k]];
                for (a, w) in acc[1..7].iter_mut().zip(outer(del, f)) {
                    *a += w;
                }
                let rs = b.ri[k] + b.rj[k];
                if b.rsq[k] < rs * rs {
                    acc[7] += 1.0;
                }
                acc[8] += b.elastic[k];
                if b.rest {
                    let f_rest = [b.f_rest[0][k], b.f_rest[1][k], b.f_rest[2][k]];
                    for (a, w) in acc[9..15].iter_mut().zip(outer(del, f_rest)) {
                        *a += w;
                    }
                }
            }
        }
        (self.f[owner], self.tsum[owner]) = (fsum, tsum);
        *self.acc = acc;
        b.len = 0;
    }
}

/// The symmetric tensor del ⊗ f in the order xx, yy, zz, xy, xz, yz.
#[inline]
pub(crate) fn outer(del: [f64; 3], f: [f64; 3]) -> [f64; 6] {
    [
        del[0] * f[0],
        del[1] * f[1],
        del[2] * f[2],
        del[0] * f[1],
        del[0] * f[2],
        del[1] * f[2],
    ]
}

/// What pass 1 reads, shared by every block of a force call.
pub(crate) struct PassOne<'a> {
    /// The list (its histories and flags are handed to each block in [`BlockOut`]).
    pub list: &'a NeighborList,
    pub x: &'a [[f64; 3]],
    /// The box's images, and their shifts when the list's images are fixed.
    pub image: &'a ImageMap,
    pub shifts: &'a ImageShifts,
    pub lanes: LaneSource<'a>,
    pub dest: Destinations,
    /// Take the [`SUMS`] sums.
    pub tally: bool,
    /// Take the virial at rest with them.
    pub rest: bool,
}

/// One owner block's share of pass 1.
pub(crate) struct BlockOut<'a> {
    /// First owner of the block.
    pub lo: usize,
    /// The block's forces and torques (overwritten).
    pub f: &'a mut [[f64; 3]],
    pub torque: &'a mut [[f64; 3]],
    /// The histories and their flags of the block's pairs.
    pub hist: &'a mut [History],
    pub held: &'a mut [bool],
    /// j-sides for partners outside the block, appended per destination range.
    pub js: &'a mut [Vec<(u32, JSide)>],
}

impl PassOne<'_> {
    /// Runs pass 1 over one block of owners: their forces and torques (complete but for
    /// the j-sides of pairs owned by other blocks), and the block's sums.
    pub fn block(&self, batch: &mut PairBatch, out: BlockOut<'_>) -> [f64; SUMS] {
        let BlockOut {
            lo,
            f,
            torque,
            hist,
            held,
            js,
        } = out;
        batch.rest = self.rest;
        batch.energies = self.tally;
        // Flat fills, which are a `memset`: a fill of `[f64; 3]` rows was 8-byte stores.
        f.as_flattened_mut().fill(0.0);
        torque.as_flattened_mut().fill(0.0); // torque sums Σ tor until the block ends
        let mut acc = [0.0f64; SUMS];
        let nl = self.list;
        let (base, end) = (nl.offsets[lo], nl.offsets[lo + f.len()]);
        let fixed_images = nl.fixed_images && nl.image.len() == nl.partner.len();
        let mut sink = BlockSink {
            lo,
            f,
            tsum: torque,
            hist,
            held,
            js,
            dest: self.dest,
            tally: self.tally,
            acc: &mut acc,
        };
        // One flat loop over the block's pairs, the owner read with each. A loop per
        // owner ends unpredictably at almost every owner of a sparse system (2.5
        // pairs each in the granular gas): the flat loop took 23 % off a gas step.
        let list = BlockList {
            owner: &nl.owner[base..end],
            partner: &nl.partner[base..end],
            range_sq: &nl.range_sq[base..end],
            codes: fixed_images.then(|| &nl.image[base..end]),
            x: self.x,
            shifts: self.shifts,
            image: self.image,
        };
        #[cfg(target_arch = "x86_64")]
        if list.codes.is_some() && crate::sim::simd::level() == crate::sim::simd::Level::Avx512 {
            // SAFETY: level() only reports features the processor has.
            unsafe { avx512::walk_fixed(&mut sink, batch, &list, &self.lanes) };
        } else {
            walk_pairs(&mut sink, batch, &list, &self.lanes);
        }
        #[cfg(not(target_arch = "x86_64"))]
        walk_pairs(&mut sink, batch, &list, &self.lanes);
        sink.flush(batch, self.lanes.ff, self.lanes.ctx);
        let radius = self.lanes.ctx.radius;
        for (k, t) in sink.tsum.iter_mut().enumerate() {
            let ri = radius[lo + k];
            *t = [-ri * t[0], -ri * t[1], -ri * t[2]];
        }
        acc
    }
}
