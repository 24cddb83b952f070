//! Force-field fitting (issue 6): an [`objective`] (simulator, targets, the record of
//! every evaluation), the particle swarm on argmin ([`pso`]), the surrogate-assisted fit
//! solver ([`swarm`]) with its burn nets ([`surrogate`]), atomic checkpoints
//! ([`checkpoint`]) and the cheap benchmark problem ([`benchmark`]).

pub mod benchmark;
pub mod checkpoint;
pub mod log;
pub mod objective;
pub mod pso;
pub mod run;
pub mod spec;
pub mod surrogate;
pub mod swarm;
