//! Running a sweep's cases: in parallel, each in its own folder, resumable (a finished
//! case with the same scenario hash is skipped, an interrupted one resumes from its
//! checkpoint), and the results table written atomically in case order. A case whose
//! simulation fails by its own physics (it blows up, or its box ends too small to shear)
//! is a row with status `failed` and the reason, not the end of the sweep.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;
use crate::io::sha256_hex;
use crate::scenario::Scenario;
use crate::slurry::output::{results_without_timing, write_all};
use crate::slurry::protocol::{self, Checkpointing, Quiet, RunState, CHECKPOINT};
use crate::sweep::replicates::{write_replicates, REPLICATES};
use crate::sweep::spec::{Case, Plan};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub out: PathBuf,
    /// (i, n): run shard i of n.
    pub shard: (usize, usize),
    /// Worker threads in all (split between concurrent cases and inside a case).
    pub threads: usize,
    /// Wall-clock seconds between a case's checkpoints.
    pub checkpoint_every: f64,
    /// Run failed cases again instead of taking their recorded failure (after a change to
    /// the code, or to a file the scenario reads, which its text and hash do not show).
    pub retry_failed: bool,
}

/// What a shard folder holds besides the cases: enough for `merge` to check completeness.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardInfo {
    pub sweep: String,
    pub sweep_sha256: String,
    pub shard: (usize, usize),
    pub cases_total: usize,
    pub cases: Vec<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub cases: usize,
    /// Cases computed by this invocation (the others were finished already).
    pub ran: usize,
    pub skipped: usize,
    /// Cases whose simulation failed (status `failed` in the table), by index.
    pub failed: Vec<usize>,
    pub table: PathBuf,
    /// `replicates.csv`, for an unsharded sweep with a `seed` factor.
    pub replicates: Option<PathBuf>,
}

pub const TABLE: &str = "results.csv";
pub const TIMING: &str = "timing.csv";
pub const SHARD: &str = "shard.json";
/// A failed case's record in its folder: scenario hash and reason.
pub const FAILED: &str = "failed.json";

/// Receives a line per finished case (the CLI draws a bar with ETA).
pub trait SweepProgress: Sync {
    fn case_done(&self, index: usize, skipped: bool);
}

pub fn case_dir(out: &Path, index: usize) -> PathBuf {
    out.join("cases").join(format!("case_{index:04}"))
}

/// What a case gave: its results (without timing), or why its simulation failed.
enum CaseOutcome {
    Done(Value),
    Failed(String),
}

/// The outcome of a finished case with this scenario text, if there is one; a recorded
/// failure counts only without `retry_failed`.
fn finished(dir: &Path, text: &str, retry_failed: bool) -> Option<CaseOutcome> {
    let read =
        |name: &str| -> Option<Value> { serde_json::from_str(&std::fs::read_to_string(dir.join(name)).ok()?).ok() };
    let hash = sha256_hex(text.as_bytes());
    let failed = (!retry_failed).then(|| read(FAILED)).flatten();
    if let Some(f) = failed.filter(|f| f["scenario_sha256"].as_str() == Some(hash.as_str())) {
        return Some(CaseOutcome::Failed(f["error"].as_str()?.to_string()));
    }
    if read("manifest.json")?["scenario_sha256"].as_str()? != hash {
        return None;
    }
    let mut r = read("results.json")?;
    r.as_object_mut()?.remove("timing");
    Some(CaseOutcome::Done(r))
}

/// Runs (or resumes, or skips) one case; returns its outcome and whether it was skipped.
fn run_case(case: &Case, opts: &RunOptions, pool: &rayon::ThreadPool) -> Result<(CaseOutcome, bool)> {
    let dir = case_dir(&opts.out, case.index);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let text = ron::ser::to_string_pretty(&case.scenario, ron::ser::PrettyConfig::default())
        .map_err(|e| Error::Setup(e.to_string()))?;
    if let Some(r) = finished(&dir, &text, opts.retry_failed) {
        return Ok((r, true));
    }
    let _ = std::fs::remove_file(dir.join(FAILED));
    let path = dir.join("scenario.ron");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        // A changed case starts over.
        let _ = std::fs::remove_file(dir.join(CHECKPOINT));
        write_atomic(&path, |w| w.write_all(text.as_bytes()))?;
    }
    let l = Scenario::load(&path)?;
    let cp = Checkpointing {
        dir: dir.clone(),
        every_s: opts.checkpoint_every,
    };
    // The case is its pool's only work, so its simulations may lead teams.
    let run = pool.install(|| {
        crate::sim::team::allow(|| {
            if dir.join(CHECKPOINT).exists() {
                let st = RunState::load(&dir, &l)?;
                protocol::resume(&l, st, &mut Quiet, Some(&cp))
            } else {
                protocol::run(&l, &mut Quiet, Some(&cp))
            }
        })
    });
    let run = match run {
        Ok(run) => run,
        Err(e) if e.is_simulation_failure() => {
            // One line, so that the table stays a line per case.
            let why = e.to_string().lines().map(str::trim).collect::<Vec<_>>().join("; ");
            let record = json!({ "scenario_sha256": sha256_hex(text.as_bytes()), "error": why });
            write_atomic(&dir.join(FAILED), |w| w.write_all(record.to_string().as_bytes()))?;
            let _ = std::fs::remove_file(dir.join(CHECKPOINT));
            return Ok((CaseOutcome::Failed(why), false));
        }
        Err(e) => return Err(e),
    };
    write_all(&dir, &l, &run, pool.current_num_threads())?;
    let _ = std::fs::remove_file(dir.join(CHECKPOINT));
    Ok((CaseOutcome::Done(results_without_timing(&run)), false))
}

/// Scalars of a results tree as (dotted name, value); long profiles and recipe counts are
/// left to the case's own results.json.
pub fn flatten(v: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if matches!(k.as_str(), "counts" | "cbd_profile") {
                    continue;
                }
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(x, &name, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(x, &format!("{prefix}[{i}]"), out);
            }
        }
        _ => out.push((prefix.to_string(), v.clone())),
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) if s.contains(',') || s.contains('"') => format!("\"{}\"", s.replace('"', "\"\"")),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A table row: case index, factor values, outcomes.
pub type Row = Vec<(String, Value)>;

/// A case's row, wall seconds, whether it was finished already, and whether it failed.
type Outcome = (Row, f64, bool, bool);

/// Writes rows of (column, CSV cell) as a table with the union of the columns in
/// first-seen order (a row without a column leaves its cell empty).
pub fn write_table(path: &Path, rows: &[Vec<(String, String)>]) -> Result<()> {
    let mut columns: Vec<&str> = Vec::new();
    for r in rows {
        for (k, _) in r {
            if !columns.contains(&k.as_str()) {
                columns.push(k);
            }
        }
    }
    write_atomic(path, |w| {
        writeln!(w, "{}", columns.join(","))?;
        for r in rows {
            let cells: Vec<&str> = columns
                .iter()
                .map(|c| r.iter().find(|(k, _)| k == c).map_or("", |(_, v)| v.as_str()))
                .collect();
            writeln!(w, "{}", cells.join(","))?;
        }
        Ok(())
    })
}

/// case, factors, `status` (`ok`, `held`: the NPT box held at the self-image limit, or
/// `failed`), `error` (the reason, or empty), outcomes.
fn row(case: &Case, outcome: &CaseOutcome) -> Row {
    let mut r: Row = vec![("case".into(), Value::from(case.index))];
    r.extend(case.values.iter().map(|(k, v)| (format!("factor:{k}"), v.clone())));
    match outcome {
        CaseOutcome::Done(results) => {
            // A box held at the self-image limit reports the limit's density (see
            // `SlurryResult::npt_box_held`): the row keeps its outcomes, flagged.
            let held = results["slurry"]["npt_box_limited_steps"]
                .as_u64()
                .is_some_and(|n| n > 0);
            let status = if held { "held" } else { "ok" };
            r.extend([("status".into(), Value::from(status)), ("error".into(), Value::Null)]);
            flatten(results, "", &mut r);
        }
        CaseOutcome::Failed(why) => r.extend([
            ("status".into(), Value::from("failed")),
            ("error".into(), Value::from(why.as_str())),
        ]),
    }
    r
}

/// Runs the shard's cases; writes `results.csv`, `timing.csv` and `shard.json` into the
/// output folder.
pub fn run(plan: &Plan, opts: &RunOptions, progress: &dyn SweepProgress) -> Result<SweepReport> {
    let (i, n) = opts.shard;
    if n == 0 || i >= n {
        return Err(Error::Setup(format!("--shard {i}/{n}: expected I/N with 0 ≤ I < N")));
    }
    let cases = plan.shard(i, n);
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    let threads = opts.threads.max(1);
    let concurrent = threads.min(cases.len()).max(1);
    let inner = (threads / concurrent).max(1);
    // `concurrent` workers, each with its own pool of `inner` threads, take cases in order:
    // never more threads than asked for.
    let next = AtomicUsize::new(0);
    let ran = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Result<Outcome>>>> = Mutex::new((0..cases.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..concurrent {
            scope.spawn(|| {
                let pool = match rayon::ThreadPoolBuilder::new().num_threads(inner).build() {
                    Ok(p) => p,
                    Err(e) => {
                        let k = next
                            .fetch_add(cases.len(), Ordering::Relaxed)
                            .min(cases.len().saturating_sub(1));
                        slots.lock().expect("no panic holds it")[k] =
                            Some(Err(Error::Setup(format!("thread pool: {e}"))));
                        return;
                    }
                };
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(c) = cases.get(k) else { break };
                    let t = Instant::now();
                    let r = run_case(c, opts, &pool)
                        .map_err(|e| Error::Setup(format!("case {}: {e}", c.index)))
                        .map(|(outcome, skipped)| {
                            if !skipped {
                                ran.fetch_add(1, Ordering::Relaxed);
                            }
                            progress.case_done(c.index, skipped);
                            let failed = matches!(outcome, CaseOutcome::Failed(_));
                            (row(c, &outcome), t.elapsed().as_secs_f64(), skipped, failed)
                        });
                    slots.lock().expect("no panic holds it")[k] = Some(r);
                }
            });
        }
    });
    let outcomes: Vec<Outcome> = slots
        .into_inner()
        .expect("no panic holds it")
        .into_iter()
        .enumerate()
        .map(|(k, r)| r.unwrap_or_else(|| Err(Error::Setup(format!("case {} did not run", cases[k].index)))))
        .collect::<Result<_>>()?;
    let rows: Vec<Vec<(String, String)>> = outcomes
        .iter()
        .map(|o| o.0.iter().map(|(k, v)| (k.clone(), cell(v))).collect())
        .collect();
    let table = opts.out.join(TABLE);
    write_table(&table, &rows)?;
    // A shard's replicas are a part of each group: `merge` summarizes them all.
    let replicates = (n == 1 && write_replicates(&opts.out, &rows)?).then(|| opts.out.join(REPLICATES));
    write_atomic(&opts.out.join(TIMING), |w| {
        writeln!(w, "case,seconds[s],skipped")?;
        for (c, o) in cases.iter().zip(&outcomes) {
            writeln!(w, "{},{},{}", c.index, o.1, o.2)?;
        }
        Ok(())
    })?;
    let src = std::fs::read_to_string(&plan.path).map_err(|e| Error::io(&plan.path, e))?;
    let info = ShardInfo {
        sweep: plan.sweep.name.clone(),
        sweep_sha256: sha256_hex(src.as_bytes()),
        shard: (i, n),
        cases_total: plan.cases.len(),
        cases: cases.iter().map(|c| c.index).collect(),
    };
    let text = serde_json::to_string_pretty(&info).map_err(|e| Error::Setup(e.to_string()))?;
    write_atomic(&opts.out.join(SHARD), |w| w.write_all(text.as_bytes()))?;
    let ran = ran.into_inner();
    Ok(SweepReport {
        cases: cases.len(),
        ran,
        skipped: cases.len() - ran,
        failed: cases
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| o.3)
            .map(|(c, _)| c.index)
            .collect(),
        table,
        replicates,
    })
}
