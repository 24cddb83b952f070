//! `etwin sweep`: run a sweep (or a shard of it), merge shards, write Slurm scripts.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;

use etwin::sweep::merge::merge;
use etwin::sweep::run::{run, RunOptions, SweepProgress};
use etwin::sweep::slurm::{scripts, SlurmSettings};
use etwin::sweep::spec::Plan;
use etwin::{Error, Result};

use super::print_json;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    cmd: Option<SweepCmd>,
    /// Sweep file (RON): base scenario, factors, design.
    #[arg(required = true)]
    sweep: Option<PathBuf>,
    /// Output folder (default: out/<sweep name>/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run shard I of N (every N-th case from the I-th), e.g. 0/4.
    #[arg(long, value_parser = shard)]
    shard: Option<(usize, usize)>,
    /// Print the design table and stop.
    #[arg(long)]
    dry_run: bool,
    /// Wall-clock seconds between a case's checkpoints.
    #[arg(long, default_value_t = 60.0)]
    checkpoint_every: f64,
    /// Run the cases that failed before again (by default a failed case keeps its recorded
    /// failure), e.g. after changing the code.
    #[arg(long)]
    retry_failed: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum SweepCmd {
    /// Merge shard folders into one table (checks every case is there exactly once).
    Merge {
        /// Shard output folders.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a Slurm job-array script (task I = shard I/N), the merge job and a submit script.
    Slurm {
        sweep: PathBuf,
        /// Number of array tasks (shards).
        #[arg(long)]
        array: usize,
        #[arg(long)]
        partition: Option<String>,
        /// Time limit per task (Slurm syntax).
        #[arg(long, default_value = "01:00:00")]
        time: String,
        /// CPUs per task.
        #[arg(long, default_value_t = 2)]
        cpus: usize,
        /// Folder of the scripts and of the shards' outputs (default: out/<sweep name>/).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn shard(s: &str) -> std::result::Result<(usize, usize), String> {
    let (i, n) = s.split_once('/').ok_or("expected I/N, e.g. 0/4")?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| format!("`{i}` is not a shard index"))?,
        n.trim().parse().map_err(|_| format!("`{n}` is not a shard count"))?,
    );
    if n == 0 || i >= n {
        return Err(format!("{i}/{n}: expected 0 ≤ I < N"));
    }
    Ok((i, n))
}

struct Bar(Option<indicatif::ProgressBar>);

impl SweepProgress for Bar {
    fn case_done(&self, _: usize, _: bool) {
        if let Some(b) = &self.0 {
            b.inc(1);
        }
    }
}

fn default_out(plan: &Plan) -> PathBuf {
    PathBuf::from("out").join(&plan.sweep.name)
}

pub fn run_cli(a: SweepArgs) -> Result<()> {
    match a.cmd {
        Some(SweepCmd::Merge { dirs, out }) => {
            let refs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
            let (n, replicates) = merge(&refs, &out)?;
            println!("{n} cases merged into {}", out.join("results.csv").display());
            if let Some(p) = replicates {
                println!("spread over the seeds: {}", p.display());
            }
            Ok(())
        }
        Some(SweepCmd::Slurm {
            sweep,
            array,
            partition,
            time,
            cpus,
            out,
        }) => {
            if array == 0 || cpus == 0 {
                return Err(Error::Setup("--array and --cpus must be ≥ 1".into()));
            }
            let plan = Plan::load(&sweep)?;
            let out = out.unwrap_or_else(|| default_out(&plan));
            std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
            let abs = |p: &Path| std::fs::canonicalize(p).map_err(|e| Error::io(p, e));
            let exe = std::env::current_exe().map_err(|e| Error::Setup(e.to_string()))?;
            let settings = SlurmSettings {
                array,
                partition,
                time,
                cpus,
            };
            let (arr, mrg, sub) = scripts(&exe, &abs(&sweep)?, &abs(&out)?, &settings);
            for (name, text) in [
                ("sweep_array.sbatch", arr),
                ("sweep_merge.sbatch", mrg),
                ("submit.sh", sub),
            ] {
                let p = out.join(name);
                etwin::io::atomic::write_atomic(&p, |w| w.write_all(text.as_bytes()))?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
                        .map_err(|e| Error::io(&p, e))?;
                }
                println!("{}", p.display());
            }
            println!(
                "{} cases in {array} array tasks; submit with {}",
                plan.cases.len(),
                out.join("submit.sh").display()
            );
            Ok(())
        }
        None => {
            let path = a.sweep.expect("clap requires it");
            let plan = Plan::load(&path)?;
            if a.dry_run {
                return design_table(&plan, a.json);
            }
            let out = a.out.unwrap_or_else(|| default_out(&plan));
            let opts = RunOptions {
                out,
                shard: a.shard.unwrap_or((0, 1)),
                threads: rayon::current_num_threads(),
                checkpoint_every: a.checkpoint_every,
                retry_failed: a.retry_failed,
            };
            let n = plan.shard(opts.shard.0, opts.shard.1).len();
            let quiet = a.json || !std::io::IsTerminal::is_terminal(&std::io::stderr());
            let bar = Bar((!quiet).then(|| {
                let b = indicatif::ProgressBar::new(n as u64);
                b.set_style(
                    indicatif::ProgressStyle::with_template("cases {bar:30} {pos}/{len} [{elapsed} < {eta}]")
                        .expect("a valid template"),
                );
                b
            }));
            let t = std::time::Instant::now();
            let r = run(&plan, &opts, &bar)?;
            if let Some(b) = &bar.0 {
                b.finish_and_clear();
            }
            if a.json {
                return print_json(&json!({ "report": r, "seconds": t.elapsed().as_secs_f64() }));
            }
            println!(
                "{} cases ({} run, {} already finished); table {}",
                r.cases,
                r.ran,
                r.skipped,
                r.table.display()
            );
            if let Some(p) = &r.replicates {
                println!("spread over the seeds: {}", p.display());
            }
            if !r.failed.is_empty() {
                let list: Vec<String> = r.failed.iter().map(usize::to_string).collect();
                println!(
                    "warning: {} of {} cases failed (cases {}): their rows have status `failed` and the reason under `error`\n  hint: a failed case is not run again unless asked: `--retry-failed` (after changing the code), or change the sweep",
                    r.failed.len(),
                    r.cases,
                    list.join(", ")
                );
            }
            eprintln!("sweep: {:.1} s", t.elapsed().as_secs_f64());
            Ok(())
        }
    }
}

fn design_table(plan: &Plan, json: bool) -> Result<()> {
    if json {
        let cases: Vec<_> = plan
            .cases
            .iter()
            .map(|c| json!({ "case": c.index, "values": c.values.iter().cloned().collect::<serde_json::Map<_, _>>() }))
            .collect();
        return print_json(&json!({ "sweep": plan.sweep.name, "cases": cases }));
    }
    let keys: Vec<&str> = plan.sweep.factors.iter().map(|f| f.key.as_str()).collect();
    println!("case,{}", keys.join(","));
    for c in &plan.cases {
        let v: Vec<String> = c.values.iter().map(|(_, v)| v.to_string()).collect();
        println!("{},{}", c.index, v.join(","));
    }
    Ok(())
}
