//! What a checkpoint keeps of a neighbour list.
//!
//! Pairs, image codes and ranges follow from where the particles stood at the last build and
//! in which box, with their present radii, types and order (particles are reordered only at
//! builds). A checkpoint stores those positions and that box, the histories that may be
//! non-zero by pair, and a fingerprint of the pairs; [`NeighborList::rebuild_stored`] lists
//! the same pairs again on restore and refuses a list that comes out different. The whole
//! list was 32 of the 35 MB of JSON per copy of the 9859-particle slurry's state.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::NeighborList;
use crate::sim::forcefield::{History, ReachTable, NO_HISTORY};
use crate::sim::particles::Particles;
use crate::sim::simbox::SimBox;

/// The stored form; `X` is the build positions, borrowed to write, owned to read.
#[derive(Serialize, Deserialize)]
struct Stored<X> {
    /// [µm]
    skin: f64,
    builds: u64,
    /// Positions at the last build [µm].
    x_build: X,
    box_build: Option<SimBox>,
    pairs: usize,
    fingerprint: u64,
    /// (pair, history) of every pair whose history may be non-zero.
    held: Vec<(u32, History)>,
}

/// A list read from a checkpoint and not yet rebuilt.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pairs: usize,
    fingerprint: u64,
    held: Vec<(u32, History)>,
}

impl Serialize for NeighborList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (pairs, fingerprint, held) = match &self.pending {
            // Read and saved again without a restore in between (a state kept for later).
            Some(p) => (p.pairs, p.fingerprint, p.held.clone()),
            None => (
                self.partner.len(),
                self.fingerprint(),
                (self.held.iter().zip(&self.history).enumerate())
                    .filter(|(_, (&held, _))| held)
                    .map(|(k, (_, &h))| (k as u32, h))
                    .collect(),
            ),
        };
        Stored {
            skin: self.skin,
            builds: self.builds,
            x_build: &self.x_build[..],
            box_build: self.box_build,
            pairs,
            fingerprint,
            held,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for NeighborList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Stored::<Vec<[f64; 3]>>::deserialize(d)?;
        Ok(NeighborList {
            skin: s.skin,
            builds: s.builds,
            x_build: s.x_build,
            box_build: s.box_build,
            pending: Some(Pending {
                pairs: s.pairs,
                fingerprint: s.fingerprint,
                held: s.held,
            }),
            ..Default::default()
        })
    }
}

impl NeighborList {
    /// Lists the pairs of a list read from a checkpoint again, as its last build did, and
    /// puts its histories back; a list not read from one is left as it is. `p`: the
    /// particles restored with it.
    pub fn rebuild_stored(&mut self, p: &Particles, reach: &ReachTable) -> Result<(), String> {
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        if let Some(simbox) = self.box_build {
            if self.x_build.len() != p.len() {
                return Err(format!(
                    "the neighbour list was built for {} particles, the state has {}",
                    self.x_build.len(),
                    p.len()
                ));
            }
            let frac: Vec<[f64; 3]> = self.x_build.iter().map(|&x| simbox.to_fractional(x)).collect();
            let x = std::mem::take(&mut self.x_build);
            self.list_pairs(p, &x, &frac, &simbox, reach);
            self.x_build = x;
        }
        let pairs = self.partner.len();
        if pairs != pending.pairs || self.fingerprint() != pending.fingerprint {
            return Err(format!(
                "the neighbour list does not rebuild as saved ({pairs} pairs against {}): \
                 the checkpoint and this build of etwin or its force field disagree",
                pending.pairs
            ));
        }
        self.history = vec![NO_HISTORY; pairs];
        self.held = vec![false; pairs];
        for (slot, h) in pending.held {
            let k = slot as usize;
            if k >= pairs {
                return Err(format!("a shear history for pair {k} of {pairs}"));
            }
            (self.history[k], self.held[k]) = (h, true);
        }
        Ok(())
    }

    /// FNV-1a over the pairs' owners, partners and image codes.
    fn fingerprint(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |v: u64| {
            for b in v.to_le_bytes() {
                h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
            }
        };
        self.offsets.iter().for_each(|&o| eat(o as u64));
        self.partner.iter().for_each(|&j| eat(j as u64));
        self.image.iter().for_each(|&c| eat(c as u64));
        h
    }
}
