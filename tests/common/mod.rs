//! Shared test helpers: locating the reference data and comparing per-atom vectors.
#![allow(dead_code)]

use std::path::PathBuf;

/// The folder named by `var`. Unset → `None` after printing that the test skipped;
/// set but missing → the test fails (CI must not silently skip).
pub fn env_dir(var: &str, test: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        None => {
            eprintln!("SKIPPED {test}: {var} is not set (it points at the reference data outside the repository)");
            None
        }
        Some(v) => {
            let p = PathBuf::from(v);
            assert!(p.is_dir(), "{var}={} is set but is not a folder", p.display());
            Some(p)
        }
    }
}

pub fn norm(v: [f64; 3]) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

pub fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// Largest per-atom relative error max_i |a_i − b_i| / max(|b_i|, floor), where the floor is
/// 1e-12 of the largest |b_k| (so an exactly-zero reference must be matched to that level).
/// Returns (error, index of the worst atom).
pub fn max_rel_err(a: &[[f64; 3]], b: &[[f64; 3]]) -> (f64, usize) {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().map(|&v| norm(v)).fold(0.0, f64::max);
    let floor = (1e-12 * scale).max(1e-300);
    let mut worst = (0.0, 0);
    for k in 0..a.len() {
        let e = norm(sub(a[k], b[k])) / norm(b[k]).max(floor);
        if e > worst.0 {
            worst = (e, k);
        }
    }
    worst
}
