//! The spread over a sweep's `seed` factor: replicas of one setting differ only by their
//! random draws (placement, thermostats, a calendering `jitter`), so their outcomes give
//! the uncertainty of any single run.

use std::path::Path;

use crate::analysis::stats::min_max;
use crate::error::Result;
use crate::io::atomic::write_atomic;

pub const REPLICATES: &str = "replicates.csv";

/// The column of the seed factor in `results.csv`.
const SEED: &str = "factor:seed";

/// Mean, sample standard deviation (NaN for one replica), min and max of one outcome over
/// a group's replicas.
#[derive(Debug, Clone, PartialEq)]
pub struct Spread {
    pub n: usize,
    pub mean: f64,
    pub sd: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Spread {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        let [min, max] = min_max(values.iter().copied());
        Spread {
            n,
            mean,
            sd: if n > 1 { var.sqrt() } else { f64::NAN },
            min,
            max,
        }
    }
}

/// A table row: (column, CSV cell).
type Row = Vec<(String, String)>;

/// One group (the other factors' cells) and the spread of every numeric outcome in it.
pub type Group = (Row, Vec<(String, Spread)>);

/// Groups rows of (column, CSV cell) by every factor but the seed and gives each outcome
/// that is numeric in all of a group's rows its spread. Cases that failed or whose box was
/// held (status other than `ok`) are left out: a group's n counts the replicas that ran
/// clean. `None` without a seed factor;
/// groups keep their first row's order, outcomes their column order.
pub fn spread_by_seed(rows: &[Row]) -> Option<Vec<Group>> {
    if !rows.iter().any(|r| r.iter().any(|(k, _)| k == SEED)) {
        return None;
    }
    let key = |r: &Row| -> Row {
        r.iter()
            .filter(|(k, _)| k.starts_with("factor:") && k != SEED)
            .cloned()
            .collect()
    };
    let mut groups: Vec<(Row, Vec<&Row>)> = Vec::new();
    let failed = |r: &Row| r.iter().any(|(k, v)| k == "status" && v != "ok");
    for r in rows.iter().filter(|r| !failed(r)) {
        let k = key(r);
        match groups.iter_mut().find(|g| g.0 == k) {
            Some(g) => g.1.push(r),
            None => groups.push((k, vec![r])),
        }
    }
    let outcomes = |members: &[&Row]| -> Vec<(String, Spread)> {
        let columns = members[0]
            .iter()
            .map(|(k, _)| k)
            .filter(|k| *k != "case" && !k.starts_with("factor:"));
        columns
            .filter_map(|c| {
                let values: Option<Vec<f64>> = members
                    .iter()
                    .map(|r| {
                        r.iter()
                            .find(|(k, _)| k == c)?
                            .1
                            .parse::<f64>()
                            .ok()
                            .filter(|v| v.is_finite())
                    })
                    .collect();
                Some((c.clone(), Spread::of(&values?)))
            })
            .collect()
    };
    Some(groups.into_iter().map(|(k, m)| (k, outcomes(&m))).collect())
}

/// Writes `replicates.csv` into `out` when the rows have a seed factor: one line per group
/// and outcome (`<factors>,quantity,n,mean,sd,min,max`, in the outcome's own unit, which
/// its name carries; sd empty for a single replica), or removes a stale one. Returns
/// whether it wrote one.
pub fn write_replicates(out: &Path, rows: &[Row]) -> Result<bool> {
    let Some(groups) = spread_by_seed(rows) else {
        // Not an earlier sweep's summary beside this table.
        let _ = std::fs::remove_file(out.join(REPLICATES));
        return Ok(false);
    };
    let factors: Vec<&str> = groups
        .first()
        .map(|g| g.0.iter().map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default();
    write_atomic(&out.join(REPLICATES), |w| {
        let head: Vec<&str> = factors
            .iter()
            .copied()
            .chain(["quantity", "n", "mean", "sd", "min", "max"])
            .collect();
        writeln!(w, "{}", head.join(","))?;
        for (key, spreads) in &groups {
            let cells: Vec<&str> = key.iter().map(|(_, v)| v.as_str()).collect();
            for (q, s) in spreads {
                let lead = cells.iter().map(|c| format!("{c},")).collect::<String>();
                let sd = if s.sd.is_nan() { String::new() } else { s.sd.to_string() };
                writeln!(w, "{lead}{q},{},{},{sd},{},{}", s.n, s.mean, s.min, s.max)?;
            }
        }
        Ok(())
    })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(case: usize, seed: u64, speed: &str, springback: &str) -> Vec<(String, String)> {
        vec![
            ("case".into(), case.to_string()),
            ("factor:seed".into(), seed.to_string()),
            ("factor:tool_speed".into(), speed.into()),
            ("springback_pct".into(), springback.into()),
            ("name".into(), "x".into()),
        ]
    }

    #[test]
    fn groups_by_the_other_factors_and_skips_text() {
        let rows = vec![
            row(0, 1, "\"0.1 m/s\"", "4.0"),
            row(1, 1, "\"0.2 m/s\"", "7.0"),
            row(2, 2, "\"0.1 m/s\"", "6.0"),
            row(3, 2, "\"0.2 m/s\"", "7.0"),
            row(4, 3, "\"0.1 m/s\"", "8.0"),
        ];
        let g = spread_by_seed(&rows).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(
            g[0].0,
            vec![("factor:tool_speed".to_string(), "\"0.1 m/s\"".to_string())]
        );
        assert_eq!(g[0].1.len(), 1, "the text column has no spread");
        let (q, s) = &g[0].1[0];
        assert_eq!(q, "springback_pct");
        assert_eq!((s.n, s.mean, s.sd, s.min, s.max), (3, 6.0, 2.0, 4.0, 8.0));
        assert_eq!((g[1].1[0].1.n, g[1].1[0].1.sd), (2, 0.0));
        let one = spread_by_seed(&rows[..1]).unwrap();
        assert!(one[0].1[0].1.sd.is_nan(), "one replica has no spread");
    }

    #[test]
    fn no_seed_factor_no_summary() {
        let rows = vec![vec![
            ("case".to_string(), "0".to_string()),
            ("x".to_string(), "1".to_string()),
        ]];
        assert!(spread_by_seed(&rows).is_none());
        let dir = tempfile::tempdir().unwrap();
        assert!(!write_replicates(dir.path(), &rows).unwrap());
        assert!(!dir.path().join(REPLICATES).exists());
    }

    #[test]
    fn failed_and_held_replicas_are_left_out() {
        let mut rows = vec![
            row(0, 1, "a", "1.0"),
            row(1, 2, "a", ""),
            row(2, 3, "a", "3.0"),
            row(3, 1, "b", "5.0"),
        ];
        for (r, status) in rows.iter_mut().zip(["ok", "failed", "ok", "held"]) {
            r.push(("status".into(), status.into()));
        }
        let g = spread_by_seed(&rows).unwrap();
        assert_eq!(g.len(), 1, "a group of failed or held replicas only has no line");
        let s = &g[0].1[0].1;
        assert_eq!((g[0].1.len(), s.n, s.mean), (1, 2, 2.0));
    }

    #[test]
    fn an_outcome_missing_in_one_replica_is_left_out() {
        let mut rows = vec![row(0, 1, "a", "1.0"), row(1, 2, "a", "3.0")];
        rows[1].retain(|(k, _)| k != "springback_pct");
        assert!(spread_by_seed(&rows).unwrap()[0].1.is_empty());
    }
}
