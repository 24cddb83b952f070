//! A fit from a fit file: the simulator (particle engine or benchmark surface), the swarm
//! (plain or surrogate-assisted) on argmin with a checkpoint after every iteration, the
//! evaluation log, and at the end the best force field, a convergence plot and
//! `results.json`. `resume` continues a killed fit: the checkpoint restores the swarm,
//! the log the finished calls (none is run again).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use argmin::core::checkpointing::CheckpointingFrequency;
use argmin::core::observers::{Observe, ObserverMode};
use argmin::core::{Executor, State, KV};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;
use crate::io::plot::{Line, LineChart, Stroke, PALETTE};
use crate::scenario::{resolve_path, Scenario};
use crate::sim::forcefield::reference::ReferenceModel;
use crate::slurry::protocol::{run as run_slurry, Quiet};

use super::benchmark::{load_bounds, load_reference, load_start, new_bests, Surface};
use super::checkpoint::FileCheckpoint;
use super::log::{read as read_log, CsvLog};
use super::objective::{Evaluation, Objective, Observed, Simulator, Targets};
use super::pso::{Pso, SwarmState};
use super::spec::{parameter_index, Evaluator, FitSpec, Observable, Start};
use super::swarm::SwarmFit;

/// The model with the fitted parameters at the swarm coordinates `x`.
fn model_at(spec: &FitSpec, base: &ReferenceModel, x: &[f64]) -> ReferenceModel {
    let mut v = base.vector();
    for (p, xi) in spec.parameters.iter().zip(x) {
        if let Some(k) = parameter_index(&p.name) {
            v[k] = p.to_value(*xi);
        }
    }
    let mut m = base.clone();
    m.set_vector(v);
    m
}

/// One formulation the engine builds: its scenario, set up to measure its targets.
struct Formulation {
    rel: Option<String>,
    loaded: crate::scenario::Loaded,
}

/// The particle engine on the slurry stage of each formulation's scenario.
pub struct EngineSimulator {
    spec: FitSpec,
    formulations: Vec<Formulation>,
}

/// `scenario` made to measure `targets`: drying and calendering dropped, the NEMD shear
/// rates the targets'.
fn measuring(scenario: &Path, targets: &[&super::spec::TargetSpec]) -> Result<crate::scenario::Loaded> {
    let mut loaded = Scenario::load(scenario)?;
    let p = &mut loaded.scenario.protocol;
    p.drying = None;
    p.calendering = None;
    let mut rates: Vec<f64> = targets.iter().filter_map(|t| t.shear_rate_per_s()).collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    match (&mut p.nemd, rates.is_empty()) {
        (_, true) => p.nemd = None,
        (Some(n), false) => {
            n.shear_rates = rates
                .iter()
                .map(|r| crate::scenario::quantity::Q::new(r * 1e-6))
                .collect()
        }
        (None, false) => {
            return Err(Error::Setup(format!(
                "{}: viscosity targets need an nemd block in the scenario\n  hint: add nemd: (shear_rates: [...], strain: …)",
                scenario.display()
            )))
        }
    }
    if p.npt.is_none() {
        return Err(Error::Setup(format!(
            "{}: the fit builds the slurry and measures its density: the scenario needs an npt block",
            scenario.display()
        )));
    }
    Ok(loaded)
}

impl EngineSimulator {
    /// `main`: the scenario of `evaluate`; targets with their own formulation name theirs
    /// (relative to `spec_path`).
    pub fn new(spec: &FitSpec, main: &Path, spec_path: &Path) -> Result<EngineSimulator> {
        let mut names: Vec<Option<String>> = vec![None];
        for t in &spec.targets {
            if !names.contains(&t.formulation) {
                names.push(t.formulation.clone());
            }
        }
        let formulations = names
            .into_iter()
            .map(|rel| {
                let path = match &rel {
                    Some(r) => resolve_path(r, spec_path)?,
                    None => main.to_path_buf(),
                };
                let targets: Vec<_> = spec.targets.iter().filter(|t| t.formulation == rel).collect();
                Ok(Formulation {
                    loaded: measuring(&path, &targets)?,
                    rel,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(EngineSimulator {
            spec: spec.clone(),
            formulations,
        })
    }

    /// The force field of `evaluate`'s scenario (the base of the fitted one).
    pub fn model(&self) -> &ReferenceModel {
        &self.formulations[0].loaded.model
    }
}

impl Simulator for EngineSimulator {
    fn observe(&self, x: &[f64]) -> std::result::Result<Observed, String> {
        let mut values = vec![f64::NAN; self.spec.targets.len()];
        let mut stderr = vec![f64::NAN; self.spec.targets.len()];
        for f in &self.formulations {
            if !self.spec.targets.iter().any(|t| t.formulation == f.rel) {
                continue;
            }
            let mut l = f.loaded.clone();
            l.model = model_at(&self.spec, &f.loaded.model, x);
            // Each candidate's own placement, a function of the fit seed and the point.
            let mut h = f.loaded.scenario.seed ^ self.spec.seed.rotate_left(17);
            for v in x {
                h = (h ^ v.to_bits()).wrapping_mul(0x100_0000_01B3);
            }
            l.scenario.seed = h;
            // A candidate that blows up, or whose slurry ends too dense to shear in its box,
            // is a failed evaluation (no observables, infinite cost), not the end of the fit.
            let run = match run_slurry(&l, &mut Quiet, None) {
                Ok(run) => run,
                Err(e) if e.is_simulation_failure() => continue,
                Err(e) => return Err(e.to_string()),
            };
            let r = &run.result;
            // A box held at the self-image limit never reached the target pressure: its
            // density is the limit's, and the shear runs at it. Not the candidate's slurry.
            if r.npt_box_held() {
                continue;
            }
            for (k, t) in self.spec.targets.iter().enumerate() {
                if t.formulation != f.rel {
                    continue;
                }
                let (v, e) = match (t.observable, t.shear_rate_per_s()) {
                    (Observable::Density, _) => (r.density_g_cm3, r.density_stderr_g_cm3),
                    (Observable::Viscosity, Some(rate)) => r
                        .viscosity
                        .iter()
                        .find(|p| (p.shear_rate_per_s - rate).abs() <= 1e-6 * rate)
                        .map_or((None, None), |p| (Some(p.viscosity_pa_s), Some(p.stderr_pa_s))),
                    _ => (None, None),
                };
                values[k] = v.unwrap_or(f64::NAN);
                stderr[k] = e.unwrap_or(f64::NAN);
            }
        }
        Ok(Observed { values, stderr })
    }
}

/// The benchmark surface: the unlisted parameters stay at the reference's human start.
pub struct SurfaceSimulator {
    spec: FitSpec,
    surface: Surface,
    base: ReferenceModel,
}

impl Simulator for SurfaceSimulator {
    fn observe(&self, x: &[f64]) -> std::result::Result<Observed, String> {
        // The surface's 7 parameters are P1–P3 and P5–P8 (d_cbd is fixed).
        let v = model_at(&self.spec, &self.base, x).vector();
        let o = self.surface.predict(&[v[0], v[1], v[2], v[4], v[5], v[6], v[7]]);
        let values = self
            .spec
            .targets
            .iter()
            .map(|t| match (t.observable, t.shear_rate_per_s().map(f64::round)) {
                (Observable::Density, _) => o[0],
                (_, Some(18.0)) => o[1],
                _ => o[2],
            })
            .collect::<Vec<_>>();
        Ok(Observed {
            stderr: vec![0.0; values.len()],
            values,
        })
    }
}

fn data_dir() -> Result<PathBuf> {
    std::env::var_os("ETWIN_DATA_DIR")
        .map(|d| Path::new(&d).join("lombardo2020_pso_ff"))
        .ok_or_else(|| {
            Error::Setup(
                "evaluate: Benchmark needs ETWIN_DATA_DIR\n  hint: point it at the reference data folder".into(),
            )
        })
}

/// Receives the swarm's progress after every iteration; returning false stops the fit
/// there, as a kill would (before that iteration's checkpoint; its calls are in the log).
pub trait FitProgress: Send {
    fn iteration(&mut self, iteration: u64, best_cost: f64, points: usize) -> bool;
}

struct Relay<P: FitProgress> {
    inner: P,
}

impl<P: FitProgress> Observe<SwarmState> for Relay<P> {
    fn observe_iter(&mut self, state: &SwarmState, kv: &KV) -> std::result::Result<(), argmin::core::Error> {
        let points = kv.get("points").and_then(|v| v.get_int()).unwrap_or(0) as usize;
        let iteration = kv.get("iteration").and_then(|v| v.get_int()).unwrap_or(0) as u64;
        if self.inner.iteration(iteration, state.get_best_cost(), points) {
            Ok(())
        } else {
            Err(argmin::core::ArgminError::InvalidParameter {
                text: format!("stopped after iteration {iteration}"),
            }
            .into())
        }
    }
}

/// One fitted parameter: value and unit.
#[derive(Debug, Clone, Serialize)]
pub struct Fitted {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetFit {
    pub observable: String,
    pub target: f64,
    pub uncertainty: f64,
    pub fitted: f64,
    pub fitted_stderr: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FitReport {
    pub name: String,
    pub best: Vec<Fitted>,
    pub best_cost: f64,
    pub targets: Vec<TargetFit>,
    /// Simulator calls in all, and in this invocation (a resumed fit repeats none).
    pub calls: usize,
    pub calls_this_run: usize,
    /// Calls whose simulation failed (no observables, infinite cost; see the log).
    pub failed_calls: usize,
    pub iterations: u64,
    pub new_bests_by_proposer: BTreeMap<String, usize>,
    pub forcefield_file: String,
    /// Wall time of this invocation [s]: in simulator calls, and in all.
    pub simulation_s: f64,
    pub total_s: f64,
}

/// The simulator of `evaluate`, and the force field a fitted point completes.
fn simulator(spec: &FitSpec, spec_path: &Path) -> Result<(Box<dyn Simulator>, ReferenceModel)> {
    Ok(match &spec.evaluate {
        Evaluator::Scenario(rel) => {
            let path = resolve_path(rel, spec_path)?;
            let sim = EngineSimulator::new(spec, &path, spec_path)?;
            let base = sim.model().clone();
            (Box::new(sim), base)
        }
        Evaluator::Benchmark => {
            let dir = data_dir()?;
            let (evals, _) = load_reference(&dir)?;
            let (lo, hi) = load_bounds(&dir)?;
            let surface = Surface::fit(&evals, lo, hi, 1)?;
            let s = load_start(&dir)?;
            let base =
                ReferenceModel::from_vector("lombardo2020_start", [s[0], s[1], s[2], 6.2, s[3], s[4], s[5], s[6]]);
            (
                Box::new(SurfaceSimulator {
                    spec: spec.clone(),
                    surface,
                    base: base.clone(),
                }),
                base,
            )
        }
    })
}

/// The swarm, started as the fit file says (a warm start also feeds the surrogate).
fn solver(spec: &FitSpec, spec_path: &Path) -> Result<SwarmFit> {
    let (lo, hi) = spec.bounds();
    let setup = |e: argmin::core::Error| Error::Setup(format!("fit: {e}"));
    let o = &spec.optimizer;
    let mut pso = Pso::new(lo, hi, spec.seed).map_err(setup)?.with_swarm_size(o.swarm);
    let mut prior = Vec::new();
    match &o.start {
        Start::Random => {}
        Start::Point(p) => {
            let x = spec.parameters.iter().zip(p).map(|(s, v)| s.to_internal(*v)).collect();
            pso = pso.with_starts(vec![x]).map_err(setup)?;
        }
        Start::Log(rel) => {
            let path = resolve_path(rel, spec_path)?;
            let calls = read_log(&path, spec)?;
            pso = pso
                .with_starts(super::benchmark::best_points(&calls, o.swarm))
                .map_err(setup)?;
            prior = calls.into_iter().map(|c| (c.x, c.observed.values)).collect();
        }
    }
    Ok(SwarmFit::new(pso, o.surrogate.clone(), spec.seed).with_prior(prior))
}

/// Runs (or, with `resume`, continues) the fit of `spec` into `out`.
pub fn run_fit(
    spec: &FitSpec,
    spec_path: &Path,
    out: &Path,
    resume: bool,
    progress: impl FitProgress + 'static,
) -> Result<FitReport> {
    let t0 = Instant::now();
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let log_path = out.join("evaluations.csv");
    let checkpoint = out.join("checkpoint.ron");
    if !resume && (log_path.exists() || checkpoint.exists()) {
        return Err(Error::Setup(format!(
            "{}: holds an earlier fit\n  hint: etwin fit --resume {} to continue it, or choose another --out",
            out.display(),
            out.display()
        )));
    }
    let earlier = if resume && log_path.exists() {
        read_log(&log_path, spec)?
    } else {
        Vec::new()
    };
    let (simulator, base) = simulator(spec, spec_path)?;
    let targets = Targets {
        values: spec.targets.iter().map(|t| t.value).collect(),
        uncertainty: spec.targets.iter().map(|t| t.uncertainty).collect(),
        kind: spec.cost,
    };
    let done_before = earlier.len();
    let objective = Objective::new(simulator, targets)
        .with_finished(&earlier)
        .with_sink(Box::new(CsvLog::open(&log_path, spec)?));
    let setup = |e: argmin::core::Error| Error::Setup(format!("fit: {e}"));
    let o = &spec.optimizer;
    let solver = solver(spec, spec_path)?;
    let result = Executor::new(objective, solver)
        .configure(|s| s.max_iters(o.iterations).target_cost(o.target_cost))
        .checkpointing(FileCheckpoint {
            path: checkpoint,
            frequency: CheckpointingFrequency::Always,
        })
        .add_observer(Relay { inner: progress }, ObserverMode::Always)
        .run()
        .map_err(setup)?;
    let iterations = result.state.get_iter();
    let objective = result
        .problem
        .problem
        .ok_or_else(|| Error::Setup("fit: the problem did not come back".into()))?;
    let calls = objective.calls();
    let best = calls
        .iter()
        .min_by(|a, b| a.cost.total_cmp(&b.cost).then(a.call.cmp(&b.call)))
        .ok_or_else(|| Error::Setup("fit: no simulator call finished".into()))?
        .clone();
    let failed_calls = calls.iter().filter(|c| !c.cost.is_finite()).count();
    if failed_calls == calls.len() {
        return Err(Error::Setup(format!(
            "fit: all {} simulator calls failed (no observables: each run blew up, or its slurry box was \
             held at the self-image limit or ended too small to shear); no force field written\n  \
             hint: run the scenario alone (`etwin run`) at a point inside the bounds, simulate more mass \
             (formulation.dry_mass_ug), or narrow the parameter bounds; the log is {}",
            calls.len(),
            out.join("evaluations.csv").display()
        )));
    }
    let ff = model_at(spec, &base, &best.x);
    let ff = ReferenceModel {
        name: format!("{} (fitted, cost {:.3e})", spec.name, best.cost),
        ..ff
    };
    let ff_path = out.join("best_forcefield.ron");
    let text = ron::ser::to_string_pretty(&ff, ron::ser::PrettyConfig::default().struct_names(true))
        .map_err(|e| Error::Setup(format!("best force field: {e}")))?;
    write_atomic(&ff_path, |w| w.write_all(text.as_bytes()))?;
    convergence_plot(&calls, &out.join("convergence.png"))?;
    let simulation_s: f64 = calls[done_before..].iter().map(|c| c.wall_s).sum();
    let report = FitReport {
        name: spec.name.clone(),
        best: spec
            .parameters
            .iter()
            .zip(&best.x)
            .map(|(p, x)| Fitted {
                name: p.name.clone(),
                value: p.to_value(*x),
                unit: p.unit.clone(),
            })
            .collect(),
        best_cost: best.cost,
        targets: spec
            .targets
            .iter()
            .enumerate()
            .map(|(k, t)| TargetFit {
                observable: t.column(),
                target: t.value,
                uncertainty: t.uncertainty,
                fitted: best.observed.values[k],
                fitted_stderr: best.observed.stderr[k],
            })
            .collect(),
        calls: calls.len(),
        calls_this_run: calls.len() - done_before,
        failed_calls,
        iterations,
        new_bests_by_proposer: new_bests(&calls),
        forcefield_file: ff_path.display().to_string(),
        simulation_s,
        total_s: t0.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_string_pretty(&report).map_err(|e| Error::Setup(e.to_string()))?;
    write_atomic(&out.join("results.json"), |w| w.write_all(json.as_bytes()))?;
    Ok(report)
}

/// Every call's cost and the best so far, against the call number (log cost axis).
fn convergence_plot(calls: &[Evaluation], path: &Path) -> Result<()> {
    let finite = |c: &&Evaluation| c.cost.is_finite() && c.cost > 0.0;
    let each: Vec<(f64, f64)> = calls.iter().filter(finite).map(|c| (c.call as f64, c.cost)).collect();
    let best: Vec<(f64, f64)> = calls
        .iter()
        .filter(|c| c.best_cost.is_finite() && c.best_cost > 0.0)
        .map(|c| (c.call as f64, c.best_cost))
        .collect();
    if each.is_empty() {
        return Ok(());
    }
    LineChart {
        title: "Fit convergence".into(),
        x_desc: "simulator call [-]".into(),
        y_desc: "cost [-]".into(),
        log_x: false,
        log_y: true,
        lines: vec![
            Line {
                style: Stroke::Points,
                ..Line::new("each call", each, PALETTE[3])
            },
            Line::new("best so far", best, PALETTE[0]),
        ],
    }
    .write(path, (800, 500))
}
