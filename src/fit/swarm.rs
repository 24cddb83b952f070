//! The fit's solver: the constriction swarm of [`pso`](super::pso), optionally assisted by
//! neural surrogates retrained after every iteration on every evaluation so far
//! (the design's §4):
//!
//! 1. **forward screening** — each member draws `candidates` swarm moves (the usual
//!    random numbers, drawn again) and an ensemble of forward nets (parameters →
//!    observables) picks the one with the lowest optimistic cost, mean − κ·spread over the
//!    ensemble; the simulator then runs on that one only;
//! 2. **pool** — the `global` worst members move to the ensemble's best points among a
//!    pool of random points of the whole box (half uniform, half near the best
//!    evaluations), away from points already run: a way out of a basin the swarm has
//!    settled in;
//! 3. **inverse placement** — a net trained the other way (observables → parameters), as
//!    in the reference, is queried at the targets, and the worst member moves there.
//!
//! Observables are learned as logarithms when all are positive (viscosities span decades).
//! Everything the solver decides on is in its state (history, random stream, iteration),
//! so a checkpoint resumes the same run; the nets are retrained, not saved.

use argmin::core::{CostFunction, Error, Problem, Solver, KV};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::objective::{Evaluated, Proposer};
use super::pso::{Pso, SwarmState};
use super::surrogate::{Ensemble, Mlp, SurrogateSettings};

/// How the surrogates help.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Assist {
    /// Swarm moves screened per member (0 or 1: no forward screening) [-].
    pub candidates: usize,
    /// Optimism of the screening: mean − κ·spread [-].
    pub kappa: f64,
    /// Members per iteration moved to the forward ensemble's best points of the whole box
    /// (a pool of `pool` random points, half uniform, half near the best evaluations) [-].
    pub global: usize,
    pub pool: usize,
    /// Place one member per iteration with the inverse net.
    pub inverse: bool,
    /// Evaluations needed before the nets are trusted [-].
    pub min_points: usize,
    pub nets: SurrogateSettings,
}

impl Default for Assist {
    fn default() -> Self {
        Assist {
            candidates: 64,
            kappa: 1.0,
            global: 2,
            pool: 4096,
            inverse: true,
            min_points: 16,
            nets: SurrogateSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SwarmFit {
    pub pso: Pso,
    pub assist: Option<Assist>,
    seed: u64,
    iteration: u64,
    /// Every distinct evaluated point: (x, observables), in member order per iteration.
    history: Vec<(Vec<f64>, Vec<f64>)>,
    /// Every observable seen so far is positive: the nets learn logarithms.
    log_space: bool,
    /// What placed each member for the coming evaluation.
    proposers: Vec<Proposer>,
}

impl SwarmFit {
    pub fn new(pso: Pso, assist: Option<Assist>, seed: u64) -> SwarmFit {
        SwarmFit {
            pso,
            assist,
            seed,
            iteration: 0,
            history: Vec::new(),
            log_space: true,
            proposers: Vec::new(),
        }
    }

    /// Evaluations of an earlier run the surrogates learn from from the start (warm start).
    pub fn with_prior(mut self, points: Vec<(Vec<f64>, Vec<f64>)>) -> SwarmFit {
        for (x, y) in points {
            self.learn(x, y);
        }
        self
    }

    fn learn(&mut self, x: Vec<f64>, y: Vec<f64>) {
        if y.iter().all(|v| v.is_finite()) && !self.history.iter().any(|(h, _)| *h == x) {
            self.log_space &= y.iter().all(|v| *v > 0.0);
            self.history.push((x, y));
        }
    }

    fn observables_to_net(&self, y: &[f64]) -> Vec<f64> {
        if self.log_space {
            y.iter().map(|v| v.ln()).collect()
        } else {
            y.to_vec()
        }
    }

    fn net_to_observables(&self, y: &[f64]) -> Vec<f64> {
        if self.log_space {
            y.iter().map(|v| v.exp()).collect()
        } else {
            y.to_vec()
        }
    }

    /// Evaluates the members where they stand and takes the results in.
    fn evaluate<O>(&mut self, problem: &mut Problem<O>, state: SwarmState) -> Result<(SwarmState, Option<KV>), Error>
    where
        O: CostFunction<Param = Vec<f64>, Output = f64> + Evaluated + Sync,
    {
        let xs: Vec<Vec<f64>> = self.pso.members.iter().map(|m| m.x.clone()).collect();
        let announced: Vec<_> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| (self.iteration, i, self.proposers[i], x.clone()))
            .collect();
        problem.problem("announce", |o| {
            o.announce(&announced);
            Ok(())
        })?;
        let costs = problem.bulk_cost(&xs)?;
        self.pso.absorb(&costs);
        let (g, gc) = self.pso.global_best();
        let observed: Vec<Option<Vec<f64>>> = xs
            .iter()
            .map(|x| problem.problem.as_ref().and_then(|o| o.observed(x)).map(|o| o.values))
            .collect();
        for (x, y) in xs.into_iter().zip(observed) {
            if let Some(y) = y {
                self.learn(x, y);
            }
        }
        let population = self.pso.members.iter().map(|m| m.x.clone()).collect();
        let kv = argmin::kv!("iteration" => self.iteration as i64; "points" => self.history.len() as i64;);
        Ok((state.individual(g).cost(gc).population(population), Some(kv)))
    }

    /// Optimistic predicted costs of the points `q`: mean − κ·spread over the ensemble.
    fn scores<O: Evaluated>(&self, forward: &Ensemble, objective: &O, q: &[Vec<f64>], kappa: f64) -> Vec<f64> {
        let each = forward.predict_each(q);
        (0..q.len())
            .map(|r| {
                let costs: Vec<f64> = each
                    .iter()
                    .map(|net| objective.cost_of(&self.net_to_observables(&net[r])))
                    .collect();
                let mean = costs.iter().sum::<f64>() / costs.len() as f64;
                let var = costs.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / costs.len() as f64;
                let score = mean - kappa * var.sqrt();
                if score.is_nan() {
                    f64::INFINITY
                } else {
                    score
                }
            })
            .collect()
    }

    /// Moves member `i` to `x` (velocity: the jump, clamped).
    fn relocate(&mut self, i: usize, x: Vec<f64>, proposer: Proposer) {
        let vm: Vec<f64> = (0..x.len()).map(|k| self.pso.v_max(k)).collect();
        let m = &mut self.pso.members[i];
        for k in 0..x.len() {
            m.v[k] = (x[k] - m.x[k]).clamp(-vm[k], vm[k]);
        }
        m.x = x;
        self.proposers[i] = proposer;
    }

    /// Members ordered worst own best first (ties: higher index first).
    fn worst_first(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.pso.members.len()).collect();
        order.sort_by(|&a, &b| {
            let (ca, cb) = (self.pso.members[a].best_cost, self.pso.members[b].best_cost);
            cb.total_cmp(&ca).then(b.cmp(&a))
        });
        order
    }

    /// A pool of points: half uniform in the box, half near the best evaluations.
    fn pool<O: Evaluated>(&self, objective: &O, size: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
        let (lo, hi) = self.pso.bounds();
        let mut ranked: Vec<(f64, &Vec<f64>)> = self.history.iter().map(|(x, y)| (objective.cost_of(y), x)).collect();
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
        ranked.truncate(8);
        (0..size)
            .map(|j| {
                let centre = (j % 2 == 1 && !ranked.is_empty()).then(|| ranked[rng.random_range(0..ranked.len())].1);
                (0..lo.len())
                    .map(|k| {
                        let range = hi[k] - lo[k];
                        let v = match centre {
                            Some(c) => c[k] + 0.1 * range * rng.sample::<f64, _>(StandardNormal),
                            None => rng.random_range(lo[k]..hi[k]),
                        };
                        v.clamp(lo[k], hi[k])
                    })
                    .collect()
            })
            .collect()
    }

    /// The usual move for every member, or, with the surrogates, the screened moves, the
    /// ensemble's best points of the box and the inverse placement.
    fn propose<O: Evaluated>(&mut self, objective: &O) -> Result<(), Error> {
        let n = self.pso.members.len();
        self.proposers = vec![Proposer::Swarm; n];
        let assist = match &self.assist {
            Some(a) if self.history.len() >= a.min_points => a.clone(),
            _ => {
                self.pso.step_all();
                return Ok(());
            }
        };
        let seed = self.seed ^ (self.iteration.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let xs: Vec<Vec<f64>> = self.history.iter().map(|(x, _)| x.clone()).collect();
        let ys: Vec<Vec<f64>> = self.history.iter().map(|(_, y)| self.observables_to_net(y)).collect();
        let (g, _) = self.pso.global_best();
        let mut rng = self.pso.rng_mut().clone();
        let forward = if assist.candidates > 1 || assist.global > 0 {
            Some(Ensemble::train(&xs, &ys, &assist.nets, seed).map_err(to_argmin)?)
        } else {
            None
        };
        match &forward {
            Some(f) if assist.candidates > 1 => {
                let moves: Vec<Vec<(Vec<f64>, Vec<f64>)>> = (0..n)
                    .map(|i| {
                        (0..assist.candidates)
                            .map(|_| self.pso.moved(&self.pso.members[i], &g, &mut rng))
                            .collect()
                    })
                    .collect();
                let flat: Vec<Vec<f64>> = moves.iter().flatten().map(|(x, _)| x.clone()).collect();
                let scores = self.scores(f, objective, &flat, assist.kappa);
                for (i, candidates) in moves.into_iter().enumerate() {
                    let row = &scores[i * assist.candidates..(i + 1) * assist.candidates];
                    let pick = (0..row.len()).min_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap_or(0);
                    let (x, v) = candidates[pick].clone();
                    self.pso.members[i].x = x;
                    self.pso.members[i].v = v;
                    self.proposers[i] = Proposer::Screened;
                }
            }
            _ => self.pso.step_all(),
        }
        let mut order = self.worst_first().into_iter();
        if assist.inverse {
            let inverse = Mlp::train(&ys, &xs, &assist.nets, seed ^ 0xA5A5).map_err(to_argmin)?;
            let query = self.observables_to_net(&objective.target_values());
            let mut x = inverse.predict(&[query]).remove(0);
            let (lo, hi) = self.pso.bounds();
            for (k, v) in x.iter_mut().enumerate() {
                *v = v.clamp(lo[k], hi[k]);
            }
            if let Some(i) = order.next() {
                self.relocate(i, x, Proposer::Inverse);
            }
        }
        if let (Some(f), true) = (&forward, assist.global > 0) {
            let pool = self.pool(objective, assist.pool, &mut rng);
            let scores = self.scores(f, objective, &pool, assist.kappa);
            let mut ranked: Vec<usize> = (0..pool.len()).collect();
            ranked.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
            let (lo, hi) = self.pso.bounds();
            let span: Vec<f64> = lo.iter().zip(hi).map(|(l, h)| h - l).collect();
            let near = |a: &[f64], b: &[f64]| {
                a.iter()
                    .zip(b)
                    .zip(&span)
                    .map(|((p, q), s)| ((p - q) / s).powi(2))
                    .sum::<f64>()
                    < 0.02f64.powi(2)
            };
            let mut picked: Vec<Vec<f64>> = Vec::new();
            for j in ranked {
                if picked.len() == assist.global {
                    break;
                }
                let x = &pool[j];
                if picked.iter().chain(xs.iter()).any(|p| near(p, x)) {
                    continue;
                }
                picked.push(x.clone());
            }
            for x in picked {
                if let Some(i) = order.next() {
                    self.relocate(i, x, Proposer::Pool);
                }
            }
        }
        *self.pso.rng_mut() = rng;
        Ok(())
    }
}

fn to_argmin(e: crate::error::Error) -> Error {
    argmin::core::ArgminError::InvalidParameter { text: e.to_string() }.into()
}

impl<O> Solver<O, SwarmState> for SwarmFit
where
    O: CostFunction<Param = Vec<f64>, Output = f64> + Evaluated + Sync,
{
    fn name(&self) -> &str {
        if self.assist.is_some() {
            "PSO + surrogate"
        } else {
            "PSO"
        }
    }

    fn init(&mut self, problem: &mut Problem<O>, state: SwarmState) -> Result<(SwarmState, Option<KV>), Error> {
        self.pso.spawn();
        self.proposers = vec![Proposer::Start; self.pso.members.len()];
        self.evaluate(problem, state)
    }

    fn next_iter(&mut self, problem: &mut Problem<O>, state: SwarmState) -> Result<(SwarmState, Option<KV>), Error> {
        self.iteration += 1;
        let objective = problem
            .problem
            .as_ref()
            .ok_or_else(|| to_argmin(crate::error::Error::Setup("the fit's problem is gone".into())))?;
        self.propose(objective)?;
        self.evaluate(problem, state)
    }
}
