//! Aggregation multigrid for the voxel diffusion operator: the tortuosity solve's
//! preconditioner. Jacobi-preconditioned CG needs a number of iterations that grows with
//! the grid's width in voxels (1500 at 0.25 µm on a thick film); a V-cycle's does not.
//!
//! 1. Each level groups its unknowns by the 2×2×2 blocks of its grid, each block split into
//!    the parts connected inside it (so no aggregate bridges solid).
//! 2. The prolongation is piecewise constant and the coarse operator Galerkin: between two
//!    aggregates, the sum of the fine conductances between them; on the diagonal, those
//!    leaving the aggregate plus its Dirichlet faces. Every level is a conductance network.
//! 3. The cycle: damped Jacobi sweeps, the residual summed over each aggregate, the
//!    coarse correction added back, the same sweeps again (a symmetric preconditioner, as
//!    CG needs); dense Cholesky on the coarsest level.
//!
//! Every sum runs in a fixed order, so the cycle gives the same bits on any thread count.

use rayon::prelude::*;

use crate::sim::parallel::split_lengths;

/// One level: a conductance network, its rows padded to one width.
pub struct Level {
    /// Row i couples to `col[i * width..(i + 1) * width]` with conductances `g[..]`; short
    /// rows are padded with (i, 0). A fixed width keeps the row loop's exit predictable.
    width: usize,
    col: Vec<u32>,
    g: Vec<f64>,
    /// Σ conductances of the row, those to fixed values included.
    diag: Vec<f64>,
    /// Block coordinates on this level's grid.
    at: Vec<[u32; 3]>,
    /// The aggregate each row joins on the next level (empty on the coarsest).
    agg: Vec<u32>,
    /// Members of each next-level row, in row order: `members[mptr[c]..mptr[c + 1]]`.
    mptr: Vec<usize>,
    members: Vec<u32>,
}

impl Level {
    /// The network of `at.len()` rows: `row(i, couplings)` pushes row i's couplings (column,
    /// conductance > 0) and returns its total conductance, fixed values included; row i
    /// sits at voxel `at[i]`.
    pub fn new(at: Vec<[u32; 3]>, row: impl Fn(usize, &mut Vec<(u32, f64)>) -> f64 + Sync) -> Level {
        let n = at.len();
        // Two passes, the widest row first, so the padded arrays are the only copy.
        let width = (0..n)
            .into_par_iter()
            .map_init(Vec::new, |buf, i| {
                buf.clear();
                row(i, buf);
                buf.len()
            })
            .max()
            .unwrap_or(0);
        let (mut col, mut g, mut diag) = (vec![0u32; n * width], vec![0.0; n * width], vec![0.0; n]);
        // Chunks of CHUNK rows; with no couplings at all the entry arrays are empty.
        let entries = CHUNK * width;
        let mut cols: Vec<&mut [u32]> = col.chunks_mut(entries.max(1)).collect();
        let mut gs: Vec<&mut [f64]> = g.chunks_mut(entries.max(1)).collect();
        let chunks = n.div_ceil(CHUNK);
        cols.resize_with(chunks, || &mut []);
        gs.resize_with(chunks, || &mut []);
        diag.par_chunks_mut(CHUNK)
            .zip(cols)
            .zip(gs)
            .enumerate()
            .for_each(|(c, ((ds, cols), gs))| {
                let mut buf = Vec::new();
                for (o, d) in ds.iter_mut().enumerate() {
                    let i = c * CHUNK + o;
                    buf.clear();
                    *d = row(i, &mut buf);
                    for k in 0..width {
                        let (cj, gj) = buf.get(k).copied().unwrap_or((i as u32, 0.0));
                        cols[o * width + k] = cj;
                        gs[o * width + k] = gj;
                    }
                }
            });
        Level {
            width,
            col,
            g,
            diag,
            at,
            agg: Vec::new(),
            mptr: Vec::new(),
            members: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.diag.len()
    }

    /// Σ conductances of each row.
    pub fn diag(&self) -> &[f64] {
        &self.diag
    }

    /// y = A x.
    pub fn apply(&self, x: &[f64], y: &mut [f64]) {
        y.par_chunks_mut(CHUNK).enumerate().for_each(|(c, ys)| {
            for (o, yi) in ys.iter_mut().enumerate() {
                *yi = self.row_times(c * CHUNK + o, x);
            }
        });
    }

    /// Row i's entries in `col` and `g`.
    fn row(&self, i: usize) -> std::ops::Range<usize> {
        i * self.width..(i + 1) * self.width
    }

    /// (A x)_i.
    #[inline(always)]
    fn row_times(&self, i: usize, x: &[f64]) -> f64 {
        let row = self.row(i);
        let mut s = self.diag[i] * x[i];
        for (&c, &g) in self.col[row.clone()].iter().zip(&self.g[row]) {
            s -= g * x[c as usize];
        }
        s
    }

    /// The next level: aggregates of the rows in each 2×2×2 block, split by connection.
    fn coarsen(&mut self) -> Level {
        let n = self.len();
        let key = |i: usize| {
            let a = self.at[i];
            [a[2] / 2, a[1] / 2, a[0] / 2]
        };
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.par_sort_by_key(|&i| (key(i as usize), i));
        // Blocks as runs of `order`; each split into connected parts by union-find.
        let mut starts: Vec<usize> = (0..n)
            .filter(|&k| k == 0 || key(order[k] as usize) != key(order[k - 1] as usize))
            .collect();
        starts.push(n);
        // Each row's part within its block, numbered in order of first appearance.
        let mut label = vec![0u32; n];
        let pieces: Vec<&mut [u32]> = split_lengths(&mut label, starts.windows(2).map(|w| w[1] - w[0])).collect();
        pieces
            .into_par_iter()
            .zip(starts.par_windows(2))
            .for_each(|(labels, w)| {
                let rows = &order[w[0]..w[1]];
                let mut parent: Vec<usize> = (0..rows.len()).collect();
                fn find(p: &mut [usize], mut x: usize) -> usize {
                    while p[x] != x {
                        p[x] = p[p[x]];
                        x = p[x];
                    }
                    x
                }
                for (a, &i) in rows.iter().enumerate() {
                    for k in self.row(i as usize) {
                        if let Some(b) = rows.iter().position(|&j| j == self.col[k]) {
                            let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                            parent[ra.max(rb)] = ra.min(rb);
                        }
                    }
                }
                let mut next = 0;
                let mut root_label = vec![u32::MAX; rows.len()];
                for (a, l) in labels.iter_mut().enumerate() {
                    let r = find(&mut parent, a);
                    if root_label[r] == u32::MAX {
                        root_label[r] = next;
                        next += 1;
                    }
                    *l = root_label[r];
                }
            });
        let mut agg = vec![0u32; n];
        let (mut mptr, mut members, mut at) = (vec![0usize], Vec::with_capacity(n), Vec::new());
        for w in starts.windows(2) {
            let (rows, labels) = (&order[w[0]..w[1]], &label[w[0]..w[1]]);
            let k = key(rows[0] as usize);
            for part in 0..=labels.iter().copied().max().unwrap_or(0) {
                let c = (mptr.len() - 1) as u32;
                for (&i, _) in rows.iter().zip(labels).filter(|(_, &l)| l == part) {
                    agg[i as usize] = c;
                    members.push(i);
                }
                at.push([k[2], k[1], k[0]]);
                mptr.push(members.len());
            }
        }
        drop((order, label));
        // Galerkin rows: couplings to other aggregates summed, in column order.
        let coarse = Level::new(at, |c, out| {
            let mut diag = 0.0;
            for &i in &members[mptr[c]..mptr[c + 1]] {
                let i = i as usize;
                diag += self.diag[i];
                for k in self.row(i) {
                    let d = agg[self.col[k] as usize];
                    if d == c as u32 {
                        diag -= self.g[k];
                    } else {
                        match out.iter_mut().find(|e| e.0 == d) {
                            Some(e) => e.1 += self.g[k],
                            None => out.push((d, self.g[k])),
                        }
                    }
                }
            }
            out.sort_by_key(|e| e.0);
            diag
        });
        // The coordinates served only this coarsening.
        self.at = Vec::new();
        self.agg = agg;
        self.mptr = mptr;
        self.members = members;
        coarse
    }
}

/// Rows per parallel task.
const CHUNK: usize = 1 << 13;
/// Jacobi damping and sweeps before and after each coarse correction.
const OMEGA: f64 = 2.0 / 3.0;
const SWEEPS: usize = 1;
/// Levels stop coarsening at this many unknowns (then Cholesky), or when a level shrinks
/// by less than this factor.
const COARSEST: usize = 600;
const MIN_SHRINK: f64 = 1.5;

/// The hierarchy and the coarsest level's Cholesky factor.
pub struct Multigrid {
    levels: Vec<Level>,
    /// Lower-triangular factor, row-major, of the coarsest level's dense matrix.
    chol: Vec<f64>,
}

impl Multigrid {
    /// The hierarchy above `top`, the operator itself. Every connected part of its network
    /// must reach a fixed value (the matrix is then positive definite).
    pub fn new(top: Level) -> Multigrid {
        let mut levels = vec![top];
        while levels.last().unwrap().len() > COARSEST {
            let next = levels.last_mut().unwrap().coarsen();
            let shrink = levels.last().unwrap().len() as f64 / next.len() as f64;
            if shrink < MIN_SHRINK {
                let last = levels.last_mut().unwrap();
                (last.agg, last.mptr, last.members) = (Vec::new(), Vec::new(), Vec::new());
                break;
            }
            levels.push(next);
        }
        let chol = levels
            .last()
            .filter(|l| l.len() <= COARSEST)
            .map_or_else(Vec::new, cholesky);
        Multigrid { levels, chol }
    }

    pub fn levels(&self) -> usize {
        self.levels.len()
    }

    /// The finest level: the operator.
    pub fn operator(&self) -> &Level {
        &self.levels[0]
    }

    /// z = B r, one V-cycle from zero.
    pub fn apply(&self, r: &[f64], z: &mut [f64], w: &mut Workspace) {
        self.cycle(0, r, w);
        z.copy_from_slice(&w.z[0]);
    }

    /// Buffers for `apply`, allocated once per solve.
    pub fn workspace(&self) -> Workspace {
        let per_level = || self.levels.iter().map(|l| vec![0.0; l.len()]).collect::<Vec<_>>();
        let mut r = per_level();
        // The top level's right-hand side is the caller's.
        r[0] = Vec::new();
        Workspace {
            z: per_level(),
            r,
            tmp: per_level(),
        }
    }

    /// One V-cycle on level `l` for the right-hand side `r`, into `w.z[l]`.
    fn cycle(&self, l: usize, r: &[f64], w: &mut Workspace) {
        let lv = &self.levels[l];
        if l + 1 == self.levels.len() {
            if self.chol.is_empty() {
                // Too large to factor (coarsening stalled): more sweeps instead.
                smooth(lv, r, &mut w.z[l], &mut w.tmp[l], 8 * SWEEPS, true);
            } else {
                cholesky_solve(&self.chol, lv.len(), r, &mut w.z[l]);
            }
            return;
        }
        smooth(lv, r, &mut w.z[l], &mut w.tmp[l], SWEEPS, true);
        // The residual summed over each aggregate, without storing it.
        let z = &w.z[l];
        w.r[l + 1].par_iter_mut().enumerate().for_each(|(c, rc)| {
            *rc = lv.members[lv.mptr[c]..lv.mptr[c + 1]]
                .iter()
                .map(|&i| r[i as usize] - lv.row_times(i as usize, z))
                .sum()
        });
        let rc = std::mem::take(&mut w.r[l + 1]);
        self.cycle(l + 1, &rc, w);
        w.r[l + 1] = rc;
        let (fine, coarse) = w.z.split_at_mut(l + 1);
        let zc = &coarse[0];
        fine[l]
            .par_iter_mut()
            .zip(&lv.agg)
            .for_each(|(zi, &c)| *zi += zc[c as usize]);
        smooth(lv, r, &mut w.z[l], &mut w.tmp[l], SWEEPS, false);
    }
}

/// Scratch vectors of each level: the cycle's solution and right-hand side, and a
/// sweep's output.
pub struct Workspace {
    z: Vec<Vec<f64>>,
    r: Vec<Vec<f64>>,
    tmp: Vec<Vec<f64>>,
}

/// `sweeps` damped Jacobi sweeps on A z = r; `from_zero` starts at z = 0 (the first sweep
/// is then ω D⁻¹ r). Each sweep writes `tmp` and swaps it in.
fn smooth(lv: &Level, r: &[f64], z: &mut Vec<f64>, tmp: &mut Vec<f64>, sweeps: usize, from_zero: bool) {
    for s in 0..sweeps {
        if s == 0 && from_zero {
            z.par_iter_mut()
                .zip(r)
                .zip(&lv.diag)
                .for_each(|((zi, ri), d)| *zi = OMEGA * ri / d);
            continue;
        }
        tmp.par_chunks_mut(CHUNK).enumerate().for_each(|(c, ts)| {
            for (o, t) in ts.iter_mut().enumerate() {
                let i = c * CHUNK + o;
                *t = z[i] + OMEGA * (r[i] - lv.row_times(i, z)) / lv.diag[i];
            }
        });
        std::mem::swap(z, tmp);
    }
}

/// Dense Cholesky factor L (row-major, lower) of a level's matrix.
fn cholesky(lv: &Level) -> Vec<f64> {
    let n = lv.len();
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        a[i * n + i] = lv.diag[i];
        for k in lv.row(i) {
            a[i * n + lv.col[k] as usize] -= lv.g[k];
        }
    }
    for j in 0..n {
        let d = (a[j * n + j] - (0..j).map(|k| a[j * n + k] * a[j * n + k]).sum::<f64>()).sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let s: f64 = (0..j).map(|k| a[i * n + k] * a[j * n + k]).sum();
            a[i * n + j] = (a[i * n + j] - s) / d;
        }
    }
    a
}

fn cholesky_solve(l: &[f64], n: usize, r: &[f64], z: &mut [f64]) {
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[i * n + k] * z[k]).sum();
        z[i] = (r[i] - s) / l[i * n + i];
    }
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[k * n + i] * z[k]).sum();
        z[i] = (z[i] - s) / l[i * n + i];
    }
}
