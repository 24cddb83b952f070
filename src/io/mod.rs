//! Input and output: LAMMPS data files, CSV tables, atomic file writes, parse helpers.

pub mod atomic;
pub mod forces_csv;
pub mod lammps_data;
pub mod text;
pub mod vtu;
