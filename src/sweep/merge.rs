//! Merging shard folders into one table, checking that every case is there exactly once.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;
use crate::sweep::replicates::{write_replicates, REPLICATES};
use crate::sweep::run::{write_table, ShardInfo, SHARD, TABLE, TIMING};

/// Splits a CSV line on commas outside double quotes (cells keep their quoting).
fn split(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    for ch in line.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                cells.last_mut().expect("one cell").push(ch);
            }
            ',' if !quoted => cells.push(String::new()),
            _ => cells.last_mut().expect("one cell").push(ch),
        }
    }
    cells
}

/// (header, rows) of a CSV file.
fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = text.lines().filter(|l| !l.is_empty());
    let header = lines.next().map(split).unwrap_or_default();
    Ok((header, lines.map(split).collect()))
}

/// Merges the shard folders `dirs` into `out` (`results.csv`, `timing.csv`, and
/// `replicates.csv` with a seed factor): the number of cases and that file's path.
pub fn merge(dirs: &[&Path], out: &Path) -> Result<(usize, Option<PathBuf>)> {
    let mut infos: Vec<ShardInfo> = Vec::new();
    let mut rows: Vec<(usize, Vec<(String, String)>)> = Vec::new();
    let mut timing: Vec<(usize, String)> = Vec::new();
    for dir in dirs {
        let p = dir.join(SHARD);
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        let info: ShardInfo = serde_json::from_str(&text)
            .map_err(|e| Error::Setup(format!("{}: not a shard record: {e}", p.display())))?;
        if let Some(first) = infos.first() {
            if first.sweep_sha256 != info.sweep_sha256 || first.cases_total != info.cases_total {
                return Err(Error::Setup(format!(
                    "{}: shard of another sweep (or of a changed sweep file) than {}",
                    dir.display(),
                    dirs[0].display()
                )));
            }
        }
        let (header, table) = read_csv(&dir.join(TABLE))?;
        for r in table {
            let case: usize = r
                .first()
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| Error::Setup(format!("{}: a row without a case index", dir.join(TABLE).display())))?;
            rows.push((case, header.iter().cloned().zip(r).collect()));
        }
        let (_, t) = read_csv(&dir.join(TIMING))?;
        timing.extend(
            t.into_iter()
                .filter_map(|r| Some((r.first()?.parse().ok()?, r.join(",")))),
        );
        infos.push(info);
    }
    let total = infos
        .first()
        .ok_or_else(|| Error::Setup("no shard folders to merge".into()))?
        .cases_total;
    rows.sort_by_key(|r| r.0);
    let seen: Vec<usize> = rows.iter().map(|r| r.0).collect();
    let missing: Vec<usize> = (0..total).filter(|c| !seen.contains(c)).collect();
    let twice: Vec<usize> = seen.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
    if !missing.is_empty() || !twice.is_empty() {
        return Err(Error::Setup(format!(
            "cases missing: {missing:?}; cases present more than once: {twice:?}\n  hint: merge every shard of the sweep exactly once, after each has finished"
        )));
    }
    let table: Vec<Vec<(String, String)>> = rows.into_iter().map(|r| r.1).collect();
    write_table(&out.join(TABLE), &table)?;
    let replicates = write_replicates(out, &table)?.then(|| out.join(REPLICATES));
    timing.sort_by_key(|t| t.0);
    write_atomic(&out.join(TIMING), |w| {
        writeln!(w, "case,seconds[s],skipped")?;
        for (_, line) in &timing {
            writeln!(w, "{line}")?;
        }
        Ok(())
    })?;
    Ok((table.len(), replicates))
}
