//! A finished run folder (`etwin run … --out DIR`) read back for replay: its structures and
//! VTU frames in stage order, its time series and its `results.json`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::forces_csv::Table;
use crate::io::lammps_data::DataFile;
use crate::sim::simbox::SimBox;
use crate::view::frame::{norm, Stage, Tool, ViewFrame};

/// One CSV time series: its column names (with units) and rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl Series {
    /// The column whose name starts with `prefix` (e.g. "density" finds "density[g/cm3]").
    pub fn column(&self, prefix: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.starts_with(prefix))
    }

    /// (x, y) points of two columns.
    pub fn points(&self, x: &str, y: &str) -> Option<Vec<[f64; 2]>> {
        let (i, j) = (self.column(x)?, self.column(y)?);
        Some(self.rows.iter().map(|r| [r[i], r[j]]).collect())
    }

    /// The value of column `col` in the row whose `time[us]` is nearest `t`.
    fn at_time(&self, col: &str, t: f64) -> Option<f64> {
        let (i, j) = (self.column("time")?, self.column(col)?);
        self.rows
            .iter()
            .min_by(|a, b| (a[i] - t).abs().total_cmp(&(b[i] - t).abs()))
            .map(|r| r[j])
    }
}

#[derive(Debug, Clone)]
pub struct RunFolder {
    pub dir: PathBuf,
    /// Frames in stage order (slurry, drying frames, dried, calendering frames, calendered).
    pub frames: Vec<ViewFrame>,
    pub series: Vec<Series>,
    pub results: Option<serde_json::Value>,
}

impl RunFolder {
    /// Reads every frame of `dir`; an empty or missing folder is an error with a hint.
    pub fn open(dir: &Path) -> Result<RunFolder> {
        if !dir.is_dir() {
            return Err(Error::Setup(format!(
                "{}: not a run folder\n  hint: run a scenario first, e.g. `etwin run scenarios/chain_quick.ron` writes out/chain_quick/",
                dir.display()
            )));
        }
        let series = read_series(dir)?;
        let find = |name: &str| series.iter().find(|s| s.name == name);
        let results = match std::fs::read_to_string(dir.join("results.json")) {
            Ok(s) => Some(
                serde_json::from_str(&s)
                    .map_err(|e| Error::Setup(format!("{}: {e}", dir.join("results.json").display())))?,
            ),
            Err(_) => None,
        };
        let simbox = |stem: &str| -> Result<Option<SimBox>> {
            let path = dir.join(format!("{stem}.data"));
            Ok(if path.is_file() {
                Some(DataFile::read(&path)?.simbox)
            } else {
                None
            })
        };
        let mut frames = Vec::new();
        let mut add = |stage: Stage, label: String, file: &Path, time: f64, b: Option<SimBox>, tools: Vec<Tool>| {
            let f = read_frame(file, stage, label, time, b, tools)?;
            frames.push(f);
            Result::Ok(())
        };
        if dir.join("slurry.vtu").is_file() {
            add(
                Stage::Slurry,
                "slurry".into(),
                &dir.join("slurry.vtu"),
                0.0,
                simbox("slurry")?,
                Vec::new(),
            )?;
        }
        // Each later stage: its indexed frames (the tool height from its time series), then
        // its final structure; the box from that structure's data file.
        for (stage, stem, tool_column, last) in [
            (Stage::Drying, "drying", "top_wall_z", "dried"),
            (Stage::Calendering, "calendering", "tool_z", "calendered"),
        ] {
            let b = simbox(last)?;
            for (t, file) in read_pvd(&dir.join(format!("{stem}.pvd")))? {
                let tools = find(stem)
                    .and_then(|s| s.at_time(tool_column, t))
                    .map(|z| vec![Tool::Plane { z, top: true }])
                    .unwrap_or_default();
                add(stage, format!("{stem} {t:.1} µs"), &dir.join(file), t, b, tools)?;
            }
            let path = dir.join(format!("{last}.vtu"));
            if path.is_file() {
                add(stage, last.into(), &path, f64::NAN, b, Vec::new())?;
            }
        }
        if frames.is_empty() {
            return Err(Error::Setup(format!(
                "{}: no structures (*.vtu) to show\n  hint: the scenario's outputs need `vtu: true`",
                dir.display()
            )));
        }
        Ok(RunFolder {
            dir: dir.to_path_buf(),
            frames,
            series,
            results,
        })
    }

    pub fn series(&self, name: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.name == name)
    }
}

/// Every `*.csv` of the folder, sorted by name.
fn read_series(dir: &Path) -> Result<Vec<Series>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    paths.sort();
    paths.iter().map(|p| read_csv(p)).collect()
}

/// A time series through the project's numeric table reader (located errors).
fn read_csv(path: &Path) -> Result<Series> {
    let t = Table::read(path)?;
    let mut named: Vec<(String, usize)> = t.columns.into_iter().collect();
    named.sort_by_key(|(_, k)| *k);
    let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
    Ok(Series {
        name,
        columns: named.into_iter().map(|(c, _)| c).collect(),
        rows: t.rows,
    })
}

/// (time, file) of each data set of a `.pvd` index (none when the index is absent).
fn read_pvd(path: &Path) -> Result<Vec<(f64, String)>> {
    let Ok(src) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    let attr = |tag: &str, key: &str| -> Option<String> {
        let at = tag.find(&format!("{key}=\""))? + key.len() + 2;
        Some(tag[at..at + tag[at..].find('"')?].to_string())
    };
    src.split("<DataSet")
        .skip(1)
        .enumerate()
        .map(|(k, tag)| {
            let t = attr(tag, "timestep").and_then(|t| t.parse::<f64>().ok());
            match (t, attr(tag, "file")) {
                (Some(t), Some(f)) => Ok((t, f)),
                _ => Err(Error::Setup(format!(
                    "{}: data set {} lacks a numeric timestep or a file\n  hint: the index is written by `etwin run`; rerun the scenario",
                    path.display(),
                    k + 1
                ))),
            }
        })
        .collect()
}

/// A frame from one of our VTU files (points; radius, type, velocity; force, contacts when
/// present); the box from the stage's data file, else the spheres' bounding box.
fn read_frame(
    path: &Path,
    stage: Stage,
    label: String,
    time_us: f64,
    simbox: Option<SimBox>,
    tools: Vec<Tool>,
) -> Result<ViewFrame> {
    use vtkio::model::{Attribute, DataSet};
    let bad = |what: &str| {
        Error::Setup(format!(
            "{}: {what}\n  hint: the viewer reads the VTU files `etwin run` writes",
            path.display()
        ))
    };
    let vtk = vtkio::Vtk::import(path).map_err(|e| bad(&format!("not a readable VTU file ({e})")))?;
    let DataSet::UnstructuredGrid { pieces, .. } = vtk.data else {
        return Err(bad("not an unstructured grid"));
    };
    let piece = pieces
        .into_iter()
        .next()
        .ok_or_else(|| bad("no piece"))?
        .load_piece_data(None)
        .map_err(|e| bad(&format!("{e:?}")))?;
    let points: Vec<f64> = piece.points.cast_into().ok_or_else(|| bad("points are not numbers"))?;
    let n = points.len() / 3;
    let mut arrays = std::collections::HashMap::new();
    for a in piece.data.point {
        if let Attribute::DataArray(d) = a {
            if let Some(v) = d.data.cast_into::<f64>() {
                arrays.insert(d.name, v);
            }
        }
    }
    let get = |name: &str, comps: usize| -> Result<Vec<f64>> {
        match arrays.get(name) {
            Some(v) if v.len() == n * comps => Ok(v.clone()),
            Some(_) => Err(bad(&format!("array `{name}` has the wrong length"))),
            None => Err(bad(&format!("no `{name}` array"))),
        }
    };
    let radius = get("radius", 1)?;
    let kind = get("type", 1)?;
    let velocity = get("velocity", 3)?;
    let mag = |v: &[f64]| v.chunks(3).map(|c| norm(&[c[0], c[1], c[2]])).collect();
    let x: Vec<[f32; 3]> = points
        .chunks(3)
        .map(|c| [c[0] as f32, c[1] as f32, c[2] as f32])
        .collect();
    let simbox = simbox.unwrap_or_else(|| bounding_box(&x, &radius));
    Ok(ViewFrame {
        stage,
        label,
        time_us,
        simbox,
        x,
        radius: radius.iter().map(|&r| r as f32).collect(),
        kind: kind.iter().map(|&k| k as u32).collect(),
        speed: mag(&velocity),
        force: get("force[nN]", 3).ok().map(|f| mag(&f)),
        contacts: get("contacts[-]", 1)
            .ok()
            .map(|c| c.iter().map(|&c| c as f32).collect()),
        tools,
    })
}

fn bounding_box(x: &[[f32; 3]], radius: &[f64]) -> SimBox {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for (p, &r) in x.iter().zip(radius) {
        for d in 0..3 {
            lo[d] = lo[d].min(p[d] as f64 - r);
            hi[d] = hi[d].max(p[d] as f64 + r);
        }
    }
    if !lo[0].is_finite() {
        (lo, hi) = ([0.0; 3], [1.0; 3]);
    }
    SimBox::orthogonal(lo, hi, [false; 3])
}
