//! [`super::gather_motion`] eight lanes at a time (AVX-512): the partners' rows gathered,
//! the owner's read once where the eight lanes share it ([`owner_rows`]). The same
//! arithmetic, unfused, so the same bits.

use std::arch::x86_64::*;

use super::Gathered;
use crate::sim::forcefield::{PairBatch, PairContext};
use crate::sim::simd::avx512::{all_below, owner_rows};

/// # Safety
/// The processor must have AVX-512F, AVX-512VL and AVX2.
#[target_feature(enable = "avx512f,avx512vl,avx2")]
pub(super) unsafe fn gather_motion(g: &mut Gathered, b: &PairBatch, ctx: &PairContext<'_>) {
    let n = ctx.v.len();
    assert!(ctx.omega.len() == n && ctx.mass.len() == n && n < i32::MAX as usize / 3);
    let (vp, wp, mp) = (
        ctx.v.as_ptr().cast::<f64>(),
        ctx.omega.as_ptr().cast::<f64>(),
        ctx.mass.as_ptr(),
    );
    let three = _mm256_set1_epi32(3);
    let full = b.len / 8 * 8;
    for k in (0..full).step_by(8) {
        // SAFETY (loads and stores): k + 8 <= b.len <= LANES, the length of every lane.
        unsafe {
            let i8 = _mm256_loadu_si256(b.i.as_ptr().add(k).cast());
            let j8 = _mm256_loadu_si256(b.j.as_ptr().add(k).cast());
            // The gathers read unchecked: every index must name a particle.
            assert!(
                all_below(_mm256_max_epu32(i8, j8), n),
                "a lane names a particle that does not exist"
            );
            let (i3, j3) = (_mm256_mullo_epi32(i8, three), _mm256_mullo_epi32(j8, three));
            let first = b.i[k] as usize;
            let one_owner = _mm256_cmpeq_epi32_mask(i8, _mm256_set1_epi32(first as i32)) == 0xff;
            let owner = |p, rows, width, a| owner_rows(p, one_owner, first, rows, width, a);
            _mm512_storeu_pd(g.mi.as_mut_ptr().add(k), owner(mp, i8, 1, 0));
            _mm512_storeu_pd(g.mj.as_mut_ptr().add(k), _mm512_i32gather_pd::<8>(j8, mp));
            let (ri, rj) = (
                _mm512_loadu_pd(b.ri.as_ptr().add(k)),
                _mm512_loadu_pd(b.rj.as_ptr().add(k)),
            );
            for a in 0..3 {
                let mut vr = _mm512_sub_pd(owner(vp, i3, 3, a), _mm512_i32gather_pd::<8>(j3, vp.add(a)));
                if a == 0 {
                    vr = _mm512_sub_pd(vr, _mm512_loadu_pd(b.dvx.as_ptr().add(k)));
                }
                _mm512_storeu_pd(g.vr[a].as_mut_ptr().add(k), vr);
                let wj = _mm512_i32gather_pd::<8>(j3, wp.add(a));
                let wsum = _mm512_add_pd(_mm512_mul_pd(ri, owner(wp, i3, 3, a)), _mm512_mul_pd(rj, wj));
                _mm512_storeu_pd(g.wsum[a].as_mut_ptr().add(k), wsum);
            }
        }
    }
    super::gather_motion(g, b, ctx, full);
}
