//! Pass 1's walk over pairs with fixed images, eight listed pairs at a time (AVX-512).
//!
//! Separations from gathered positions and image shifts, the range test as a mask, and the
//! pairs in range compressed into the batch's lanes in pair order: the same lanes, with the
//! same bits, as [`BlockSink::visit`] pushes one by one, without its branch on the range.
//! A group that does not fit fills the batch and starts the next: the kernels run best on
//! full batches (flushing early, at 57–64 lanes, cost thick as much as this walk saves).

use std::arch::x86_64::*;

use super::{BlockList, BlockSink, LaneSource, ListedPair};
use crate::sim::forcefield::batch::LANES;
use crate::sim::forcefield::PairBatch;
use crate::sim::simd::avx512::{all_below, owner_rows};
use crate::sim::simd::prefetch;

/// Particles from which a system's arrays outgrow the caches: there, the walk prefetches
/// what each pair in range will gather, as the scalar walk does for every system.
const PREFETCH_FROM: usize = 1 << 16;

/// Pairs per owner from which the walk tests each group of eight for a single owner, whose
/// row it then reads once instead of gathering it eight times ([`owner_rows`]; a slurry: 65
/// in the thick one). In the granular gas (2.5) the test would go either way.
const DENSE_PAIRS: usize = 16;

/// A group's pairs in range, compressed to its first lanes: owner, partner and slot; then
/// the three components of the separation, its square, the image's x speed and the
/// owner's radius.
struct Group {
    ijs: [__m256i; 3],
    f: [__m512d; 6],
}

impl Group {
    /// Appends the first `k` lanes to the batch, which has room for them.
    #[target_feature(enable = "avx512f,avx512vl,avx2")]
    unsafe fn store(&self, b: &mut PairBatch, k: usize) {
        let (at, m) = (b.len, ((1u16 << k) - 1) as u8);
        assert!(at + k <= LANES);
        for (lane, v) in [&mut b.i, &mut b.j, &mut b.slot].into_iter().zip(self.ijs) {
            _mm256_mask_storeu_epi32(lane.as_mut_ptr().add(at).cast(), m, v);
        }
        let [d0, d1, d2] = &mut b.del;
        for (lane, v) in [d0, d1, d2, &mut b.rsq, &mut b.dvx, &mut b.ri].into_iter().zip(self.f) {
            _mm512_mask_storeu_pd(lane.as_mut_ptr().add(at), m, v);
        }
        for lane in b.hist.iter_mut() {
            _mm512_mask_storeu_pd(lane.as_mut_ptr().add(at), m, _mm512_setzero_pd());
        }
        b.len = at + k;
    }

    /// Drops the first `k` lanes.
    #[target_feature(enable = "avx512f,avx512vl,avx2")]
    unsafe fn shift(&mut self, k: usize) {
        let rest = 0xffu8 << k;
        self.ijs = self.ijs.map(|v| _mm256_maskz_compress_epi32(rest, v));
        self.f = self.f.map(|v| _mm512_maskz_compress_pd(rest, v));
    }
}

/// Walks the block's pairs; `list.codes` must be set (fixed images).
///
/// # Safety
/// The processor must have AVX-512F, AVX-512VL and AVX2.
pub(super) unsafe fn walk_fixed(
    sink: &mut BlockSink<'_>,
    batch: &mut PairBatch,
    list: &BlockList<'_>,
    lanes: &LaneSource<'_>,
) {
    // SAFETY: the caller's processor has the features.
    unsafe {
        if list.owner.len() >= DENSE_PAIRS * sink.f.len() {
            walk_groups::<true>(sink, batch, list, lanes)
        } else {
            walk_groups::<false>(sink, batch, list, lanes)
        }
    }
}

/// [`walk_fixed`]; `DENSE`: whether to test each group for a single owner.
#[target_feature(enable = "avx512f,avx512vl,avx2")]
unsafe fn walk_groups<const DENSE: bool>(
    sink: &mut BlockSink<'_>,
    batch: &mut PairBatch,
    list: &BlockList<'_>,
    lanes: &LaneSource<'_>,
) {
    let BlockList {
        owner,
        partner,
        range_sq,
        codes,
        x,
        shifts,
        ..
    } = *list;
    let codes = codes.expect("fixed images");
    let n = owner.len();
    assert!(partner.len() == n && range_sq.len() == n && codes.len() == n && sink.held.len() == n);
    let ctx = lanes.ctx;
    let n_particles = x.len();
    assert!(ctx.radius.len() == n_particles && n_particles < i32::MAX as usize / 3);
    let prefetching = n_particles >= PREFETCH_FROM;
    let xp = x.as_ptr().cast::<f64>();
    let (sp, nbp) = (shifts.shift.as_ptr().cast::<f64>(), shifts.nb.as_ptr());
    let rp = ctx.radius.as_ptr();
    let xy_rate = _mm512_set1_pd(lanes.xy_rate);
    let three = _mm256_set1_epi32(3);
    let iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let zero = _mm512_setzero_pd();
    let groups = n / 8;
    for g in 0..groups {
        let k0 = g * 8;
        // SAFETY (loads): k0 + 8 <= n, the length of every list array (asserted above).
        let i8 = _mm256_loadu_si256(owner.as_ptr().add(k0).cast());
        let j8 = _mm256_loadu_si256(partner.as_ptr().add(k0).cast());
        let c8 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(codes.as_ptr().add(k0).cast()));
        // The gathers read unchecked: every index must name a particle and every code an
        // image of the table.
        assert!(
            all_below(_mm256_max_epu32(i8, j8), n_particles) && all_below(c8, shifts.nb.len()),
            "a listed pair names a particle or image that does not exist"
        );
        let (i3, j3, c3) = (
            _mm256_mullo_epi32(i8, three),
            _mm256_mullo_epi32(j8, three),
            _mm256_mullo_epi32(c8, three),
        );
        // SAFETY (gathers): indices checked above; rows are 3 f64.
        let first = owner[k0];
        let one_owner = DENSE && _mm256_cmpeq_epi32_mask(i8, _mm256_set1_epi32(first as i32)) == 0xff;
        let mut del = [zero; 3];
        for (a, d) in del.iter_mut().enumerate() {
            let xi = owner_rows(xp, one_owner, first as usize, i3, 3, a);
            let xj = _mm512_i32gather_pd::<8>(j3, xp.add(a));
            let s = _mm512_i32gather_pd::<8>(c3, sp.add(a));
            // (xi − xj) − s, as the scalar walk rounds it.
            *d = _mm512_sub_pd(_mm512_sub_pd(xi, xj), s);
        }
        // No fused multiply-add: the scalar walk rounds each product.
        let rsq = _mm512_add_pd(
            _mm512_add_pd(_mm512_mul_pd(del[0], del[0]), _mm512_mul_pd(del[1], del[1])),
            _mm512_mul_pd(del[2], del[2]),
        );
        let range = _mm512_cvtps_pd(_mm256_loadu_ps(range_sq.as_ptr().add(k0)));
        // In range: not (rsq ≥ range), as the scalar test reads (a NaN is in range).
        let inside = _mm512_cmp_pd_mask::<_CMP_NGE_UQ>(rsq, range);
        let held_bytes = _mm_loadl_epi64(sink.held.as_ptr().add(k0).cast());
        let held = !(_mm_movemask_epi8(_mm_cmpeq_epi8(held_bytes, _mm_setzero_si128())) as u8);
        let mut dropped = held & !inside;
        while dropped != 0 {
            let slot = k0 + dropped.trailing_zeros() as usize;
            sink.drop_history(slot);
            dropped &= dropped - 1;
        }
        if inside == 0 {
            continue;
        }
        if held != 0 {
            // The group's histories: 8 × 32 bytes, four cache lines.
            let h = sink.hist.as_ptr().add(k0);
            for l in 0..4 {
                prefetch(&*h.add(2 * l));
            }
        }
        if prefetching {
            // The partners' rows; their histories are in the lines prefetched above.
            let mut m = inside;
            while m != 0 {
                let b = m.trailing_zeros() as usize;
                sink.prefetch_lane(ctx, partner[k0 + b] as usize, k0 + b, false);
                m &= m - 1;
            }
        }
        let nb = _mm512_i32gather_pd::<8>(c8, nbp);
        let ri = owner_rows(rp, one_owner, first as usize, i8, 1, 0);
        let slots = _mm256_add_epi32(iota, _mm256_set1_epi32(k0 as i32));
        let mut group = Group {
            ijs: [i8, j8, slots].map(|v| _mm256_maskz_compress_epi32(inside, v)),
            f: [del[0], del[1], del[2], rsq, _mm512_mul_pd(nb, xy_rate), ri]
                .map(|v| _mm512_maskz_compress_pd(inside, v)),
        };
        let count = inside.count_ones() as usize;
        // Lanes fill to the last one: the rest of the group goes into the next batch.
        let take = count.min(LANES - batch.len);
        group.store(batch, take);
        if batch.is_full() {
            sink.flush(batch, lanes.ff, ctx);
            if take < count {
                group.shift(take);
                group.store(batch, count - take);
            }
        }
    }
    // The last pairs, one by one (a full batch was flushed above, so `visit` has room).
    for slot in groups * 8..n {
        let pair = ListedPair::fixed(
            slot,
            [owner[slot], partner[slot]],
            codes[slot],
            range_sq[slot],
            x,
            shifts,
        );
        sink.visit(batch, pair, lanes);
    }
}
