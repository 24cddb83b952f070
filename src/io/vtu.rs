//! Particles as a VTK UnstructuredGrid (`.vtu`, ASCII) for ParaView: one vertex per sphere
//! with point data id, type, radius [µm] and velocity [µm/µs]. Use the Glyph filter
//! (sphere, scale by `radius`, factor 2) to see the spheres.

use std::io::Write;
use std::path::Path;

use crate::error::Result;
use crate::io::atomic::write_atomic;
use crate::sim::particles::Particles;

pub fn write_vtu(path: &Path, p: &Particles) -> Result<()> {
    write_atomic(path, |w| write_vtu_to(w, p))
}

pub fn write_vtu_to(w: &mut dyn Write, p: &Particles) -> std::io::Result<()> {
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
    writeln!(w, "</DataArray></PointData>")?;
    writeln!(w, "</Piece></UnstructuredGrid></VTKFile>")?;
    Ok(())
}
