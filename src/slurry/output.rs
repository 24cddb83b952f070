//! Files of a slurry run, each written atomically: `results.json`, `manifest.json`, a time
//! series CSV per phase (unit-bearing headers), structures as LAMMPS data, VTU, and the
//! report.

use std::path::Path;

use serde_json::{json, Value};

use crate::drying::Frame;
use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;
use crate::io::sha256_hex;
use crate::io::vtu::{write_vtu, write_vtu_with};
use crate::scenario::Loaded;
use crate::slurry::protocol::SlurryRun;
use crate::slurry::report::write_report;

/// `results.json` content: the slurry results and the per-phase timing.
pub fn results_json(run: &SlurryRun) -> Value {
    let timing: serde_json::Map<String, Value> = run.timing.iter().map(|(k, v)| (format!("{k}_s"), json!(v))).collect();
    let mut v = results_without_timing(run);
    v["timing"] = json!(timing);
    v
}

/// The same without timing: identical for identical physics.
pub fn results_without_timing(run: &SlurryRun) -> Value {
    let mut v = json!({ "slurry": run.result });
    if let Some(d) = &run.drying {
        v["drying"] = json!(d);
    }
    if let Some(c) = &run.consolidation {
        v["consolidation"] = json!(c);
    }
    if let Some(c) = &run.calendering {
        v["calendering"] = json!(c);
    }
    v
}

fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn json_bytes(v: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| Error::Setup(e.to_string()))
}

/// A stage's frames as `<stem>_NNNN.vtu` and their ParaView index `<stem>.pvd` (time in µs).
fn write_frames(dir: &Path, stem: &str, frames: &[Frame]) -> Result<()> {
    if frames.is_empty() {
        return Ok(());
    }
    let mut index =
        String::from("<?xml version=\"1.0\"?>\n<VTKFile type=\"Collection\" version=\"0.1\">\n  <Collection>\n");
    for f in frames {
        let name = format!("{stem}_{:04}.vtu", f.cycle);
        write_vtu_with(&dir.join(&name), &f.particles(), &f.arrays)?;
        index += &format!("    <DataSet timestep=\"{}\" part=\"0\" file=\"{name}\"/>\n", f.time_us);
    }
    index += "  </Collection>\n</VTKFile>\n";
    write_atomic(&dir.join(format!("{stem}.pvd")), |w| w.write_all(index.as_bytes()))
}

/// Writes every output of `run` into `dir`.
pub fn write_all(dir: &Path, l: &Loaded, run: &SlurryRun, threads: usize) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let o = &l.scenario.outputs;
    if o.timeseries {
        for s in &run.series {
            write_atomic(&dir.join(format!("{}.csv", s.name)), |w| {
                writeln!(w, "{}", s.header)?;
                for r in &s.rows {
                    let cells: Vec<String> = r.iter().map(|v| format!("{v}")).collect();
                    writeln!(w, "{}", cells.join(","))?;
                }
                Ok(())
            })?;
        }
    }
    if o.data {
        for (stem, d) in &run.structures {
            d.write(&dir.join(format!("{stem}.data")))?;
        }
    }
    if o.vtu {
        for (stem, d) in run.structures.iter().filter(|(s, _)| s != "minimized") {
            write_vtu(&dir.join(format!("{stem}.vtu")), &d.particles)?;
        }
        write_frames(dir, "drying", &run.frames)?;
        write_frames(dir, "calendering", &run.calendering_frames)?;
    }
    let manifest = json!({
        "etwin_version": env!("CARGO_PKG_VERSION"),
        "git_commit": git_commit(),
        "scenario": l.path.display().to_string(),
        "scenario_sha256": sha256_hex(l.source.as_bytes()),
        "seed": l.scenario.seed,
        "threads": threads,
        "forcefield": l.model.name,
    });
    let m = json_bytes(&manifest)?;
    write_atomic(&dir.join("manifest.json"), |w| w.write_all(&m))?;
    if o.report {
        write_report(dir, run, &manifest)?;
    }
    let r = json_bytes(&results_json(run))?;
    write_atomic(&dir.join("results.json"), |w| w.write_all(&r))
}
