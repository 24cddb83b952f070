//! Command-line front ends that grew past a screen in `main.rs`.

pub mod analyze;
pub mod bench;
pub mod calibrate;
pub mod fit;
pub mod forces;
pub mod map;
pub mod recommend;
pub mod run;
pub mod sweep;
pub mod validate;

use etwin::{Error, Result};

/// Pretty JSON on stdout.
pub fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(v).map_err(|e| Error::Setup(e.to_string()))?
    );
    Ok(())
}

/// Two increasing numbers `a,b` or `a..b` (class edges, ranges).
pub fn pair(s: &str) -> std::result::Result<[f64; 2], String> {
    let parts: Vec<&str> = if s.contains("..") {
        s.split("..").collect()
    } else {
        s.split(',').collect()
    };
    let v: Vec<f64> = parts
        .iter()
        .map(|v| v.trim().parse::<f64>().map_err(|_| format!("`{v}` is not a number")))
        .collect::<std::result::Result<_, _>>()?;
    match v.as_slice() {
        &[a, b] if a <= b => Ok([a, b]),
        _ => Err("expected two increasing numbers, e.g. 20,35 or 60..72".into()),
    }
}
