//! Analysis of simulation output.

pub mod multigrid;
pub mod pore_size;
pub mod stats;
pub mod structure;
pub mod tortuosity;
