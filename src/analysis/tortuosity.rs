//! Through-plane tortuosity factor from a steady-state diffusion solve on a voxel field
//! (the TauFactor convention): concentration 1 on the bottom face and 0 on the top, x and y
//! periodic, each voxel with its own diffusivity (pore 1, solid 0, a nano-porous phase in
//! between). Face conductances are harmonic means; the boundary faces are half a voxel
//! away. Jacobi-preconditioned conjugate gradients on the conducting voxels only, their
//! conductances computed once (a calendered film is four fifths solid), parallel over
//! fixed blocks of rows.
//!
//! D_eff = J · L / (A · Δc) relative to the pore diffusivity; τ = ε / D_eff, with ε the
//! volume fraction of voxels that conduct.

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct Tortuosity {
    /// Volume fraction of conducting voxels [-].
    pub porosity: f64,
    /// Effective diffusivity relative to the free one [-].
    pub d_eff: f64,
    /// ε / D_eff [-] (1 for straight channels).
    pub tau: f64,
    pub iterations: usize,
    /// Relative residual at the end [-].
    pub residual: f64,
}

/// A voxel diffusivity field, x fastest, z slowest; flow along z.
pub struct Field<'a> {
    pub n: [usize; 3],
    pub d: &'a [f64],
}

fn harmonic(a: f64, b: f64) -> f64 {
    if a > 0.0 && b > 0.0 {
        2.0 * a * b / (a + b)
    } else {
        0.0
    }
}

impl Field<'_> {
    fn idx(&self, i: usize, j: usize, k: usize) -> usize {
        (k * self.n[1] + j) * self.n[0] + i
    }

    /// Conductances of a voxel to its 6 neighbours (z−, z+, x−, x+, y−, y+) and the
    /// neighbours' voxel indices; a z face on the boundary couples to the fixed
    /// concentration at 2·D (no neighbour).
    fn faces(&self, q: usize) -> [(f64, Option<usize>); 6] {
        let [nx, ny, nz] = self.n;
        let (i, j, k) = (q % nx, (q / nx) % ny, q / (nx * ny));
        let d = self.d[q];
        let g = |q2: usize| (harmonic(d, self.d[q2]), Some(q2));
        [
            if k == 0 {
                (2.0 * d, None)
            } else {
                g(self.idx(i, j, k - 1))
            },
            if k + 1 == nz {
                (2.0 * d, None)
            } else {
                g(self.idx(i, j, k + 1))
            },
            g(self.idx((i + nx - 1) % nx, j, k)),
            g(self.idx((i + 1) % nx, j, k)),
            g(self.idx(i, (j + ny - 1) % ny, k)),
            g(self.idx(i, (j + 1) % ny, k)),
        ]
    }
}

/// The diffusion operator on the conducting voxels only (the solid carries no unknown),
/// its conductances computed once: a row's 6 faces as (conductance, column). A face to
/// the solid or to a Dirichlet boundary points at column `m`, a ghost held at 0, so every
/// row sums Σ g (c − x[col]) the same way.
struct System {
    /// Voxel index of each unknown.
    voxel: Vec<usize>,
    g: Vec<[f64; 6]>,
    col: Vec<[u32; 6]>,
}

impl System {
    fn new(field: &Field) -> Result<System> {
        let voxel: Vec<usize> = (0..field.d.len()).filter(|&q| field.d[q] > 0.0).collect();
        let m = voxel.len();
        if m >= u32::MAX as usize {
            return Err(Error::Setup(format!(
                "tortuosity: {m} conducting voxels, more than this solver indexes; use a coarser voxel"
            )));
        }
        // Voxel → unknown (m for the solid: the ghost).
        let mut unknown = vec![m as u32; field.d.len()];
        for (u, &q) in voxel.iter().enumerate() {
            unknown[q] = u as u32;
        }
        let (g, col) = voxel
            .par_iter()
            .map(|&q| {
                let f = field.faces(q);
                (f.map(|(g, _)| g), f.map(|(_, n)| n.map_or(m as u32, |n| unknown[n])))
            })
            .unzip();
        Ok(System { voxel, g, col })
    }

    fn len(&self) -> usize {
        self.voxel.len()
    }

    /// y = A x; `x` carries the ghost (0) at index m.
    fn apply(&self, x: &[f64], y: &mut [f64]) {
        y.par_chunks_mut(CHUNK).enumerate().for_each(|(c, ys)| {
            for (o, yi) in ys.iter_mut().enumerate() {
                let u = c * CHUNK + o;
                let (g, col, xc) = (&self.g[u], &self.col[u], x[u]);
                let mut s = g[0] * (xc - x[col[0] as usize]) + g[1] * (xc - x[col[1] as usize]);
                for f in 2..6 {
                    s += g[f] * (xc - x[col[f] as usize]);
                }
                *yi = s;
            }
        });
    }
}

/// Rows per parallel task, and the blocks of the dot products (fixed: the sums do not
/// depend on the thread count).
const CHUNK: usize = 1 << 14;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.par_chunks(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .map(|(x, y)| x.iter().zip(y).map(|(p, q)| p * q).sum::<f64>())
        .collect::<Vec<f64>>()
        .iter()
        .sum()
}

/// Solves the diffusion problem on `field` to relative residual `tol`.
pub fn tortuosity(field: &Field, tol: f64, max_iter: usize) -> Result<Tortuosity> {
    let [nx, ny, nz] = field.n;
    let n = nx * ny * nz;
    if field.d.len() != n || n == 0 {
        return Err(Error::Setup(
            "tortuosity: the field does not match its dimensions".into(),
        ));
    }
    if field.d.iter().any(|d| !(*d >= 0.0 && d.is_finite())) {
        return Err(Error::Setup("tortuosity: diffusivities must be finite and ≥ 0".into()));
    }
    let a = System::new(field)?;
    let m = a.len();
    let porosity = m as f64 / n as f64;
    // b: the bottom face held at c = 1 (the first layer's unknowns come first).
    let b: Vec<f64> = a
        .voxel
        .iter()
        .map(|&q| if q < nx * ny { 2.0 * field.d[q] } else { 0.0 })
        .collect();
    let bnorm = dot(&b, &b).sqrt();
    // Unknowns and the ghost at index m.
    let mut x = vec![0.0; m + 1];
    let (mut iterations, mut residual) = (0, 0.0);
    if bnorm > 0.0 {
        // Jacobi preconditioner: 1 / Σ face conductances (0 for a voxel that conducts nowhere).
        let inv_diag: Vec<f64> =
            a.g.par_iter()
                .map(|g| {
                    let s: f64 = g.iter().sum();
                    if s > 0.0 {
                        1.0 / s
                    } else {
                        0.0
                    }
                })
                .collect();
        let precondition = |r: &[f64], z: &mut [f64]| {
            z.par_iter_mut()
                .zip(r)
                .zip(&inv_diag)
                .for_each(|((zi, ri), di)| *zi = ri * di);
        };
        let mut r = b.clone();
        let mut z = vec![0.0; m];
        precondition(&r, &mut z);
        // The search direction with its ghost.
        let mut p = z.clone();
        p.push(0.0);
        let mut ap = vec![0.0; m];
        let mut rz = dot(&r, &z);
        let mut rr = dot(&r, &r);
        while iterations < max_iter {
            residual = rr.sqrt() / bnorm;
            if residual < tol {
                break;
            }
            a.apply(&p, &mut ap);
            let pap = dot(&p[..m], &ap);
            if pap <= 0.0 {
                break;
            }
            let alpha = rz / pap;
            x[..m]
                .par_iter_mut()
                .zip(&p[..m])
                .for_each(|(xi, pi)| *xi += alpha * pi);
            r.par_iter_mut().zip(&ap).for_each(|(ri, api)| *ri -= alpha * api);
            precondition(&r, &mut z);
            let rz_new = dot(&r, &z);
            let beta = rz_new / rz;
            p[..m].par_iter_mut().zip(&z).for_each(|(pi, zi)| *pi = zi + beta * *pi);
            rz = rz_new;
            rr = dot(&r, &r);
            iterations += 1;
        }
        residual = rr.sqrt() / bnorm;
        if residual >= tol {
            return Err(Error::Setup(format!(
                "tortuosity: conjugate gradients stopped at relative residual {residual:.2e} after {iterations} iterations"
            )));
        }
    }
    // Flux out of the top face: 2·D·(c − 0) per conducting voxel of the last layer.
    let top = (nz - 1) * nx * ny;
    let flux: f64 = a
        .voxel
        .iter()
        .zip(&x)
        .filter(|(&q, _)| q >= top)
        .map(|(&q, c)| 2.0 * field.d[q] * c)
        .sum();
    let d_eff = flux * nz as f64 / (nx * ny) as f64;
    Ok(Tortuosity {
        porosity,
        d_eff,
        tau: if d_eff > 0.0 { porosity / d_eff } else { f64::INFINITY },
        iterations,
        residual,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solve(n: [usize; 3], d: impl Fn(usize, usize, usize) -> f64) -> Tortuosity {
        let mut v = Vec::new();
        for k in 0..n[2] {
            for j in 0..n[1] {
                for i in 0..n[0] {
                    v.push(d(i, j, k));
                }
            }
        }
        tortuosity(&Field { n, d: &v }, 1e-10, 10_000).unwrap()
    }

    #[test]
    fn open_space_and_straight_channels_have_tau_one() {
        let t = solve([4, 4, 10], |_, _, _| 1.0);
        assert!((t.d_eff - 1.0).abs() < 1e-8 && (t.tau - 1.0).abs() < 1e-8, "{t:?}");
        // Straight pore channels along z through solid: D_eff = ε, τ = 1.
        let t = solve([8, 8, 12], |i, j, _| if i % 4 == 0 && j % 2 == 0 { 1.0 } else { 0.0 });
        assert!((t.porosity - 1.0 / 8.0).abs() < 1e-12);
        assert!((t.d_eff - 0.125).abs() < 1e-8 && (t.tau - 1.0).abs() < 1e-8, "{t:?}");
    }

    #[test]
    fn layers_in_series_give_the_harmonic_mean() {
        // Alternating layers D = 1 and 0.25 across the flow: D_eff = 1 / mean(1/D) = 0.4.
        let t = solve([3, 3, 20], |_, _, k| if k % 2 == 0 { 1.0 } else { 0.25 });
        assert!((t.d_eff - 0.4).abs() < 1e-8, "{t:?}");
        // Layers along the flow: the arithmetic mean, 0.625.
        let t = solve([4, 4, 10], |i, _, _| if i % 2 == 0 { 1.0 } else { 0.25 });
        assert!((t.d_eff - 0.625).abs() < 1e-8, "{t:?}");
    }

    #[test]
    fn a_blocked_film_has_no_flux() {
        let t = solve([4, 4, 6], |_, _, k| if k == 3 { 0.0 } else { 1.0 });
        assert_eq!(t.d_eff, 0.0);
        assert!(t.tau.is_infinite());
    }
}
