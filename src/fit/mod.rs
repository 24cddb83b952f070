//! Force-field fitting (issue 6): the optimizers. So far the particle swarm on argmin
//! ([`pso`]) with its atomic file checkpoint ([`checkpoint`]); the fit file, the evaluation
//! log, the neural surrogate and the benchmark come next.

pub mod benchmark;
pub mod checkpoint;
pub mod pso;
