//! Sweeps: sharded + merged = unsharded (with the spread over the seeds), a killed sweep
//! resumes without recomputing finished cases, a case that fails is a row of the table,
//! bad sweep files fail before any case runs, the Slurm scripts parse.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn etwin(args: &[&str], paths: &[&Path]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_etwin"));
    c.args(args);
    for p in paths {
        c.arg(p);
    }
    c.output().unwrap()
}

/// `sweep_quick.ron` with a shorter NPT (8000 steps), written next to the test's outputs.
fn quick_sweep(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("scenarios/sweep_quick.ron"))
        .unwrap()
        .replace(
            "base: \"slurry_quick.ron\"",
            &format!("base: {:?}", root().join("scenarios/slurry_quick.ron")),
        )
        .replace(
            "factors: [",
            "factors: [\n        (key: \"protocol.npt.steps\", values: List([8000])),",
        );
    let p = dir.join("sweep.ron");
    std::fs::write(&p, text).unwrap();
    p
}

fn table(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("results.csv")).unwrap()
}

fn report(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["report"].clone()
}

/// Must-show: shards 0/2 and 1/2 in two processes, merged, equal the unsharded run; the
/// table has one row per case in order, with the factors and the slurry outcomes.
#[test]
fn sharded_and_merged_equals_unsharded() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = quick_sweep(dir.path());
    // Two replicas (seeds) of each of the four other settings: `replicates.csv` too.
    let text = std::fs::read_to_string(&sweep).unwrap();
    let temperature = "(key: \"protocol.npt.temperature\", values: List([\"300 K\", \"350 K\"]))";
    assert!(text.contains(temperature));
    std::fs::write(
        &sweep,
        text.replace(temperature, "(key: \"seed\", values: List([1, 2]))"),
    )
    .unwrap();
    let whole = dir.path().join("whole");
    let r = report(&etwin(
        &["--threads", "2", "sweep", "--json", "--out"],
        &[&whole, &sweep],
    ));
    assert_eq!((r["cases"].as_u64(), r["ran"].as_u64()), (Some(8), Some(8)));
    let spawn = |i: usize| {
        Command::new(env!("CARGO_BIN_EXE_etwin"))
            .args(["--threads", "1", "sweep", "--shard", &format!("{i}/2"), "--out"])
            .arg(dir.path().join(format!("shard{i}")))
            .arg(&sweep)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(0), spawn(1));
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    let merged = dir.path().join("merged");
    let (s0, s1) = (dir.path().join("shard0"), dir.path().join("shard1"));
    let o = etwin(&["sweep", "merge"], &[&s0, &s1, Path::new("--out"), &merged]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = table(&whole);
    assert_eq!(table(&merged), t, "merged shards differ from the unsharded run");
    assert_replicates(&whole, &merged);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 9);
    assert!(lines[0].starts_with("case,factor:protocol.npt.steps,factor:formulation.solid_content,"));
    assert!(lines[0].contains("slurry.density_g_cm3") && !lines[0].contains("seconds"));
    for (k, l) in lines[1..].iter().enumerate() {
        assert!(l.starts_with(&format!("{k},8000,")), "{l}");
    }
    // A shard alone is incomplete: merge says which cases are missing.
    let o = etwin(&["sweep", "merge"], &[&s0, Path::new("--out"), &dir.path().join("bad")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cases missing: [1, 3, 5, 7]"));
}

/// The spread over the seed factor: the same file from the whole run and the merged
/// shards, four groups of two replicas, and replicas that differ (the seed reaches the
/// placement and the thermostat).
fn assert_replicates(whole: &Path, merged: &Path) {
    let rep = std::fs::read_to_string(whole.join("replicates.csv")).unwrap();
    assert_eq!(std::fs::read_to_string(merged.join("replicates.csv")).unwrap(), rep);
    let mut lines = rep.lines();
    assert_eq!(
        lines.next(),
        Some("factor:protocol.npt.steps,factor:formulation.solid_content,factor:protocol.npt.pressure_stop,factor:protocol.nemd,quantity,n,mean,sd,min,max")
    );
    let density: Vec<Vec<&str>> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[4] == "slurry.density_g_cm3")
        .collect();
    assert_eq!(density.len(), 4, "{rep}");
    for c in density {
        let [n, mean, sd, min, max] = [5, 6, 7, 8, 9].map(|k| c[k].parse::<f64>().unwrap());
        assert_eq!(n, 2.0);
        assert!(min < mean && mean < max && sd > 0.0, "{c:?}");
        assert!(
            ((max - min) / 2f64.sqrt() - sd).abs() < 1e-12 * sd,
            "sd of two values: {c:?}"
        );
    }
}

/// Must-show: a sweep killed once two cases are done, rerun, computes only the others and
/// writes the table of an uninterrupted run.
#[test]
fn a_killed_sweep_resumes_without_recomputing() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = quick_sweep(dir.path());
    let out = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_etwin"))
        .args(["--threads", "2", "sweep", "--checkpoint-every", "0.2", "--out"])
        .arg(&out)
        .arg(&sweep)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let done = |out: &Path| {
        (0..8)
            .filter(|k| out.join(format!("cases/case_{k:04}/results.json")).is_file())
            .count()
    };
    let t = std::time::Instant::now();
    while done(&out) < 2 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sweep ended before it was killed"
        );
        assert!(t.elapsed().as_secs() < 300);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let finished = done(&out);
    assert!(finished < 8 && !out.join("results.csv").exists());
    let r = report(&etwin(&["--threads", "2", "sweep", "--json", "--out"], &[&out, &sweep]));
    assert_eq!(r["skipped"].as_u64().unwrap() as usize, finished, "{r}");
    assert_eq!(r["ran"].as_u64().unwrap() as usize, 8 - finished, "{r}");
    let fresh = dir.path().join("fresh");
    report(&etwin(
        &["--threads", "2", "sweep", "--json", "--out"],
        &[&fresh, &sweep],
    ));
    assert_eq!(table(&out), table(&fresh));
    // A third run computes nothing.
    let r = report(&etwin(&["sweep", "--json", "--out"], &[&out, &sweep]));
    assert_eq!(r["ran"], 0);
}

/// A case whose simulation fails by its own physics (here the quick slurry at a 100× too
/// large timestep, which blows up) is a row with status `failed` and the reason, not the end
/// of the sweep: the other cases' rows are written, the sweep succeeds and names the failed
/// cases, a rerun does not run them again, and shards merged give the same table. A case
/// whose NPT box was held at the self-image limit (0.0005 µg of dry mass) keeps its outcomes
/// with status `held`.
#[test]
fn a_case_that_fails_is_a_row_not_the_end_of_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = quick_sweep(dir.path());
    let text = std::fs::read_to_string(&sweep).unwrap();
    let (head, _) = text.split_once("        (key: \"formulation.solid_content\"").unwrap();
    let text = format!(
        "{head}        (key: \"protocol.timestep\", values: List([\"0.001 us\", \"0.1 us\"])),\n        (key: \"formulation.dry_mass_ug\", values: List([0.01, 0.0005])),\n        (key: \"protocol.nemd\", values: List([None])),\n    ],\n    design: Grid,\n)\n"
    );
    std::fs::write(&sweep, text).unwrap();
    let out = dir.path().join("out");
    let r = report(&etwin(&["--threads", "2", "sweep", "--json", "--out"], &[&out, &sweep]));
    assert_eq!((r["cases"].as_u64(), r["ran"].as_u64()), (Some(4), Some(4)), "{r}");
    let whole = table(&out);
    let lines: Vec<Vec<&str>> = whole.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(lines.len(), 5, "{whole}");
    let column = |name: &str| lines[0].iter().position(|c| *c == name).unwrap();
    let (dt, mass, status) = (
        column("factor:protocol.timestep"),
        column("factor:formulation.dry_mass_ug"),
        column("status"),
    );
    let (density, held) = (column("slurry.density_g_cm3"), column("slurry.npt_box_limited_steps"));
    let mut failed = Vec::new();
    for (k, row) in lines[1..].iter().enumerate() {
        match (row[dt], row[mass]) {
            ("0.001 us", "0.01") => {
                assert_eq!((row[status], row[held]), ("ok", "0"), "{whole}");
                assert!(row[density].parse::<f64>().unwrap() > 1.0, "{whole}");
            }
            ("0.001 us", "0.0005") => {
                assert_eq!(row[status], "held", "{whole}");
                assert!(row[held].parse::<u64>().unwrap() > 0, "{whole}");
            }
            _ => {
                assert!(
                    row[status] == "failed" && row[status + 1].starts_with("\"step "),
                    "{whole}"
                );
                assert!(out.join(format!("cases/case_{k:04}/failed.json")).is_file());
                failed.push(k);
            }
        }
    }
    assert!(
        lines.iter().any(|l| l.join(",").contains("the run became unstable")),
        "{whole}"
    );
    assert_eq!(r["failed"], serde_json::json!(failed), "{r}");
    let r = report(&etwin(&["sweep", "--json", "--out"], &[&out, &sweep]));
    assert_eq!(
        (r["ran"].as_u64(), r["failed"].clone()),
        (Some(0), serde_json::json!(failed)),
        "{r}"
    );
    assert_eq!(table(&out), whole);
    // Asked to, it runs the failed cases again (and only those), which fail the same way.
    let r = report(&etwin(&["sweep", "--json", "--retry-failed", "--out"], &[&out, &sweep]));
    assert_eq!(
        (r["ran"].as_u64(), r["failed"].clone()),
        (Some(failed.len() as u64), serde_json::json!(failed)),
        "{r}"
    );
    assert_eq!(table(&out), whole);
    let shards: Vec<PathBuf> = (0..2).map(|k| dir.path().join(format!("s{k}"))).collect();
    for (k, s) in shards.iter().enumerate() {
        report(&etwin(
            &["sweep", "--json", "--shard", &format!("{k}/2"), "--out"],
            &[s, &sweep],
        ));
    }
    let merged = dir.path().join("merged");
    let o = etwin(
        &["sweep", "merge"],
        &[&shards[0], &shards[1], Path::new("--out"), &merged],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(table(&merged), whole);
}

#[test]
fn bad_sweeps_fail_before_any_case_runs() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(quick_sweep(dir.path())).unwrap();
    for (name, from, to, phrase) in [
        (
            "unknown_key",
            "formulation.solid_content",
            "formulation.solids",
            "no key `solids` in `formulation`",
        ),
        ("wrong_unit", "\"50 kPa\"", "\"50 K\"", "unit `K` is not a unit"),
        ("empty_values", "List([\"300 K\", \"350 K\"])", "List([])", "no values"),
    ] {
        let text = good.replace(from, to);
        assert_ne!(text, good);
        let p = dir.path().join(format!("{name}.ron"));
        std::fs::write(&p, text).unwrap();
        let out = dir.path().join(name);
        let o = etwin(&["sweep", "--out"], &[&out, &p]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains(&format!("{}:", p.display())) && err.contains(phrase),
            "{name}: {err}"
        );
        assert!(!out.exists(), "{name}: cases ran");
    }
}

/// The generated Slurm scripts are valid bash with the array, the shard index from
/// SLURM_ARRAY_TASK_ID and the merge of every shard; `sbatch --test-only` where a cluster
/// answers.
#[test]
fn slurm_scripts_parse() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = quick_sweep(dir.path());
    let out = dir.path().join("slurm");
    let o = etwin(
        &[
            "sweep", "slurm", "--array", "3", "--cpus", "2", "--time", "00:30:00", "--out",
        ],
        &[&out, &sweep],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let array = std::fs::read_to_string(out.join("sweep_array.sbatch")).unwrap();
    assert!(array.contains("#SBATCH --array=0-2") && array.contains("--shard ${SLURM_ARRAY_TASK_ID}/3"));
    let merge = std::fs::read_to_string(out.join("sweep_merge.sbatch")).unwrap();
    assert!(merge.contains("shard_0") && merge.contains("shard_2") && merge.contains("sweep merge"));
    for f in ["sweep_array.sbatch", "sweep_merge.sbatch", "submit.sh"] {
        let s = Command::new("bash").arg("-n").arg(out.join(f)).status().unwrap();
        assert!(s.success(), "{f} is not valid bash");
    }
    // Only where a cluster answers (an installed sbatch without a controller cannot test).
    if Command::new("sinfo").output().is_ok_and(|o| o.status.success()) {
        let o = Command::new("sbatch")
            .arg("--test-only")
            .arg(out.join("sweep_array.sbatch"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    } else {
        eprintln!(
            "SKIPPED sbatch --test-only: no Slurm cluster answers here (tests/slurm_check.sh starts a one-node one)"
        );
    }
}
