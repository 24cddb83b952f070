//! Pairs in structure-of-arrays lanes, so that interaction laws run as vector loops.
//!
//! The force loop fills a [`PairBatch`] with in-range pairs in pair order, every style adds
//! its part with [`PairStyle::compute_batch`](super::PairStyle::compute_batch), and the loop
//! then sums the lanes in the same order. Lanes have a fixed length so that the compiler
//! knows the arrays apart and vectorizes without run-time overlap checks.

use super::{History, PairContext, PairInput, PairOut};

/// Pairs per batch.
pub const LANES: usize = 64;

/// One value per lane.
pub type Lane = [f64; LANES];

/// `x` where `keep`, else +0.0: the addend of a lane that may not take part. Adding +0.0
/// leaves every sum's bits as they were (sums start at +0.0 and only add, so none is
/// −0.0), and a plain add keeps the lane's load and store unmasked: kept as `if keep
/// { sum + x } else { sum }`, the compiler stored through a mask, slow on AVX2 hosts.
#[inline(always)]
pub fn kept(keep: bool, x: f64) -> f64 {
    if keep {
        x
    } else {
        0.0
    }
}

/// What the force loop knows of a pair when it adds it to a batch.
#[derive(Debug, Clone, Copy)]
pub struct LaneInput {
    pub i: usize,
    pub j: usize,
    /// Where the pair's history lives in the caller's storage.
    pub slot: usize,
    /// x_i − x_j, minimum image [µm].
    pub del: [f64; 3],
    pub rsq: f64,
    /// x velocity of j's image relative to j [µm/µs].
    pub dvx: f64,
    /// Radii [µm].
    pub ri: f64,
    pub rj: f64,
}

/// Up to [`LANES`] pairs: inputs, shear histories (updated in place) and outputs.
#[derive(Debug, Clone)]
pub struct PairBatch {
    /// Lanes in use (the rest hold stale values and are ignored).
    pub len: usize,
    pub i: [u32; LANES],
    pub j: [u32; LANES],
    /// Where each lane's history lives in the caller's storage.
    pub slot: [u32; LANES],
    /// x_i − x_j, minimum image [µm].
    pub del: [Lane; 3],
    pub rsq: Lane,
    /// |del| [µm].
    pub r: Lane,
    /// x velocity of j's image relative to j (Lees–Edwards) [µm/µs].
    pub dvx: Lane,
    /// Radii of i and j [µm].
    pub ri: Lane,
    pub rj: Lane,
    /// History components (see [`History`]).
    pub hist: [Lane; 4],
    /// Force on i [nN].
    pub f: [Lane; 3],
    /// Torque term (granular convention, see [`PairOut`]) [nN].
    pub tor: [Lane; 3],
    /// Pair-potential energy [fJ].
    pub energy: Lane,
    /// Elastic energy of contacts [fJ].
    pub elastic: Lane,
    /// Whether the styles fill `energy` and `elastic`. A force pass that takes no sums
    /// leaves them out, as LAMMPS does without `eflag`: forces and torques are the same bits.
    pub energies: bool,
    /// Whether the styles also fill `f_rest` (after `f`, from the updated histories).
    pub rest: bool,
    /// Force on i with every velocity and spin zero and the histories as they now are
    /// [nN]: the conservative part of `f` (see [`super::PairStyle::add_rest_forces`]).
    pub f_rest: [Lane; 3],
}

impl Default for PairBatch {
    fn default() -> Self {
        let z = [0.0; LANES];
        PairBatch {
            len: 0,
            i: [0; LANES],
            j: [0; LANES],
            slot: [0; LANES],
            del: [z; 3],
            rsq: z,
            r: z,
            dvx: z,
            ri: z,
            rj: z,
            hist: [z; 4],
            f: [z; 3],
            tor: [z; 3],
            energy: z,
            elastic: z,
            energies: true,
            rest: false,
            f_rest: [z; 3],
        }
    }
}

impl PairBatch {
    pub fn is_full(&self) -> bool {
        self.len == LANES
    }

    /// Appends a pair; the batch must not be full.
    #[inline]
    pub fn push(&mut self, p: &LaneInput, h: &History) {
        let k = self.len;
        self.i[k] = p.i as u32;
        self.j[k] = p.j as u32;
        self.slot[k] = p.slot as u32;
        for (lane, d) in self.del.iter_mut().zip(p.del) {
            lane[k] = d;
        }
        self.rsq[k] = p.rsq;
        self.dvx[k] = p.dvx;
        self.ri[k] = p.ri;
        self.rj[k] = p.rj;
        self.set_history(k, h);
        self.len = k + 1;
    }

    /// Computes |del| and zeroes the outputs of the lanes in use (the energies if wanted,
    /// `f_rest` if asked).
    pub fn prepare(&mut self) {
        prepare_lanes(self);
    }

    /// The lane's pair as a scalar style sees it.
    pub fn input(&self, k: usize) -> PairInput {
        PairInput {
            i: self.i[k] as usize,
            j: self.j[k] as usize,
            del: [self.del[0][k], self.del[1][k], self.del[2][k]],
            rsq: self.rsq[k],
            r: self.r[k],
            dv: [self.dvx[k], 0.0, 0.0],
        }
    }

    pub fn history(&self, k: usize) -> History {
        std::array::from_fn(|a| self.hist[a][k])
    }

    pub fn set_history(&mut self, k: usize, h: &History) {
        for (lane, v) in self.hist.iter_mut().zip(h) {
            lane[k] = *v;
        }
    }

    pub fn out(&self, k: usize) -> PairOut {
        PairOut {
            f: std::array::from_fn(|a| self.f[a][k]),
            tor: std::array::from_fn(|a| self.tor[a][k]),
            energy: self.energy[k],
            elastic: self.elastic[k],
        }
    }

    pub fn set_out(&mut self, k: usize, o: &PairOut) {
        for a in 0..3 {
            self.f[a][k] = o.f[a];
            self.tor[a][k] = o.tor[a];
        }
        self.energy[k] = o.energy;
        self.elastic[k] = o.elastic;
    }

    /// Any style, one lane at a time through its scalar `compute`.
    pub fn compute_scalar<S: super::PairStyle + ?Sized>(&mut self, style: &S, ctx: &PairContext) {
        for k in 0..self.len {
            let input = self.input(k);
            let mut h = self.history(k);
            let mut out = self.out(k);
            style.compute(&input, ctx, &mut h, &mut out);
            self.set_history(k, &h);
            self.set_out(k, &out);
        }
    }
}

crate::multiversioned! {
    fn prepare_lanes(b: &mut PairBatch) {
        let n = b.len.min(LANES);
        for k in 0..n {
            b.r[k] = b.rsq[k].sqrt();
        }
        for lane in b.f.iter_mut().chain(b.tor.iter_mut()) {
            lane[..n].fill(0.0);
        }
        if b.energies {
            b.energy[..n].fill(0.0);
            b.elastic[..n].fill(0.0);
        }
        if b.rest {
            for lane in &mut b.f_rest {
                lane[..n].fill(0.0);
            }
        }
    }
}
