//! `etwin map …`: cross-validate, train, predict and plot the porosity / mass-loading map.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::Subcommand;
use serde_json::json;

use etwin::map::calendering::CalenderingModel;
use etwin::map::cv::{self, FitSettings};
use etwin::map::dataset;
use etwin::map::model::{self, MapModel, TrainConfig, ValueModel, ValuePrediction};
use etwin::map::plot::{plot_maps, PlotSettings};
use etwin::{Error, Result};

use super::{pair, print_json};

#[derive(Subcommand)]
pub enum MapCommand {
    /// Grouped k-fold cross-validation (a group is one slurry: AM %, solid-to-liquid), on the
    /// reference's three inputs (AM %, solid-to-liquid, viscosity) and with the comma gap.
    Cv {
        /// Measurements CSV (see the column table in the README).
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// Seed of the slurry-to-fold assignment.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// SVM cost C.
        #[arg(long, default_value_t = 50.0)]
        c: f64,
        /// RBF γ (inputs standardised).
        #[arg(long, default_value_t = 0.1)]
        gamma: f64,
        /// Write `row,fold` (0-based data rows) here, to reuse the folds elsewhere.
        #[arg(long)]
        folds_out: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Train the classifiers and regressors (C and γ chosen by grouped CV) and save the model.
    Train {
        /// Measurements CSV (see the column table in the README).
        #[arg(long)]
        data: PathBuf,
        /// Model file to write (JSON).
        #[arg(long)]
        out: PathBuf,
        /// Calendering experiments (`;` or `,` CSV: porosity before/after, thickness, gap),
        /// needed by `etwin recommend` for a calendered-porosity target.
        #[arg(long)]
        calendering: Option<PathBuf>,
        /// Only the reference's three inputs (no comma gap).
        #[arg(long)]
        no_gap: bool,
        /// Candidate costs C.
        #[arg(long, value_delimiter = ',', default_value = "1,10,50,200")]
        c_grid: Vec<f64>,
        /// Candidate RBF γ on standardised inputs.
        #[arg(long, value_delimiter = ',', default_value = "0.01,0.03,0.1,0.3,1")]
        gamma_grid: Vec<f64>,
        /// Mass-loading class edges [mg/cm²]: Low < a ≤ Medium < b ≤ High.
        #[arg(long, value_parser = pair, default_value = "20,35")]
        mass_loading_classes: [f64; 2],
        /// Porosity class edges [%] (default: terciles of the data).
        #[arg(long, value_parser = pair)]
        porosity_classes: Option<[f64; 2]>,
        /// Coverage of the prediction intervals.
        #[arg(long, default_value_t = 0.9)]
        level: f64,
        #[arg(long, default_value_t = 5)]
        folds: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print the model summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Predict classes (with one-vs-one votes and decision values) and values (with
    /// prediction intervals) for one slurry and coating.
    Predict {
        #[arg(long)]
        model: PathBuf,
        /// Active material [wt %].
        #[arg(long)]
        am: f64,
        /// Solid-to-liquid ratio [%].
        #[arg(long)]
        stol: f64,
        /// Viscosity at the coating shear rate [Pa·s]; predicted from the recipe and gap
        /// when omitted (models trained with the gap).
        #[arg(long)]
        viscosity: Option<f64>,
        /// Comma gap [µm] (required by models trained with the gap).
        #[arg(long)]
        gap: Option<f64>,
        #[arg(long)]
        json: bool,
    },
    /// PNG maps: per AM content, the viscosity × solid-to-liquid plane coloured by the
    /// predicted mass-loading and porosity classes, measured electrodes on top.
    Plot {
        #[arg(long)]
        model: PathBuf,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Comma gap of the maps [µm] (models with the gap; default: the median measured).
        #[arg(long)]
        gap: Option<f64>,
    },
}

pub fn run(cmd: MapCommand) -> Result<()> {
    match cmd {
        MapCommand::Cv {
            data,
            folds,
            seed,
            c,
            gamma,
            folds_out,
            json,
        } => cross_validate(data, folds, seed, c, gamma, folds_out, json),
        MapCommand::Train {
            data,
            out,
            calendering,
            no_gap,
            c_grid,
            gamma_grid,
            mass_loading_classes,
            porosity_classes,
            level,
            folds,
            seed,
            json,
        } => {
            if !(0.0..1.0).contains(&level) || level <= 0.0 {
                return Err(Error::Setup(format!("--level {level}: expected a coverage in (0, 1)")));
            }
            let cfg = TrainConfig {
                folds,
                seed,
                c_grid,
                gamma_grid,
                fit: FitSettings::default(),
                with_gap: !no_gap,
                mass_loading_edges: mass_loading_classes,
                porosity_edges: porosity_classes,
                level,
            };
            train(data, out, calendering, &cfg, json)
        }
        MapCommand::Predict {
            model,
            am,
            stol,
            viscosity,
            gap,
            json,
        } => predict(&MapModel::load(&model)?, am, stol, viscosity, gap, json),
        MapCommand::Plot { model, out, gap } => {
            let settings = PlotSettings {
                gap_um: gap,
                ..Default::default()
            };
            for p in plot_maps(&MapModel::load(&model)?, &out, &settings)? {
                println!("{}", p.display());
            }
            Ok(())
        }
    }
}

fn cross_validate(
    data: PathBuf,
    folds: usize,
    seed: u64,
    c: f64,
    gamma: f64,
    folds_out: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    let rows = dataset::load(&data)?;
    let cfg = cv::CvConfig {
        folds,
        seed,
        c,
        gamma,
        ..Default::default()
    };
    let t = Instant::now();
    let assignment = cv::group_folds(&rows, folds, seed);
    let three = cv::cross_validate(&rows, &assignment, &cfg, false)?;
    let gap = cv::cross_validate(&rows, &assignment, &cfg, true)?;
    let seconds = t.elapsed().as_secs_f64();
    if let Some(path) = folds_out {
        etwin::io::atomic::write_atomic(&path, |w: &mut dyn Write| {
            writeln!(w, "row,fold")?;
            for (r, f) in assignment.iter().enumerate() {
                writeln!(w, "{r},{f}")?;
            }
            Ok(())
        })?;
    }
    if json {
        return print_json(&json!({ "three_inputs": three, "with_gap": gap, "seconds": seconds }));
    }
    println!(
        "{} electrodes from {} slurries, {folds}-fold grouped CV, C = {c}, γ = {gamma}",
        three.rows, three.slurries
    );
    for (name, r) in [("AM %, S-to-L, viscosity", &three), ("… + comma gap", &gap)] {
        println!("{name}:");
        println!(
            "  mass-loading class  accuracy {:.3}  balanced {:.3}   porosity class  accuracy {:.3}  balanced {:.3}",
            r.mass_loading_class.accuracy,
            r.mass_loading_class.balanced_accuracy,
            r.porosity_class.accuracy,
            r.porosity_class.balanced_accuracy
        );
        println!(
            "  mass loading  MAE {:.2} mg/cm²  R² {:.3}   porosity  MAE {:.2} %  R² {:.3}",
            r.mass_loading.mae, r.mass_loading.r2, r.porosity.mae, r.porosity.r2
        );
    }
    eprintln!("training + cross-validation: {seconds:.2} s");
    Ok(())
}

fn train(data: PathBuf, out: PathBuf, calendering: Option<PathBuf>, cfg: &TrainConfig, json: bool) -> Result<()> {
    let t = Instant::now();
    let bytes = std::fs::read(&data).map_err(|e| Error::io(&data, e))?;
    let name = data.display().to_string();
    let rows = dataset::parse(&String::from_utf8_lossy(&bytes), &name)?;
    let cal = calendering.map(|p| CalenderingModel::load(&p, cfg.level)).transpose()?;
    let m = model::train(&rows, (&name, &bytes), cal, cfg)?;
    m.save(&out)?;
    let seconds = t.elapsed().as_secs_f64();
    if json {
        return print_json(&json!({ "model": out, "summary": summary(&m), "seconds": seconds }));
    }
    println!(
        "{} electrodes from {} slurries; inputs {}; {}-fold grouped CV over C × γ = {:?} × {:?}",
        m.data.rows,
        m.data.slurries,
        m.features.join(", "),
        cfg.folds,
        cfg.c_grid,
        cfg.gamma_grid
    );
    for (name, c) in [
        ("mass-loading class", &m.mass_loading_class),
        ("porosity class", &m.porosity_class),
    ] {
        println!(
            "  {name:<20} C = {:<5} γ = {:<5} accuracy {:.3}  balanced {:.3}  (edges {:.2} / {:.2})",
            c.choice.c, c.choice.gamma, c.cv.accuracy, c.cv.balanced_accuracy, c.edges[0], c.edges[1]
        );
    }
    let values = [("mass loading", Some(&m.mass_loading)), ("porosity", Some(&m.porosity))];
    for (name, v) in values.into_iter().chain([("viscosity", m.viscosity.as_ref())]) {
        if let Some(v) = v {
            println!(
                "  {name:<20} C = {:<5} γ = {:<5} MAE {:.3} {}  R² {:.3}  {:.0} % interval {}",
                v.choice.c,
                v.choice.gamma,
                v.cv.mae,
                v.unit,
                v.cv.r2,
                100.0 * v.level,
                half_width_text(v)
            );
        }
    }
    if let Some(c) = &m.calendering {
        println!(
            "  calendering          {} experiments, leave-one-out MAE {:.4}, {:.0} % interval ± {:.4} (porosity fraction)",
            c.rows,
            c.loo_mae,
            100.0 * c.level,
            c.half_width
        );
    }
    println!("model written to {}", out.display());
    eprintln!("training: {seconds:.2} s");
    Ok(())
}

fn half_width_text(v: &ValueModel) -> String {
    if v.log {
        format!("×/÷ {:.2}", v.half_width.exp())
    } else {
        format!("± {:.2} {}", v.half_width, v.unit)
    }
}

fn summary(m: &MapModel) -> serde_json::Value {
    let value = |v: &ValueModel| json!({ "choice": v.choice, "cv": v.cv, "half_width": v.half_width, "log": v.log, "unit": v.unit });
    json!({
        "data": m.data,
        "features": m.features,
        "mass_loading_class": { "choice": m.mass_loading_class.choice, "cv": m.mass_loading_class.cv },
        "porosity_class": { "choice": m.porosity_class.choice, "cv": m.porosity_class.cv },
        "mass_loading": value(&m.mass_loading),
        "porosity": value(&m.porosity),
        "viscosity": m.viscosity.as_ref().map(value),
        "calendering": m.calendering,
    })
}

/// The model's inputs from the command line; the viscosity predicted when not given.
pub fn inputs(
    m: &MapModel,
    am: f64,
    stol: f64,
    viscosity: Option<f64>,
    gap: Option<f64>,
) -> Result<(Vec<f64>, Option<ValuePrediction>)> {
    if m.has_gap() && gap.is_none() {
        return Err(Error::Setup(
            "this model was trained with the comma gap: give --gap [µm]".into(),
        ));
    }
    let (visc, predicted) = match (viscosity, &m.viscosity, gap) {
        (Some(v), _, _) => (v, None),
        (None, Some(vm), Some(g)) => {
            let p = vm.predict(&[am, stol, g]);
            (p.value, Some(p))
        }
        _ => {
            return Err(Error::Setup(
                "give --viscosity [Pa·s] (this model cannot predict it)".into(),
            ))
        }
    };
    let mut x = vec![am, stol, visc];
    if m.has_gap() {
        x.extend(gap);
    }
    Ok((x, predicted))
}

fn predict(m: &MapModel, am: f64, stol: f64, viscosity: Option<f64>, gap: Option<f64>, json: bool) -> Result<()> {
    let (x, visc) = inputs(m, am, stol, viscosity, gap)?;
    let outside = m.outside_domain(&x);
    let (mlc, pc) = (m.mass_loading_class.predict(&x), m.porosity_class.predict(&x));
    let (ml, por) = (m.mass_loading.predict(&x), m.porosity.predict(&x));
    if json {
        return print_json(&json!({
            "inputs": m.features.iter().zip(&x).map(|(f, v)| (f.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "viscosity_predicted": visc,
            "mass_loading_class": mlc,
            "porosity_class": pc,
            "mass_loading": { "value": ml.value, "low": ml.low, "high": ml.high, "unit": "mg/cm2", "level": m.mass_loading.level },
            "porosity": { "value": por.value, "low": por.low, "high": por.high, "unit": "%", "level": m.porosity.level },
            "outside_training_range": outside,
        }));
    }
    if let Some(v) = visc {
        println!(
            "viscosity at the coating shear rate (predicted): {:.2} Pa·s [{:.2}, {:.2}]",
            v.value, v.low, v.high
        );
    }
    for (name, c, edges, unit) in [
        ("mass-loading class", &mlc, m.mass_loading_class.edges, "mg/cm²"),
        ("porosity class", &pc, m.porosity_class.edges, "%"),
    ] {
        let d: Vec<String> = c.decisions.iter().map(|(a, b, f)| format!("{a}|{b} {f:+.2}")).collect();
        println!(
            "{name:<19} {:<7} (edges {:.2} / {:.2} {unit}; votes L/M/H {:?}; decisions {})",
            c.class,
            edges[0],
            edges[1],
            c.votes,
            d.join(", ")
        );
    }
    let pct = 100.0 * m.mass_loading.level;
    println!(
        "mass loading       {:.2} mg/cm²  ({pct:.0} % interval {:.2} – {:.2})",
        ml.value, ml.low, ml.high
    );
    println!(
        "porosity           {:.2} %       ({pct:.0} % interval {:.2} – {:.2})",
        por.value, por.low, por.high
    );
    if !outside.is_empty() {
        eprintln!(
            "warning: outside the training range: {} (extrapolation)",
            outside.join(", ")
        );
    }
    Ok(())
}
