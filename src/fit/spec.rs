//! Fit files (RON, versioned, unknown keys rejected): which force-field parameters to fit
//! within which bounds, to which measured targets, with which optimizer, evaluated by
//! which simulator. Every error names file:line:col, the key path and a hint.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::text::{parse_checked, Problem};
use crate::scenario::quantity::{parse, Rate};

use super::objective::CostKind;
use super::swarm::Assist;

pub const VERSION: u32 = 1;

/// The 8 parameters of the reference model: name, unit, P-number order.
pub const PARAMETERS: [(&str, &str); 8] = [
    ("eps_am", "fJ/um"),
    ("w_sigma", "-"),
    ("eps_cb", "fJ/um"),
    ("d_cbd", "um"),
    ("rho_cbd", "g/cm3"),
    ("kn", "nN/um2"),
    ("gamma_n", "1/(us*um)"),
    ("xu", "-"),
];

/// The parameter names, comma-separated, for hints.
fn parameter_names() -> String {
    PARAMETERS.map(|(n, _)| n).join(", ")
}

/// Index of a parameter in [`PARAMETERS`].
pub fn parameter_index(name: &str) -> Option<usize> {
    PARAMETERS.iter().position(|(n, _)| *n == name)
}

/// How the optimizer sees a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Scale {
    #[default]
    Linear,
    /// The swarm moves in log10 of the value (for ranges spanning decades).
    Log,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterSpec {
    /// One of eps_am, w_sigma, eps_cb, d_cbd, rho_cbd, kn, gamma_n, xu.
    pub name: String,
    /// Bounds in `unit` (which must be the parameter's unit, as in [`PARAMETERS`]).
    pub lower: f64,
    pub upper: f64,
    pub unit: String,
    #[serde(default)]
    pub scale: Scale,
}

impl ParameterSpec {
    /// Value → the swarm's coordinate.
    pub fn to_internal(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Linear => v,
            Scale::Log => v.log10(),
        }
    }
    pub fn to_value(&self, x: f64) -> f64 {
        match self.scale {
            Scale::Linear => x,
            Scale::Log => 10f64.powf(x),
        }
    }
}

/// A measured observable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Observable {
    /// Slurry density from NPT [g/cm³].
    Density,
    /// Viscosity from NEMD at `shear_rate` [Pa·s].
    Viscosity,
}

impl Observable {
    pub fn unit(self) -> &'static str {
        match self {
            Observable::Density => "g/cm3",
            Observable::Viscosity => "Pa*s",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// The formulation measured: a scenario file (relative to the fit file) whose slurry
    /// the engine builds for this target; default: the one of `evaluate`. Several
    /// formulations fit one force field at once.
    #[serde(default)]
    pub formulation: Option<String>,
    pub observable: Observable,
    /// The condition of a viscosity: shear rate, "18 1/s" or a number in 1/µs.
    #[serde(default)]
    pub shear_rate: Option<String>,
    pub value: f64,
    /// Unit of `value` and `uncertainty`: g/cm3 for a density, Pa*s for a viscosity.
    pub unit: String,
    /// Measurement uncertainty (1 standard deviation) in `unit`.
    pub uncertainty: f64,
}

impl TargetSpec {
    /// The shear rate in 1/s (viscosities only).
    pub fn shear_rate_per_s(&self) -> Option<f64> {
        let r = parse::<Rate>(self.shear_rate.as_deref()?).ok()?;
        Some(r * 1e6)
    }

    /// Column name with unit, e.g. `viscosity@18/s[Pa*s]`, prefixed by the formulation's
    /// file stem when it has its own (`nmc_b:density[g/cm3]`).
    pub fn column(&self) -> String {
        let name = match (self.observable, self.shear_rate_per_s()) {
            (Observable::Viscosity, Some(r)) => format!("viscosity@{}/s[Pa*s]", (r * 1e3).round() / 1e3),
            (o, _) => format!("{}[{}]", format!("{o:?}").to_lowercase(), o.unit()),
        };
        match &self.formulation {
            Some(f) => {
                let stem = std::path::Path::new(f)
                    .file_stem()
                    .map_or(f.clone(), |s| s.to_string_lossy().into());
                format!("{stem}:{name}")
            }
            None => name,
        }
    }
}

/// What runs a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Evaluator {
    /// The particle engine on this scenario's slurry stage (path relative to the fit file);
    /// the NEMD shear rates become the targets'.
    Scenario(String),
    /// The benchmark surface fitted to the reference's LAMMPS runs (needs ETWIN_DATA_DIR;
    /// density and viscosity at 18 and 125 1/s; d_cbd is not a parameter of it).
    Benchmark,
}

/// Where the members start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub enum Start {
    #[default]
    Random,
    /// One member at these values (in the parameters' order and units).
    Point(Vec<f64>),
    /// The best points of an earlier run's evaluation log (path relative to the fit file);
    /// with a surrogate, it also learns from the whole log.
    Log(String),
}

fn d_swarm() -> usize {
    8
}
fn d_iterations() -> u64 {
    20
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerSpec {
    /// Members [-].
    #[serde(default = "d_swarm")]
    pub swarm: usize,
    /// Iterations after the first evaluation of the swarm [-].
    #[serde(default = "d_iterations")]
    pub iterations: u64,
    /// Stop once the cost is at or below this [-].
    #[serde(default)]
    pub target_cost: f64,
    #[serde(default)]
    pub start: Start,
    /// Surrogate assistance; none = plain swarm.
    #[serde(default)]
    pub surrogate: Option<Assist>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Fit")]
pub struct FitSpec {
    pub version: u32,
    /// Results go to `out/<name>/` by default.
    pub name: String,
    #[serde(default)]
    pub seed: u64,
    pub evaluate: Evaluator,
    pub parameters: Vec<ParameterSpec>,
    pub targets: Vec<TargetSpec>,
    pub cost: CostKind,
    pub optimizer: OptimizerSpec,
}

fn at(path: Vec<(&'static str, usize)>, key: String, what: String, hint: &str) -> Option<Problem> {
    Some((path, key, what, hint.to_string()))
}

impl FitSpec {
    pub fn parse(src: &str, file: &str) -> Result<FitSpec> {
        parse_checked(src, file, "a Fit(...) file", FitSpec::problem)
    }

    pub fn load(path: &std::path::Path) -> Result<(FitSpec, String)> {
        let src = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Ok((FitSpec::parse(&src, &path.display().to_string())?, src))
    }

    fn problem(&self) -> Option<Problem> {
        if self.version != VERSION {
            return at(
                vec![("version", 0)],
                "version".into(),
                format!("version {}", self.version),
                "this build reads version 1",
            );
        }
        if self.parameters.is_empty() {
            return at(
                vec![("parameters", 0)],
                "parameters".into(),
                "no parameter to fit".into(),
                &format!("list one or more of {}", parameter_names()),
            );
        }
        for (i, p) in self.parameters.iter().enumerate() {
            let key = |k: &str| format!("parameters[{i}].{k}");
            let Some(k) = parameter_index(&p.name) else {
                return at(
                    vec![("parameters", 0), ("name", i)],
                    key("name"),
                    format!("unknown parameter `{}`", p.name),
                    &format!("one of {}", parameter_names()),
                );
            };
            if self.parameters[..i].iter().any(|q| q.name == p.name) {
                return at(
                    vec![("parameters", 0), ("name", i)],
                    key("name"),
                    format!("`{}` is listed twice", p.name),
                    "list each parameter once",
                );
            }
            let unit = PARAMETERS[k].1;
            if p.unit != unit {
                return at(
                    vec![("parameters", 0), ("unit", i)],
                    key("unit"),
                    format!("`{}` for {}", p.unit, p.name),
                    &format!("{} is in {unit}; write the bounds in it", p.name),
                );
            }
            let log_bad = p.scale == Scale::Log && p.lower <= 0.0;
            if !(p.lower.is_finite() && p.upper.is_finite() && p.lower < p.upper) || log_bad {
                return at(
                    vec![("parameters", 0), ("lower", i)],
                    key("lower"),
                    format!("bounds [{}, {}] {unit}", p.lower, p.upper),
                    "finite, lower < upper (and lower > 0 on a log scale)",
                );
            }
            if self.evaluate == Evaluator::Benchmark && p.name == "d_cbd" {
                return at(
                    vec![("parameters", 0), ("name", i)],
                    key("name"),
                    "d_cbd is fixed (6.2 µm) in the reference's evaluations".into(),
                    "fit d_cbd with the particle engine: evaluate: Scenario(\"…\")",
                );
            }
        }
        if self.targets.is_empty() {
            return at(
                vec![("targets", 0)],
                "targets".into(),
                "no target".into(),
                "e.g. (observable: Density, value: 2.24, unit: \"g/cm3\", uncertainty: 0.02)",
            );
        }
        for (i, t) in self.targets.iter().enumerate() {
            let key = |k: &str| format!("targets[{i}].{k}");
            if t.unit != t.observable.unit() {
                return at(
                    vec![("targets", 0), ("unit", i)],
                    key("unit"),
                    format!("`{}` for a {:?} target", t.unit, t.observable),
                    &format!("write the value and uncertainty in {}", t.observable.unit()),
                );
            }
            let rate = t.shear_rate.as_deref().map(parse::<Rate>);
            match (t.observable, rate) {
                (Observable::Viscosity, None) => {
                    return at(
                        vec![("targets", 0), ("observable", i)],
                        key("shear_rate"),
                        "a viscosity without its shear rate".into(),
                        "add shear_rate: \"18 1/s\"",
                    )
                }
                (Observable::Viscosity, Some(Err(e))) => {
                    return at(
                        vec![("targets", 0), ("shear_rate", 0)],
                        key("shear_rate"),
                        e,
                        "e.g. \"18 1/s\"",
                    )
                }
                (Observable::Viscosity, Some(Ok(r))) if !(r > 0.0 && r.is_finite()) => {
                    return at(
                        vec![("targets", 0), ("shear_rate", 0)],
                        key("shear_rate"),
                        format!("{r} 1/µs"),
                        "a shear rate is > 0",
                    )
                }
                (Observable::Density, Some(_)) => {
                    return at(
                        vec![("targets", 0), ("shear_rate", 0)],
                        key("shear_rate"),
                        "a density has no shear rate".into(),
                        "remove shear_rate from the density target",
                    )
                }
                _ => {}
            }
            let bad_u = self.cost == CostKind::UncertaintyWeighted && t.uncertainty <= 0.0;
            if !(t.value > 0.0 && t.value.is_finite() && t.uncertainty >= 0.0) || bad_u {
                return at(
                    vec![("targets", 0), ("value", i)],
                    key("value"),
                    format!("value {} ± {}", t.value, t.uncertainty),
                    "a value > 0 and an uncertainty ≥ 0 (> 0 for UncertaintyWeighted)",
                );
            }
            if self.targets[..i].iter().any(|o| o.column() == t.column()) {
                return at(
                    vec![("targets", 0), ("observable", i)],
                    key("observable"),
                    format!("{} is a target twice", t.column()),
                    "one target per observable and condition",
                );
            }
        }
        if self.evaluate == Evaluator::Benchmark {
            if let Some(i) = self.targets.iter().position(|t| t.formulation.is_some()) {
                return at(
                    vec![("targets", 0), ("formulation", 0)],
                    format!("targets[{i}].formulation"),
                    "the benchmark surface has one formulation".into(),
                    "fit several formulations with the particle engine: evaluate: Scenario(\"…\")",
                );
            }
            let ok = self.targets.iter().all(|t| match t.observable {
                Observable::Density => true,
                Observable::Viscosity => matches!(t.shear_rate_per_s().map(|r| r.round()), Some(18.0) | Some(125.0)),
            });
            if !ok {
                return at(
                    vec![("targets", 0)],
                    "targets".into(),
                    "the benchmark surface knows viscosities at 18 and 125 1/s only".into(),
                    "use the particle engine for other shear rates",
                );
            }
        }
        let o = &self.optimizer;
        if o.swarm == 0 {
            return at(
                vec![("optimizer", 0), ("swarm", 0)],
                "optimizer.swarm".into(),
                "0 members".into(),
                "8 as in the reference",
            );
        }
        if let Start::Point(p) = &o.start {
            if p.len() != self.parameters.len() {
                return at(
                    vec![("optimizer", 0), ("start", 0)],
                    "optimizer.start".into(),
                    format!("{} values for {} parameters", p.len(), self.parameters.len()),
                    "one value per parameter, in their order and units",
                );
            }
        }
        if let Some((k, what)) = o.surrogate.as_ref().and_then(|a| a.nets.problem()) {
            return at(
                vec![("optimizer", 0), ("surrogate", 0), (k, 0)],
                format!("optimizer.surrogate.nets.{k}"),
                what,
                "e.g. the defaults: hidden 32, epochs 300, learning_rate 0.01, ensemble 4",
            );
        }
        None
    }

    /// The swarm's bounds (internal coordinates).
    pub fn bounds(&self) -> (Vec<f64>, Vec<f64>) {
        self.parameters
            .iter()
            .map(|p| (p.to_internal(p.lower), p.to_internal(p.upper)))
            .unzip()
    }
}
