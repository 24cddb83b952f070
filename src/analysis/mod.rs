//! Analysis of simulation output.

pub mod stats;
