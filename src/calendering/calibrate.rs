//! Calendering against experiments: the roll gap is a machine setting, not the final
//! thickness, so the simulated compression a (gap, thickness) pair stands for is calibrated.
//!
//! 1. The simulator presses one dried structure to a grid of compression degrees c and
//!    reports the thickness ratio r(c) = final (after spring-back) / before.
//! 2. Each experiment's own ratio follows from mass conservation:
//!    t = (1 − ε_before) / (1 − ε_after); inverting r gives the compression c it needed.
//! 3. On the training half, c = a + b·(1 − g/L₀) by least squares (two numbers; with
//!    `porosity_term`, + d·ε_before).
//! 4. Each held-out experiment is predicted by simulating at its mapped compression:
//!    ε_after = 1 − (1 − ε_before) / r_sim(c). Its own ε_before and L₀ enter; the
//!    structure's porosity does not (the ratio carries the mechanics).
//!
//! The same split also scores two references: a plain linear fit of ε_after on ε_before
//! and 1 − g/L₀ (three numbers) on the training half (does the simulation add anything?),
//! and the published empirical law (DESIGN.md §3), which was fitted on all 14 points, the
//! held-out ones included.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::analysis::stats::least_squares;
use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;
use crate::io::sha256_hex;
use crate::map::calendering::COLUMNS;
use crate::map::dataset::read_columns;
use crate::scenario::calendering::Target;
use crate::scenario::Loaded;
use crate::slurry::protocol::{self, Quiet};

/// One calendering experiment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// Row number in the file (1-based, header excluded).
    pub row: usize,
    /// AM mass fraction [-].
    pub am_fraction: f64,
    /// Porosity before calendering [-].
    pub porosity_before: f64,
    /// Thickness before calendering [µm].
    pub thickness_before_um: f64,
    /// Roll gap [µm].
    pub gap_um: f64,
    /// Measured porosity after calendering [-].
    pub porosity_after: f64,
}

impl Experiment {
    /// Reads the experiments (canonical or reference headers; see `map::calendering`).
    pub fn load(path: &Path) -> Result<Vec<Experiment>> {
        let src = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let rows = read_columns(&src, &path.display().to_string(), &COLUMNS)?;
        Ok(rows
            .iter()
            .enumerate()
            .map(|(i, r)| Experiment {
                row: i + 1,
                am_fraction: r[0],
                porosity_before: r[1],
                thickness_before_um: r[2],
                gap_um: r[3],
                porosity_after: r[4],
            })
            .collect())
    }

    /// Final / initial thickness by mass conservation [-].
    pub fn thickness_ratio(&self) -> f64 {
        (1.0 - self.porosity_before) / (1.0 - self.porosity_after)
    }

    /// 1 − g/L₀: the compression if the film ended at the gap [-].
    pub fn nominal_compression(&self) -> f64 {
        1.0 - self.gap_um / self.thickness_before_um
    }

    /// Porosity after for a final / initial thickness ratio [-].
    pub fn porosity_for_ratio(&self, ratio: f64) -> f64 {
        1.0 - (1.0 - self.porosity_before) / ratio
    }
}

/// One simulated calendering of the structure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SimPoint {
    /// Tool travel below the film top / film thickness [-].
    pub compression: f64,
    /// Mean surface height after relaxation / before [-] (the film's thickness ratio).
    pub thickness_ratio: f64,
    /// The same by the highest sphere (follows single particles) [-].
    #[serde(default)]
    pub top_ratio: f64,
    pub springback_pct: Option<f64>,
    pub max_pressure_mpa: f64,
    /// Wall time of the simulation [s].
    pub wall_s: f64,
}

/// What calendering a structure to a compression gives.
pub trait Calender {
    fn calender(&mut self, compression: f64) -> Result<SimPoint>;
}

/// r(c) through the grid points, linear between them and along the end segments beyond.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseCurve {
    pub points: Vec<SimPoint>,
}

impl ResponseCurve {
    /// Needs two or more compressions with the ratio decreasing strictly (more pressing,
    /// thinner film); anything else cannot be inverted.
    pub fn new(mut points: Vec<SimPoint>) -> Result<ResponseCurve> {
        points.sort_by(|a, b| a.compression.total_cmp(&b.compression));
        let decreasing = points.windows(2).all(|w| w[1].thickness_ratio < w[0].thickness_ratio);
        if points.len() < 2 || !decreasing {
            let r: Vec<String> = points
                .iter()
                .map(|p| format!("{:.3}→{:.4}", p.compression, p.thickness_ratio))
                .collect();
            return Err(Error::Setup(format!(
                "calibration: the simulated thickness ratio must fall strictly with compression over two or more grid points; got [{}] (hint: widen the grid, or slow the tool so spring-back is not noise)",
                r.join(", ")
            )));
        }
        Ok(ResponseCurve { points })
    }

    fn segment(&self, key: impl Fn(&SimPoint) -> f64, v: f64) -> (&SimPoint, &SimPoint) {
        let p = &self.points;
        let k = p.windows(2).position(|w| v <= key(&w[1])).unwrap_or(p.len() - 2);
        (&p[k], &p[k + 1])
    }

    /// r at compression c.
    pub fn ratio_at(&self, c: f64) -> f64 {
        let (a, b) = self.segment(|p| p.compression, c);
        a.thickness_ratio
            + (c - a.compression) * (b.thickness_ratio - a.thickness_ratio) / (b.compression - a.compression)
    }

    /// The compression giving ratio r (the inverse of [`ratio_at`](Self::ratio_at)).
    pub fn compression_for(&self, r: f64) -> f64 {
        let (a, b) = self.segment(|p| -p.thickness_ratio, -r);
        a.compression
            + (r - a.thickness_ratio) * (b.compression - a.compression) / (b.thickness_ratio - a.thickness_ratio)
    }
}

/// c = a + b·(1 − g/L₀), optionally + d·ε_before (a denser film takes less compression
/// from the same gap).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompressionMap {
    /// (a, b) or (a, b, d).
    pub coef: Vec<f64>,
    pub porosity_term: bool,
}

impl CompressionMap {
    fn features(&self, e: &Experiment) -> Vec<f64> {
        let mut f = vec![1.0, e.nominal_compression()];
        if self.porosity_term {
            f.push(e.porosity_before);
        }
        f
    }

    /// Least squares of the experiments' own compressions `c` (from the response curve) on
    /// the map's features.
    pub fn fit(train: &[Experiment], c: &[f64], porosity_term: bool) -> Result<CompressionMap> {
        let shape = CompressionMap {
            coef: Vec::new(),
            porosity_term,
        };
        let rows: Vec<Vec<f64>> = train.iter().map(|e| shape.features(e)).collect();
        let coef = if porosity_term {
            let x: Vec<[f64; 3]> = rows.iter().map(|r| std::array::from_fn(|i| r[i])).collect();
            least_squares(&x, c).map(|c| c.to_vec())
        } else {
            let x: Vec<[f64; 2]> = rows.iter().map(|r| std::array::from_fn(|i| r[i])).collect();
            least_squares(&x, c).map(|c| c.to_vec())
        };
        let coef = coef.ok_or_else(|| {
            Error::Setup(
                "calibration: the training experiments do not determine the map (they need distinct gap/thickness ratios, and distinct porosities with the porosity term)".into(),
            )
        })?;
        Ok(CompressionMap { coef, porosity_term })
    }

    pub fn compression(&self, e: &Experiment) -> f64 {
        self.features(e).iter().zip(&self.coef).map(|(f, c)| f * c).sum()
    }
}

/// The published empirical law (DESIGN.md §3): ε_after from x_AM, ε_before, L₀ [µm], g [µm].
pub fn published_law(e: &Experiment) -> f64 {
    let (x, p, l, g) = (e.am_fraction, e.porosity_before, e.thickness_before_um, e.gap_um);
    0.843501 * x - 0.723465 * p - 0.0013241 * l - 0.0030608 * g + 5.8362e-6 * g * g + 0.0071988 * p * g
}

/// ε_after ≈ α + β·ε_before + γ·(1 − g/L₀), fitted on `train`.
fn linear_baseline(train: &[Experiment]) -> Option<impl Fn(&Experiment) -> f64> {
    let row = |e: &Experiment| [1.0, e.porosity_before, e.nominal_compression()];
    let x: Vec<[f64; 3]> = train.iter().map(row).collect();
    let y: Vec<f64> = train.iter().map(|e| e.porosity_after).collect();
    let c = least_squares(&x, &y)?;
    Some(move |e: &Experiment| row(e).iter().zip(c).map(|(a, b)| a * b).sum())
}

/// One held-out experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prediction {
    pub experiment: Experiment,
    /// Mapped compression [-].
    pub compression: f64,
    /// Porosity after from a simulation at that compression [-].
    pub porosity_simulated: f64,
    /// From the grid's interpolated ratio instead (no new simulation) [-].
    pub porosity_interpolated: f64,
    pub porosity_baseline: Option<f64>,
    pub porosity_published_law: f64,
    pub sim: SimPoint,
}

/// Held-out mean absolute porosity errors [-].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scores {
    pub simulated: f64,
    pub interpolated: f64,
    /// None when the training half does not determine the baseline.
    pub baseline: Option<f64>,
    pub published_law: f64,
    /// The published law on the training half (its own fitting points) [-].
    pub published_law_on_train: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fold {
    pub train_rows: Vec<usize>,
    pub map: CompressionMap,
    /// Training experiments' own compressions from the curve, and the map's residual MAE [-].
    pub train_compressions: Vec<f64>,
    pub train_mae_compression: f64,
    pub predictions: Vec<Prediction>,
    pub scores: Scores,
}

fn mae(v: impl Iterator<Item = (f64, f64)>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), (a, b)| (s + (a - b).abs(), n + 1));
    s / n.max(1) as f64
}

/// Calibrates on `train`, predicts `test` by simulating each at its mapped compression.
pub fn run_fold(
    curve: &ResponseCurve,
    train: &[Experiment],
    test: &[Experiment],
    porosity_term: bool,
    sim: &mut dyn Calender,
) -> Result<Fold> {
    let train_compressions: Vec<f64> = train
        .iter()
        .map(|e| curve.compression_for(e.thickness_ratio()))
        .collect();
    let map = CompressionMap::fit(train, &train_compressions, porosity_term)?;
    let baseline = linear_baseline(train);
    let mut predictions = Vec::with_capacity(test.len());
    for e in test {
        let c = map.compression(e);
        if !(0.0..1.0).contains(&c) {
            return Err(Error::Setup(format!(
                "calibration: experiment row {} maps to compression {c:.3}, outside (0, 1)",
                e.row
            )));
        }
        let s = sim.calender(c)?;
        predictions.push(Prediction {
            experiment: *e,
            compression: c,
            porosity_simulated: e.porosity_for_ratio(s.thickness_ratio),
            porosity_interpolated: e.porosity_for_ratio(curve.ratio_at(c)),
            porosity_baseline: baseline.as_ref().map(|f| f(e)),
            porosity_published_law: published_law(e),
            sim: s,
        });
    }
    let err = |f: fn(&Prediction) -> f64| mae(predictions.iter().map(|p| (f(p), p.experiment.porosity_after)));
    let scores = Scores {
        simulated: err(|p| p.porosity_simulated),
        interpolated: err(|p| p.porosity_interpolated),
        baseline: baseline
            .is_some()
            .then(|| err(|p| p.porosity_baseline.unwrap_or(f64::NAN))),
        published_law: err(|p| p.porosity_published_law),
        published_law_on_train: mae(train.iter().map(|e| (published_law(e), e.porosity_after))),
    };
    Ok(Fold {
        train_rows: train.iter().map(|e| e.row).collect(),
        train_mae_compression: mae(train
            .iter()
            .zip(&train_compressions)
            .map(|(e, c)| (map.compression(e), *c))),
        map,
        train_compressions,
        predictions,
        scores,
    })
}

/// Odd rows train and even rows test, then the reverse: every experiment is held out once.
pub fn two_folds(exps: &[Experiment]) -> [(Vec<Experiment>, Vec<Experiment>); 2] {
    let (odd, even): (Vec<Experiment>, Vec<Experiment>) = exps.iter().partition(|e| e.row % 2 == 1);
    [(odd.clone(), even.clone()), (even, odd)]
}

/// Calenders a scenario's structure (its calendering block with the target replaced),
/// remembering every result in `cache` (a JSON file, rewritten atomically after each run):
/// an interrupted calibration reruns nothing it finished.
pub struct ScenarioCalender {
    pub base: Loaded,
    /// SHA-256 of the scenario text, which keys the cache.
    hash: String,
    cache: Option<PathBuf>,
    done: Vec<SimPoint>,
}

#[derive(Serialize, Deserialize)]
struct Cache {
    scenario_sha256: String,
    runs: Vec<SimPoint>,
}

impl ScenarioCalender {
    pub fn new(base: Loaded, cache: Option<PathBuf>) -> Result<ScenarioCalender> {
        if base.scenario.protocol.calendering.is_none() {
            return Err(Error::Setup(format!(
                "{}: the scenario has no calendering block to calibrate (hint: see scenarios/calender_reference.ron)",
                base.path.display()
            )));
        }
        let hash = sha256_hex(base.source.as_bytes());
        let done = cache
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str::<Cache>(&t).ok())
            .filter(|c| c.scenario_sha256 == hash)
            .map_or(Vec::new(), |c| c.runs);
        Ok(ScenarioCalender {
            base,
            hash,
            cache,
            done,
        })
    }

    /// Runs already in the cache.
    pub fn cached(&self) -> usize {
        self.done.len()
    }
}

impl Calender for ScenarioCalender {
    fn calender(&mut self, compression: f64) -> Result<SimPoint> {
        if let Some(p) = self.done.iter().find(|p| (p.compression - compression).abs() < 1e-9) {
            return Ok(*p);
        }
        let mut l = self.base.clone();
        if let Some(c) = l.scenario.protocol.calendering.as_mut() {
            c.target = Target::Compression(compression);
            // A point is thicknesses and pressures: the tortuosity solves before and after
            // each press (seconds each, the same structure every time) would go unread.
            c.tortuosity = None;
        }
        let t0 = Instant::now();
        let run = protocol::run(&l, &mut Quiet, None)?;
        let c = run
            .calendering
            .ok_or_else(|| Error::Setup("calibration: the run produced no calendering result".into()))?;
        let p = SimPoint {
            compression,
            thickness_ratio: c.surface_um / c.surface_before_um,
            top_ratio: c.thickness_um / c.thickness_before_um,
            springback_pct: c.springback_pct,
            max_pressure_mpa: c.max_pressure_mpa,
            wall_s: t0.elapsed().as_secs_f64(),
        };
        self.done.push(p);
        if let Some(path) = &self.cache {
            let cache = Cache {
                scenario_sha256: self.hash.clone(),
                runs: self.done.clone(),
            };
            let bytes = serde_json::to_vec_pretty(&cache).map_err(|e| Error::Setup(e.to_string()))?;
            write_atomic(path, |w| w.write_all(&bytes))?;
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A structure whose spring-back keeps a fixed share of the compression.
    struct Elastic {
        keep: f64,
        calls: usize,
    }
    impl Calender for Elastic {
        fn calender(&mut self, c: f64) -> Result<SimPoint> {
            self.calls += 1;
            Ok(SimPoint {
                compression: c,
                thickness_ratio: 1.0 - self.keep * c,
                top_ratio: 1.0 - self.keep * c,
                springback_pct: None,
                max_pressure_mpa: 0.0,
                wall_s: 0.0,
            })
        }
    }

    fn exp(row: usize, eb: f64, l0: f64, g: f64, ea: f64) -> Experiment {
        Experiment {
            row,
            am_fraction: 0.96,
            porosity_before: eb,
            thickness_before_um: l0,
            gap_um: g,
            porosity_after: ea,
        }
    }

    #[test]
    fn a_law_the_simulator_can_express_is_recovered_and_predicted_exactly() {
        let mut sim = Elastic { keep: 0.7, calls: 0 };
        let grid: Vec<SimPoint> = [0.1, 0.3, 0.5, 0.7].iter().map(|&c| sim.calender(c).unwrap()).collect();
        let curve = ResponseCurve::new(grid).unwrap();
        assert!((curve.ratio_at(0.4) - 0.72).abs() < 1e-12);
        assert!((curve.compression_for(0.72) - 0.4).abs() < 1e-12);
        // Beyond the grid: the end segment's line.
        assert!((curve.compression_for(0.3) - 1.0).abs() < 1e-12);
        // Truth: c = 0.05 + 0.5·(1 − g/L₀); the measured porosity follows through r(c).
        let truth = CompressionMap {
            coef: vec![0.05, 0.5],
            porosity_term: false,
        };
        let exps: Vec<Experiment> = (1..=10)
            .map(|i| {
                let mut e = exp(
                    i,
                    0.40 + 0.01 * i as f64,
                    140.0 + 4.0 * i as f64,
                    [1.0, 25.0, 44.0, 100.0][i % 4],
                    0.0,
                );
                e.porosity_after = e.porosity_for_ratio(1.0 - 0.7 * truth.compression(&e));
                e
            })
            .collect();
        let [(train, test), _] = two_folds(&exps);
        assert_eq!(train.len(), 5);
        let before = sim.calls;
        let f = run_fold(&curve, &train, &test, false, &mut sim).unwrap();
        assert_eq!(sim.calls - before, test.len(), "one simulation per held-out point");
        let c = &f.map.coef;
        assert!((c[0] - 0.05).abs() < 1e-9 && (c[1] - 0.5).abs() < 1e-9, "{c:?}");
        assert!(f.scores.simulated < 1e-9 && f.scores.interpolated < 1e-9);
        assert!(f.train_mae_compression < 1e-9);
        // The porosity term finds nothing to add to an exact two-term law.
        let f = run_fold(&curve, &train, &test, true, &mut sim).unwrap();
        assert!(f.map.coef[2].abs() < 1e-7 && f.scores.simulated < 1e-9, "{:?}", f.map);
    }

    #[test]
    fn a_curve_that_does_not_fall_is_refused_with_its_points() {
        let p = |c: f64, r: f64| SimPoint {
            compression: c,
            thickness_ratio: r,
            top_ratio: r,
            springback_pct: None,
            max_pressure_mpa: 0.0,
            wall_s: 0.0,
        };
        let e = ResponseCurve::new(vec![p(0.1, 0.95), p(0.3, 0.96)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("0.300→0.9600") && e.contains("hint"), "{e}");
        assert!(ResponseCurve::new(vec![p(0.1, 0.95)]).is_err());
    }
}
