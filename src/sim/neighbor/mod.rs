//! Verlet neighbour list built from cell grids, one grid per size class.
//!
//! Strongly polydisperse spheres (1.3 to 12 µm) make a single grid either too coarse for
//! the small ones or too fine for the large ones. Particles are bucketed into size classes
//! (radius ratio ≤ 2 within a class); each class has its own grid sized for its own pairs.
//! A particle of class a searches the grids of classes b ≥ a with the cutoff of (a, b), so
//! every pair is found once. Pairs are stored per owner (CSR) with a reverse index, so the
//! force loop can accumulate without atomics and in an order that does not depend on the
//! thread count. Separations are recomputed with the minimum image at every step.

mod moved;
mod stored;

use rayon::prelude::*;

use moved::AffineMap;
pub(crate) use moved::MoveTest;

use crate::sim::forcefield::{swapped, History, ReachTable, NO_HISTORY};
use crate::sim::particles::{permute, Particles};
use crate::sim::simbox::{ImageMap, ImageShifts, SimBox};
use crate::sim::team;

/// Owners per parallel work item of a build (the list does not depend on it).
const BUILD_BLOCK: usize = 128;
/// Particles per parallel work item of the rebuild test: a few thousand particles (the
/// NPT stage's 3945, tested every step) still split among threads.
const MOVE_CHUNK: usize = 1024;
/// Fewest owner blocks the force loop splits a system into, above the 128-owner floor.
const MIN_OWNER_BLOCKS: usize = 4;
/// Owners per block: at least this many (a smaller system is one block) …
const OWNER_BLOCK_FLOOR: usize = 128;
/// … and at most this many.
const OWNER_BLOCK_CAP: usize = 4096;

/// Owners per parallel work item of the force loop for `n` particles: as few blocks as
/// leaves [`MIN_OWNER_BLOCKS`] of at least 128 owners and none above 4096, their number
/// rounded up to a multiple of 4 (or one block), of equal size (within one owner per block).
///
/// A pair whose partner lies in its owner's block adds the partner's side in place; any
/// other goes through pass 2 (56 bytes written, read back and applied). In the row order of
/// the spatial sort, 65 % of the thick slurry's pairs in range leave a 128-owner block and
/// 17 % a 1024-owner one. Larger blocks leave fewer work items to share among threads;
/// equal ones in a multiple of 4 share them evenly among 2 or 4 threads (the 3945-particle
/// NPT stage had 9: 12 took its 2-thread force phase from 0.28–0.32 to 0.26–0.28 s). At
/// least 4 blocks of up to 4096 owners instead of at least 8 of up to 1024 (thick: 4 blocks
/// instead of 12) sped thick up by 3.7 % on one thread and the 1,000,000-sphere gas by 5–15
/// %, and cost nothing on two (`docs/performance.md`, 2026-12-07); the price is that below
/// 16,384 particles more than 4 threads find no more work to share. The size depends on `n`
/// only, so neither the split nor the order of any sum depends on the number of threads.
pub fn owner_block(n: usize) -> usize {
    let blocks = n
        .div_ceil(OWNER_BLOCK_FLOOR)
        .min(MIN_OWNER_BLOCKS)
        .max(n.div_ceil(OWNER_BLOCK_CAP));
    let blocks = match blocks {
        0 | 1 => 1,
        b => b.next_multiple_of(OWNER_BLOCKS_STEP),
    };
    n.div_ceil(blocks).max(1)
}

/// The number of owner blocks, when more than one, is a multiple of this.
const OWNER_BLOCKS_STEP: usize = 4;

/// The largest number of size classes; beyond it neighbouring classes merge.
const MAX_CLASSES: usize = 6;

/// Serialized as the build's positions and box and the held histories (see `stored.rs`).
#[derive(Debug, Clone, Default)]
pub struct NeighborList {
    /// Extra distance beyond the interaction range [µm].
    pub skin: f64,
    /// Pairs of owner i are `offsets[i]..offsets[i + 1]`.
    pub offsets: Vec<usize>,
    /// Partner j of each pair (per owner, those in range at the build first).
    pub partner: Vec<u32>,
    /// Owner i of each pair (the inverse of `offsets`; rebuilt, not stored).
    pub owner: Vec<u32>,
    /// Periodic image of j each pair uses ([`ImageMap::code`]), fixed until the next build.
    pub image: Vec<u8>,
    /// Whether `image` holds for the whole life of the list: every image of a partner that
    /// can come within range has its own pair (one where the box is at least twice
    /// (range + skin) wide along every periodic axis). Otherwise the force loop takes the
    /// minimum image every step.
    pub fixed_images: bool,
    /// Squared interaction range of each pair at the build [µm²], rounded up to f32: a
    /// cheap first test in the force loop (the styles test their exact ranges).
    pub range_sq: Vec<f32>,
    /// Shear history of each pair, oriented along x_owner − x_partner.
    pub history: Vec<History>,
    /// Whether `history` of the pair may be non-zero (false: it is all zero bits). Most
    /// pairs are not in contact, so the force loop reads this byte, not 32 bytes of history.
    pub held: Vec<bool>,
    x_build: Vec<[f64; 3]>,
    box_build: Option<SimBox>,
    /// Largest interaction range of any pair present [µm].
    pub max_range: f64,
    /// Number of builds so far.
    pub builds: u64,
    /// Size classes in the last build.
    pub classes: usize,
    /// Read from a checkpoint and not yet rebuilt ([`NeighborList::rebuild_stored`]).
    pending: Option<stored::Pending>,
}

struct Class {
    members: Vec<usize>,
    rmax: f64,
    types: Vec<u32>,
}

struct Grid {
    n: [usize; 3],
    /// Particles of cell c are `cell_items[cell_start[c]..cell_start[c + 1]]`.
    cell_start: Vec<usize>,
    cell_items: Vec<u32>,
}

impl Grid {
    /// The cell of fractional coordinates `s`, clamped into the grid. A cast, not `floor`
    /// (a library call on baseline x86-64): the two agree for every non-negative value, and
    /// negative ones are clamped to 0 either way.
    fn cell_of(n: [usize; 3], s: [f64; 3]) -> [usize; 3] {
        let mut c = [0; 3];
        for k in 0..3 {
            let v = s[k] * n[k] as f64;
            c[k] = if v < 0.0 { 0 } else { (v as usize).min(n[k] - 1) };
        }
        c
    }

    /// The grid of `members`, which must come in index order: each cell then lists its
    /// own in index order too (the pair search relies on it).
    fn build(n: [usize; 3], members: &[usize], frac: &[[f64; 3]]) -> Grid {
        assert!(members.is_sorted(), "grid members in index order");
        let ncell = n[0] * n[1] * n[2];
        let cells: Vec<usize> = members
            .iter()
            .map(|&k| {
                let c = Self::cell_of(n, frac[k]);
                (c[2] * n[1] + c[1]) * n[0] + c[0]
            })
            .collect();
        let mut cell_start = vec![0usize; ncell + 1];
        for &c in &cells {
            cell_start[c + 1] += 1;
        }
        for c in 0..ncell {
            cell_start[c + 1] += cell_start[c];
        }
        let mut fill = cell_start.clone();
        let mut cell_items = vec![0u32; members.len()];
        for (m, &c) in cells.iter().enumerate() {
            cell_items[fill[c]] = members[m] as u32;
            fill[c] += 1;
        }
        Grid {
            n,
            cell_start,
            cell_items,
        }
    }
}

/// The pairs one block of owners found, in pair order.
struct BlockPairs {
    partners: Vec<u32>,
    codes: Vec<u8>,
    ranges: Vec<f32>,
    /// Pairs per owner.
    counts: Vec<usize>,
}

/// (owner, partner, history) of a pair, by particle index.
type HeldPair = (u32, u32, History);

/// Held pairs per parallel work item of [`NeighborList::carry_histories`].
const CARRY_CHUNK: usize = 1024;

/// How a build may reorder the particles.
#[derive(Debug, Clone, Copy)]
pub enum Reorder<'a> {
    Keep,
    /// Sort along a grid for memory locality.
    Spatial,
    /// New index n holds old particle `perm[n]`.
    Given(&'a [usize]),
}

/// Cell indices along one axis within `m` cells of `c`, each once, into `out`, with the
/// number of periods the cell lies across the boundary (−1, 0 or 1; [`WHOLE_AXIS`] where
/// the stencil spans the whole periodic axis and the image must be found per pair).
fn stencil_axis(c: usize, m: usize, n: usize, periodic: bool, out: &mut Vec<(usize, i8)>) {
    out.clear();
    if periodic {
        if 2 * m + 1 >= n {
            out.extend((0..n).map(|cell| (cell, WHOLE_AXIS)));
        } else {
            out.extend((0..=2 * m).map(|o| {
                let raw = (c + o) as isize - m as isize;
                let wrap = if raw < 0 { -1 } else { i8::from(raw >= n as isize) };
                ((c + n + o - m) % n, wrap)
            }));
        }
    } else {
        out.extend((c.saturating_sub(m)..=(c + m).min(n - 1)).map(|cell| (cell, 0)));
    }
}

/// What [`search_block`] reads: the particles, the class grids and the bounds of each class
/// pair ([`NeighborList::list_pairs`]).
struct PairSearch<'a> {
    p: &'a Particles,
    x: &'a [[f64; 3]],
    frac: &'a [[f64; 3]],
    periodic: [bool; 3],
    reach: &'a ReachTable,
    grids: &'a [Grid],
    class_of: &'a [usize],
    /// Per class pair: squared cutoff bound and stencil half-width in cells per axis.
    spans: &'a [(f64, [usize; 3])],
    nc: usize,
    skin: f64,
    image: &'a ImageMap,
    shifts: &'a ImageShifts,
    /// List every image of a partner within reach, not only the nearest: some periodic
    /// width is below twice the reach ([`NeighborList::list_pairs`]).
    every_image: bool,
}

/// Files the pair with partner j through image `code`, `rsq` µm² apart, whose interaction
/// range is `range` [µm]: in range into the owner's lists, within the skin only into
/// `beyond`, which follows them. A macro, so that the search's candidate loop keeps its
/// lists in registers (as a method on them, the gas's build took 9 % longer).
macro_rules! file_pair {
    (($partners:ident, $codes:ident, $ranges:ident), $beyond:ident, ($j:expr, $code:expr), $rsq:expr, ($range:expr, $skin:expr)) => {{
        let (range, rsq) = ($range, $rsq);
        let rc = range + $skin;
        if rsq < range * range {
            $partners.push($j as u32);
            $codes.push($code);
            $ranges.push(range_sq_bound(range));
        } else if rsq < rc * rc {
            $beyond.push(($j as u32, $code, range_sq_bound(range)));
        }
    }};
}

crate::multiversioned! {
    /// The pairs of one build block of owners, in pair order. Built for the processor's
    /// vector level: at baseline its candidate loop kept most values on the stack.
    fn search_block(search: &PairSearch<'_>, blk: usize) -> BlockPairs {
        let PairSearch { p, x, frac, periodic, reach, grids, class_of, spans, nc, skin, image, shifts, every_image } = *search;
        let n = p.len();
        let mut partners = Vec::new();
        let mut codes = Vec::new();
        let mut ranges = Vec::new();
        let mut counts = Vec::with_capacity(BUILD_BLOCK);
        let mut stencil: [Vec<(usize, i8)>; 3] = Default::default();
        let mut runs = Vec::new();
        // Each owner lists its pairs in range at the build first and those only
        // within the skin after. A third of the slurry's listed pairs are out of
        // range, in no order, and the force loop's range branch mispredicted about as
        // often; in this order it mostly mispredicts once per owner, as long as pairs
        // stay on their side of the range (thick force phase 4.5-4.7 -> 3.85-3.9 s).
        let mut beyond: Vec<(u32, u8, f32)> = Vec::new();
        let mut images = Vec::new();
        for i in blk * BUILD_BLOCK..((blk + 1) * BUILD_BLOCK).min(n) {
            let before = partners.len();
            let a = class_of[i];
            let (xi, ri, ti) = (x[i], p.radius[i], p.kind[i]);
            for (b, grid) in grids.iter().enumerate().skip(a) {
                let c = Grid::cell_of(grid.n, frac[i]);
                let (reach_ab_sq, m) = spans[a * nc + b];
                for k in 0..3 {
                    stencil_axis(c[k], m[k], grid.n[k], periodic[k], &mut stencil[k]);
                }
                // Sparse grids (the gas: 1.3 spheres a cell) scan each run of a row's
                // cells as one slice; denser ones (the slurry's classes) cell by cell,
                // from past the owner (a cell lists its members in index order).
                let join = grid.cell_items.len() < JOIN_BELOW * (grid.cell_start.len() - 1);
                x_runs(&stencil[0], join, &mut runs);
                // Per stencil row, its share of the image code (`code_part`).
                for &(cz, wz) in &stencil[2] {
                    let code_z = code_part(wz, 9);
                    for &(cy, wy) in &stencil[1] {
                        let code_zy = code_z.zip(code_part(wy, 3)).map(|(z, y)| z + y);
                        let row = (cz * grid.n[1] + cy) * grid.n[0];
                        for &(x0, x1, wx) in &runs {
                            // Cells across the boundary hold their particles' images
                            // one period away: their shift is the cells', as the
                            // force loop applies it.
                            // (None where the stencil spans a whole axis.)
                            let known = code_zy
                                .zip(code_part(wx, 1))
                                .map(|(zy, xp)| (zy + xp, shifts.shift[(zy + xp) as usize]));
                            let items = &grid.cell_items[grid.cell_start[row + x0]..grid.cell_start[row + x1 + 1]];
                            let from = if b == a && !join { items.partition_point(|&j| j as usize <= i) } else { 0 };
                            let items = &items[from..];
                            if known.is_none() && every_image {
                                image_codes([wx, wy, wz], &mut images);
                                let candidates = items.iter().map(|&j| j as usize).filter(|&j| b != a || j > i);
                                let found = (&mut partners, &mut codes, &mut ranges);
                                every_image_pairs(search, i, candidates, (&images, reach_ab_sq), found, &mut beyond);
                                continue;
                            }
                            for &j in items {
                                let j = j as usize;
                                if b == a && j <= i {
                                    continue;
                                }
                                let xj = x[j];
                                let (d, code) = match known {
                                    Some((code, s)) => (
                                        [xi[0] - xj[0] - s[0], xi[1] - xj[1] - s[1], xi[2] - xj[2] - s[2]],
                                        code,
                                    ),
                                    None => {
                                        let (d, count) =
                                            image.apply_counted([xi[0] - xj[0], xi[1] - xj[1], xi[2] - xj[2]]);
                                        (d, ImageMap::code(count).unwrap_or(u8::MAX))
                                    }
                                };
                                let rsq = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                                // Most candidates lie beyond the classes' bound: spare
                                // them the pair's own range.
                                if rsq >= reach_ab_sq {
                                    continue;
                                }
                                let range = reach.get(ti, p.kind[j]).range(ri, p.radius[j]);
                                file_pair!((partners, codes, ranges), beyond, (j, code), rsq, (range, skin));
                            }
                        }
                    }
                }
            }
            for (j, code, range) in beyond.drain(..) {
                partners.push(j);
                codes.push(code);
                ranges.push(range);
            }
            counts.push(partners.len() - before);
        }
        BlockPairs {
            partners,
            codes,
            ranges,
            counts,
        }
    }
}

/// [`search_block`]'s pairs of owner i with `partners` (of one stencil run spanning some
/// periodic axis whole, in a box narrower than twice the reach) through every image of
/// `codes` within the class pair's squared reach: the nearest first, as a contact is the
/// nearest and carried histories go to a pair's first slot. Out of line, so that the usual
/// candidate loop keeps its registers.
#[inline(never)]
fn every_image_pairs(
    search: &PairSearch<'_>,
    i: usize,
    candidates: impl Iterator<Item = usize>,
    (images, reach_sq): (&[u8], f64),
    (partners, codes, ranges): (&mut Vec<u32>, &mut Vec<u8>, &mut Vec<f32>),
    beyond: &mut Vec<(u32, u8, f32)>,
) {
    let PairSearch {
        p,
        x,
        reach,
        skin,
        shifts,
        ..
    } = *search;
    let (xi, ri, ti) = (x[i], p.radius[i], p.kind[i]);
    let mut near: Vec<(f64, u8)> = Vec::with_capacity(images.len());
    for j in candidates {
        let xj = x[j];
        near.clear();
        for &code in images {
            let s = shifts.shift[code as usize];
            let d = [xi[0] - xj[0] - s[0], xi[1] - xj[1] - s[1], xi[2] - xj[2] - s[2]];
            let rsq = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
            if rsq < reach_sq {
                near.push((rsq, code));
            }
        }
        near.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let range = reach.get(ti, p.kind[j]).range(ri, p.radius[j]);
        for &(rsq, code) in &near {
            file_pair!((partners, codes, ranges), beyond, (j, code), rsq, (range, skin));
        }
    }
}

/// See [`stencil_axis`].
const WHOLE_AXIS: i8 = i8::MIN;

/// The image codes ([`ImageMap::code`]) of a stencil cell with these wraps along x, y, z:
/// one, or all three wraps along an axis the stencil spans whole.
fn image_codes(wraps: [i8; 3], out: &mut Vec<u8>) {
    let along = |w: i8| if w == WHOLE_AXIS { -1..=1 } else { w..=w };
    out.clear();
    for z in along(wraps[2]) {
        for y in along(wraps[1]) {
            for x in along(wraps[0]) {
                out.push(ImageMap::code([x, y, z].map(f64::from)).expect("within one period"));
            }
        }
    }
}

/// Mean members per cell below which the pair search joins a row's cells (see [`x_runs`]).
const JOIN_BELOW: usize = 4;

/// The x stencil as runs (first cell, last cell, wrap), in stencil order; with `join`, of
/// consecutive cells with the same wrap, else one per cell. A run's members are one slice
/// of the grid's items, so that a sparse grid's search loops once per run of a row, not
/// once per cell (the gas's cells hold one or two spheres, and each short loop ended in a
/// mispredicted branch).
fn x_runs(stencil: &[(usize, i8)], join: bool, out: &mut Vec<(usize, usize, i8)>) {
    out.clear();
    for &(c, w) in stencil {
        match out.last_mut() {
            Some(last) if join && last.1 + 1 == c && last.2 == w => last.1 = c,
            _ => out.push((c, c, w)),
        }
    }
}

/// An axis's share of [`ImageMap::code`] for a stencil cell `wrap` periods away along it
/// (`scale` 1, 3, 9 for x, y, z); `None` where the stencil spans the whole axis. Integer
/// sums per row, where the code of each cell cost a float fold per cell.
fn code_part(wrap: i8, scale: u8) -> Option<u8> {
    (wrap != WHOLE_AXIS).then(|| scale * (wrap + 1) as u8)
}

/// Grid dimensions for cells at least `cell` wide, capped so that empty space stays cheap.
fn grid_dims(widths: [f64; 3], cell: f64, members: usize) -> [usize; 3] {
    let mut n = [1usize; 3];
    for k in 0..3 {
        n[k] = ((widths[k] / cell).floor() as usize).max(1);
    }
    let cap = 4 * members + 64;
    while n[0] * n[1] * n[2] > cap {
        for v in &mut n {
            *v = (*v).div_ceil(2);
        }
    }
    n
}

impl NeighborList {
    pub fn new(skin: f64) -> Self {
        NeighborList {
            skin,
            ..Default::default()
        }
    }

    /// How far the list reaches: the largest interaction range plus the skin [µm].
    pub fn reach(&self) -> f64 {
        self.max_range + self.skin
    }

    pub fn n_pairs(&self) -> usize {
        self.partner.len()
    }

    /// Lends out the histories and their flags, so that a force pass can write them
    /// while it reads the rest of the list; [`NeighborList::put_histories_back`] returns them.
    pub fn take_histories_out(&mut self) -> (Vec<History>, Vec<bool>) {
        (std::mem::take(&mut self.history), std::mem::take(&mut self.held))
    }

    pub fn put_histories_back(&mut self, history: Vec<History>, held: Vec<bool>) {
        (self.history, self.held) = (history, held);
    }

    /// Pairs owned by particle i.
    #[inline]
    pub fn pairs_of(&self, i: usize) -> std::ops::Range<usize> {
        self.offsets[i]..self.offsets[i + 1]
    }

    /// Whether some pair may have come within range since the last build.
    ///
    /// A pair's separation r = H s (H the cell vectors, s the fractional separation) moves
    /// by (H₁ − H₀) s₁ + H₀ H₁⁻¹ (u_i − u_j), with u the displacement from where the box
    /// deformation alone would have carried each particle (x_build mapped through its
    /// fractional coordinates into the present box). The first term is at most the box
    /// drift of a pair within reach; the second at most 2 max|u| (1 + Σ_k |ΔH_k| / w_k).
    /// Rebuild when their sum exceeds the skin. Measuring u rather than the plain
    /// displacement matters under a barostat or a shear: the affine motion grows with the
    /// distance from the box origin and is no relative motion of neighbours.
    pub fn needs_rebuild(&self, x: &[[f64; 3]], simbox: &SimBox) -> bool {
        self.check(x, simbox).0
    }

    /// [`NeighborList::needs_rebuild`], and where the box is the one of the build, the
    /// largest displacement since the build [µm].
    pub fn check(&self, x: &[[f64; 3]], simbox: &SimBox) -> (bool, Option<f64>) {
        let test = self.move_test(x.len(), simbox);
        if test == MoveTest::Rebuild {
            return (true, None);
        }
        let pieces: Vec<_> = x.chunks(MOVE_CHUNK).zip(self.x_build.chunks(MOVE_CHUNK)).collect();
        let largest_sq = team::map_items(pieces, || (), |_, (xs, bs)| test.largest_sq(xs, bs))
            .into_iter()
            .fold(0.0, f64::max);
        test.verdict(largest_sq)
    }

    /// The build positions, one per particle (empty before the first build).
    pub(crate) fn build_positions(&self) -> &[[f64; 3]] {
        &self.x_build
    }

    /// The test of [`NeighborList::needs_rebuild`] for `n` particles in `simbox`, to take
    /// over pieces of the particles ([`MoveTest::largest_sq`]) where a pass that moved them
    /// still has them in the cache.
    pub(crate) fn move_test(&self, n: usize, simbox: &SimBox) -> MoveTest {
        let Some(b0) = &self.box_build else {
            return MoveTest::Rebuild;
        };
        if self.x_build.len() != n || basis_jumped(b0, simbox) {
            return MoveTest::Rebuild;
        }
        if b0 == simbox {
            // The common case of a fixed box, without the map's arithmetic (10 % of a step
            // of the granular gas benchmark).
            return MoveTest::Fixed { limit: 0.5 * self.skin };
        }
        // The deformation is affine, x ↦ lo₁ + M (x − lo₀), with M's columns the images of
        // the unit steps: no divisions per particle.
        let (lo0, lo1) = (b0.lo, simbox.lo);
        let m: [[f64; 3]; 3] = std::array::from_fn(|k| {
            let mut e = lo0;
            e[k] += 1.0;
            let y = simbox.from_fractional(b0.to_fractional(e));
            [y[0] - lo1[0], y[1] - lo1[1], y[2] - lo1[2]]
        });
        // 2 max|u| stretch + drift > skin, as a bound on |u|.
        let dh = cell_changes(b0, simbox);
        let drift = box_drift(dh, b0, simbox, self.max_range + self.skin);
        let allowed = (self.skin - drift) / (2.0 * box_stretch(dh, simbox));
        if allowed < 0.0 {
            return MoveTest::Rebuild;
        }
        MoveTest::Affine {
            map: AffineMap { lo0, lo1, m },
            limit: allowed,
        }
    }

    /// Whether particles that each moved at most `travel` [µm] since the build may have
    /// come within range, without reading them: false only where the box is the build's
    /// and `travel` is below half the skin by a margin far beyond any rounding of the
    /// positions, so never where [`NeighborList::needs_rebuild`] would say true.
    pub fn may_need_rebuild(&self, travel: f64, simbox: &SimBox) -> bool {
        let limit = (0.5 - 1e-6) * self.skin;
        self.box_build.as_ref() != Some(simbox) || travel.partial_cmp(&limit) != Some(std::cmp::Ordering::Less)
    }

    /// `owner` from `offsets`.
    fn fill_owners(&mut self) {
        self.owner.clear();
        for (i, w) in self.offsets.windows(2).enumerate() {
            self.owner.extend(std::iter::repeat_n(i as u32, w[1] - w[0]));
        }
    }

    /// Wraps particles into the box, reorders them, and rebuilds the list, carrying each shear
    /// history over to its particle pair. Particles must only be reordered through here
    /// ([`NeighborList::carry_histories`] relies on it).
    /// Returns the permutation applied (new index n holds old `perm[n]`), if any.
    pub fn build(
        &mut self,
        p: &mut Particles,
        simbox: &SimBox,
        reach: &ReachTable,
        order: Reorder,
    ) -> Option<Vec<usize>> {
        let held = self.contacts(p.len());

        for k in 0..p.len() {
            let (x, img) = (&mut p.x[k], &mut p.image[k]);
            simbox.wrap(x, img);
        }
        let widths = simbox.perpendicular_widths();
        // Fractional coordinates depend on x alone: computed once, permuted with the particles.
        let mut frac: Vec<[f64; 3]> = p.x.iter().map(|&x| simbox.to_fractional(x)).collect();
        let perm = match order {
            Reorder::Keep => None,
            Reorder::Spatial => Some(spatial_order(&frac, simbox, widths)),
            Reorder::Given(perm) => Some(perm.to_vec()),
        };
        if let Some(perm) = &perm {
            p.permute(perm);
            permute(&mut frac, perm);
        }
        self.list_pairs(p, &p.x, &frac, simbox, reach);
        self.carry_histories(&held, perm.as_deref());
        self.x_build = p.x.clone();
        self.box_build = Some(*simbox);
        self.builds += 1;
        perm
    }

    /// The pairs of particles at `x` (fractional coordinates `frac`) in `simbox`, with the
    /// radii and types of `p`, in list order; everything of the list but its histories.
    fn list_pairs(&mut self, p: &Particles, x: &[[f64; 3]], frac: &[[f64; 3]], simbox: &SimBox, reach: &ReachTable) {
        let widths = simbox.perpendicular_widths();
        let classes = make_classes(p);
        let nc = classes.len();
        // Cutoff (range + skin) bound for every class pair.
        let mut cut = vec![0.0f64; nc * nc];
        for a in 0..nc {
            for b in 0..nc {
                let mut c: f64 = 0.0;
                for &ta in &classes[a].types {
                    for &tb in &classes[b].types {
                        c = c.max(reach.get(ta, tb).range(classes[a].rmax, classes[b].rmax));
                    }
                }
                cut[a * nc + b] = c;
            }
        }
        self.max_range = (0..nc).map(|a| cut[a * nc + a]).fold(0.0, f64::max);
        // Narrower than twice the reach, a partner may be in reach through two images (the
        // dense end of an NPT run): then each is listed, with its own image fixed. A particle
        // never reaches its own image ([`crate::sim::system::System::limit_shrink`]).
        let narrow = (0..3).any(|k| simbox.periodic[k] && widths[k] < 2.0 * self.reach());
        let grids: Vec<Grid> = (0..nc)
            .map(|b| {
                let n = grid_dims(widths, cut[b * nc + b] + self.skin, classes[b].members.len());
                Grid::build(n, &classes[b].members, frac)
            })
            .collect();
        let mut class_of = vec![0usize; p.len()];
        for (a, c) in classes.iter().enumerate() {
            for &k in &c.members {
                class_of[k] = a;
            }
        }

        let skin = self.skin;
        // Per class pair: squared cutoff bound and stencil half-width in cells per axis.
        let spans: Vec<(f64, [usize; 3])> = (0..nc * nc)
            .map(|ab| {
                let reach = cut[ab] + skin;
                let grid = &grids[ab % nc];
                (
                    reach * reach,
                    std::array::from_fn(|k| (reach * grid.n[k] as f64 / widths[k]).ceil() as usize),
                )
            })
            .collect();
        let n = p.len();
        let image = simbox.image_map();
        let shifts = image.shifts();
        let search = PairSearch {
            p,
            x,
            frac,
            periodic: simbox.periodic,
            reach,
            grids: &grids,
            class_of: &class_of,
            spans: &spans,
            nc,
            skin,
            image: &image,
            shifts: &shifts,
            every_image: narrow,
        };
        let blocks: Vec<BlockPairs> = (0..n.div_ceil(BUILD_BLOCK))
            .into_par_iter()
            .map(|blk| search_block(&search, blk))
            .collect();

        self.offsets.clear();
        self.offsets.push(0);
        self.partner.clear();
        self.image.clear();
        self.range_sq.clear();
        for BlockPairs {
            partners,
            codes,
            ranges,
            counts,
        } in blocks
        {
            for c in counts {
                let last = *self.offsets.last().expect("starts with 0");
                self.offsets.push(last + c);
            }
            self.partner.extend_from_slice(&partners);
            self.image.extend_from_slice(&codes);
            self.range_sq.extend_from_slice(&ranges);
        }
        self.fill_owners();
        // Listing every image within reach fixes each pair's for the life of the list, as a
        // box at least twice the reach wide does.
        self.fixed_images = self.image.iter().all(|&c| c != u8::MAX);
        self.classes = nc;
    }

    /// The pairs with a non-zero history, as (owner, partner, history), for the build that
    /// replaces the list ([`NeighborList::carry_histories`]); none for a list without
    /// histories for `n` particles (they are not carried across a change in the count).
    fn contacts(&self, n: usize) -> Vec<HeldPair> {
        let whole = self.history.len() == self.partner.len() && self.held.len() == self.partner.len();
        if !whole || self.offsets.len() != n + 1 {
            return Vec::new();
        }
        let blocks: Vec<Vec<HeldPair>> = (0..n.div_ceil(BUILD_BLOCK))
            .into_par_iter()
            .map(|blk| {
                let mut held = Vec::new();
                for i in blk * BUILD_BLOCK..((blk + 1) * BUILD_BLOCK).min(n) {
                    for pair in self.pairs_of(i) {
                        if self.held[pair] && self.history[pair] != NO_HISTORY {
                            held.push((i as u32, self.partner[pair], self.history[pair]));
                        }
                    }
                }
                held
            })
            .collect();
        blocks.concat()
    }

    /// Puts each history of `held` (by particle index before the build's reordering `perm`,
    /// where new index n holds old `perm[n]`) on the list's pair of the same two particles,
    /// turned round where the other one now owns it, and marks it held; the other pairs get
    /// none. Particles are reordered only at builds, so an index names the same particle
    /// from one build to the next (and in a checkpoint): no map by particle id is needed.
    fn carry_histories(&mut self, held: &[HeldPair], perm: Option<&[usize]>) {
        let pairs = self.partner.len();
        self.history.clear();
        self.history.resize(pairs, NO_HISTORY);
        self.held.clear();
        self.held.resize(pairs, false);
        if held.is_empty() {
            return;
        }
        let new_index: Option<Vec<u32>> = perm.map(|perm| {
            let mut inv = vec![0u32; perm.len()];
            for (new, &old) in perm.iter().enumerate() {
                inv[old] = new as u32;
            }
            inv
        });
        let renamed = |k: u32| new_index.as_ref().map_or(k, |inv| inv[k as usize]) as usize;
        let slot_of =
            |owner: usize, partner: usize| self.pairs_of(owner).find(|&s| self.partner[s] as usize == partner);
        let found: Vec<Option<(usize, History)>> = held
            .par_iter()
            .with_min_len(CARRY_CHUNK)
            .map(|&(i, j, h)| {
                let (a, b) = (renamed(i), renamed(j));
                match slot_of(a, b) {
                    Some(slot) => Some((slot, h)),
                    None => slot_of(b, a).map(|slot| (slot, swapped(&h))),
                }
            })
            .collect();
        for (slot, h) in found.into_iter().flatten() {
            self.history[slot] = h;
            self.held[slot] = true;
        }
    }

    /// Shear history of the pair of particles with ids `a`, `b`, oriented from a to b.
    pub fn history_between(&self, p: &Particles, a: u64, b: u64) -> Option<History> {
        for i in 0..p.len() {
            if p.id[i] != a && p.id[i] != b {
                continue;
            }
            for pair in self.pairs_of(i) {
                let other = p.id[self.partner[pair] as usize];
                if (p.id[i], other) == (a, b) {
                    return Some(self.history[pair]);
                }
                if (p.id[i], other) == (b, a) {
                    let h = self.history[pair];
                    return Some(swapped(&h));
                }
            }
        }
        None
    }
}

/// Bound on how much a box change moved the separation of any pair within `reach`:
/// Σ_k |Δ(cell vector k)|·|Δs_k| with |Δs_k| ≤ reach / (face width k), at most one period.
/// `dh` = [`cell_changes`] from `b0` to `b1`.
fn box_drift(dh: [f64; 3], b0: &SimBox, b1: &SimBox, reach: f64) -> f64 {
    let (w0, w1) = (b0.perpendicular_widths(), b1.perpendicular_widths());
    (0..3).map(|k| dh[k] * (reach / w0[k].min(w1[k])).min(1.0)).sum()
}

/// 1 + Σ_k |ΔH_k| / w_k (present widths): a bound on |H₀ H₁⁻¹ v| / |v|, since the rows of
/// H₁⁻¹ have lengths 1 / w_k; `dh` = [`cell_changes`] to the present box `b1`.
fn box_stretch(dh: [f64; 3], b1: &SimBox) -> f64 {
    let w1 = b1.perpendicular_widths();
    1.0 + (0..3).map(|k| dh[k] / w1[k]).sum::<f64>()
}

/// |Δ(cell vector k)| from `b0` to `b1` [µm].
fn cell_changes(b0: &SimBox, b1: &SimBox) -> [f64; 3] {
    let (l0, l1) = (b0.lengths(), b1.lengths());
    let norm = |v: [f64; 3]| (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    [
        norm([l1[0] - l0[0], 0.0, 0.0]),
        norm([b1.tilt[0] - b0.tilt[0], l1[1] - l0[1], 0.0]),
        norm([b1.tilt[1] - b0.tilt[1], b1.tilt[2] - b0.tilt[2], l1[2] - l0[2]]),
    ]
}

/// The smallest f32 not below range² (a first test that never drops a pair in range).
fn range_sq_bound(range: f64) -> f32 {
    let v = range * range;
    let f = v as f32;
    if (f as f64) < v {
        f.next_up()
    } else {
        f
    }
}

/// Whether the box changed lattice basis (a Lees–Edwards flip): a tilt moved by half the
/// edge it tilts along or more. Image codes of the old basis no longer apply.
fn basis_jumped(b0: &SimBox, b1: &SimBox) -> bool {
    let l = b1.lengths();
    let edge = [l[0], l[0], l[1]];
    (0..3).any(|k| (b1.tilt[k] - b0.tilt[k]).abs() >= 0.5 * edge[k])
}

/// Size classes: radii within a factor 2 share a class.
fn make_classes(p: &Particles) -> Vec<Class> {
    if p.is_empty() {
        return Vec::new();
    }
    let rmin = p.radius.iter().copied().fold(f64::MAX, f64::min);
    let bucket = |r: f64| ((r / rmin).log2().floor().max(0.0) as usize).min(MAX_CLASSES - 1);
    let mut classes: Vec<Class> = (0..MAX_CLASSES)
        .map(|_| Class {
            members: Vec::new(),
            rmax: 0.0,
            types: Vec::new(),
        })
        .collect();
    for k in 0..p.len() {
        let c = &mut classes[bucket(p.radius[k])];
        c.members.push(k);
        c.rmax = c.rmax.max(p.radius[k]);
        if !c.types.contains(&p.kind[k]) {
            c.types.push(p.kind[k]);
        }
    }
    classes.retain(|c| !c.members.is_empty());
    classes
}

/// An order along a grid of cells holding a few particles each, so that neighbours sit
/// close in memory.
fn spatial_order(frac: &[[f64; 3]], simbox: &SimBox, widths: [f64; 3]) -> Vec<usize> {
    let n = frac.len();
    if n < 2 {
        return (0..n).collect();
    }
    let cell = (simbox.volume() / n as f64 * 8.0).cbrt();
    let dims = grid_dims(widths, cell, n);
    let members: Vec<usize> = (0..n).collect();
    // By cell, then by index: the grid's own bucket order.
    Grid::build(dims, &members, frac)
        .cell_items
        .into_iter()
        .map(|k| k as usize)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_runs_join_consecutive_cells_of_one_period() {
        let mut out = Vec::new();
        x_runs(&[(4, -1), (0, 0), (1, 0)], true, &mut out);
        assert_eq!(out, [(4, 4, -1), (0, 1, 0)]);
        x_runs(&[(3, 0), (4, 0), (0, 1)], true, &mut out);
        assert_eq!(out, [(3, 4, 0), (0, 0, 1)]);
        x_runs(&[(0, WHOLE_AXIS), (1, WHOLE_AXIS), (2, WHOLE_AXIS)], true, &mut out);
        assert_eq!(out, [(0, 2, WHOLE_AXIS)]);
        x_runs(&[(2, 0), (3, 0), (4, 0)], true, &mut out);
        assert_eq!(out, [(2, 4, 0)]);
        x_runs(&[(2, 0), (3, 0), (4, 0)], false, &mut out);
        assert_eq!(out, [(2, 2, 0), (3, 3, 0), (4, 4, 0)]);
    }

    #[test]
    fn code_parts_add_up_to_the_image_code() {
        let wraps = [-1i8, 0, 1, WHOLE_AXIS];
        for wx in wraps {
            for wy in wraps {
                for wz in wraps {
                    let parts = code_part(wz, 9).zip(code_part(wy, 3)).map(|(z, y)| z + y);
                    let sum = parts.zip(code_part(wx, 1)).map(|(zy, x)| zy + x);
                    assert_eq!(sum, ImageMap::code([wx, wy, wz].map(f64::from)), "{wx} {wy} {wz}");
                }
            }
        }
    }

    #[test]
    fn stencil_cells_across_a_periodic_boundary_carry_their_period() {
        let mut out = Vec::new();
        stencil_axis(0, 1, 5, true, &mut out);
        assert_eq!(out, [(4, -1), (0, 0), (1, 0)]);
        stencil_axis(4, 2, 6, true, &mut out);
        assert_eq!(out, [(2, 0), (3, 0), (4, 0), (5, 0), (0, 1)]);
        stencil_axis(1, 1, 3, true, &mut out);
        assert_eq!(out, [(0, WHOLE_AXIS), (1, WHOLE_AXIS), (2, WHOLE_AXIS)]);
        stencil_axis(0, 1, 5, false, &mut out);
        assert_eq!(out, [(0, 0), (1, 0)]);
    }

    #[test]
    fn owner_blocks_grow_with_the_system_and_leave_work_to_share() {
        // Systems up to 512 particles keep blocks of at most 128, the slurries get 4 larger
        // ones, systems past 16,384 particles blocks of at most 4096.
        assert_eq!(
            [0, 100, 476, 1000, 3945, 9859, 19_683, 1 << 20].map(owner_block),
            [1, 100, 119, 250, 987, 2465, 2461, 4096]
        );
        for n in (1..40_000).step_by(37).chain([1 << 20, 1_000_003]) {
            let b = owner_block(n);
            let blocks = n.div_ceil(b);
            assert!((1..=OWNER_BLOCK_CAP).contains(&b), "{n}: {b}");
            assert!(n <= 512 || b > 128, "{n}: {b}");
            assert!(n <= 512 || blocks >= MIN_OWNER_BLOCKS, "{n}: {b}");
            assert!(blocks == 1 || blocks % OWNER_BLOCKS_STEP == 0, "{n}: {b}");
            // The last block is short by less than one owner per block.
            assert!(n - (blocks - 1) * b + blocks >= b, "{n}: {b}");
        }
    }
}
