//! What a checkpoint keeps of a neighbour list.
//!
//! Pairs, image codes and ranges follow from where the particles stood at the last build and
//! in which box, with their radii, types and order (particles are reordered only at builds).
//! A checkpoint stores those positions and that box and the histories that may be non-zero,
//! by particle pair; [`NeighborList::rebuild_stored`] lists the pairs again on restore and
//! puts each history back on its pair. Restoring the state as saved gives the same list, in
//! the same order; a state whose radii or force field the caller changed gets the list a
//! build at those positions would give, with the histories carried over by pair, as a
//! rebuild carries them. The whole list was 32 of the 35 MB of JSON per copy of the
//! 9859-particle slurry's state.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{HeldPair, NeighborList};
use crate::sim::forcefield::ReachTable;
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
    /// (owner, partner, history) of every pair whose history may be non-zero.
    held: Vec<HeldPair>,
}

/// A list read from a checkpoint and not yet rebuilt: its held histories.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    held: Vec<HeldPair>,
}

impl Serialize for NeighborList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let held = match &self.pending {
            // Read and saved again without a restore in between (a state kept for later).
            Some(p) => p.held.clone(),
            None => (self.held.iter().zip(&self.history).enumerate())
                .filter(|(_, (&held, _))| held)
                .map(|(k, (_, &h))| (self.owner[k], self.partner[k], h))
                .collect(),
        };
        Stored {
            skin: self.skin,
            builds: self.builds,
            x_build: &self.x_build[..],
            box_build: self.box_build,
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
            pending: Some(Pending { held: s.held }),
            ..Default::default()
        })
    }
}

impl NeighborList {
    /// Lists the pairs of a list read from a checkpoint again, as a build at its build
    /// positions and box would, and puts its histories back on their pairs; a list not read
    /// from one is left as it is. `p`: the particles restored with it.
    pub fn rebuild_stored(&mut self, p: &Particles, reach: &ReachTable) -> Result<(), String> {
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        let n = p.len();
        let Some(simbox) = self.box_build else {
            // Never built: no pairs, so no histories either.
            return match pending.held.first() {
                None => Ok(()),
                Some(&(i, j, _)) => Err(format!(
                    "a shear history between particles {i} and {j} in a list never built"
                )),
            };
        };
        if self.x_build.len() != n {
            return Err(format!(
                "the neighbour list was built for {} particles, the state has {n}",
                self.x_build.len()
            ));
        }
        if let Some(&(i, j, _)) = pending.held.iter().find(|&&(i, j, _)| i.max(j) as usize >= n) {
            return Err(format!("a shear history between particles {i} and {j} of {n}"));
        }
        let frac: Vec<[f64; 3]> = self.x_build.iter().map(|&x| simbox.to_fractional(x)).collect();
        let x = std::mem::take(&mut self.x_build);
        self.list_pairs(p, &x, &frac, &simbox, reach);
        self.x_build = x;
        self.carry_histories(&pending.held, None);
        Ok(())
    }
}
