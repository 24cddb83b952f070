//! argmin checkpoints as one RON file (it keeps ±∞, which an optimizer's state holds and
//! JSON cannot), written atomically (temporary file + rename): a kill leaves the previous
//! checkpoint whole, never half of the new one.

use std::path::PathBuf;

use argmin::core::checkpointing::{Checkpoint, CheckpointingFrequency};
use argmin::core::Error;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::io::atomic::write_atomic;

pub struct FileCheckpoint {
    pub path: PathBuf,
    pub frequency: CheckpointingFrequency,
}

#[derive(Serialize, Deserialize)]
struct Saved<S, I> {
    solver: S,
    state: I,
}

impl<S, I> Checkpoint<S, I> for FileCheckpoint
where
    S: Serialize + DeserializeOwned + Clone,
    I: Serialize + DeserializeOwned + Clone,
{
    fn save(&self, solver: &S, state: &I) -> Result<(), Error> {
        let text = ron::to_string(&Saved { solver, state })?;
        write_atomic(&self.path, |w| w.write_all(text.as_bytes()))?;
        Ok(())
    }

    fn load(&self) -> Result<Option<(S, I)>, Error> {
        if !self.path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&self.path)?;
        let s: Saved<S, I> = ron::from_str(&text).map_err(|e| {
            anyhow_error(format!(
                "{}: not a checkpoint of this optimizer: {e}",
                self.path.display()
            ))
        })?;
        Ok(Some((s.solver, s.state)))
    }

    fn frequency(&self) -> CheckpointingFrequency {
        self.frequency
    }
}

fn anyhow_error(msg: String) -> Error {
    argmin::core::ArgminError::InvalidParameter { text: msg }.into()
}
