//! Per-atom CSV tables: `id,type,x,y,z,fx,fy,fz,tqx,tqy,tqz` (µm, nN, nN·µm), and a reader
//! for such tables (the LAMMPS golden files use the same layout with more columns).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Location, Result};
use crate::io::atomic::write_atomic;
use crate::sim::particles::Particles;

/// Header of the per-atom force table; units: x,y,z [µm], f [nN], tq [nN·µm].
pub const FORCES_HEADER: &str = "id,type,x,y,z,fx,fy,fz,tqx,tqy,tqz";

/// Writes forces and torques in id order, every value round-trip exact.
pub fn write_forces(path: &Path, p: &Particles) -> Result<()> {
    write_atomic(path, |w| write_forces_to(w, p))
}

pub fn write_forces_to(w: &mut dyn Write, p: &Particles) -> std::io::Result<()> {
    writeln!(w, "{FORCES_HEADER}")?;
    for k in p.order_by_id() {
        let [x, y, z] = p.x[k];
        let [fx, fy, fz] = p.f[k];
        let [tx, ty, tz] = p.torque[k];
        writeln!(
            w,
            "{},{},{x:e},{y:e},{z:e},{fx:e},{fy:e},{fz:e},{tx:e},{ty:e},{tz:e}",
            p.id[k], p.kind[k]
        )?;
    }
    Ok(())
}

/// A numeric CSV table with named columns.
#[derive(Debug, Clone)]
pub struct Table {
    pub columns: HashMap<String, usize>,
    pub rows: Vec<Vec<f64>>,
}

impl Table {
    pub fn read(path: &Path) -> Result<Table> {
        let src = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&src, &path.display().to_string())
    }

    pub fn parse(src: &str, file: &str) -> Result<Table> {
        let mut lines = src.lines().enumerate();
        let (_, header) = lines.next().ok_or_else(|| Error::Parse {
            at: Location {
                file: file.into(),
                line: 1,
                col: 1,
            },
            what: "empty file".into(),
            expected: "a header line of column names".into(),
            hint: "the first line names the columns".into(),
        })?;
        let columns: HashMap<String, usize> = header
            .split(',')
            .enumerate()
            .map(|(k, c)| (c.trim().to_string(), k))
            .collect();
        let ncol = header.split(',').count();
        let mut rows = Vec::new();
        for (ln, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let mut row = Vec::with_capacity(ncol);
            let mut col = 1;
            for cell in line.split(',') {
                let v: f64 = cell.trim().parse().map_err(|_| Error::Parse {
                    at: Location {
                        file: file.into(),
                        line: ln + 1,
                        col,
                    },
                    what: format!("cannot read `{cell}` as a number"),
                    expected: "a number".into(),
                    hint: "numeric tables only".into(),
                })?;
                row.push(v);
                col += cell.chars().count() + 1;
            }
            if row.len() != ncol {
                return Err(Error::Parse {
                    at: Location {
                        file: file.into(),
                        line: ln + 1,
                        col: 1,
                    },
                    what: format!("{} values", row.len()),
                    expected: format!("{ncol} values, one per header column"),
                    hint: "every row has as many cells as the header".into(),
                });
            }
            rows.push(row);
        }
        Ok(Table { columns, rows })
    }

    /// Values of the named columns for each row.
    pub fn get<const K: usize>(&self, row: usize, names: [&str; K]) -> Option<[f64; K]> {
        let mut out = [0.0; K];
        for (o, n) in out.iter_mut().zip(names) {
            *o = self.rows[row][*self.columns.get(n)?];
        }
        Some(out)
    }
}
