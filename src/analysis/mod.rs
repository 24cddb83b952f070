//! Analysis of simulation output.

pub mod stats;
pub mod structure;
pub mod tortuosity;
