//! Pass 2 of the force loop: the j-sides that pass 1 could not add in place.
//!
//! Pass 1 files each j-side under the destination range that will apply it, so that pass 2's
//! workers read only their own entries (each used to scan every entry and skip the others',
//! so two threads read the whole list twice). A particle's contributions still arrive in
//! block order and, within a block, in pair order, whatever the number of ranges: the sums
//! are the same bits on any thread count.

use crate::sim::parallel::split_lengths;

/// j-side contribution of a pair: force (subtracted) and torque term (times r_j).
#[derive(Debug, Clone, Copy, Default)]
pub struct JSide {
    pub f: [f64; 3],
    pub tor: [f64; 3],
}

/// One owner block's j-sides, per destination range, in pair order.
pub type BlockJSides = Vec<Vec<(u32, JSide)>>;

const SHIFT: u32 = 48;

/// Splits particle indices 0..n into contiguous destination ranges with a multiply and a
/// shift (a division per pair would cost more than the scan it saves).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Destinations {
    n: usize,
    parts: usize,
    /// range(j) = ⌊j·mul / 2⁴⁸⌋, < parts for every j < n (48 bits: the ranges then differ
    /// by a few particles at most up to n ≈ 10⁷; parts ≤ 2¹⁵ keeps j·mul below 2⁶⁴).
    mul: u64,
}

impl Destinations {
    /// About `parts` equal ranges of 0..n (at least one, at most n).
    pub fn new(n: usize, parts: usize) -> Self {
        let parts = parts.clamp(1, n.clamp(1, 1 << 15));
        let mul = ((parts as u64) << SHIFT) / n.max(1) as u64;
        Destinations { n, parts, mul }
    }

    pub fn parts(&self) -> usize {
        self.parts
    }

    /// The range that applies particle `j`'s j-sides.
    #[inline]
    pub fn of(&self, j: usize) -> usize {
        ((j as u64 * self.mul) >> SHIFT) as usize
    }

    /// First particle of range `p` (`n` for p = parts): the least j with of(j) ≥ p.
    pub fn start(&self, p: usize) -> usize {
        if p == 0 {
            return 0;
        }
        (((p as u64) << SHIFT).div_ceil(self.mul) as usize).min(self.n)
    }
}

/// Subtracts the filed j-sides from forces and adds −r_j·tor to torques, each range on its
/// own worker, blocks in order.
pub fn apply(blocks: &[BlockJSides], dest: Destinations, f: &mut [[f64; 3]], torque: &mut [[f64; 3]], radius: &[f64]) {
    let sizes = || (0..dest.parts()).map(|p| dest.start(p + 1) - dest.start(p));
    let work: Vec<_> = split_lengths(f, sizes()).zip(split_lengths(torque, sizes())).collect();
    crate::sim::team::map_items(
        work.into_iter().enumerate().collect(),
        || (),
        |_, (p, (fpart, tpart))| {
            let lo = dest.start(p);
            for block in blocks {
                apply_entries(&block[p], lo, fpart, tpart, radius);
            }
        },
    );
}

/// Subtracts `entries` from the forces and adds −r_j·tor to the torques of particles
/// `lo..lo + f.len()`, in order.
pub fn apply_entries(entries: &[(u32, JSide)], lo: usize, f: &mut [[f64; 3]], torque: &mut [[f64; 3]], radius: &[f64]) {
    for &(j, ref c) in entries {
        let k = j as usize - lo;
        let (fj, tj, rj) = (&mut f[k], &mut torque[k], radius[j as usize]);
        for a in 0..3 {
            fj[a] -= c.f[a];
            tj[a] -= rj * c.tor[a];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_contiguous_and_cover_every_particle() {
        for n in [1, 2, 3, 7, 128, 9859, 1_000_000] {
            for parts in [1, 2, 3, 4, 16, 64] {
                let d = Destinations::new(n, parts);
                assert!(d.parts() >= 1 && d.parts() <= n);
                assert_eq!(d.start(0), 0);
                assert_eq!(d.start(d.parts()), n, "n {n}, parts {parts}");
                for j in (0..n).step_by((n / 5000).max(1)).chain([n - 1]) {
                    let p = d.of(j);
                    assert!(p < d.parts(), "n {n}, parts {parts}, j {j}");
                    assert!(d.start(p) <= j && j < d.start(p + 1), "n {n}, parts {parts}, j {j}");
                }
                // Balanced to within a few particles.
                let sizes: Vec<usize> = (0..d.parts()).map(|p| d.start(p + 1) - d.start(p)).collect();
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(hi - lo <= 1 + n / (1 << 18), "n {n}, parts {parts}: {sizes:?}");
            }
        }
    }

    #[test]
    fn apply_lands_every_entry_once_on_its_particle() {
        let dest = Destinations::new(4, 2);
        let js = |j: u32, x: f64| {
            (
                j,
                JSide {
                    f: [x, 0.0, 0.0],
                    tor: [0.0, 0.0, x],
                },
            )
        };
        let mut blocks: Vec<BlockJSides> = vec![vec![Vec::new(); 2]; 2];
        for (b, entries) in [(0, [js(3, 1.0), js(0, 2.0)]), (1, [js(3, 0.5), js(1, 4.0)])] {
            for e in entries {
                blocks[b][dest.of(e.0 as usize)].push(e);
            }
        }
        let (mut f, mut t) = (vec![[0.0; 3]; 4], vec![[0.0; 3]; 4]);
        f[3][0] = -1.0;
        apply(&blocks, dest, &mut f, &mut t, &[1.0, 1.0, 1.0, 2.0]);
        assert_eq!([f[0][0], f[1][0], f[2][0], f[3][0]], [-2.0, -4.0, 0.0, -2.5]);
        assert_eq!([t[0][2], t[1][2], t[2][2], t[3][2]], [-2.0, -4.0, 0.0, -3.0]);
    }
}
