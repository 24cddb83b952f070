//! Time-series statistics: block averages for correlated samples, and a steady-state test.

use serde::{Deserialize, Serialize};

/// Mean of a correlated series with its standard error from non-overlapping blocks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BlockAverage {
    pub mean: f64,
    /// Standard error of the mean [same unit as the series].
    pub stderr: f64,
    pub blocks: usize,
}

/// Means of `n_blocks` equal consecutive blocks of `x` (the remainder dropped at the
/// start). `None` if there are fewer samples than blocks.
fn block_means(x: &[f64], n_blocks: usize) -> Option<Vec<f64>> {
    if n_blocks == 0 || x.len() < n_blocks {
        return None;
    }
    let len = x.len() / n_blocks;
    let start = x.len() - len * n_blocks;
    Some(
        (0..n_blocks)
            .map(|b| x[start + b * len..start + (b + 1) * len].iter().sum::<f64>() / len as f64)
            .collect(),
    )
}

/// [min, max] of `values` ([+∞, −∞] when empty).
pub fn min_max(values: impl IntoIterator<Item = f64>) -> [f64; 2] {
    values
        .into_iter()
        .fold([f64::INFINITY, f64::NEG_INFINITY], |[lo, hi], v| [lo.min(v), hi.max(v)])
}

/// Median of `v` (the mean of the middle two for an even count; NaN when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Least squares `y ≈ c · x` by the normal equations with partial pivoting (a handful of
/// columns); `None` if the columns do not determine `c`.
pub fn least_squares<const M: usize>(x: &[[f64; M]], y: &[f64]) -> Option<[f64; M]> {
    let mut a = vec![[0.0; M]; M];
    let mut b = [0.0; M];
    for (r, &v) in x.iter().zip(y) {
        for i in 0..M {
            for j in 0..M {
                a[i][j] += r[i] * r[j];
            }
            b[i] += r[i] * v;
        }
    }
    for col in 0..M {
        let p = (col..M).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[p][col].abs() < 1e-12 * a[col][col].abs().max(1.0) {
            return None;
        }
        a.swap(col, p);
        b.swap(col, p);
        let (pivot, pb) = (a[col], b[col]);
        for r in 0..M {
            if r != col {
                let f = a[r][col] / pivot[col];
                for k in col..M {
                    a[r][k] -= f * pivot[k];
                }
                b[r] -= f * pb;
            }
        }
    }
    Some(std::array::from_fn(|i| b[i] / a[i][i]))
}

/// Mean and standard error of the block means. `None` if fewer than 2 blocks of at least
/// one sample.
pub fn block_average(x: &[f64], n_blocks: usize) -> Option<BlockAverage> {
    if n_blocks < 2 {
        return None;
    }
    let means = block_means(x, n_blocks)?;
    let mean = means.iter().sum::<f64>() / n_blocks as f64;
    let var = means.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (n_blocks - 1) as f64;
    Some(BlockAverage {
        mean,
        stderr: (var / n_blocks as f64).sqrt(),
        blocks: n_blocks,
    })
}

/// Steady if the block means show no significant trend: the least-squares slope of the
/// block means against block index is within `z` of its standard error. (Comparing two
/// halves fails on drifting series, whose drift inflates the block errors.)
pub fn is_steady(x: &[f64], n_blocks: usize, z: f64) -> Option<bool> {
    if n_blocks < 3 {
        return None;
    }
    let pts: Vec<(f64, f64)> = block_means(x, n_blocks)?
        .into_iter()
        .enumerate()
        .map(|(b, m)| (b as f64, m))
        .collect();
    let fit = linear_fit(&pts);
    Some(fit.slope == 0.0 || fit.slope.abs() <= z * fit.slope_stderr)
}

/// A least-squares line through points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineFit {
    pub slope: f64,
    pub intercept: f64,
    /// Coefficient of determination [-].
    pub r2: f64,
    /// Standard error of the slope (needs ≥ 3 points; 0 otherwise).
    pub slope_stderr: f64,
}

/// Least-squares fit y = intercept + slope·x.
pub fn linear_fit(pts: &[(f64, f64)]) -> LineFit {
    let m = pts.len() as f64;
    let (sx, sy) = (
        pts.iter().map(|p| p.0).sum::<f64>() / m,
        pts.iter().map(|p| p.1).sum::<f64>() / m,
    );
    let sxy: f64 = pts.iter().map(|p| (p.0 - sx) * (p.1 - sy)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - sx).powi(2)).sum();
    let syy: f64 = pts.iter().map(|p| (p.1 - sy).powi(2)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let r2 = if sxx > 0.0 && syy > 0.0 {
        sxy * sxy / (sxx * syy)
    } else {
        0.0
    };
    let slope_stderr = if pts.len() > 2 && sxx > 0.0 {
        let resid: f64 = pts.iter().map(|p| (p.1 - sy - slope * (p.0 - sx)).powi(2)).sum();
        (resid / (m - 2.0) / sxx).sqrt()
    } else {
        0.0
    };
    LineFit {
        slope,
        intercept: sy - slope * sx,
        r2,
        slope_stderr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn block_average_of_independent_samples_has_the_textbook_error() {
        // A deterministic sequence of ±1 in blocks of known spread.
        let x: Vec<f64> = (0..1000)
            .map(|k| if (k * 7919) % 13 < 6 { 1.0 } else { -1.0 })
            .collect();
        let b = block_average(&x, 10).unwrap();
        let direct = x.iter().sum::<f64>() / 1000.0;
        assert!((b.mean - direct).abs() < 1e-12);
        assert!(b.stderr > 0.0 && b.stderr < 0.2);
        assert!(block_average(&x[..1], 2).is_none());
        // A drifting series is not steady; a flat one is.
        let drift: Vec<f64> = (0..1000).map(|k| k as f64 * 0.01 + x[k] * 0.1).collect();
        assert_eq!(is_steady(&drift, 10, 3.0), Some(false));
        assert_eq!(is_steady(&x, 10, 3.0), Some(true));
        // A slow drift hidden in large noise is not flagged; a clear one is.
        let slow: Vec<f64> = (0..1000).map(|k| x[k] + 1e-5 * k as f64).collect();
        assert_eq!(is_steady(&slow, 10, 3.0), Some(true));
    }
}
