//! The evaluation log: one CSV row per simulator call, written and flushed as each call
//! finishes (the reference's log, plus provenance): call, iteration, member, proposer,
//! parameters and observables with units, standard errors, cost, best cost, wall time.
//! A killed fit's log is read back on `--resume` so that no finished call is repeated.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

use super::objective::{Evaluation, EvaluationSink, Observed, Proposer};
use super::spec::FitSpec;

/// The header of a fit's log.
pub fn header(spec: &FitSpec) -> String {
    let mut cols: Vec<String> = ["call", "iteration", "member", "proposer"].map(String::from).to_vec();
    for p in &spec.parameters {
        cols.push(format!("{}[{}]", p.name, p.unit));
    }
    for t in &spec.targets {
        cols.push(t.column());
    }
    for t in &spec.targets {
        let c = t.column();
        let (name, unit) = c.split_once('[').unwrap_or((&c, "-]"));
        cols.push(format!("{name}_stderr[{unit}"));
    }
    cols.extend(["cost[-]", "best_cost[-]", "wall[s]"].map(String::from));
    cols.join(",")
}

pub struct CsvLog {
    file: File,
    path: PathBuf,
    spec: FitSpec,
}

impl CsvLog {
    /// Opens `path` for appending; writes the header if the file is new or empty.
    pub fn open(path: &Path, spec: &FitSpec) -> Result<CsvLog> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let empty = file.metadata().map_err(|e| Error::io(path, e))?.len() == 0;
        if empty {
            writeln!(file, "{}", header(spec)).map_err(|e| Error::io(path, e))?;
        }
        Ok(CsvLog {
            file,
            path: path.to_path_buf(),
            spec: spec.clone(),
        })
    }
}

fn row(spec: &FitSpec, e: &Evaluation) -> String {
    let mut cols = vec![
        e.call.to_string(),
        e.iteration.to_string(),
        e.member.to_string(),
        e.proposer.name().to_string(),
    ];
    cols.extend(
        spec.parameters
            .iter()
            .zip(&e.x)
            .map(|(p, x)| p.to_value(*x).to_string()),
    );
    cols.extend(e.observed.values.iter().map(f64::to_string));
    cols.extend(e.observed.stderr.iter().map(f64::to_string));
    cols.extend([e.cost.to_string(), e.best_cost.to_string(), format!("{:.3}", e.wall_s)]);
    cols.join(",")
}

impl EvaluationSink for CsvLog {
    fn record(&mut self, e: &Evaluation) -> std::result::Result<(), String> {
        let line = row(&self.spec, e);
        writeln!(self.file, "{line}")
            .and_then(|_| self.file.sync_data())
            .map_err(|err| format!("{}: {err}", self.path.display()))
    }
}

/// Reads a log written for `spec` (same parameters and targets). A last line cut short
/// by a kill is dropped.
pub fn read(path: &Path, spec: &FitSpec) -> Result<Vec<Evaluation>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = text.lines();
    let expected = header(spec);
    let file = path.display().to_string();
    match lines.next() {
        Some(h) if h.trim() == expected => {}
        Some(h) => {
            return Err(Error::Setup(format!(
                "{file}:1:1: the log's columns\n  {h}\n  are not this fit's\n  {expected}\n  hint: a log from the same fit file (parameters and targets)"
            )))
        }
        None => return Ok(Vec::new()),
    }
    let (np, nt) = (spec.parameters.len(), spec.targets.len());
    let complete = text.ends_with('\n');
    let rows: Vec<&str> = lines.collect();
    let mut out = Vec::new();
    for (i, line) in rows.iter().enumerate() {
        if line.trim().is_empty() || (i + 1 == rows.len() && !complete) {
            continue;
        }
        let bad = |what: &str| Error::Setup(format!("{file}:{}:1: {what}\n  hint: a log this tool wrote", i + 2));
        let c: Vec<&str> = line.split(',').collect();
        if c.len() != 4 + np + 2 * nt + 3 {
            return Err(bad(&format!(
                "{} columns, the header has {}",
                c.len(),
                expected.split(',').count()
            )));
        }
        let num = |s: &str| {
            s.trim()
                .parse::<f64>()
                .map_err(|_| bad(&format!("`{s}` is not a number")))
        };
        let int = |s: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| bad(&format!("`{s}` is not a count")))
        };
        let x = spec
            .parameters
            .iter()
            .enumerate()
            .map(|(k, p)| num(c[4 + k]).map(|v| p.to_internal(v)))
            .collect::<Result<Vec<f64>>>()?;
        let values = (0..nt).map(|k| num(c[4 + np + k])).collect::<Result<Vec<f64>>>()?;
        let stderr = (0..nt).map(|k| num(c[4 + np + nt + k])).collect::<Result<Vec<f64>>>()?;
        let tail = 4 + np + 2 * nt;
        out.push(Evaluation {
            call: int(c[0])? as usize,
            iteration: int(c[1])?,
            member: int(c[2])? as usize,
            proposer: Proposer::parse(c[3].trim()).ok_or_else(|| bad(&format!("unknown proposer `{}`", c[3])))?,
            x,
            observed: Observed { values, stderr },
            cost: num(c[tail])?,
            best_cost: num(c[tail + 1])?,
            wall_s: num(c[tail + 2])?,
        });
    }
    Ok(out)
}
