//! Calendering on measured experiments: porosity after calendering from the dried
//! electrode's porosity and thickness and the calender gap, by least squares (the reference
//! set has 14 experiments: too few for a kernel machine), with a leave-one-out conformal
//! interval.
//!
//! | quantity | canonical header | reference header (Duquesnoy 2020) |
//! |---|---|---|
//! | calender gap [µm] | `calender_gap[um]` | `calender.gap.um` |
//! | porosity before [-] | `porosity_before[-]` | `porosite_before` |
//! | thickness before [µm] | `thickness_before[um]` | `thickness_before` |
//! | porosity after [-] | `porosity_after[-]` | `porosity` |

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::map::dataset::read_columns;
use crate::map::model::{conformal_half_width, ValuePrediction};

pub const COLUMNS: [(&str, &str); 4] = [
    ("porosity_before[-]", "porosite_before"),
    ("thickness_before[um]", "thickness_before"),
    ("calender_gap[um]", "calender.gap.um"),
    ("porosity_after[-]", "porosity"),
];

/// porosity_after = coef · (1, porosity_before, thickness_before, gap).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalenderingModel {
    pub file: String,
    pub sha256: String,
    pub rows: usize,
    pub coef: [f64; 4],
    /// Training range of (porosity before [-], thickness before [µm], gap [µm]).
    pub domain: [[f64; 2]; 3],
    /// Leave-one-out mean absolute error [-].
    pub loo_mae: f64,
    /// Half-width of the prediction interval [-] at `level`.
    pub half_width: f64,
    pub level: f64,
}

/// Least squares by the normal equations (a handful of columns); `None` if singular.
pub fn least_squares(x: &[[f64; 4]], y: &[f64]) -> Option<[f64; 4]> {
    let mut a = [[0.0; 5]; 4];
    for (r, &v) in x.iter().zip(y) {
        for i in 0..4 {
            for j in 0..4 {
                a[i][j] += r[i] * r[j];
            }
            a[i][4] += r[i] * v;
        }
    }
    for col in 0..4 {
        let p = (col..4).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[p][col].abs() < 1e-12 * a[col][col].abs().max(1.0) {
            return None;
        }
        a.swap(col, p);
        let pivot = a[col];
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot[col];
                for (v, p) in row.iter_mut().zip(pivot).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    Some([0, 1, 2, 3].map(|i| a[i][4] / a[i][i]))
}

fn design(v: &[f64]) -> [f64; 4] {
    [1.0, v[0], v[1], v[2]]
}

fn dot(c: &[f64; 4], x: &[f64; 4]) -> f64 {
    c.iter().zip(x).map(|(a, b)| a * b).sum()
}

impl CalenderingModel {
    pub fn load(path: &Path, level: f64) -> Result<CalenderingModel> {
        let src = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let file = path.display().to_string();
        let rows = read_columns(&src, &file, &COLUMNS)?;
        Self::fit(&rows, &file, &Sha256::digest(src.as_bytes()), level)
    }

    fn fit(rows: &[Vec<f64>], file: &str, digest: &[u8], level: f64) -> Result<CalenderingModel> {
        let x: Vec<[f64; 4]> = rows.iter().map(|r| design(r)).collect();
        let y: Vec<f64> = rows.iter().map(|r| r[3]).collect();
        let singular = || {
            Error::Setup(format!(
                "{file}: the calendering experiments do not determine a linear model (need at least 5 rows that vary porosity, thickness and gap independently)"
            ))
        };
        if rows.len() < 5 {
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
        let range = |k: usize| {
            let v = rows.iter().map(|r| r[k]);
            [
                v.clone().fold(f64::INFINITY, f64::min),
                v.fold(f64::NEG_INFINITY, f64::max),
            ]
        };
        Ok(CalenderingModel {
            file: file.into(),
            sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
            rows: rows.len(),
            coef,
            domain: [range(0), range(1), range(2)],
            loo_mae: loo.iter().map(|r| r.abs()).sum::<f64>() / loo.len() as f64,
            half_width: conformal_half_width(&loo, level),
            level,
        })
    }

    /// Porosity after calendering [-] from porosity before [-], thickness [µm] and gap [µm].
    pub fn predict(&self, porosity_before: f64, thickness_um: f64, gap_um: f64) -> ValuePrediction {
        let v = dot(&self.coef, &design(&[porosity_before, thickness_um, gap_um]));
        ValuePrediction {
            value: v,
            low: v - self.half_width,
            high: v + self.half_width,
        }
    }

    /// d(porosity after)/d(porosity before) [-], to carry the dried porosity's uncertainty.
    pub fn sensitivity(&self) -> f64 {
        self.coef[1]
    }

    /// Names of the inputs outside the experiments' range.
    pub fn outside_domain(&self, porosity_before: f64, thickness_um: f64, gap_um: f64) -> Vec<&'static str> {
        ["porosity_before[-]", "thickness_before[um]", "calender_gap[um]"]
            .into_iter()
            .zip(self.domain)
            .zip([porosity_before, thickness_um, gap_um])
            .filter(|((_, d), v)| *v < d[0] || *v > d[1])
            .map(|((n, _), _)| n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_linear_law_is_recovered_with_zero_loo_error() {
        let rows: Vec<Vec<f64>> = (0..8)
            .map(|i| {
                let (p, t, g) = (
                    0.4 + 0.01 * i as f64,
                    130.0 + 7.0 * (i % 3) as f64,
                    10.0 * (i % 4) as f64,
                );
                vec![p, t, g, 0.1 + 0.5 * p - 0.001 * t + 0.002 * g]
            })
            .collect();
        let m = CalenderingModel::fit(&rows, "t.csv", &[0xab], 0.9).unwrap();
        for (a, b) in m.coef.iter().zip([0.1, 0.5, -0.001, 0.002]) {
            assert!((a - b).abs() < 1e-9, "{:?}", m.coef);
        }
        assert!(m.loo_mae < 1e-9 && m.half_width < 1e-9);
        assert!(m.outside_domain(0.3, 140.0, 5.0) == vec!["porosity_before[-]"]);
        // Collinear columns cannot be separated.
        let flat: Vec<Vec<f64>> = rows.iter().map(|r| vec![r[0], 150.0, 20.0, r[3]]).collect();
        assert!(CalenderingModel::fit(&flat, "t.csv", &[0], 0.9).is_err());
    }
}
