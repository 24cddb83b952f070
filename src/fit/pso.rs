//! Particle swarm optimization in the constriction form (Clerc & Kennedy 2002), as an
//! argmin [`Solver`]: each member moves by
//! v ← χ (v + c₁ r₁ (p − x) + c₂ r₂ (g − x)), clamped to ±`v_max_fraction` of each range,
//! x ← x + v, stopped at the bounds (the velocity component that crossed is zeroed).
//! p is the member's best position, g the swarm's. All members of an iteration are
//! evaluated together (`bulk_cost`: in parallel with rayon, results in member order), and
//! the random numbers are drawn in member-then-dimension order from one seeded stream, so
//! a seed gives the same run on any number of threads. Members may start at given points
//! (a human start point, or the best of an earlier log).

use argmin::core::{ArgminError, CostFunction, Error, PopulationState, Problem, Solver, KV};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub x: Vec<f64>,
    pub v: Vec<f64>,
    pub best_x: Vec<f64>,
    pub best_cost: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pso {
    lower: Vec<f64>,
    upper: Vec<f64>,
    pub swarm_size: usize,
    /// Constriction χ and acceleration coefficients c₁, c₂ (Clerc: 0.7298, 1.49618 twice).
    pub chi: f64,
    pub c1: f64,
    pub c2: f64,
    /// Velocity clamp as a fraction of each parameter's range.
    pub v_max_fraction: f64,
    starts: Vec<Vec<f64>>,
    rng: ChaCha8Rng,
    pub members: Vec<Member>,
}

pub type SwarmState = PopulationState<Vec<f64>, f64>;

fn invalid(text: String) -> Error {
    ArgminError::InvalidParameter { text }.into()
}

impl Pso {
    /// A swarm of 8 over the box [`lower`, `upper`] with the reference's coefficients.
    pub fn new(lower: Vec<f64>, upper: Vec<f64>, seed: u64) -> Result<Pso, Error> {
        if lower.is_empty() || lower.len() != upper.len() {
            return Err(invalid(format!(
                "PSO: bounds of {} and {} values; they must be as many as the parameters, at least one",
                lower.len(),
                upper.len()
            )));
        }
        if let Some(k) =
            (0..lower.len()).find(|&k| !(lower[k] < upper[k] && lower[k].is_finite() && upper[k].is_finite()))
        {
            return Err(invalid(format!(
                "PSO: parameter {k} has bounds [{}, {}]; the lower must be finite and below the upper",
                lower[k], upper[k]
            )));
        }
        Ok(Pso {
            lower,
            upper,
            swarm_size: 8,
            chi: 0.7298,
            c1: 1.49618,
            c2: 1.49618,
            v_max_fraction: 0.2,
            starts: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            members: Vec::new(),
        })
    }

    pub fn with_swarm_size(mut self, n: usize) -> Pso {
        self.swarm_size = n.max(1);
        self
    }

    /// Members start at these points (clamped into the box), the rest at random.
    pub fn with_starts(mut self, points: Vec<Vec<f64>>) -> Result<Pso, Error> {
        if let Some(p) = points.iter().find(|p| p.len() != self.lower.len()) {
            return Err(invalid(format!(
                "PSO: a start point has {} values for {} parameters",
                p.len(),
                self.lower.len()
            )));
        }
        self.starts = points.into_iter().map(|p| self.clamp(p)).collect();
        Ok(self)
    }

    fn clamp(&self, mut x: Vec<f64>) -> Vec<f64> {
        for (k, v) in x.iter_mut().enumerate() {
            *v = v.clamp(self.lower[k], self.upper[k]);
        }
        x
    }

    pub fn v_max(&self, k: usize) -> f64 {
        self.v_max_fraction * (self.upper[k] - self.lower[k])
    }

    /// The swarm's best (p, cost); ties go to the lower member index.
    pub fn global_best(&self) -> (Vec<f64>, f64) {
        let m = self
            .members
            .iter()
            .min_by(|a, b| a.best_cost.total_cmp(&b.best_cost))
            .expect("a swarm");
        (m.best_x.clone(), m.best_cost)
    }

    /// Places the members: at the start points, the rest at random; random velocities.
    pub fn spawn(&mut self) {
        let dims = self.lower.len();
        let n = self.swarm_size.max(self.starts.len());
        self.members = (0..n)
            .map(|i| {
                let x: Vec<f64> = match self.starts.get(i) {
                    Some(p) => p.clone(),
                    None => (0..dims)
                        .map(|k| self.rng.random_range(self.lower[k]..self.upper[k]))
                        .collect(),
                };
                let v = (0..dims)
                    .map(|k| {
                        let vm = self.v_max(k);
                        self.rng.random_range(-vm..vm)
                    })
                    .collect();
                Member {
                    best_x: x.clone(),
                    x,
                    v,
                    best_cost: f64::INFINITY,
                }
            })
            .collect();
    }

    /// Where member `m` moves, toward its own best and the swarm's best `g`, with the
    /// random numbers of `rng` (two per dimension): (x, v).
    pub fn moved(&self, m: &Member, g: &[f64], rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
        let (mut x, mut v) = (m.x.clone(), m.v.clone());
        for (k, &gk) in g.iter().enumerate() {
            let (r1, r2): (f64, f64) = (rng.random(), rng.random());
            let vm = self.v_max(k);
            let (lo, hi) = (self.lower[k], self.upper[k]);
            let vk = self.chi * (m.v[k] + self.c1 * r1 * (m.best_x[k] - m.x[k]) + self.c2 * r2 * (gk - m.x[k]));
            v[k] = vk.clamp(-vm, vm);
            let xk = m.x[k] + v[k];
            if xk < lo || xk > hi {
                x[k] = xk.clamp(lo, hi);
                v[k] = 0.0;
            } else {
                x[k] = xk;
            }
        }
        (x, v)
    }

    /// Moves every member once (member order, one random stream).
    pub fn step_all(&mut self) {
        let (g, _) = self.global_best();
        let mut rng = self.rng.clone();
        for i in 0..self.members.len() {
            let (x, v) = self.moved(&self.members[i], &g, &mut rng);
            self.members[i].x = x;
            self.members[i].v = v;
        }
        self.rng = rng;
    }

    /// The seeded stream the swarm draws from (for proposals made beside the swarm).
    pub fn rng_mut(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    pub fn bounds(&self) -> (&[f64], &[f64]) {
        (&self.lower, &self.upper)
    }

    /// Takes the costs of the members' current positions (member order) into their bests.
    pub fn absorb(&mut self, costs: &[f64]) {
        for (m, c) in self.members.iter_mut().zip(costs) {
            // NaN never becomes a best.
            if *c < m.best_cost {
                m.best_cost = *c;
                m.best_x = m.x.clone();
            }
        }
    }

    fn record<O>(&mut self, problem: &mut Problem<O>, state: SwarmState) -> Result<(SwarmState, Option<KV>), Error>
    where
        O: CostFunction<Param = Vec<f64>, Output = f64> + Sync,
    {
        let xs: Vec<Vec<f64>> = self.members.iter().map(|m| m.x.clone()).collect();
        let costs = problem.bulk_cost(&xs)?;
        self.absorb(&costs);
        let (g, gc) = self.global_best();
        Ok((state.individual(g).cost(gc).population(xs), None))
    }
}

impl<O> Solver<O, SwarmState> for Pso
where
    O: CostFunction<Param = Vec<f64>, Output = f64> + Sync,
{
    fn name(&self) -> &str {
        "PSO (constriction)"
    }

    fn init(&mut self, problem: &mut Problem<O>, state: SwarmState) -> Result<(SwarmState, Option<KV>), Error> {
        self.spawn();
        self.record(problem, state)
    }

    fn next_iter(&mut self, problem: &mut Problem<O>, state: SwarmState) -> Result<(SwarmState, Option<KV>), Error> {
        self.step_all();
        self.record(problem, state)
    }
}
