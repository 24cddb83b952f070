//! Sweep files (RON, versioned): a base scenario and factors, each a key path into the
//! scenario with its values, combined by a design (full grid, Latin hypercube, or a CSV of
//! cases). Every case is a complete, self-contained scenario, checked before any runs.

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::io::text::{locate_path, ron_error};
use crate::scenario::{resolve_path, ForceFieldSpec, Scenario};
use crate::sim::forcefield::reference::ReferenceModel;

pub const VERSION: u32 = 1;

/// A factor's values: listed, or `count` evenly spaced from `start` to `stop` (numbers in
/// the field's canonical unit, or strings with a unit, as in scenarios).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Values {
    List(Vec<ron::Value>),
    Range { start: f64, stop: f64, count: usize },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Factor {
    /// Key path into the scenario, e.g. `formulation.solid_content` or
    /// `protocol.npt.pressure_stop`.
    pub key: String,
    pub values: Values,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Design {
    /// Every combination, the first factor varying slowest.
    Grid,
    /// `cases` cases; each factor's values (a `Range` is sampled in `cases` strata) visited
    /// in a seeded random order.
    LatinHypercube { cases: usize, seed: u64 },
    /// One case per row; a column per factor key, cells are scenario values.
    Csv(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    pub version: u32,
    pub name: String,
    /// The base scenario, relative to the sweep file.
    pub base: String,
    pub factors: Vec<Factor>,
    pub design: Design,
}

/// One case: its index, the factor values (as given) and the full scenario.
#[derive(Debug, Clone)]
pub struct Case {
    pub index: usize,
    pub values: Vec<(String, Value)>,
    pub scenario: Scenario,
}

/// A loaded sweep and its cases.
#[derive(Debug, Clone)]
pub struct Plan {
    pub sweep: Sweep,
    pub path: PathBuf,
    pub cases: Vec<Case>,
}

fn to_json(v: &ron::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl Sweep {
    fn factor_values(&self, src: &str, file: &str) -> Result<Vec<Vec<Value>>> {
        self.factors
            .iter()
            .enumerate()
            .map(|(k, f)| {
                let v: Vec<Value> = match &f.values {
                    Values::List(l) => l.iter().map(to_json).collect(),
                    Values::Range { start, stop, count } => match count {
                        0 => Vec::new(),
                        1 => vec![Value::from(*start)],
                        n => (0..*n)
                            .map(|i| Value::from(start + (stop - start) * i as f64 / (n - 1) as f64))
                            .collect(),
                    },
                };
                if v.is_empty() {
                    return Err(Error::Value {
                        at: locate_path(src, &[("factors", 0), ("values", k)], file),
                        key: format!("factors[{k}].values"),
                        what: "no values".into(),
                        hint: "List([...]) with at least one value, or Range(start, stop, count ≥ 1)".into(),
                    });
                }
                Ok(v)
            })
            .collect()
    }

    /// The design's rows: one value per factor.
    fn rows(&self, sweep_path: &Path, src: &str, file: &str) -> Result<Vec<Vec<Value>>> {
        let values = self.factor_values(src, file)?;
        let empty = |what: &str| Error::Value {
            at: locate_path(src, &[("design", 0)], file),
            key: "design".into(),
            what: what.into(),
            hint: "a design needs at least one factor and one case".into(),
        };
        if self.factors.is_empty() {
            return Err(empty("no factors"));
        }
        let rows = match &self.design {
            Design::Grid => values.iter().fold(vec![Vec::new()], |acc, vs| {
                acc.iter()
                    .flat_map(|row| {
                        vs.iter().map(move |v| {
                            let mut r = row.clone();
                            r.push(v.clone());
                            r
                        })
                    })
                    .collect()
            }),
            Design::LatinHypercube { cases, seed } => {
                let mut rng = ChaCha8Rng::seed_from_u64(*seed);
                let columns: Vec<Vec<Value>> = self
                    .factors
                    .iter()
                    .zip(&values)
                    .map(|(f, vs)| {
                        let mut col: Vec<Value> = match &f.values {
                            Values::Range { start, stop, .. } => (0..*cases)
                                .map(|i| Value::from(start + (stop - start) * (i as f64 + 0.5) / *cases as f64))
                                .collect(),
                            Values::List(_) => (0..*cases).map(|i| vs[i % vs.len()].clone()).collect(),
                        };
                        col.shuffle(&mut rng);
                        col
                    })
                    .collect();
                (0..*cases)
                    .map(|i| columns.iter().map(|c| c[i].clone()).collect())
                    .collect()
            }
            Design::Csv(rel) => {
                let path = sweep_path.parent().unwrap_or(Path::new(".")).join(rel);
                let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
                csv_rows(&text, &path.display().to_string(), &self.factors)?
            }
        };
        if rows.is_empty() {
            return Err(empty("the design has no cases"));
        }
        Ok(rows)
    }
}

/// Rows of a design CSV: a header naming every factor key, then one case per line.
fn csv_rows(text: &str, file: &str, factors: &[Factor]) -> Result<Vec<Vec<Value>>> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .map(|(_, h)| h.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let cols: Vec<usize> = factors
        .iter()
        .map(|f| {
            header.iter().position(|h| *h == f.key).ok_or_else(|| Error::Parse {
                at: crate::error::Location {
                    file: file.into(),
                    line: 1,
                    col: 1,
                },
                what: format!("no column `{}`", f.key),
                expected: "a header with one column per factor key".into(),
                hint: "the design CSV names the factors' key paths".into(),
            })
        })
        .collect::<Result<_>>()?;
    Ok(lines
        .map(|(_, l)| {
            let cells: Vec<&str> = l.split(',').map(str::trim).collect();
            cols.iter()
                .map(|&c| {
                    let cell = cells.get(c).copied().unwrap_or("");
                    cell.parse::<f64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::from(cell.trim_matches('"')))
                })
                .collect()
        })
        .collect())
}

/// Sets `key` (dotted path) in a JSON tree; the path must exist (Option fields that are
/// None count as existing leaves).
fn set_path(tree: &mut Value, key: &str, v: Value) -> std::result::Result<(), String> {
    let mut node = tree;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        let obj = node
            .as_object_mut()
            .ok_or_else(|| format!("`{}` is not a section", parts[..i].join(".")))?;
        if !obj.contains_key(*p) {
            return Err(format!(
                "no key `{p}` in `{}`",
                if i == 0 {
                    "scenario".into()
                } else {
                    parts[..i].join(".")
                }
            ));
        }
        if i + 1 == parts.len() {
            obj.insert(p.to_string(), v);
            return Ok(());
        }
        node = obj.get_mut(*p).expect("checked");
    }
    Err("empty key".into())
}

impl Plan {
    /// Reads a sweep, its base scenario, and builds and checks every case.
    pub fn load(path: &Path) -> Result<Plan> {
        let src = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let file = path.display().to_string();
        let options = ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
        let sweep: Sweep = options
            .from_str(&src)
            .map_err(|e| ron_error(&e, &src, &file, "a Sweep(...) file"))?;
        if sweep.version != VERSION {
            return Err(Error::Value {
                at: locate_path(&src, &[("version", 0)], &file),
                key: "version".into(),
                what: format!("version {}", sweep.version),
                hint: "this build reads version 1".into(),
            });
        }
        let base_path = path.parent().unwrap_or(Path::new(".")).join(&sweep.base);
        let base = Scenario::load(&base_path)?;
        // Self-contained cases: the force field inline, paths absolute.
        let mut sc = base.scenario.clone();
        sc.forcefield = ForceFieldSpec::Inline(base.model.clone());
        if let Some(ForceFieldSpec::File(rel)) = &sc.forcefield_dry {
            let p = base_path.parent().unwrap_or(Path::new(".")).join(rel);
            sc.forcefield_dry = Some(ForceFieldSpec::Inline(ReferenceModel::load(&p)?));
        }
        if let Some(rel) = &sc.protocol.start_from {
            if !rel.starts_with("$ETWIN_DATA_DIR/") {
                sc.protocol.start_from = Some(resolve_path(rel, &base_path)?.display().to_string());
            }
        }
        let tree = serde_json::to_value(&sc).map_err(|e| Error::Setup(e.to_string()))?;
        let rows = sweep.rows(path, &src, &file)?;
        let mut cases = Vec::with_capacity(rows.len());
        for (index, row) in rows.into_iter().enumerate() {
            let mut t = tree.clone();
            for (k, (f, v)) in sweep.factors.iter().zip(&row).enumerate() {
                let at = || locate_path(&src, &[("factors", 0), ("key", k)], &file);
                set_path(&mut t, &f.key, v.clone()).map_err(|what| Error::Value {
                    at: at(),
                    key: f.key.clone(),
                    what,
                    hint: "key paths follow the scenario's sections, e.g. formulation.solid_content".into(),
                })?;
            }
            let mut scenario: Scenario = serde_json::from_value(t).map_err(|e| Error::Value {
                at: locate_path(&src, &[("factors", 0)], &file),
                key: "factors".into(),
                what: format!("case {index}: {e}"),
                hint: "a factor value has the wrong type or unit for its field".into(),
            })?;
            scenario.name = format!("{}_case{index:04}", sweep.name);
            let text = ron::ser::to_string(&scenario).map_err(|e| Error::Setup(e.to_string()))?;
            Scenario::parse(&text, &format!("{file} (case {index})"))?;
            cases.push(Case {
                index,
                values: sweep.factors.iter().map(|f| f.key.clone()).zip(row).collect(),
                scenario,
            });
        }
        Ok(Plan {
            sweep,
            path: path.to_path_buf(),
            cases,
        })
    }

    /// The cases of shard `i` of `n`: every n-th case from the i-th.
    pub fn shard(&self, i: usize, n: usize) -> Vec<&Case> {
        self.cases.iter().filter(|c| c.index % n == i).collect()
    }
}
