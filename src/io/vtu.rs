//! Particles as a VTK UnstructuredGrid (`.vtu`, ASCII) for ParaView: one vertex per sphere
//! with point data id, type, species (1 = CBD, 2 = AM), radius [µm] and velocity [µm/µs],
//! plus any extra per-particle arrays (names carry their unit). Use the Glyph filter
//! (sphere, scale by `radius`, factor 2) to see the spheres.

use std::io::Write;
use std::path::Path;

use crate::error::Result;
use crate::io::atomic::write_atomic;
use crate::sim::particles::Particles;

/// An extra point-data array: `values[k]` has `components` numbers for particle index k.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PointArray {
    /// Name with its unit, e.g. "force[nN]".
    pub name: String,
    pub components: usize,
    pub values: Vec<f64>,
}

pub fn write_vtu(path: &Path, p: &Particles) -> Result<()> {
    write_atomic(path, |w| write_vtu_to(w, p, &[]))
}

pub fn write_vtu_with(path: &Path, p: &Particles, extra: &[PointArray]) -> Result<()> {
    write_atomic(path, |w| write_vtu_to(w, p, extra))
}

pub fn write_vtu_to(w: &mut dyn Write, p: &Particles, extra: &[PointArray]) -> std::io::Result<()> {
    let n = p.len();
    let order = p.order_by_id();
    writeln!(w, r#"<?xml version="1.0"?>"#)?;
    writeln!(
        w,
        r#"<VTKFile type="UnstructuredGrid" version="1.0" byte_order="LittleEndian">"#
    )?;
    writeln!(
        w,
        r#"<UnstructuredGrid><Piece NumberOfPoints="{n}" NumberOfCells="{n}">"#
    )?;
    writeln!(
        w,
        r#"<Points><DataArray type="Float64" NumberOfComponents="3" format="ascii">"#
    )?;
    for &k in &order {
        writeln!(w, "{:e} {:e} {:e}", p.x[k][0], p.x[k][1], p.x[k][2])?;
    }
    writeln!(w, "</DataArray></Points>")?;
    writeln!(
        w,
        r#"<Cells><DataArray type="Int64" Name="connectivity" format="ascii">"#
    )?;
    for c in 0..n {
        write!(w, "{c} ")?;
    }
    writeln!(
        w,
        r#"</DataArray><DataArray type="Int64" Name="offsets" format="ascii">"#
    )?;
    for c in 1..=n {
        write!(w, "{c} ")?;
    }
    writeln!(w, r#"</DataArray><DataArray type="UInt8" Name="types" format="ascii">"#)?;
    for _ in 0..n {
        write!(w, "1 ")?; // VTK_VERTEX
    }
    writeln!(w, "</DataArray></Cells>")?;
    writeln!(w, r#"<PointData Scalars="radius">"#)?;
    writeln!(w, r#"<DataArray type="Int64" Name="id" format="ascii">"#)?;
    for &k in &order {
        write!(w, "{} ", p.id[k])?;
    }
    writeln!(w, r#"</DataArray><DataArray type="Int32" Name="type" format="ascii">"#)?;
    for &k in &order {
        write!(w, "{} ", p.kind[k])?;
    }
    writeln!(
        w,
        r#"</DataArray><DataArray type="Int32" Name="species" format="ascii">"#
    )?;
    for &k in &order {
        write!(w, "{} ", if p.kind[k] == 1 { 1 } else { 2 })?;
    }
    writeln!(
        w,
        r#"</DataArray><DataArray type="Float64" Name="radius" format="ascii">"#
    )?;
    for &k in &order {
        write!(w, "{:e} ", p.radius[k])?;
    }
    writeln!(
        w,
        r#"</DataArray><DataArray type="Float64" Name="velocity" NumberOfComponents="3" format="ascii">"#
    )?;
    for &k in &order {
        writeln!(w, "{:e} {:e} {:e}", p.v[k][0], p.v[k][1], p.v[k][2])?;
    }
    writeln!(w, "</DataArray>")?;
    for a in extra {
        writeln!(
            w,
            r#"<DataArray type="Float64" Name="{}" NumberOfComponents="{}" format="ascii">"#,
            a.name, a.components
        )?;
        for &k in &order {
            let vals = &a.values[k * a.components..(k + 1) * a.components];
            let cells: Vec<String> = vals.iter().map(|v| format!("{v:e}")).collect();
            writeln!(w, "{}", cells.join(" "))?;
        }
        writeln!(w, "</DataArray>")?;
    }
    writeln!(w, "</PointData>")?;
    writeln!(w, "</Piece></UnstructuredGrid></VTKFile>")?;
    Ok(())
}
