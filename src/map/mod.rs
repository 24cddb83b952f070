//! The porosity / mass-loading map on measured electrodes (DESIGN.md §5): dataset loading,
//! RBF support-vector machines, grouped cross-validation, trained models with prediction
//! intervals, the calendering model, and the PNG maps.

pub mod calendering;
pub mod cv;
pub mod dataset;
pub mod model;
pub mod plot;
pub mod svm;
