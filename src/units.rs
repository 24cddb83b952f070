//! The "micro" unit system of the reference workflow (LAMMPS `units micro`).
//!
//! | quantity | unit |
//! |---|---|
//! | length | µm |
//! | time | µs |
//! | mass | pg |
//! | velocity | µm/µs = m/s |
//! | angular velocity | rad/µs |
//! | force | nN |
//! | torque, energy | nN·µm = fJ |
//! | pressure | nN/µm² = kPa |
//! | dynamic viscosity | kPa·µs = mPa·s |
//! | density | pg/µm³ = g/cm³ |
//!
//! In these units the force-to-acceleration factor is 1 (nN / pg = µm/µs²), so the
//! integrators and pressure formulas carry no conversion constants.

/// Boltzmann constant in fJ/K (LAMMPS `units micro`).
pub const K_B: f64 = 1.380_650_4e-8;

/// mPa·s → Pa·s.
pub const MPA_S_TO_PA_S: f64 = 1e-3;

/// kPa → Pa.
pub const KPA_TO_PA: f64 = 1e3;
