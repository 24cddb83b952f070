//! The rebuild test's measure: how far each particle has moved since the list was built,
//! from where the box's deformation alone would have carried it
//! ([`super::NeighborList::needs_rebuild`]).

/// The rebuild test for the present box ([`super::NeighborList::move_test`]), prepared
/// once and taken over chunks of particles ([`MoveTest::largest_sq`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum MoveTest {
    /// The box changed past what the test allows: rebuild, whatever the particles did.
    Rebuild,
    /// The build's box: plain displacements; stale beyond `limit` [µm].
    Fixed { limit: f64 },
    /// A box deformed since the build: displacements from the build positions mapped into
    /// the present box, x ↦ lo₁ + M (x − lo₀); stale beyond `limit` [µm].
    Affine { map: AffineMap, limit: f64 },
}

/// x ↦ lo₁ + M (x − lo₀), M's columns the images of the unit steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct AffineMap {
    pub lo0: [f64; 3],
    pub lo1: [f64; 3],
    pub m: [[f64; 3]; 3],
}

impl MoveTest {
    /// The largest squared displacement of `x` from `x_build` (as many, the same particles)
    /// [µm²]; 0 for [`MoveTest::Rebuild`], which needs none.
    pub(crate) fn largest_sq(&self, x: &[[f64; 3]], x_build: &[[f64; 3]]) -> f64 {
        assert_eq!(x.len(), x_build.len(), "one build position per particle");
        match self {
            MoveTest::Rebuild => 0.0,
            MoveTest::Fixed { .. } => largest_plain_sq(x, x_build),
            MoveTest::Affine { map, .. } => largest_affine_sq(x, x_build, map),
        }
    }

    /// Whether the list is stale, given the largest squared displacement of all particles.
    pub(super) fn stale(&self, largest_sq: f64) -> bool {
        match *self {
            MoveTest::Rebuild => true,
            MoveTest::Fixed { limit } | MoveTest::Affine { limit, .. } => largest_sq > limit * limit,
        }
    }

    /// Given the largest squared displacement of all particles, whether the list is stale
    /// and, in the build's box, the largest displacement [µm]
    /// ([`super::NeighborList::check`]).
    pub(crate) fn verdict(&self, largest_sq: f64) -> (bool, Option<f64>) {
        let travel = matches!(self, MoveTest::Fixed { .. }).then(|| largest_sq.sqrt());
        (self.stale(largest_sq), travel)
    }
}

/// Particles per piece of the scans, one vector lane and running maximum each: one at a
/// time, each comparison waiting on the last, the test was about half the NPT stage's
/// neighbour phase.
const LANES: usize = 8;

/// The largest `d2(x_k, b_k)` over the particles, [`LANES`] at a time: the lane values
/// first, then a running maximum per lane (`if v > m { v } else { m }`: a vector max,
/// which passes NaN over as the plain comparison does). A maximum does not depend on the
/// order it is taken in, so this is the plain loop's value. Inlined into each
/// `multiversioned!` scan with its `d2`, so that both compile to vector code.
#[inline(always)]
fn largest_by(x: &[[f64; 3]], x_build: &[[f64; 3]], d2: impl Fn(&[f64; 3], &[f64; 3]) -> f64) -> f64 {
    let mut best = [0.0f64; LANES];
    let (xs, bs) = (x.chunks_exact(LANES), x_build.chunks_exact(LANES));
    let tail = xs.remainder().iter().zip(bs.remainder()).map(|(a, b)| d2(a, b));
    for (a, b) in xs.clone().zip(bs.clone()) {
        let mut v = [0.0f64; LANES];
        for q in 0..LANES {
            v[q] = d2(&a[q], &b[q]);
        }
        for (m, &v) in best.iter_mut().zip(&v) {
            *m = if v > *m { v } else { *m };
        }
    }
    best.into_iter().chain(tail).fold(0.0, |m, v| if v > m { v } else { m })
}

crate::multiversioned! {
    /// max_k |x_k − b_k|² [µm²].
    fn largest_plain_sq(x: &[[f64; 3]], x_build: &[[f64; 3]]) -> f64 {
        largest_by(x, x_build, |a, b| {
            let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
            d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
        })
    }
}

crate::multiversioned! {
    /// max_k |x_k − (lo₁ + M (b_k − lo₀))|² [µm²].
    fn largest_affine_sq(x: &[[f64; 3]], x_build: &[[f64; 3]], map: &AffineMap) -> f64 {
        let AffineMap { lo0, lo1, m } = *map;
        largest_by(x, x_build, |a, b| {
            let r = [b[0] - lo0[0], b[1] - lo0[1], b[2] - lo0[2]];
            let d: [f64; 3] = std::array::from_fn(|c| a[c] - lo1[c] - (m[0][c] * r[0] + m[1][c] * r[1] + m[2][c] * r[2]));
            d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lanes' maximum is the plain loop's, wherever the largest lies (every lane, the
    /// tail), and NaN is passed over as the plain comparison does.
    #[test]
    fn the_lanes_find_the_plain_maximum() {
        let n = 3 * LANES + 5;
        let x_build: Vec<[f64; 3]> = (0..n).map(|k| [k as f64, 0.5 * k as f64, -(k as f64)]).collect();
        let map = AffineMap {
            lo0: [0.5, -1.0, 2.0],
            lo1: [0.25, -0.75, 2.5],
            m: [[1.01, 0.0, 0.0], [0.02, 0.99, 0.0], [0.0, 0.0, 1.03]],
        };
        let tests = [MoveTest::Fixed { limit: 1.0 }, MoveTest::Affine { map, limit: 1.0 }];
        for test in tests {
            for top in 0..n {
                let mut x = x_build.clone();
                for (k, p) in x.iter_mut().enumerate() {
                    p[k % 3] += 0.01 * (k % 7) as f64;
                }
                x[top][1] += 3.0;
                x[(top + 1) % n][2] = f64::NAN;
                let plain = |k: usize| {
                    let (a, b) = (x[k], x_build[k]);
                    let d: [f64; 3] = match test {
                        MoveTest::Affine {
                            map: AffineMap { lo0, lo1, m },
                            ..
                        } => {
                            let r = [b[0] - lo0[0], b[1] - lo0[1], b[2] - lo0[2]];
                            std::array::from_fn(|c| a[c] - lo1[c] - (m[0][c] * r[0] + m[1][c] * r[1] + m[2][c] * r[2]))
                        }
                        _ => std::array::from_fn(|c| a[c] - b[c]),
                    };
                    d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
                };
                let mut want = 0.0f64;
                for k in 0..n {
                    if plain(k) > want {
                        want = plain(k);
                    }
                }
                assert_eq!(test.largest_sq(&x, &x_build), want, "{test:?}, top {top}");
                assert!(test.stale(want) && !test.stale(0.5));
            }
        }
        assert!(MoveTest::Rebuild.stale(0.0));
    }
}
