//! Measured electrodes from CSV. Columns are found by name; each has a canonical name with
//! its unit and the header the reference file uses:
//!
//! | quantity | canonical header | reference header |
//! |---|---|---|
//! | AM content [wt %] | `am[wt%]` | `Composition (A.M.%)` |
//! | solid-to-liquid ratio [%] | `stol[%]` | `S-to-L Ratio (%)` |
//! | comma gap [µm] | `gap[um]` | `Comma gap (µm)` |
//! | viscosity [Pa·s] | `viscosity[Pa s]` | `Viscosity (Pas)` |
//! | mass loading [mg/cm²] | `mass_loading[mg/cm2]` | `Mass Loading (mg cm-2)` |
//! | porosity [%] | `porosity[%]` | `Porosity (%)` |
//!
//! Blank lines and trailing empty columns are ignored; any other empty or non-numeric
//! cell, or NaN, is an error with its file:line:col.

use std::path::Path;

use crate::error::{Error, Location, Result};

/// One measured electrode.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Electrode {
    pub am_wt_percent: f64,
    pub stol_percent: f64,
    pub gap_um: f64,
    pub viscosity_pa_s: f64,
    pub mass_loading_mg_cm2: f64,
    pub porosity_percent: f64,
}

/// (canonical header, reference header) per column, in [`Electrode`] order.
pub const COLUMNS: [(&str, &str); 6] = [
    ("am[wt%]", "Composition (A.M.%)"),
    ("stol[%]", "S-to-L Ratio (%)"),
    ("gap[um]", "Comma gap (µm)"),
    ("viscosity[Pa s]", "Viscosity (Pas)"),
    ("mass_loading[mg/cm2]", "Mass Loading (mg cm-2)"),
    ("porosity[%]", "Porosity (%)"),
];

impl Electrode {
    /// The slurry it was coated from: (AM wt %, solid-to-liquid %).
    pub fn slurry(&self) -> (u64, u64) {
        (self.am_wt_percent.to_bits(), self.stol_percent.to_bits())
    }
}

/// The distinct slurries of `data`, sorted.
pub fn slurries(data: &[Electrode]) -> Vec<(u64, u64)> {
    let mut s: Vec<(u64, u64)> = data.iter().map(|e| e.slurry()).collect();
    s.sort_unstable();
    s.dedup();
    s
}

fn err(file: &str, line: usize, col: usize, what: String, expected: &str, hint: &str) -> Error {
    Error::Parse {
        at: Location {
            file: file.into(),
            line,
            col,
        },
        what,
        expected: expected.into(),
        hint: hint.into(),
    }
}

pub fn load(path: &Path) -> Result<Vec<Electrode>> {
    let src = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse(&src, &path.display().to_string())
}

pub fn parse(src: &str, file: &str) -> Result<Vec<Electrode>> {
    Ok(read_columns(src, file, &COLUMNS)?
        .into_iter()
        .map(|v| Electrode {
            am_wt_percent: v[0],
            stol_percent: v[1],
            gap_um: v[2],
            viscosity_pa_s: v[3],
            mass_loading_mg_cm2: v[4],
            porosity_percent: v[5],
        })
        .collect())
}

/// The numeric columns `columns` ((canonical, alternative) header names) of a CSV text,
/// one vector per data row in `columns` order. The separator is `;` when the header has
/// one, else `,`.
pub fn read_columns(src: &str, file: &str, columns: &[(&str, &str)]) -> Result<Vec<Vec<f64>>> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let mut lines = src.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((hline, header)) = lines.next() else {
        return Err(err(
            file,
            1,
            1,
            "empty file".into(),
            "a header line naming the columns",
            "see the column table in the docs",
        ));
    };
    let sep = if header.contains(';') { ';' } else { ',' };
    let names: Vec<&str> = header.split(sep).map(str::trim).collect();
    let mut index = Vec::with_capacity(columns.len());
    for (canon, alt) in columns {
        index.push(names.iter().position(|n| n == canon || n == alt).ok_or_else(|| {
            err(
                file,
                hline + 1,
                1,
                format!("no column `{canon}`"),
                &format!("a column named `{canon}` or `{alt}`"),
                "columns are found by header name; the order does not matter",
            )
        })?);
    }
    let mut out = Vec::new();
    for (ln, line) in lines {
        let cells: Vec<&str> = line.split(sep).collect();
        let mut v = Vec::with_capacity(columns.len());
        for (k, &c) in index.iter().enumerate() {
            let col = cells[..c.min(cells.len())]
                .iter()
                .map(|s| s.chars().count() + 1)
                .sum::<usize>()
                + 1;
            let cell = cells.get(c).map(|s| s.trim()).unwrap_or("");
            let x: f64 = cell.parse().map_err(|_| {
                err(
                    file,
                    ln + 1,
                    col,
                    format!("cannot read `{cell}` as {}", columns[k].0),
                    "a number",
                    "numeric cells only; remove text or fill the gap",
                )
            })?;
            if !x.is_finite() {
                return Err(err(
                    file,
                    ln + 1,
                    col,
                    format!("`{cell}` is not finite"),
                    "a number",
                    "replace NaN",
                ));
            }
            v.push(x);
        }
        out.push(v);
    }
    if out.is_empty() {
        return Err(err(
            file,
            hline + 1,
            1,
            "no data rows".into(),
            "rows of measurements",
            "the file has only a header",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\u{feff}Composition (A.M.%),S-to-L Ratio (%),Comma gap (µm),Viscosity (Pas),Mass Loading (mg cm-2) ,Porosity (%),\n96,70.5,100,3.1,12.5,50.2,\n\n94,65,200,4.0,20.1,45.0,\n";

    #[test]
    fn reference_headers_trailing_columns_and_bom_are_read() {
        let d = parse(GOOD, "t.csv").unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].gap_um, 200.0);
        assert_eq!(d[0].porosity_percent, 50.2);
    }

    #[test]
    fn bad_data_gives_located_errors() {
        let e = parse("", "t.csv").unwrap_err().to_string();
        assert!(e.starts_with("t.csv:1:1: empty file"), "{e}");
        let e = parse(&GOOD.replace("Porosity (%)", "Density"), "t.csv")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.csv:1:1: no column `porosity[%]`"), "{e}");
        let e = parse(&GOOD.replace("65,200", "65,abc"), "t.csv")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.csv:4:7: cannot read `abc` as gap[um]"), "{e}");
        let e = parse(&GOOD.replace("12.5", "NaN"), "t.csv").unwrap_err().to_string();
        assert!(e.starts_with("t.csv:2:17: `NaN` is not finite"), "{e}");
        let header_only = GOOD.lines().next().unwrap();
        assert!(parse(header_only, "t.csv")
            .unwrap_err()
            .to_string()
            .contains("no data rows"));
    }
}
