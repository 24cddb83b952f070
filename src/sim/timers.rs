//! Per-phase wall-clock timers and counters, reported at the end of every run.

use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Phases of a step, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Integrate,
    Neighbor,
    Force,
    Observe,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Timers {
    /// Seconds spent in each phase.
    pub integrate_s: f64,
    pub neighbor_s: f64,
    pub force_s: f64,
    pub observe_s: f64,
    /// Steps taken.
    pub steps: u64,
    /// Neighbour-list builds.
    pub neighbor_builds: u64,
    /// Steps that tested the list against the particles' displacements (the others'
    /// bound on them showed no rebuild could be due: see `System::run_with`).
    #[serde(default)]
    pub neighbor_checks: u64,
    /// Force passes that also kicked ([`crate::sim::system::System::run_with`]).
    #[serde(default)]
    pub kicking_force_passes: u64,
}

impl Timers {
    pub fn add(&mut self, phase: Phase, d: Duration) {
        let s = d.as_secs_f64();
        match phase {
            Phase::Integrate => self.integrate_s += s,
            Phase::Neighbor => self.neighbor_s += s,
            Phase::Force => self.force_s += s,
            Phase::Observe => self.observe_s += s,
        }
    }

    /// Runs `f`, charging its time to `phase`.
    pub fn time<T>(&mut self, phase: Phase, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let r = f();
        self.add(phase, t.elapsed());
        r
    }

    pub fn total_s(&self) -> f64 {
        self.integrate_s + self.neighbor_s + self.force_s + self.observe_s
    }
}

impl fmt::Display for Timers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total_s().max(1e-300);
        writeln!(f, "phase        time[s]    share[%]")?;
        for (name, s) in [
            ("neighbor", self.neighbor_s),
            ("force", self.force_s),
            ("integrate", self.integrate_s),
            ("observe", self.observe_s),
        ] {
            writeln!(f, "{name:<10} {s:>10.4} {:>10.1}", 100.0 * s / total)?;
        }
        write!(
            f,
            "total      {:>10.4}      steps {}  neighbour builds {}",
            self.total_s(),
            self.steps,
            self.neighbor_builds
        )
    }
}
