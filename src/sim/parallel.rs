//! Reductions whose result does not depend on the number of threads: the work is split
//! into fixed-size chunks, each summed in order, and the chunk sums added in order.

/// Items per chunk of a deterministic reduction.
pub const CHUNK: usize = 1024;

/// Σ_k f(k) for k in 0..n, componentwise, bit-identical for any thread count.
pub fn det_sum<const K: usize>(n: usize, f: impl Fn(usize) -> [f64; K] + Sync) -> [f64; K] {
    let partials = crate::sim::team::map_items(
        (0..n.div_ceil(CHUNK)).collect(),
        || (),
        |_, c| {
            let mut acc = [0.0; K];
            for k in c * CHUNK..((c + 1) * CHUNK).min(n) {
                let v = f(k);
                for (a, b) in acc.iter_mut().zip(v) {
                    *a += b;
                }
            }
            acc
        },
    );
    add_in_order(&partials)
}

/// Consecutive pieces of `s` with the given lengths, for workers that each own one.
pub fn split_lengths<T>(mut s: &mut [T], lengths: impl IntoIterator<Item = usize>) -> impl Iterator<Item = &mut [T]> {
    lengths.into_iter().map(move |len| {
        let (piece, rest) = std::mem::take(&mut s).split_at_mut(len);
        s = rest;
        piece
    })
}

/// Adds arrays in slice order.
pub fn add_in_order<const K: usize>(parts: &[[f64; K]]) -> [f64; K] {
    let mut acc = [0.0; K];
    for p in parts {
        for (a, b) in acc.iter_mut().zip(p) {
            *a += b;
        }
    }
    acc
}
