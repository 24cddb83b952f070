//! `etwin recommend`: set-points for a target electrode, and their leave-one-slurry-out
//! validation.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use etwin::map::cv::FitSettings;
use etwin::map::dataset;
use etwin::map::model::{MapModel, TrainConfig, ValuePrediction};
use etwin::recommend::validate::leave_one_slurry_out;
use etwin::recommend::{recommend, Candidate, Space, Targets};
use etwin::Result;

use super::{pair, print_json};

#[derive(Args)]
pub struct RecommendArgs {
    /// Trained map (`etwin map train`, with `--calendering` for a porosity_calendered target).
    #[arg(long, required_unless_present = "validate_loso")]
    model: Option<PathBuf>,
    /// name=value,… : mass_loading [mg/cm²], porosity_dry [-], porosity_calendered [-],
    /// thickness_dry [µm]; e.g. mass_loading=25,porosity_calendered=0.30
    #[arg(long, required_unless_present = "validate_loso")]
    target: Option<String>,
    /// Allowed AM contents [wt %] (default: those measured).
    #[arg(long, value_delimiter = ',')]
    am: Option<Vec<f64>>,
    /// Solid-to-liquid range [%], `a..b` (default: the measured range).
    #[arg(long, value_parser = pair)]
    stol: Option<[f64; 2]>,
    /// Comma gap range [µm] (default: the measured range).
    #[arg(long, value_parser = pair)]
    gap: Option<[f64; 2]>,
    /// Viscosity window at the coating shear rate [Pa·s] (default: the measured range).
    #[arg(long, value_parser = pair)]
    viscosity: Option<[f64; 2]>,
    /// Calender gap range [µm] (default: the calendering experiments' range).
    #[arg(long, value_parser = pair)]
    calender_gap: Option<[f64; 2]>,
    /// Allow any solid-to-liquid in range at every AM content (default: only within the
    /// range measured at that AM content).
    #[arg(long)]
    any_stol: bool,
    /// Skeletal density of the AM [g/cm³] (for the dried thickness).
    #[arg(long, default_value_t = 4.65)]
    am_density: f64,
    /// Skeletal density of the CBD [g/cm³].
    #[arg(long, default_value_t = 1.8)]
    cbd_density: f64,
    /// How many candidates to list.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Instead of recommending: leave-one-slurry-out validation on this measurements CSV.
    #[arg(long, conflicts_with_all = ["model", "target"])]
    validate_loso: Option<PathBuf>,
    /// Candidate costs C of the validation's retraining.
    #[arg(long, value_delimiter = ',', default_value = "1,10,50,200")]
    c_grid: Vec<f64>,
    /// Candidate RBF γ of the validation's retraining.
    #[arg(long, value_delimiter = ',', default_value = "0.01,0.03,0.1,0.3,1")]
    gamma_grid: Vec<f64>,
    #[arg(long)]
    json: bool,
}

pub fn run(a: RecommendArgs) -> Result<()> {
    if let Some(data) = &a.validate_loso {
        return validate(data, &a);
    }
    let m = MapModel::load(a.model.as_ref().expect("clap requires it"))?;
    let targets = Targets::parse(a.target.as_deref().expect("clap requires it"))?;
    let mut s = Space::from_model(&m);
    if let Some(am) = &a.am {
        s.am = am.clone();
    }
    s.stol = a.stol.unwrap_or(s.stol);
    s.gap = a.gap.unwrap_or(s.gap);
    s.viscosity = a.viscosity.unwrap_or(s.viscosity);
    s.calender_gap = a.calender_gap.or(s.calender_gap);
    (s.am_density, s.cbd_density) = (a.am_density, a.cbd_density);
    s.stol_per_am = !a.any_stol;
    let t = Instant::now();
    let best = recommend(&m, &targets, &s, a.top)?;
    let seconds = t.elapsed().as_secs_f64();
    if a.json {
        return print_json(&json!({ "targets": targets, "space": s, "candidates": best, "seconds": seconds }));
    }
    println!(
        "search: AM {:?} wt %, S-to-L {:.1}–{:.1} % (step {}), gap {:.0}–{:.0} µm (step {}), viscosity window {:.2}–{:.2} Pa·s{}",
        s.am,
        s.stol[0],
        s.stol[1],
        s.stol_step,
        s.gap[0],
        s.gap[1],
        s.gap_step,
        s.viscosity[0],
        s.viscosity[1],
        match (targets.porosity_calendered, s.calender_gap) {
            (Some(_), Some(c)) => format!(", calender gap {:.0}–{:.0} µm", c[0], c[1]),
            _ => String::new(),
        }
    );
    let level = 100.0 * m.mass_loading.level;
    println!("predictions with {level:.0} % intervals; score = Σ ((prediction − target) / half-width)²");
    println!(
        "{:>2} {:>6} {:>7} {:>5} {:>7} {:>17} {:>20} {:>20} {:>17} {:>20} {:>7}",
        "#",
        "AM[%]",
        "StoL[%]",
        "gap",
        "cal.gap",
        "visc[Pa s]",
        "loading[mg/cm2]",
        "porosity dry[-]",
        "thickness[um]",
        "porosity cal.[-]",
        "score"
    );
    for (i, c) in best.iter().enumerate() {
        print_row(i + 1, c);
    }
    if best.iter().any(|c| !c.extrapolated.is_empty()) {
        println!(
            "* extrapolated beyond the training data in: {}",
            extrapolated(&best).join(", ")
        );
    }
    eprintln!("search: {seconds:.2} s");
    Ok(())
}

fn band(p: &ValuePrediction, digits: usize) -> String {
    format!("{:.d$} [{:.d$},{:.d$}]", p.value, p.low, p.high, d = digits)
}

fn print_row(rank: usize, c: &Candidate) {
    println!(
        "{:>2} {:>6} {:>7.2} {:>5.0} {:>7} {:>17} {:>20} {:>20} {:>17} {:>20} {:>7.2}{}",
        rank,
        c.am,
        c.stol,
        c.gap,
        c.calender_gap.map_or("-".into(), |g| format!("{g:.0}")),
        band(&c.viscosity, 2),
        band(&c.mass_loading, 1),
        band(&c.porosity_dry, 3),
        band(&c.thickness_dry, 0),
        c.porosity_calendered.as_ref().map_or("-".into(), |p| band(p, 3)),
        c.score,
        if c.extrapolated.is_empty() { "" } else { " *" }
    );
}

fn extrapolated(c: &[Candidate]) -> Vec<String> {
    let mut v: Vec<String> = c.iter().flat_map(|c| c.extrapolated.clone()).collect();
    v.sort();
    v.dedup();
    v
}

fn validate(data: &std::path::Path, a: &RecommendArgs) -> Result<()> {
    let rows = dataset::load(data)?;
    let cfg = TrainConfig {
        c_grid: a.c_grid.clone(),
        gamma_grid: a.gamma_grid.clone(),
        fit: FitSettings::default(),
        ..Default::default()
    };
    let t = Instant::now();
    let bar = (!a.json).then(|| indicatif::ProgressBar::new(0));
    let r = leave_one_slurry_out(&rows, &cfg, &mut |done, total| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let seconds = t.elapsed().as_secs_f64();
    if a.json {
        return print_json(&json!({ "loso": r, "seconds": seconds }));
    }
    println!(
        "leave-one-slurry-out: {} slurries, {} measured coatings; targets = each coating's mean mass loading and dried porosity",
        r.slurries, r.conditions
    );
    println!(
        "  recommended outcome within the replicates' range: both {:.1} %, mass loading {:.1} %, porosity {:.1} %",
        100.0 * r.within_both,
        100.0 * r.within_mass_loading,
        100.0 * r.within_porosity
    );
    println!(
        "  distance to the settings used: same AM {:.1} %, median |Δ S-to-L| {:.2} %, median |Δ gap| {:.0} µm",
        100.0 * r.same_am,
        r.median_abs_delta_stol,
        r.median_abs_delta_gap
    );
    println!(
        "  median score: recommended {:.3}, settings actually used {:.3}",
        r.median_score_recommended, r.median_score_actual
    );
    eprintln!("validation: {seconds:.1} s");
    Ok(())
}
