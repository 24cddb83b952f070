//! The particle engine: storage, box, neighbour search, interaction laws, integration.

pub mod ensemble;
pub mod forcefield;
pub mod integrate;
pub mod minimize;
pub mod neighbor;
pub mod nemd;
pub mod nose_hoover;
pub mod observer;
pub mod pair_pass;
pub mod parallel;
pub mod particles;
pub mod scatter;
pub mod simbox;
pub mod simd;
pub mod stability;
pub mod system;
pub mod team;
pub mod timers;
pub mod wall;
