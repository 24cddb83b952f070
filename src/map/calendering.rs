//! Calendering on measured experiments: porosity after calendering from the AM fraction,
//! the dried electrode's porosity and thickness and the calender gap, by least squares on
//! the reference group's terms (x_AM, ε, L₀, g, g², ε·g; DESIGN.md §3), with a
//! leave-one-out conformal interval. The reference set has 14 experiments: too few for a
//! kernel machine. On them these terms give a leave-one-out MAE of 0.0087, against 0.0146
//! for a plain linear model in (ε, L₀, g).
//!
//! | quantity | canonical header | reference header (Duquesnoy 2020) |
//! |---|---|---|
//! | AM mass fraction [-] | `am_fraction[-]` | `X.NMC` |
//! | calender gap [µm] | `calender_gap[um]` | `calender.gap.um` |
//! | porosity before [-] | `porosity_before[-]` | `porosite_before` |
//! | thickness before [µm] | `thickness_before[um]` | `thickness_before` |
//! | porosity after [-] | `porosity_after[-]` | `porosity` |

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::analysis::stats::{least_squares, min_max};
use crate::error::{Error, Result};
use crate::io::sha256_hex;
use crate::map::dataset::read_columns;
use crate::map::model::{conformal_half_width, ValuePrediction};

pub const COLUMNS: [(&str, &str); 5] = [
    ("am_fraction[-]", "X.NMC"),
    ("porosity_before[-]", "porosite_before"),
    ("thickness_before[um]", "thickness_before"),
    ("calender_gap[um]", "calender.gap.um"),
    ("porosity_after[-]", "porosity"),
];

/// Terms of the law, in [`CalenderingModel::coef`] order.
pub const TERMS: [&str; 6] = [
    "x_am",
    "porosity_before",
    "thickness_um",
    "gap_um",
    "gap_um^2",
    "porosity_before*gap_um",
];
const N: usize = TERMS.len();

/// porosity_after = coef · (x_AM, ε, L₀, g, g², ε·g).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalenderingModel {
    pub file: String,
    pub sha256: String,
    pub rows: usize,
    pub coef: [f64; N],
    /// Training range of (AM fraction [-], porosity before [-], thickness before [µm], gap [µm]).
    pub domain: [[f64; 2]; 4],
    /// Leave-one-out mean absolute error [-].
    pub loo_mae: f64,
    /// Half-width of the prediction interval [-] at `level`.
    pub half_width: f64,
    pub level: f64,
}

/// (x_AM, ε, L₀, g) → the law's terms.
fn design(v: &[f64]) -> [f64; N] {
    let (x, e, l, g) = (v[0], v[1], v[2], v[3]);
    [x, e, l, g, g * g, e * g]
}

fn dot(c: &[f64; N], x: &[f64; N]) -> f64 {
    c.iter().zip(x).map(|(a, b)| a * b).sum()
}

impl CalenderingModel {
    pub fn load(path: &Path, level: f64) -> Result<CalenderingModel> {
        let src = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let file = path.display().to_string();
        let rows = read_columns(&src, &file, &COLUMNS)?;
        Self::fit(&rows, &file, sha256_hex(src.as_bytes()), level)
    }

    fn fit(rows: &[Vec<f64>], file: &str, sha256: String, level: f64) -> Result<CalenderingModel> {
        let x: Vec<[f64; N]> = rows.iter().map(|r| design(r)).collect();
        let y: Vec<f64> = rows.iter().map(|r| r[4]).collect();
        let singular = || {
            Error::Setup(format!(
                "{file}: the calendering experiments do not determine the law's {N} coefficients (need more rows that vary AM fraction, porosity, thickness and gap independently)"
            ))
        };
        if rows.len() <= N {
            return Err(singular());
        }
        let coef = least_squares(&x, &y).ok_or_else(singular)?;
        let mut loo = Vec::with_capacity(rows.len());
        for i in 0..rows.len() {
            let keep: Vec<usize> = (0..rows.len()).filter(|&j| j != i).collect();
            let c = least_squares(
                &keep.iter().map(|&j| x[j]).collect::<Vec<_>>(),
                &keep.iter().map(|&j| y[j]).collect::<Vec<_>>(),
            )
            .ok_or_else(singular)?;
            loo.push(y[i] - dot(&c, &x[i]));
        }
        let range = |k: usize| min_max(rows.iter().map(|r| r[k]));
        Ok(CalenderingModel {
            file: file.into(),
            sha256,
            rows: rows.len(),
            coef,
            domain: [range(0), range(1), range(2), range(3)],
            loo_mae: loo.iter().map(|r| r.abs()).sum::<f64>() / loo.len() as f64,
            half_width: conformal_half_width(&loo, level),
            level,
        })
    }

    /// Porosity after calendering [-] from the AM mass fraction [-], porosity before [-],
    /// thickness [µm] and gap [µm].
    pub fn predict(&self, am_fraction: f64, porosity_before: f64, thickness_um: f64, gap_um: f64) -> ValuePrediction {
        let v = dot(
            &self.coef,
            &design(&[am_fraction, porosity_before, thickness_um, gap_um]),
        );
        ValuePrediction {
            value: v,
            low: v - self.half_width,
            high: v + self.half_width,
        }
    }

    /// d(porosity after)/d(porosity before) [-] at gap `gap_um`, to carry the dried
    /// porosity's uncertainty.
    pub fn sensitivity(&self, gap_um: f64) -> f64 {
        self.coef[1] + self.coef[5] * gap_um
    }

    /// Names of the inputs outside the experiments' range.
    pub fn outside_domain(
        &self,
        am_fraction: f64,
        porosity_before: f64,
        thickness_um: f64,
        gap_um: f64,
    ) -> Vec<&'static str> {
        COLUMNS[..4]
            .iter()
            .map(|c| c.0)
            .zip(self.domain)
            .zip([am_fraction, porosity_before, thickness_um, gap_um])
            .filter(|((_, d), v)| *v < d[0] || *v > d[1])
            .map(|((n, _), _)| n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_law_is_recovered_with_zero_loo_error() {
        let truth = [0.8, -0.7, -0.0013, -0.003, 6e-6, 0.007];
        let rows: Vec<Vec<f64>> = (0..12)
            .map(|i| {
                let (x, p, t, g) = (
                    [0.94, 0.95, 0.96][i % 3],
                    0.4 + 0.01 * i as f64,
                    130.0 + 7.0 * (i % 5) as f64,
                    [1.0, 25.0, 44.0, 100.0][i % 4],
                );
                vec![x, p, t, g, dot(&truth, &design(&[x, p, t, g]))]
            })
            .collect();
        let m = CalenderingModel::fit(&rows, "t.csv", "ab".into(), 0.9).unwrap();
        for (a, b) in m.coef.iter().zip(truth) {
            assert!((a - b).abs() < 1e-8 * b.abs().max(1e-3), "{:?}", m.coef);
        }
        assert!(m.loo_mae < 1e-9 && m.half_width < 1e-9);
        assert_eq!(m.outside_domain(0.95, 0.3, 140.0, 5.0), vec!["porosity_before[-]"]);
        // A column that never varies cannot be separated from the others.
        let flat: Vec<Vec<f64>> = rows.iter().map(|r| vec![r[0], r[1], 150.0, 20.0, r[4]]).collect();
        assert!(CalenderingModel::fit(&flat, "t.csv", "00".into(), 0.9).is_err());
    }
}
