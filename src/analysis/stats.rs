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

/// Splits `x` into `n_blocks` equal blocks (dropping the remainder at the start) and
/// returns the mean and the standard error of the block means. `None` if fewer than 2
/// blocks of at least one sample.
pub fn block_average(x: &[f64], n_blocks: usize) -> Option<BlockAverage> {
    if n_blocks < 2 || x.len() < n_blocks {
        return None;
    }
    let len = x.len() / n_blocks;
    let start = x.len() - len * n_blocks;
    let means: Vec<f64> = (0..n_blocks)
        .map(|b| x[start + b * len..start + (b + 1) * len].iter().sum::<f64>() / len as f64)
        .collect();
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
    if n_blocks < 3 || x.len() < n_blocks {
        return None;
    }
    let len = x.len() / n_blocks;
    let start = x.len() - len * n_blocks;
    let means: Vec<f64> = (0..n_blocks)
        .map(|b| x[start + b * len..start + (b + 1) * len].iter().sum::<f64>() / len as f64)
        .collect();
    let nb = n_blocks as f64;
    let bbar = (nb - 1.0) / 2.0;
    let mbar = means.iter().sum::<f64>() / nb;
    let sxx: f64 = (0..n_blocks).map(|b| (b as f64 - bbar).powi(2)).sum();
    let slope = (0..n_blocks)
        .map(|b| (b as f64 - bbar) * (means[b] - mbar))
        .sum::<f64>()
        / sxx;
    let resid: f64 = (0..n_blocks)
        .map(|b| (means[b] - mbar - slope * (b as f64 - bbar)).powi(2))
        .sum::<f64>()
        / (nb - 2.0);
    let se = (resid / sxx).sqrt();
    Some(slope.abs() <= z * se || slope == 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

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
