//! The slurry stage: recipe → particle counts → placement → relaxation.
//! NPT density and NEMD viscosity; see [`protocol`].

pub mod limits;
pub mod output;
pub mod placement;
pub mod protocol;
pub mod recipe;
pub mod report;
