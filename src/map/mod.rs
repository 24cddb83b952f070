//! The porosity / mass-loading map on measured electrodes (DESIGN.md §5): dataset loading
//! and grouped cross-validation of RBF support-vector models.

pub mod cv;
pub mod dataset;
pub mod svm;
