//! `etwin calibrate-calendering`: the roll gap → simulated compression mapping on half the
//! experiments, the other half predicted by simulation, both ways round.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use etwin::calendering::calibrate::{run_fold, two_folds, Calender, Experiment, Fold, ResponseCurve, ScenarioCalender};
use etwin::io::atomic::write_atomic;
use etwin::io::plot::{Line, LineChart, Stroke, PALETTE};
use etwin::scenario::Scenario;
use etwin::{Error, Result};

use super::print_json;

#[derive(Args)]
pub struct CalibrateArgs {
    /// Calendering scenario that starts from a dried structure (its target is replaced),
    /// e.g. scenarios/calender_reference.ron.
    scenario: PathBuf,
    /// Experiments CSV: AM fraction, porosity and thickness before, gap, porosity after
    /// (canonical or the reference's headers; see `etwin map` docs).
    #[arg(long)]
    experiments: PathBuf,
    /// Compression degrees [-] of the response curve.
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.2,0.3,0.4,0.5,0.6")]
    grid: Vec<f64>,
    /// Output folder: calibration.json, predictions.csv, parity.png and the simulation
    /// cache (rerunning reuses every finished simulation).
    #[arg(long, default_value = "out/calibrate_calendering")]
    out: PathBuf,
    /// Map with the porosity before as a third term: c = a + b·(1 − g/L₀) + d·ε_before.
    #[arg(long)]
    porosity_term: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    scenario: String,
    experiments: String,
    curve: ResponseCurve,
    folds: Vec<Fold>,
    /// Mean over both folds of the held-out MAE [-].
    held_out_mae_simulated: f64,
    held_out_mae_interpolated: f64,
    held_out_mae_baseline: Option<f64>,
    held_out_mae_published_law: f64,
    simulations: usize,
    wall_s: f64,
}

pub fn run(a: CalibrateArgs) -> Result<()> {
    if a.grid.iter().any(|c| !(*c > 0.0 && *c < 1.0)) {
        return Err(Error::Setup(format!(
            "--grid: compressions must lie in (0, 1), got {:?} (hint: --grid 0.1,0.3,0.5)",
            a.grid
        )));
    }
    let exps = Experiment::load(&a.experiments)?;
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    let l = Scenario::load(&a.scenario)?;
    let mut sim = ScenarioCalender::new(l, Some(a.out.join("simulations.json")))?;
    let t0 = std::time::Instant::now();
    let cached = sim.cached();
    let say = |s: String| {
        if !a.json {
            eprintln!("{s}");
        }
    };
    say(format!(
        "{} experiments; {cached} simulations cached in {}",
        exps.len(),
        a.out.display()
    ));
    let mut grid = Vec::new();
    for &c in &a.grid {
        let p = sim.calender(c)?;
        say(format!(
            "grid  compression {c:.3}: thickness ratio {:.4} (by the top sphere {:.4}), spring-back {} %, peak {:.1} MPa ({:.0} s)",
            p.thickness_ratio,
            p.top_ratio,
            p.springback_pct.map_or("–".into(), |s| format!("{s:.1}")),
            p.max_pressure_mpa,
            p.wall_s
        ));
        grid.push(p);
    }
    let curve = ResponseCurve::new(grid)?;
    let mut folds = Vec::new();
    for (k, (train, test)) in two_folds(&exps).iter().enumerate() {
        let f = run_fold(&curve, train, test, a.porosity_term, &mut sim)?;
        say(format!(
            "fold {k}: c = {}; held-out MAE simulated {:.4}, interpolated {:.4}, linear baseline {}, published law {:.4}",
            map_text(&f.map),
            f.scores.simulated,
            f.scores.interpolated,
            f.scores.baseline.map_or("–".into(), |b| format!("{b:.4}")),
            f.scores.published_law
        ));
        folds.push(f);
    }
    let mean = |f: fn(&Fold) -> f64| folds.iter().map(f).sum::<f64>() / folds.len() as f64;
    let report = Report {
        scenario: a.scenario.display().to_string(),
        experiments: a.experiments.display().to_string(),
        held_out_mae_simulated: mean(|f| f.scores.simulated),
        held_out_mae_interpolated: mean(|f| f.scores.interpolated),
        held_out_mae_baseline: folds
            .iter()
            .map(|f| f.scores.baseline)
            .sum::<Option<f64>>()
            .map(|s| s / folds.len() as f64),
        held_out_mae_published_law: mean(|f| f.scores.published_law),
        simulations: sim.cached(),
        wall_s: t0.elapsed().as_secs_f64(),
        curve,
        folds,
    };
    write_outputs(&a, &report)?;
    if a.json {
        print_json(&report)
    } else {
        println!(
            "held-out porosity MAE (both folds): simulated {:.4}, interpolated {:.4}, linear baseline {}, published law {:.4} (fitted on all 14)",
            report.held_out_mae_simulated,
            report.held_out_mae_interpolated,
            report.held_out_mae_baseline.map_or("–".into(), |b| format!("{b:.4}")),
            report.held_out_mae_published_law
        );
        println!("outputs            {}", a.out.display());
        Ok(())
    }
}

fn map_text(m: &etwin::calendering::calibrate::CompressionMap) -> String {
    let mut t = format!("{:.4} + {:.4}·(1 − g/L0)", m.coef[0], m.coef[1]);
    if let Some(d) = m.coef.get(2) {
        t += &format!(" + {d:.4}·ε_before");
    }
    t
}

fn write_outputs(a: &CalibrateArgs, r: &Report) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(r).map_err(|e| Error::Setup(e.to_string()))?;
    write_atomic(&a.out.join("calibration.json"), |w| w.write_all(&bytes))?;
    write_atomic(&a.out.join("predictions.csv"), |w| {
        writeln!(w, "fold,row,gap[um],thickness_before[um],porosity_before[-],compression[-],porosity_measured[-],porosity_simulated[-],porosity_interpolated[-],porosity_baseline[-],porosity_published_law[-]")?;
        for (k, f) in r.folds.iter().enumerate() {
            for p in &f.predictions {
                let e = &p.experiment;
                writeln!(
                    w,
                    "{k},{},{},{},{},{:.5},{:.5},{:.5},{:.5},{},{:.5}",
                    e.row,
                    e.gap_um,
                    e.thickness_before_um,
                    e.porosity_before,
                    p.compression,
                    e.porosity_after,
                    p.porosity_simulated,
                    p.porosity_interpolated,
                    p.porosity_baseline.map_or(String::new(), |b| format!("{b:.5}")),
                    p.porosity_published_law
                )?;
            }
        }
        Ok(())
    })?;
    let preds = || r.folds.iter().flat_map(|f| f.predictions.iter());
    let [lo, hi] =
        etwin::analysis::stats::min_max(preds().flat_map(|p| [p.experiment.porosity_after, p.porosity_simulated]));
    let mut diag = Line::new("measured = predicted", vec![(lo, lo), (hi, hi)], PALETTE[3]);
    diag.style = Stroke::Dashed;
    let scatter = |label: &str, f: fn(&etwin::calendering::calibrate::Prediction) -> f64, k: usize| {
        let mut l = Line::new(
            label,
            preds().map(|p| (p.experiment.porosity_after, f(p))).collect(),
            PALETTE[k],
        );
        l.style = Stroke::Points;
        l
    };
    LineChart {
        title: "Calendering: held-out porosity after (both folds)".into(),
        x_desc: "measured porosity after calendering [-]".into(),
        y_desc: "predicted porosity [-]".into(),
        log_x: false,
        log_y: false,
        lines: vec![
            diag,
            scatter("simulated at the mapped compression", |p| p.porosity_simulated, 0),
            scatter("published law (fitted on all 14)", |p| p.porosity_published_law, 1),
        ],
    }
    .write(&a.out.join("parity.png"), (800, 600))
}
