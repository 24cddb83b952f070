//! Headless parameter sweeps: a base scenario × factors by a design, run case by case in
//! parallel, resumable, sharded for Slurm job arrays and merged into one table.

pub mod merge;
pub mod replicates;
pub mod run;
pub mod slurm;
pub mod spec;
