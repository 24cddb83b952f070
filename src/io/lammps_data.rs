//! LAMMPS `read_data` / `write_data` files for `atom_style sphere`.
//!
//! Atoms columns: `id type diameter[µm] density[g/cm³] x y z [ix iy iz]`;
//! Velocities columns: `id vx vy vz[µm/µs] wx wy wz[rad/µs]`.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Location, Result};
use crate::io::atomic::write_atomic;
use crate::sim::particles::{sphere_mass, Particles};
use crate::sim::simbox::SimBox;

/// A structure read from (or to be written to) a data file.
#[derive(Debug, Clone)]
pub struct DataFile {
    pub title: String,
    /// Number of atom types declared in the header.
    pub n_types: u32,
    pub simbox: SimBox,
    pub particles: Particles,
    /// Whether a Velocities section was present.
    pub has_velocities: bool,
}

/// Sections that carry nothing for spheres and are skipped.
const SKIPPED_SECTIONS: &[&str] = &["Masses", "Pair Coeffs", "PairIJ Coeffs"];

struct Reader<'a> {
    file: &'a str,
    lines: Vec<&'a str>,
    k: usize,
}

impl<'a> Reader<'a> {
    fn err(
        &self,
        line: usize,
        col: usize,
        what: impl Into<String>,
        expected: impl Into<String>,
        hint: impl Into<String>,
    ) -> Error {
        Error::Parse {
            at: Location {
                file: self.file.into(),
                line: line + 1,
                col,
            },
            what: what.into(),
            expected: expected.into(),
            hint: hint.into(),
        }
    }

    /// The line without its comment.
    fn code(&self, k: usize) -> &'a str {
        let l = self.lines[k];
        l.split('#').next().unwrap_or("")
    }

    /// Tokens of line k with their 1-based columns.
    fn tokens(&self, k: usize) -> Vec<(usize, &'a str)> {
        let l = self.code(k);
        let mut out = Vec::new();
        let mut start = None;
        for (pos, c) in l.char_indices() {
            if c.is_whitespace() {
                if let Some(s) = start.take() {
                    out.push((s, &l[s..pos]));
                }
            } else if start.is_none() {
                start = Some(pos);
            }
        }
        if let Some(s) = start {
            out.push((s, &l[s..]));
        }
        out.into_iter().map(|(s, t)| (l[..s].chars().count() + 1, t)).collect()
    }

    fn number<T: std::str::FromStr>(&self, k: usize, tok: (usize, &str), what: &str) -> Result<T> {
        tok.1.parse::<T>().map_err(|_| {
            self.err(
                k,
                tok.0,
                format!("cannot read `{}` as {what}", tok.1),
                what.to_string(),
                "data files hold plain numbers separated by spaces",
            )
        })
    }

    fn finite(&self, k: usize, tok: (usize, &str), what: &str) -> Result<f64> {
        let v: f64 = self.number(k, tok, what)?;
        if !v.is_finite() {
            return Err(self.err(
                k,
                tok.0,
                format!("`{}` is not finite", tok.1),
                what.to_string(),
                "replace NaN/inf by a number",
            ));
        }
        Ok(v)
    }
}

impl DataFile {
    pub fn read(path: &Path) -> Result<DataFile> {
        let src = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&src, &path.display().to_string())
    }

    /// Parses data-file text; `file` names the source in errors.
    pub fn parse(src: &str, file: &str) -> Result<DataFile> {
        let mut r = Reader {
            file,
            lines: src.lines().collect(),
            k: 1,
        };
        if r.lines.is_empty() {
            return Err(r.err(
                0,
                1,
                "empty file",
                "a LAMMPS data file (title line, header, Atoms section)",
                "write one with LAMMPS `write_data` or `etwin`",
            ));
        }
        let title = r.lines[0].trim().to_string();
        let mut n_atoms: Option<(usize, usize)> = None; // (count, line)
        let mut n_types: Option<u32> = None;
        let mut lo = [0.0; 3];
        let mut hi = [0.0; 3];
        let mut have = [false; 3];
        let mut tilt = [0.0; 3];

        // Header: until the first section keyword.
        while r.k < r.lines.len() {
            let k = r.k;
            let t = r.tokens(k);
            if t.is_empty() {
                r.k += 1;
                continue;
            }
            let words: Vec<&str> = t.iter().map(|x| x.1).collect();
            if t[0].1.parse::<f64>().is_err() {
                break; // a section keyword
            }
            match words.as_slice() {
                [_, "atoms"] => n_atoms = Some((r.number(k, t[0], "a non-negative atom count")?, k)),
                [_, "atom", "types"] => n_types = Some(r.number(k, t[0], "a positive number of atom types")?),
                [_, _, "xlo", "xhi"] | [_, _, "ylo", "yhi"] | [_, _, "zlo", "zhi"] => {
                    let a = ["x", "y", "z"]
                        .iter()
                        .position(|c| words[2].starts_with(c))
                        .unwrap_or(0);
                    lo[a] = r.finite(k, t[0], "a box bound in µm")?;
                    hi[a] = r.finite(k, t[1], "a box bound in µm")?;
                    if hi[a] <= lo[a] {
                        return Err(r.err(
                            k,
                            t[1].0,
                            format!(
                                "{}hi ≤ {}lo",
                                words[2].chars().next().unwrap_or('?'),
                                words[2].chars().next().unwrap_or('?')
                            ),
                            "hi > lo",
                            "the upper bound comes second",
                        ));
                    }
                    have[a] = true;
                }
                [_, _, _, "xy", "xz", "yz"] => {
                    for c in 0..3 {
                        tilt[c] = r.finite(k, t[c], "a tilt factor in µm")?;
                    }
                }
                [_, "bonds" | "angles" | "dihedrals" | "impropers" | "bond" | "angle" | "dihedral" | "improper", ..] => {
                    let n: f64 = r.number(k, t[0], "a count")?;
                    if n != 0.0 {
                        return Err(r.err(
                            k,
                            1,
                            format!("`{}` declares molecular topology", r.code(k).trim()),
                            "atom_style sphere (no bonds)",
                            "granular spheres have no bonds",
                        ));
                    }
                }
                [_, "extra", ..] | [_, "ellipsoids"] | [_, "lines"] | [_, "triangles"] | [_, "bodies"] => {}
                _ => {
                    return Err(r.err(
                        k,
                        1,
                        format!("unknown header line `{}`", r.code(k).trim()),
                        "`N atoms`, `N atom types`, `lo hi xlo xhi` (y, z), `xy xz yz`",
                        "check the header of the data file",
                    ));
                }
            }
            r.k += 1;
        }
        let (n_atoms, n_atoms_line) = n_atoms.ok_or_else(|| {
            r.err(
                r.k.min(r.lines.len().saturating_sub(1)),
                1,
                "header has no `N atoms` line",
                "`N atoms` in the header",
                "LAMMPS write_data writes it on line 3",
            )
        })?;
        let n_types = n_types.ok_or_else(|| {
            r.err(
                n_atoms_line,
                1,
                "header has no `N atom types` line",
                "`N atom types`",
                "add e.g. `7 atom types`",
            )
        })?;
        if n_types == 0 {
            return Err(r.err(
                n_atoms_line,
                1,
                "0 atom types",
                "at least 1 atom type",
                "add e.g. `7 atom types`",
            ));
        }
        if let Some(a) = have.iter().position(|h| !h) {
            return Err(r.err(
                n_atoms_line,
                1,
                format!("box bounds missing for {}", ["x", "y", "z"][a]),
                "`lo hi xlo xhi`, `lo hi ylo yhi`, `lo hi zlo zhi`",
                "box bounds in µm",
            ));
        }

        let mut p = Particles::default();
        let mut has_velocities = false;
        let mut index_of: HashMap<u64, usize> = HashMap::new();
        let mut vel_lines: Vec<(usize, u64, [f64; 6])> = Vec::new();
        let mut atoms_seen = false;

        while r.k < r.lines.len() {
            let k = r.k;
            let code = r.code(k).trim();
            if code.is_empty() {
                r.k += 1;
                continue;
            }
            let comment = r.lines[k].split_once('#').map(|x| x.1.trim());
            let section = code;
            r.k += 1;
            let count = match section {
                "Atoms" => {
                    if let Some(style) = comment.filter(|c| !c.is_empty()) {
                        if style != "sphere" {
                            let col = r.lines[k]
                                .find(style)
                                .map_or(1, |c| r.lines[k][..c].chars().count() + 1);
                            return Err(r.err(
                                k,
                                col,
                                format!("atom style `{style}`"),
                                "Atoms # sphere",
                                "only atom_style sphere is supported",
                            ));
                        }
                    }
                    atoms_seen = true;
                    n_atoms
                }
                "Velocities" => {
                    has_velocities = true;
                    n_atoms
                }
                "PairIJ Coeffs" => (n_types as usize * (n_types as usize + 1)) / 2,
                s if SKIPPED_SECTIONS.contains(&s) => n_types as usize,
                _ => {
                    return Err(r.err(
                        k,
                        1,
                        format!("unknown section `{section}`"),
                        "Atoms, Velocities (Masses, Pair Coeffs, PairIJ Coeffs are skipped)",
                        "a granular sphere file has Atoms and optionally Velocities",
                    ));
                }
            };
            let mut read = 0;
            while read < count {
                if r.k >= r.lines.len() {
                    return Err(r.err(
                        r.lines.len() - 1,
                        1,
                        format!("section {section} ends after {read} of {count} lines"),
                        format!("{count} lines (the header's count)"),
                        "the file is truncated or the header count is wrong",
                    ));
                }
                let k = r.k;
                r.k += 1;
                let t = r.tokens(k);
                if t.is_empty() {
                    if read == 0 {
                        continue; // the blank line after the section keyword
                    }
                    return Err(r.err(
                        k,
                        1,
                        format!("blank line inside section {section} after {read} of {count} lines"),
                        format!("{count} lines (the header's count)"),
                        "the header's atom count does not match the section",
                    ));
                }
                read += 1;
                match section {
                    "Atoms" => {
                        if t.len() != 7 && t.len() != 10 {
                            return Err(r.err(
                                k,
                                1,
                                format!("{} columns", t.len()),
                                "7 or 10 columns: id type diameter density x y z [ix iy iz]",
                                "atom_style sphere column order",
                            ));
                        }
                        let id: u64 = r.number(k, t[0], "a positive integer atom id")?;
                        if id == 0 {
                            return Err(r.err(k, t[0].0, "atom id 0", "an id ≥ 1", "LAMMPS ids start at 1"));
                        }
                        let kind: u32 = r.number(k, t[1], "an integer atom type")?;
                        if kind == 0 || kind > n_types {
                            return Err(r.err(
                                k,
                                t[1].0,
                                format!("atom type {kind}"),
                                format!("a type in 1..={n_types}"),
                                "the header declares the number of atom types",
                            ));
                        }
                        let diameter = r.finite(k, t[2], "a diameter in µm")?;
                        if diameter <= 0.0 {
                            return Err(r.err(
                                k,
                                t[2].0,
                                format!("diameter {diameter}"),
                                "a diameter > 0 µm",
                                "every particle is a finite sphere",
                            ));
                        }
                        let density = r.finite(k, t[3], "a density in g/cm³")?;
                        if density <= 0.0 {
                            return Err(r.err(
                                k,
                                t[3].0,
                                format!("density {density}"),
                                "a density > 0 g/cm³",
                                "column 4 is the density",
                            ));
                        }
                        let mut x = [0.0; 3];
                        for c in 0..3 {
                            x[c] = r.finite(k, t[4 + c], "a coordinate in µm")?;
                        }
                        let mut image = [0i32; 3];
                        if t.len() == 10 {
                            for c in 0..3 {
                                image[c] = r.number(k, t[7 + c], "an integer image flag")?;
                            }
                        }
                        if index_of.insert(id, p.len()).is_some() {
                            return Err(r.err(
                                k,
                                t[0].0,
                                format!("duplicate atom id {id}"),
                                "unique atom ids",
                                "each atom appears once in Atoms",
                            ));
                        }
                        let radius = 0.5 * diameter;
                        p.push(id, kind, x, radius, sphere_mass(radius, density));
                        *p.image.last_mut().expect("just pushed") = image;
                    }
                    "Velocities" => {
                        if t.len() != 7 {
                            return Err(r.err(
                                k,
                                1,
                                format!("{} columns", t.len()),
                                "7 columns: id vx vy vz wx wy wz",
                                "atom_style sphere velocities",
                            ));
                        }
                        let id: u64 = r.number(k, t[0], "an atom id")?;
                        let mut vals = [0.0; 6];
                        for c in 0..6 {
                            vals[c] = r.finite(k, t[1 + c], "a velocity (µm/µs) or angular velocity (rad/µs)")?;
                        }
                        vel_lines.push((k, id, vals));
                    }
                    _ => {}
                }
            }
        }
        if !atoms_seen {
            return Err(r.err(
                r.lines.len().saturating_sub(1),
                1,
                "no Atoms section",
                "an `Atoms # sphere` section",
                "the file must list its atoms",
            ));
        }
        for (k, id, vals) in vel_lines {
            let Some(&i) = index_of.get(&id) else {
                return Err(r.err(
                    k,
                    1,
                    format!("velocity for unknown atom id {id}"),
                    "ids listed in Atoms",
                    "Velocities rows refer to Atoms ids",
                ));
            };
            p.v[i] = [vals[0], vals[1], vals[2]];
            p.omega[i] = [vals[3], vals[4], vals[5]];
        }
        Ok(DataFile {
            title,
            n_types,
            simbox: SimBox {
                lo,
                hi,
                tilt,
                periodic: [true; 3],
            },
            particles: p,
            has_velocities,
        })
    }

    /// Writes the structure atomically, in id order, in LAMMPS `write_data` format.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomic(path, |w| self.write_to(w))
    }

    pub fn write_to(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let p = &self.particles;
        let b = &self.simbox;
        writeln!(
            w,
            "{}",
            if self.title.is_empty() {
                "LAMMPS data file written by electrode-twin"
            } else {
                &self.title
            }
        )?;
        writeln!(w)?;
        writeln!(w, "{} atoms", p.len())?;
        writeln!(w, "{} atom types", self.n_types)?;
        writeln!(w)?;
        for (a, n) in ["x", "y", "z"].iter().enumerate() {
            writeln!(w, "{:e} {:e} {n}lo {n}hi", b.lo[a], b.hi[a])?;
        }
        if b.is_triclinic() {
            writeln!(w, "{:e} {:e} {:e} xy xz yz", b.tilt[0], b.tilt[1], b.tilt[2])?;
        }
        writeln!(w, "\nAtoms # sphere\n")?;
        let order = p.order_by_id();
        for &k in &order {
            let r = p.radius[k];
            let density = p.mass[k] / sphere_mass(r, 1.0);
            let [x, y, z] = p.x[k];
            let [ix, iy, iz] = p.image[k];
            writeln!(
                w,
                "{} {} {:e} {:e} {:e} {:e} {:e} {ix} {iy} {iz}",
                p.id[k],
                p.kind[k],
                2.0 * r,
                density,
                x,
                y,
                z
            )?;
        }
        writeln!(w, "\nVelocities\n")?;
        for &k in &order {
            let [vx, vy, vz] = p.v[k];
            let [wx, wy, wz] = p.omega[k];
            writeln!(w, "{} {:e} {:e} {:e} {:e} {:e} {:e}", p.id[k], vx, vy, vz, wx, wy, wz)?;
        }
        Ok(())
    }
}
