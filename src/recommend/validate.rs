//! Leave-one-slurry-out validation of the recommendation: for each slurry, models trained
//! without it are asked for each of its measured coatings' mean mass loading and dried
//! porosity; we record whether the recommended settings' predicted outcome lies within the
//! replicates' range and how far the recommended settings are from the ones used.

use serde::Serialize;

use crate::analysis::stats::{median, min_max};
use crate::error::Result;
use crate::map::dataset::{slurries, Electrode};
use crate::map::model::{train, TrainConfig};
use crate::recommend::{evaluate, recommend, Candidate, Space, Targets};

/// One measured coating (8 replicates in the reference data) and its recommendation.
#[derive(Debug, Clone, Serialize)]
pub struct Condition {
    /// Settings used [wt %, %, µm] and the measured viscosity [Pa·s].
    pub am: f64,
    pub stol: f64,
    pub gap: f64,
    pub viscosity: f64,
    pub replicates: usize,
    /// Target = replicate mean; spread = replicate [min, max]. [mg/cm²]
    pub mass_loading: f64,
    pub mass_loading_range: [f64; 2],
    /// [-]
    pub porosity: f64,
    pub porosity_range: [f64; 2],
    pub recommended: Candidate,
    pub within_mass_loading: bool,
    pub within_porosity: bool,
    /// Score of the settings actually used, under the same held-out models (None if their
    /// predicted viscosity falls outside the window).
    pub actual_score: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LosoReport {
    pub slurries: usize,
    pub conditions: usize,
    /// Fraction of conditions whose recommended outcome lies in the replicates' range.
    pub within_both: f64,
    pub within_mass_loading: f64,
    pub within_porosity: f64,
    /// Fraction recommending the AM content actually used.
    pub same_am: f64,
    /// Median |recommended − used| [%] and [µm].
    pub median_abs_delta_stol: f64,
    pub median_abs_delta_gap: f64,
    pub median_score_recommended: f64,
    pub median_score_actual: f64,
    pub rows: Vec<Condition>,
}

/// The measured coatings of one slurry: rows grouped by (gap, viscosity).
fn conditions(rows: &[Electrode]) -> Vec<Vec<Electrode>> {
    let mut groups: Vec<Vec<Electrode>> = Vec::new();
    for e in rows {
        match groups
            .iter_mut()
            .find(|g| g[0].gap_um == e.gap_um && g[0].viscosity_pa_s == e.viscosity_pa_s)
        {
            Some(g) => g.push(*e),
            None => groups.push(vec![*e]),
        }
    }
    groups
}

/// `progress(done, total)` is called after each held-out slurry.
pub fn leave_one_slurry_out(
    data: &[Electrode],
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<LosoReport> {
    let slurries = slurries(data);
    let cfg = TrainConfig {
        with_gap: true,
        ..cfg.clone()
    };
    let mut rows = Vec::new();
    for (k, s) in slurries.iter().enumerate() {
        let (held, kept): (Vec<Electrode>, Vec<Electrode>) = data.iter().partition(|e| e.slurry() == *s);
        let model = train(&kept, ("leave-one-slurry-out", &[]), None, &cfg)?;
        let space = Space::from_model(&model);
        for g in conditions(&held) {
            let ml = min_max(g.iter().map(|e| e.mass_loading_mg_cm2));
            let por = min_max(g.iter().map(|e| e.porosity_percent / 100.0));
            let n = g.len() as f64;
            let targets = Targets {
                mass_loading: Some(g.iter().map(|e| e.mass_loading_mg_cm2).sum::<f64>() / n),
                porosity_dry: Some(g.iter().map(|e| e.porosity_percent / 100.0).sum::<f64>() / n),
                ..Default::default()
            };
            let best = recommend(&model, &targets, &space, 1)?.remove(0);
            let e = g[0];
            let actual_score =
                evaluate(&model, &space, e.am_wt_percent, e.stol_percent, e.gap_um).map(|c| c.score_for(&targets));
            let inside = |r: [f64; 2], v: f64| r[0] <= v && v <= r[1];
            rows.push(Condition {
                am: e.am_wt_percent,
                stol: e.stol_percent,
                gap: e.gap_um,
                viscosity: e.viscosity_pa_s,
                replicates: g.len(),
                mass_loading: targets.mass_loading.expect("set"),
                mass_loading_range: ml,
                porosity: targets.porosity_dry.expect("set"),
                porosity_range: por,
                within_mass_loading: inside(ml, best.mass_loading.value),
                within_porosity: inside(por, best.porosity_dry.value),
                recommended: best,
                actual_score,
            });
        }
        progress(k + 1, slurries.len());
    }
    let n = rows.len() as f64;
    let frac = |f: &dyn Fn(&Condition) -> bool| rows.iter().filter(|r| f(r)).count() as f64 / n;
    Ok(LosoReport {
        slurries: slurries.len(),
        conditions: rows.len(),
        within_both: frac(&|r| r.within_mass_loading && r.within_porosity),
        within_mass_loading: frac(&|r| r.within_mass_loading),
        within_porosity: frac(&|r| r.within_porosity),
        same_am: frac(&|r| r.recommended.am == r.am),
        median_abs_delta_stol: median(rows.iter().map(|r| (r.recommended.stol - r.stol).abs()).collect()),
        median_abs_delta_gap: median(rows.iter().map(|r| (r.recommended.gap - r.gap).abs()).collect()),
        median_score_recommended: median(rows.iter().map(|r| r.recommended.score).collect()),
        median_score_actual: median(rows.iter().filter_map(|r| r.actual_score).collect()),
        rows,
    })
}
