//! Input and output: LAMMPS data files, CSV tables, atomic file writes, parse helpers.

pub mod atomic;
pub mod forces_csv;
pub mod lammps_data;
pub mod plot;
pub mod text;
pub mod vtu;

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of `bytes` (scenario and data fingerprints).
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}
