//! Characterization of an electrode structure (after drying or calendering): porosity by
//! voxelization with the CBD nano-porosity counted, thickness, density, mass loading, the
//! CBD profile along z, and contact counts.
//!
//! The control volume is the box's x–y cross-section times a z-range (the box's, the
//! particles' extent, or given). x and y are periodic: spheres crossing a side wrap.
//!
//! Porosity conventions (all reported, because references differ):
//! * `porosity_sum`: 1 − Σ V_sphere / V (overlaps counted twice, no voxels);
//! * `porosity_geometric`: like `porosity_sum` with the CBD's nano-pores as pore, i.e.
//!   1 − (m_AM/ρ_AM + m_CBD/ρ_skeleton)/V: what experiments get from thickness, mass
//!   loading and the skeletal densities;
//! * `porosity_union`: 1 − V(∪ spheres) / V, voxelized (overlaps once) = the pores only;
//! * `porosity`: like `porosity_union`, but the CBD's nano-pores count as pore: a CBD voxel
//!   is solid for (1 − φ_nano) of its volume (AM wins where AM and CBD overlap).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::analysis::pore_size::{pore_size_distribution, PoreField, PoreSizeDistribution};
use crate::analysis::tortuosity::{tortuosity, Field, Tortuosity};
use crate::error::{Error, Result};
use crate::sim::particles::Particles;
use crate::sim::simbox::SimBox;

/// Which z-range is the film.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum ZRange {
    /// The box's z bounds.
    Box,
    /// From the lowest to the highest sphere surface.
    Particles,
    /// Given bounds [µm].
    Given(f64, f64),
}

#[derive(Debug, Clone, Serialize)]
pub struct AnalysisSettings {
    /// Voxel edge [µm].
    pub voxel_um: f64,
    /// Types that are CBD beads (the rest is AM).
    pub cbd_types: Vec<u32>,
    /// Nano-porosity of the CBD phase [-].
    pub cbd_nanoporosity: f64,
    /// Slab thickness of the CBD profile [µm].
    pub slab_um: f64,
    pub z_range: ZRange,
    /// AM radius for volumes / stored radius [-]: 1 for structure files, 1 / contact factor
    /// for the simulation's own AM spheres (their radius is the contact radius, their mass
    /// that of a sphere of it); AM masses scale with its cube. Contacts always use the
    /// stored radii.
    pub am_radius_scale: f64,
    /// Through-plane tortuosity factor, on its own (coarser) voxel grid; none = skipped.
    pub tortuosity: Option<TortuositySettings>,
    /// Pore-size distribution (local thickness of the pores-only phase on the porosity
    /// grid) in this many bins; none = skipped.
    pub pore_size_bins: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TortuositySettings {
    /// Voxel edge of the diffusion solve [µm].
    pub voxel_um: f64,
    /// Diffusivity of the CBD phase relative to the pores [-] (0 = blocking).
    pub cbd_diffusivity: f64,
    /// Relative residual of the conjugate gradients [-].
    pub tol: f64,
}

impl Default for TortuositySettings {
    fn default() -> Self {
        TortuositySettings {
            voxel_um: 0.5,
            cbd_diffusivity: 0.0,
            tol: 1e-6,
        }
    }
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        AnalysisSettings {
            voxel_um: 0.2,
            cbd_types: vec![1],
            cbd_nanoporosity: 0.5,
            slab_um: 5.0,
            z_range: ZRange::Box,
            am_radius_scale: 1.0,
            tortuosity: None,
            pore_size_bins: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Slab {
    /// Slab centre [µm] above the control volume's bottom.
    pub z_um: f64,
    /// CBD volume fraction of the slab (nano-pores included) [-].
    pub cbd_fraction: f64,
    /// AM volume fraction of the slab [-].
    pub am_fraction: f64,
    /// CBD / (CBD + AM) volume in the slab [-]: the binder-migration profile, free of the
    /// film's roughness at the top.
    pub cbd_share_of_solid: f64,
    /// Pore volume fraction of the slab, CBD nano-pores counted as pore [-].
    pub porosity: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Contacts {
    pub am_am: usize,
    pub am_cbd: usize,
    pub cbd_cbd: usize,
    /// Mean contacts per AM particle with CBD beads [-].
    pub cbd_per_am: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Characterization {
    pub am_particles: usize,
    pub cbd_particles: usize,
    /// Control volume: x–y area [µm²] and z bounds [µm].
    pub area_um2: f64,
    pub z_bottom_um: f64,
    pub z_top_um: f64,
    /// Sphere surfaces' extent in z [µm].
    pub thickness_um: f64,
    pub voxel_um: f64,
    /// Σ sphere volumes [µm³] (AM, CBD) and the voxelized union [µm³].
    pub volume_sum_um3: f64,
    pub volume_am_sum_um3: f64,
    pub volume_union_um3: f64,
    pub porosity_sum: f64,
    pub porosity_geometric: f64,
    pub porosity_union: f64,
    /// The CBD nano-pores counted as pore.
    pub porosity: f64,
    /// = `porosity_union`: the space outside every sphere.
    pub porosity_pores_only: f64,
    pub cbd_nanoporosity: f64,
    /// Mass / control volume [g/cm³].
    pub density_g_cm3: f64,
    /// [mg/cm²]
    pub mass_loading_mg_cm2: f64,
    pub cbd_profile: Vec<Slab>,
    pub contacts: Contacts,
    /// AM surface [µm²] (at the analysed radii) and its share not covered by another
    /// sphere: the electrolyte-wetted, active fraction [-].
    pub am_surface_um2: f64,
    pub active_surface_fraction: f64,
    pub tortuosity: Option<Tortuosity>,
    /// The same solve on voxels of twice the edge, a resolution check: far above
    /// `tortuosity`, the voxel does not resolve the pore throats (see
    /// [`Characterization::tortuosity_resolved`]).
    #[serde(default)]
    pub tortuosity_coarse: Option<Tortuosity>,
    pub pore_size: Option<PoreSizeDistribution>,
}

const PORE: u8 = 0;
const CBD: u8 = 1;
const AM: u8 = 2;

/// τ at twice the voxel edge over τ below which the tortuosity counts as resolved.
pub const TORTUOSITY_RESOLVED_RATIO: f64 = 1.1;

/// Whether τ `coarse` at twice the voxel edge is within 10 % of τ `fine` (an infinite
/// `coarse`, a film that conducts only at the finer voxel, is not).
pub fn tortuosity_resolved(fine: f64, coarse: f64) -> bool {
    coarse <= TORTUOSITY_RESOLVED_RATIO * fine
}

impl Characterization {
    /// Whether the tortuosity factor changes by less than 10 % when the voxel edge halves
    /// from twice the one used (none without a tortuosity solve). A calendered film's
    /// throats are finer than its beads: the reference electrode pressed by 30 % gave
    /// τ = 16.0 / 6.6 / 4.4 / 3.7 / 3.2 / 3.0 at 0.5 / 0.35 / 0.25 / 0.2 / 0.15 / 0.125 µm.
    pub fn tortuosity_resolved(&self) -> Option<bool> {
        let (fine, coarse) = (self.tortuosity.as_ref()?, self.tortuosity_coarse.as_ref()?);
        Some(tortuosity_resolved(fine.tau, coarse.tau))
    }
}

/// Characterizes `p` in box `b` (x, y periodic; tilt not supported).
pub fn characterize(p: &Particles, b: &SimBox, s: &AnalysisSettings) -> Result<Characterization> {
    if b.tilt != [0.0; 3] {
        return Err(Error::Setup("analysis: triclinic boxes are not supported".into()));
    }
    if !(s.voxel_um > 0.0 && s.slab_um > 0.0 && s.am_radius_scale > 0.0 && (0.0..1.0).contains(&s.cbd_nanoporosity)) {
        return Err(Error::Setup(
            "analysis: the voxel and slab sizes must be positive and the nano-porosity in [0, 1)".into(),
        ));
    }
    if p.is_empty() {
        return Err(Error::Setup("analysis: the structure has no particles".into()));
    }
    let n = p.len();
    let is_cbd: Vec<bool> = p.kind.iter().map(|t| s.cbd_types.contains(t)).collect();
    let contacts = contacts(p, b, &is_cbd);
    let scaled;
    let p = if s.am_radius_scale != 1.0 {
        let mut q = p.clone();
        let k3 = s.am_radius_scale.powi(3);
        for ((r, m), c) in q.radius.iter_mut().zip(q.mass.iter_mut()).zip(&is_cbd) {
            if !c {
                *r *= s.am_radius_scale;
                *m *= k3;
            }
        }
        scaled = q;
        &scaled
    } else {
        p
    };
    let (bottom, top) = (
        (0..n).map(|i| p.x[i][2] - p.radius[i]).fold(f64::INFINITY, f64::min),
        (0..n)
            .map(|i| p.x[i][2] + p.radius[i])
            .fold(f64::NEG_INFINITY, f64::max),
    );
    let (z0, z1) = match s.z_range {
        ZRange::Box => (b.lo[2], b.hi[2]),
        ZRange::Particles => (bottom, top),
        ZRange::Given(a, c) => (a, c),
    };
    if z1 <= z0 {
        return Err(Error::Setup(format!("analysis: empty z-range [{z0}, {z1}] µm")));
    }
    let (lx, ly) = (b.hi[0] - b.lo[0], b.hi[1] - b.lo[1]);
    let area = lx * ly;
    let volume = area * (z1 - z0);
    let grid = Grid::new([lx, ly, z1 - z0], s.voxel_um);
    let phase = grid.paint(p, &is_cbd, [b.lo[0], b.lo[1], z0]);
    let (am_surface_um2, active_surface_fraction) = active_surface(p, b, &is_cbd);
    let solve = |t: &TortuositySettings, voxel_um: f64| -> Result<Tortuosity> {
        let g = Grid::new([lx, ly, z1 - z0], voxel_um);
        let d: Vec<f64> = g
            .paint(p, &is_cbd, [b.lo[0], b.lo[1], z0])
            .iter()
            .map(|&ph| match ph {
                PORE => 1.0,
                CBD => t.cbd_diffusivity,
                _ => 0.0,
            })
            .collect();
        tortuosity(&Field { n: g.n, d: &d }, t.tol, 100_000)
    };
    let (tortuosity, tortuosity_coarse) = match &s.tortuosity {
        Some(t) => (Some(solve(t, t.voxel_um)?), Some(solve(t, 2.0 * t.voxel_um)?)),
        None => (None, None),
    };
    let pore_size = s.pore_size_bins.and_then(|bins| {
        let pore: Vec<bool> = phase.iter().map(|&v| v == PORE).collect();
        let h = grid.h.iter().product::<f64>().cbrt();
        pore_size_distribution(
            &PoreField {
                n: grid.n,
                h,
                pore: &pore,
            },
            bins,
        )
    });
    let counts = grid.count(&phase);
    let voxel = grid.h.iter().product::<f64>();
    let (v_am, v_cbd) = (counts[AM as usize] as f64 * voxel, counts[CBD as usize] as f64 * voxel);
    let sphere = |i: usize| 4.0 / 3.0 * std::f64::consts::PI * p.radius[i].powi(3);
    let volume_sum: f64 = (0..n).map(sphere).sum();
    let volume_am_sum: f64 = (0..n).filter(|&i| !is_cbd[i]).map(sphere).sum();
    let mass: f64 = p.mass.iter().sum();
    let union = v_am + v_cbd;
    Ok(Characterization {
        am_particles: is_cbd.iter().filter(|c| !**c).count(),
        cbd_particles: is_cbd.iter().filter(|c| **c).count(),
        area_um2: area,
        z_bottom_um: z0,
        z_top_um: z1,
        thickness_um: top - bottom,
        voxel_um: s.voxel_um,
        volume_sum_um3: volume_sum,
        volume_am_sum_um3: volume_am_sum,
        volume_union_um3: union,
        porosity_sum: 1.0 - volume_sum / volume,
        porosity_geometric: 1.0 - (volume_am_sum + (1.0 - s.cbd_nanoporosity) * (volume_sum - volume_am_sum)) / volume,
        porosity_union: 1.0 - union / volume,
        porosity: 1.0 - (v_am + (1.0 - s.cbd_nanoporosity) * v_cbd) / volume,
        porosity_pores_only: 1.0 - union / volume,
        cbd_nanoporosity: s.cbd_nanoporosity,
        // pg / µm³ = g / cm³; pg / µm² = 0.1 mg / cm².
        density_g_cm3: mass / volume,
        mass_loading_mg_cm2: 0.1 * mass / area,
        cbd_profile: grid.profile(&phase, s.slab_um, s.cbd_nanoporosity),
        contacts,
        am_surface_um2,
        active_surface_fraction,
        tortuosity,
        tortuosity_coarse,
        pore_size,
    })
}

/// Mean height of the film's top surface [µm, absolute z]: the highest sphere surface over
/// each point of a lateral grid of `spacing`, averaged (what a profilometer averages). The
/// film top (the highest sphere) follows a single particle; this follows the film. x, y
/// periodic; points no sphere covers are left out.
pub fn mean_surface_height(p: &Particles, b: &SimBox, spacing: f64) -> f64 {
    let l = [b.hi[0] - b.lo[0], b.hi[1] - b.lo[1]];
    let n = [
        (l[0] / spacing).ceil().max(1.0) as usize,
        (l[1] / spacing).ceil().max(1.0) as usize,
    ];
    let h = [l[0] / n[0] as f64, l[1] / n[1] as f64];
    let mut top = vec![f64::NEG_INFINITY; n[0] * n[1]];
    for k in 0..p.len() {
        let (x, r) = (p.x[k], p.radius[k]);
        // Grid points i·h within r of the centre, wrapped.
        let span = |a: usize| {
            let c = (x[a] - b.lo[a]) / h[a];
            let w = r / h[a];
            ((c - w).ceil() as i64, (c + w).floor() as i64, c)
        };
        let (i0, i1, cx) = span(0);
        let (j0, j1, cy) = span(1);
        for i in i0..=i1 {
            let dx = (i as f64 - cx) * h[0];
            for j in j0..=j1 {
                let dy = (j as f64 - cy) * h[1];
                let q = r * r - dx * dx - dy * dy;
                if q >= 0.0 {
                    let cell = i.rem_euclid(n[0] as i64) as usize * n[1] + j.rem_euclid(n[1] as i64) as usize;
                    top[cell] = top[cell].max(x[2] + q.sqrt());
                }
            }
        }
    }
    let covered: Vec<f64> = top.into_iter().filter(|t| t.is_finite()).collect();
    covered.iter().sum::<f64>() / covered.len().max(1) as f64
}

/// A voxel grid over the control volume; x, y periodic.
struct Grid {
    n: [usize; 3],
    h: [f64; 3],
}

impl Grid {
    fn new(len: [f64; 3], voxel: f64) -> Grid {
        let n = len.map(|l| ((l / voxel).round() as usize).max(1));
        Grid {
            n,
            h: [len[0] / n[0] as f64, len[1] / n[1] as f64, len[2] / n[2] as f64],
        }
    }

    /// Phase per voxel (centre inside a sphere): AM over CBD over pore. Parallel over
    /// z-planes, each plane scanning the spheres that reach it.
    fn paint(&self, p: &Particles, is_cbd: &[bool], origin: [f64; 3]) -> Vec<u8> {
        let [nx, ny, nz] = self.n;
        let mut by_plane: Vec<Vec<usize>> = vec![Vec::new(); nz];
        for i in 0..p.len() {
            let (z, r) = (p.x[i][2] - origin[2], p.radius[i]);
            let k0 = ((z - r) / self.h[2] - 0.5).ceil().max(0.0) as usize;
            let k1 = ((z + r) / self.h[2] - 0.5).floor();
            if k1 < 0.0 {
                continue;
            }
            for plane in by_plane.iter_mut().take((k1 as usize + 1).min(nz)).skip(k0) {
                plane.push(i);
            }
        }
        let mut phase = vec![PORE; nx * ny * nz];
        phase
            .par_chunks_mut(nx * ny)
            .zip(by_plane.par_iter())
            .enumerate()
            .for_each(|(k, (plane, spheres))| {
                let zc = (k as f64 + 0.5) * self.h[2];
                for &i in spheres {
                    let c = [p.x[i][0] - origin[0], p.x[i][1] - origin[1], p.x[i][2] - origin[2]];
                    let r2 = p.radius[i].powi(2) - (zc - c[2]).powi(2);
                    if r2 < 0.0 {
                        continue;
                    }
                    let rr = r2.sqrt();
                    let mark = if is_cbd[i] { CBD } else { AM };
                    let j0 = ((c[1] - rr) / self.h[1] - 0.5).ceil() as i64;
                    let j1 = ((c[1] + rr) / self.h[1] - 0.5).floor() as i64;
                    for j in j0..=j1 {
                        let yc = (j as f64 + 0.5) * self.h[1];
                        let rx2 = r2 - (yc - c[1]).powi(2);
                        if rx2 < 0.0 {
                            continue;
                        }
                        let rx = rx2.sqrt();
                        let i0 = ((c[0] - rx) / self.h[0] - 0.5).ceil() as i64;
                        let i1 = ((c[0] + rx) / self.h[0] - 0.5).floor() as i64;
                        let row = j.rem_euclid(ny as i64) as usize * nx;
                        for ii in i0..=i1 {
                            let v = &mut plane[row + ii.rem_euclid(nx as i64) as usize];
                            *v = (*v).max(mark);
                        }
                    }
                }
            });
        phase
    }

    fn count(&self, phase: &[u8]) -> [usize; 3] {
        phase
            .par_chunks(1 << 16)
            .map(|c| {
                let mut n = [0usize; 3];
                for &v in c {
                    n[v as usize] += 1;
                }
                n
            })
            .reduce(|| [0; 3], |a, b| [a[0] + b[0], a[1] + b[1], a[2] + b[2]])
    }

    fn profile(&self, phase: &[u8], slab: f64, nanoporosity: f64) -> Vec<Slab> {
        let per_plane = self.n[0] * self.n[1];
        let planes_per_slab = ((slab / self.h[2]).round() as usize).max(1);
        phase
            .chunks(per_plane * planes_per_slab)
            .enumerate()
            .map(|(s, c)| {
                let cbd = c.iter().filter(|&&v| v == CBD).count() as f64;
                let am = c.iter().filter(|&&v| v == AM).count() as f64;
                let planes = c.len() / per_plane;
                let len = c.len() as f64;
                Slab {
                    z_um: (s * planes_per_slab) as f64 * self.h[2] + 0.5 * planes as f64 * self.h[2],
                    cbd_fraction: cbd / len,
                    am_fraction: am / len,
                    cbd_share_of_solid: if cbd + am > 0.0 { cbd / (cbd + am) } else { 0.0 },
                    porosity: 1.0 - (am + (1.0 - nanoporosity) * cbd) / len,
                }
            })
            .collect()
    }
}

/// A cell list over the spheres (x, y periodic): cells at least one largest diameter wide.
struct Cells<'a> {
    p: &'a Particles,
    lo: [f64; 3],
    l: [f64; 2],
    cell: f64,
    nc: [usize; 3],
    cells: Vec<Vec<usize>>,
}

impl<'a> Cells<'a> {
    fn new(p: &'a Particles, b: &SimBox) -> Cells<'a> {
        let rmax = p.radius.iter().copied().fold(0.0, f64::max);
        let l = [b.hi[0] - b.lo[0], b.hi[1] - b.lo[1]];
        let cell = (2.0 * rmax).max(1e-9);
        let zmin = p.x.iter().map(|x| x[2]).fold(f64::INFINITY, f64::min);
        let zmax = p.x.iter().map(|x| x[2]).fold(f64::NEG_INFINITY, f64::max);
        let nc = [
            ((l[0] / cell).floor() as usize).max(1),
            ((l[1] / cell).floor() as usize).max(1),
            (((zmax - zmin) / cell).floor() as usize + 1).max(1),
        ];
        let mut c = Cells {
            p,
            lo: [b.lo[0], b.lo[1], zmin],
            l,
            cell,
            nc,
            cells: vec![Vec::new(); nc[0] * nc[1] * nc[2]],
        };
        for i in 0..p.len() {
            let k = c.flat(c.index(&p.x[i]));
            c.cells[k].push(i);
        }
        c
    }

    fn index(&self, x: &[f64; 3]) -> [usize; 3] {
        let f =
            |v: f64, lo: f64, len: f64, m: usize| ((((v - lo) / len).rem_euclid(1.0) * m as f64) as usize).min(m - 1);
        [
            f(x[0], self.lo[0], self.l[0], self.nc[0]),
            f(x[1], self.lo[1], self.l[1], self.nc[1]),
            (((x[2] - self.lo[2]) / self.cell).max(0.0) as usize).min(self.nc[2] - 1),
        ]
    }

    fn flat(&self, c: [usize; 3]) -> usize {
        (c[2] * self.nc[1] + c[1]) * self.nc[0] + c[0]
    }

    /// Calls `f(j, d)` for every other sphere j near sphere i, with d = x_j − x_i (minimum
    /// image in x, y).
    fn around(&self, i: usize, mut f: impl FnMut(usize, [f64; 3])) {
        let p = self.p;
        let c = self.index(&p.x[i]);
        let mut seen: Vec<usize> = Vec::with_capacity(27);
        for dz in -1i64..=1 {
            let cz = c[2] as i64 + dz;
            if cz < 0 || cz >= self.nc[2] as i64 {
                continue;
            }
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let cx = (c[0] as i64 + dx).rem_euclid(self.nc[0] as i64) as usize;
                    let cy = (c[1] as i64 + dy).rem_euclid(self.nc[1] as i64) as usize;
                    let cell = self.flat([cx, cy, cz as usize]);
                    if seen.contains(&cell) {
                        continue; // fewer than 3 cells along an axis
                    }
                    seen.push(cell);
                    for &j in &self.cells[cell] {
                        if j == i {
                            continue;
                        }
                        let wrap = |a: usize| {
                            let d = p.x[j][a] - p.x[i][a];
                            d - self.l[a] * (d / self.l[a]).round()
                        };
                        f(j, [wrap(0), wrap(1), p.x[j][2] - p.x[i][2]]);
                    }
                }
            }
        }
    }
}

/// Pairs whose spheres touch or overlap (centre distance ≤ r_i + r_j), x and y periodic.
fn contacts(p: &Particles, b: &SimBox, is_cbd: &[bool]) -> Contacts {
    let cells = Cells::new(p, b);
    let found: Vec<(usize, usize, usize)> = (0..p.len())
        .into_par_iter()
        .map(|i| {
            let mut k = (0, 0, 0);
            cells.around(i, |j, d| {
                if j > i && d[0] * d[0] + d[1] * d[1] + d[2] * d[2] <= (p.radius[i] + p.radius[j]).powi(2) {
                    match (is_cbd[i], is_cbd[j]) {
                        (false, false) => k.0 += 1,
                        (true, true) => k.2 += 1,
                        _ => k.1 += 1,
                    }
                }
            });
            k
        })
        .collect();
    let (am_am, am_cbd, cbd_cbd) = found.iter().fold((0, 0, 0), |a, k| (a.0 + k.0, a.1 + k.1, a.2 + k.2));
    let am = is_cbd.iter().filter(|c| !**c).count();
    Contacts {
        am_am,
        am_cbd,
        cbd_cbd,
        cbd_per_am: if am > 0 { am_cbd as f64 / am as f64 } else { 0.0 },
    }
}

/// Points per AM sphere of the active-surface estimate (Fibonacci lattice).
const SURFACE_POINTS: usize = 1000;

/// AM surface not inside another sphere (AM or CBD): the electrolyte-wetted, active part.
/// Returns (total AM surface [µm²], active fraction [-]).
fn active_surface(p: &Particles, b: &SimBox, is_cbd: &[bool]) -> (f64, f64) {
    let cells = Cells::new(p, b);
    let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
    let dirs: Vec<[f64; 3]> = (0..SURFACE_POINTS)
        .map(|k| {
            let z = 1.0 - 2.0 * (k as f64 + 0.5) / SURFACE_POINTS as f64;
            let r = (1.0 - z * z).sqrt();
            let phi = golden * k as f64;
            [r * phi.cos(), r * phi.sin(), z]
        })
        .collect();
    // Per-sphere areas summed in sphere order: the same total on any number of threads.
    let per_sphere: Vec<(f64, f64)> = (0..p.len())
        .into_par_iter()
        .filter(|&i| !is_cbd[i])
        .map(|i| {
            let ri = p.radius[i];
            let mut near: Vec<([f64; 3], f64)> = Vec::new();
            cells.around(i, |j, d| {
                if d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < (ri + p.radius[j]).powi(2) {
                    near.push((d, p.radius[j] * p.radius[j]));
                }
            });
            let free = dirs
                .iter()
                .filter(|u| {
                    near.iter().all(|(d, rj2)| {
                        let q = [ri * u[0] - d[0], ri * u[1] - d[1], ri * u[2] - d[2]];
                        q[0] * q[0] + q[1] * q[1] + q[2] * q[2] >= *rj2
                    })
                })
                .count();
            let area = 4.0 * std::f64::consts::PI * ri * ri;
            (area, area * free as f64 / SURFACE_POINTS as f64)
        })
        .collect();
    let (total, active) = per_sphere.iter().fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    (total, if total > 0.0 { active / total } else { 0.0 })
}

#[cfg(test)]
mod surface_tests {
    use super::*;

    #[test]
    fn the_mean_surface_of_one_sphere_is_its_hemisphere_volume_over_its_disc() {
        // Mean cap height over the covered disc: (2/3 π r³) / (π r²) = 2r/3, wherever the
        // sphere sits across the periodic edges.
        let b = SimBox::orthogonal([0.0; 3], [20.0, 20.0, 20.0], [true, true, false]);
        for centre in [[10.0, 10.0, 5.0], [0.3, 19.9, 5.0]] {
            let mut p = Particles::default();
            p.push(1, 1, centre, 3.0, 1.0);
            let h = mean_surface_height(&p, &b, 0.02);
            assert!((h - (5.0 + 2.0)).abs() < 2e-3 * 7.0, "{centre:?}: {h}");
        }
        // A raised sphere sets the maximum; the mean moves by its share of the area only.
        let mut p = Particles::default();
        for i in 0..4 {
            for j in 0..4 {
                p.push(
                    1 + 4 * i + j,
                    1,
                    [2.5 + 5.0 * i as f64, 2.5 + 5.0 * j as f64, 2.5],
                    2.5,
                    1.0,
                );
            }
        }
        let flat = mean_surface_height(&p, &b, 0.05);
        p.x[0][2] += 10.0;
        let raised = mean_surface_height(&p, &b, 0.05);
        assert!((raised - flat - 10.0 / 16.0).abs() < 0.02, "{flat} → {raised}");
    }
}
