//! electrode-twin: a digital twin of lithium-ion electrode manufacturing.
//!
//! Units: the "micro" system (µm, µs, pg → nN, fJ, kPa, mPa·s, g/cm³); see [`units`].

pub mod analysis;
pub mod bench;
pub mod calendering;
pub mod drying;
pub mod error;
pub mod fit;
pub mod huge_pages;
pub mod io;
pub mod map;
pub mod recommend;
pub mod scenario;
pub mod sim;
pub mod slurry;
pub mod sweep;
pub mod units;
pub mod view;

pub use error::{Error, Result};
