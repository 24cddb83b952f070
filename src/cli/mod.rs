//! Command-line front ends that grew past a screen in `main.rs`.

pub mod map;

use etwin::{Error, Result};

/// Pretty JSON on stdout.
pub fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(v).map_err(|e| Error::Setup(e.to_string()))?
    );
    Ok(())
}

/// A comma-separated list of numbers, e.g. `1,10,50`.
fn number_list(s: &str) -> std::result::Result<Vec<f64>, String> {
    s.split(',')
        .map(|v| v.trim().parse::<f64>().map_err(|_| format!("`{v}` is not a number")))
        .collect()
}

/// Two increasing numbers `a,b`.
pub fn edges(s: &str) -> std::result::Result<[f64; 2], String> {
    match number_list(s)?.as_slice() {
        &[a, b] if a < b => Ok([a, b]),
        _ => Err("expected two increasing numbers, e.g. 20,35".into()),
    }
}
