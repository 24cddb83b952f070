//! Observers receive the system every `interval` steps; physics code never prints.

use crate::sim::system::System;

pub trait Observer {
    /// Steps between calls (≥ 1).
    fn interval(&self) -> u64;
    /// Called after the step whose number is a multiple of `interval`.
    fn observe(&mut self, sys: &System);
}
