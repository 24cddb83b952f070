//! What a fit minimizes. A [`Simulator`] maps parameters to observables (the particle
//! engine, or the benchmark's stand-in); [`Targets`] turn observables into the cost; an
//! [`Objective`] is the argmin problem that ties them together and keeps every
//! evaluation: surrogates learn from them, the log records them, and a point evaluated
//! before (in this run or in the log of a killed one) is never simulated twice.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use argmin::core::{ArgminError, CostFunction, Error as ArgminErr};
use serde::{Deserialize, Serialize};

/// Observables of one evaluation, with their standard errors (0 where none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub values: Vec<f64>,
    pub stderr: Vec<f64>,
}

/// Parameters → observables. Deterministic: the same parameters give the same result
/// (a stochastic simulator derives its seed from them).
pub trait Simulator: Sync {
    fn observe(&self, x: &[f64]) -> std::result::Result<Observed, String>;
}

impl<S: Simulator + ?Sized> Simulator for Box<S> {
    fn observe(&self, x: &[f64]) -> std::result::Result<Observed, String> {
        (**self).observe(x)
    }
}

/// How the misfit of each observable counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CostKind {
    /// The reference's: mean of ((o − t)/t)².
    MeanSquaredRelative,
    /// Mean of ((o − t)/u)², u the target's uncertainty.
    UncertaintyWeighted,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    pub values: Vec<f64>,
    pub uncertainty: Vec<f64>,
    pub kind: CostKind,
}

impl Targets {
    pub fn cost(&self, observed: &[f64]) -> f64 {
        let scale = |k: usize| match self.kind {
            CostKind::MeanSquaredRelative => self.values[k],
            CostKind::UncertaintyWeighted => self.uncertainty[k],
        };
        observed
            .iter()
            .enumerate()
            .map(|(k, o)| ((o - self.values[k]) / scale(k)).powi(2))
            .sum::<f64>()
            / self.values.len() as f64
    }
}

/// Who placed a member where it is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Proposer {
    /// A start point: random in the bounds, given, or from an earlier log.
    Start,
    /// The plain swarm move.
    Swarm,
    /// The swarm move chosen among several by the forward surrogate.
    Screened,
    /// The forward ensemble's best point of a pool drawn over the whole box.
    Pool,
    /// The inverse surrogate queried at the targets.
    Inverse,
}

impl Proposer {
    pub fn name(self) -> &'static str {
        match self {
            Proposer::Start => "start",
            Proposer::Swarm => "swarm",
            Proposer::Screened => "screened",
            Proposer::Pool => "pool",
            Proposer::Inverse => "inverse",
        }
    }

    pub fn parse(s: &str) -> Option<Proposer> {
        [
            Proposer::Start,
            Proposer::Swarm,
            Proposer::Screened,
            Proposer::Pool,
            Proposer::Inverse,
        ]
        .into_iter()
        .find(|p| p.name() == s)
    }
}

/// One simulator call as the log records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// 1-based, in completion order.
    pub call: usize,
    pub iteration: u64,
    pub member: usize,
    pub proposer: Proposer,
    pub x: Vec<f64>,
    pub observed: Observed,
    pub cost: f64,
    /// The lowest cost up to and including this call.
    pub best_cost: f64,
    pub wall_s: f64,
}

/// Receives each finished evaluation (the CSV log); an error stops the fit.
pub trait EvaluationSink: Send {
    fn record(&mut self, e: &Evaluation) -> std::result::Result<(), String>;
}

/// Where a point about to be evaluated comes from.
#[derive(Debug, Clone, Copy)]
struct Origin {
    iteration: u64,
    member: usize,
    proposer: Proposer,
}

/// Points equal to 12 significant digits are the same point (a log read back after a
/// kill gives values that may differ in the last bit from the swarm's).
fn key(x: &[f64]) -> Vec<String> {
    x.iter().map(|v| format!("{v:.11e}")).collect()
}

struct Book {
    done: HashMap<Vec<String>, Observed>,
    calls: Vec<Evaluation>,
    pending: HashMap<Vec<String>, Origin>,
    sink: Option<Box<dyn EvaluationSink>>,
}

/// The argmin problem of a fit.
pub struct Objective<S: Simulator> {
    pub simulator: S,
    pub targets: Targets,
    /// Evaluate a swarm's members in parallel (false: one after another, so call order is
    /// member order).
    pub parallel: bool,
    book: Mutex<Book>,
}

impl<S: Simulator> Objective<S> {
    pub fn new(simulator: S, targets: Targets) -> Objective<S> {
        Objective {
            simulator,
            targets,
            parallel: true,
            book: Mutex::new(Book {
                done: HashMap::new(),
                calls: Vec::new(),
                pending: HashMap::new(),
                sink: None,
            }),
        }
    }

    pub fn with_sink(self, sink: Box<dyn EvaluationSink>) -> Objective<S> {
        self.book().sink = Some(sink);
        self
    }

    /// Evaluations of an earlier, interrupted run: not simulated again, not logged again.
    pub fn with_finished(self, earlier: &[Evaluation]) -> Objective<S> {
        {
            let mut b = self.book();
            for e in earlier {
                b.done.insert(key(&e.x), e.observed.clone());
                b.calls.push(e.clone());
            }
        }
        self
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every call so far, in completion order (earlier runs' first).
    pub fn calls(&self) -> Vec<Evaluation> {
        self.book().calls.clone()
    }

    /// A failed simulation (NaN observables) costs +∞: it never becomes a best.
    fn cost_or_inf(&self, values: &[f64]) -> f64 {
        Some(self.targets.cost(values))
            .filter(|c| c.is_finite())
            .unwrap_or(f64::INFINITY)
    }
}

/// What the swarm solver needs from its problem beyond the cost.
pub trait Evaluated {
    /// The observables of a point already evaluated.
    fn observed(&self, x: &[f64]) -> Option<Observed>;
    /// The cost of (predicted) observables.
    fn cost_of(&self, values: &[f64]) -> f64;
    /// The targets (the inverse surrogate's query).
    fn target_values(&self) -> Vec<f64>;
    /// The points about to be evaluated: (iteration, member, proposer, x).
    fn announce(&self, points: &[(u64, usize, Proposer, Vec<f64>)]);
}

impl<S: Simulator> Evaluated for Objective<S> {
    fn observed(&self, x: &[f64]) -> Option<Observed> {
        self.book().done.get(&key(x)).cloned()
    }

    fn cost_of(&self, values: &[f64]) -> f64 {
        self.targets.cost(values)
    }

    fn target_values(&self) -> Vec<f64> {
        self.targets.values.clone()
    }

    fn announce(&self, points: &[(u64, usize, Proposer, Vec<f64>)]) {
        let mut b = self.book();
        b.pending.clear();
        for (iteration, member, proposer, x) in points {
            b.pending.entry(key(x)).or_insert(Origin {
                iteration: *iteration,
                member: *member,
                proposer: *proposer,
            });
        }
    }
}

impl<S: Simulator> CostFunction for Objective<S> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, x: &Vec<f64>) -> std::result::Result<f64, ArgminErr> {
        let k = key(x);
        if let Some(o) = self.book().done.get(&k) {
            return Ok(self.cost_or_inf(&o.values));
        }
        let t0 = Instant::now();
        let observed = self
            .simulator
            .observe(x)
            .map_err(|text| ArgminError::InvalidParameter { text })?;
        if observed.values.len() != self.targets.values.len() {
            return Err(ArgminError::InvalidParameter {
                text: format!(
                    "the simulator returned {} observables for {} targets",
                    observed.values.len(),
                    self.targets.values.len()
                ),
            }
            .into());
        }
        let cost = self.cost_or_inf(&observed.values);
        let mut b = self.book();
        if b.done.contains_key(&k) {
            return Ok(cost);
        }
        b.done.insert(k.clone(), observed.clone());
        let best_cost = b.calls.iter().map(|c| c.cost).fold(cost, f64::min);
        let origin = b.pending.get(&k).copied().unwrap_or(Origin {
            iteration: 0,
            member: 0,
            proposer: Proposer::Start,
        });
        let e = Evaluation {
            call: b.calls.len() + 1,
            iteration: origin.iteration,
            member: origin.member,
            proposer: origin.proposer,
            x: x.clone(),
            observed,
            cost,
            best_cost,
            wall_s: t0.elapsed().as_secs_f64(),
        };
        if let Some(sink) = b.sink.as_mut() {
            sink.record(&e).map_err(|text| ArgminError::InvalidParameter { text })?;
        }
        b.calls.push(e);
        Ok(cost)
    }

    fn parallelize(&self) -> bool {
        self.parallel
    }
}
