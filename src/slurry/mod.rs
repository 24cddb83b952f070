//! The slurry stage: recipe → particle counts → placement → relaxation.
//! (NPT density and NEMD viscosity are still to come.)

pub mod placement;
pub mod recipe;
