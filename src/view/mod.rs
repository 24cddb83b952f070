//! What the viewer shows, without the GUI: frames (live or from a run folder), colours,
//! the what-if settings and the live worker. The bevy + egui front end (`app`, feature
//! `viewer`) draws them.

pub mod color;
pub mod frame;
pub mod live;
pub mod replay;
pub mod whatif;

#[cfg(feature = "viewer")]
pub mod app;
