//! Through-plane tortuosity factor from a steady-state diffusion solve on a voxel field
//! (the TauFactor convention): concentration 1 on the bottom face and 0 on the top, x and y
//! periodic, each voxel with its own diffusivity (pore 1, solid 0, a nano-porous phase in
//! between). Face conductances are harmonic means; the boundary faces are half a voxel
//! away. Conjugate gradients with an aggregation multigrid preconditioner
//! (`analysis::multigrid`) on the conducting voxels connected to a face only (a
//! calendered film is four fifths solid; pores sealed off carry no flux), their
//! conductances computed once, parallel over fixed blocks of rows.
//!
//! D_eff = J · L / (A · Δc) relative to the pore diffusivity; τ = ε / D_eff, with ε the
//! volume fraction of voxels that conduct.

use rayon::prelude::*;
use serde::Serialize;

use crate::analysis::multigrid::{Level, Multigrid};
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

/// The diffusion operator on the conducting voxels joined to a face (the solid and
/// sealed pores carry no unknown), its conductances computed once: the unknowns' voxels
/// and the network between them.
fn operator(field: &Field) -> Result<(Vec<usize>, Level)> {
    let voxel = connected_to_a_face(field);
    let m = voxel.len();
    if m >= u32::MAX as usize {
        return Err(Error::Setup(format!(
            "tortuosity: {m} conducting voxels, more than this solver indexes; use a coarser voxel"
        )));
    }
    let mut unknown = vec![u32::MAX; field.d.len()];
    for (u, &q) in voxel.iter().enumerate() {
        unknown[q] = u as u32;
    }
    let [nx, ny, _] = field.n;
    let at = voxel
        .par_iter()
        .map(|&q| [(q % nx) as u32, ((q / nx) % ny) as u32, (q / (nx * ny)) as u32])
        .collect();
    // A conducting face joins two voxels of one part, so its neighbour has an unknown.
    let level = Level::new(at, |u, out| {
        let mut diag = 0.0;
        for (g, next) in field.faces(voxel[u]) {
            diag += g;
            if let Some(q2) = next.filter(|_| g > 0.0) {
                out.push((unknown[q2], g));
            }
        }
        diag
    });
    Ok((voxel, level))
}

/// The conducting voxels joined to the bottom or the top face through conducting faces, in
/// voxel order (a breadth-first search from the two faces).
fn connected_to_a_face(field: &Field) -> Vec<usize> {
    let [nx, ny, nz] = field.n;
    let layer = nx * ny;
    let mut seen = vec![false; field.d.len()];
    let mut queue: Vec<usize> = (0..layer)
        .chain((nz - 1) * layer..nz * layer)
        .filter(|&q| field.d[q] > 0.0)
        .collect();
    for &q in &queue {
        seen[q] = true;
    }
    let mut head = 0;
    while head < queue.len() {
        let q = queue[head];
        head += 1;
        for (g, next) in field.faces(q) {
            if let Some(q2) = next.filter(|&q2| g > 0.0 && !seen[q2]) {
                seen[q2] = true;
                queue.push(q2);
            }
        }
    }
    (0..field.d.len()).filter(|&q| seen[q]).collect()
}

/// Blocks of the dot products (fixed: the sums do not depend on the thread count).
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
    solve(field, tol, max_iter, Preconditioner::Multigrid)
}

/// How CG is preconditioned: Jacobi (what the multigrid is checked against) or multigrid.
#[derive(Clone, Copy)]
enum Preconditioner {
    #[cfg_attr(not(test), allow(dead_code))]
    Jacobi,
    Multigrid,
}

fn solve(field: &Field, tol: f64, max_iter: usize, preconditioner: Preconditioner) -> Result<Tortuosity> {
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
    let (voxel, level) = operator(field)?;
    let porosity = field.d.iter().filter(|&&d| d > 0.0).count() as f64 / n as f64;
    // b: the bottom face held at c = 1 (the first layer's unknowns come first).
    let b: Vec<f64> = voxel
        .iter()
        .map(|&q| if q < nx * ny { 2.0 * field.d[q] } else { 0.0 })
        .collect();
    let (x, iterations, residual) = match preconditioner {
        Preconditioner::Multigrid => {
            let mg = Multigrid::new(level);
            let mut work = mg.workspace();
            conjugate_gradients(mg.operator(), b, |r, z| mg.apply(r, z, &mut work), tol, max_iter)?
        }
        Preconditioner::Jacobi => {
            // Every row conducts somewhere: its voxel is joined to a face.
            let inv_diag: Vec<f64> = level.diag().par_iter().map(|d| 1.0 / d).collect();
            let jacobi = |r: &[f64], z: &mut [f64]| {
                z.par_iter_mut()
                    .zip(r)
                    .zip(&inv_diag)
                    .for_each(|((zi, ri), di)| *zi = ri * di)
            };
            conjugate_gradients(&level, b, jacobi, tol, max_iter)?
        }
    };
    // Flux out of the top face: 2·D·(c − 0) per conducting voxel of the last layer.
    let top = (nz - 1) * nx * ny;
    let flux: f64 = voxel
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

/// Solves A x = b by preconditioned conjugate gradients from x = 0 to relative residual
/// `tol`: (x, iterations, relative residual); an error if `max_iter` iterations do not
/// reach it. A zero `b` gives x = 0 at once.
fn conjugate_gradients(
    a: &Level,
    b: Vec<f64>,
    mut precondition: impl FnMut(&[f64], &mut [f64]),
    tol: f64,
    max_iter: usize,
) -> Result<(Vec<f64>, usize, f64)> {
    let m = b.len();
    let bnorm = dot(&b, &b).sqrt();
    let mut x = vec![0.0; m];
    if bnorm == 0.0 {
        return Ok((x, 0, 0.0));
    }
    let mut r = b;
    let mut z = vec![0.0; m];
    precondition(&r, &mut z);
    let mut p = z.clone();
    let mut ap = vec![0.0; m];
    let mut rz = dot(&r, &z);
    let mut rr = dot(&r, &r);
    let mut iterations = 0;
    while iterations < max_iter {
        if rr.sqrt() / bnorm < tol {
            break;
        }
        a.apply(&p, &mut ap);
        let pap = dot(&p, &ap);
        if pap <= 0.0 {
            break;
        }
        let alpha = rz / pap;
        x.par_iter_mut().zip(&p).for_each(|(xi, pi)| *xi += alpha * pi);
        r.par_iter_mut().zip(&ap).for_each(|(ri, api)| *ri -= alpha * api);
        precondition(&r, &mut z);
        let rz_new = dot(&r, &z);
        let beta = rz_new / rz;
        p.par_iter_mut().zip(&z).for_each(|(pi, zi)| *pi = zi + beta * *pi);
        rz = rz_new;
        rr = dot(&r, &r);
        iterations += 1;
    }
    let residual = rr.sqrt() / bnorm;
    if residual >= tol {
        return Err(Error::Setup(format!(
            "tortuosity: conjugate gradients stopped at relative residual {residual:.2e} after {iterations} iterations"
        )));
    }
    Ok((x, iterations, residual))
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
    fn isolated_channels_one_voxel_long_have_tau_one() {
        // A film one voxel thick, conducting on a checkerboard: no voxel couples to another.
        let t = solve([6, 6, 1], |i, j, _| if (i + j) % 2 == 0 { 1.0 } else { 0.0 });
        assert!((t.d_eff - 0.5).abs() < 1e-12 && (t.tau - 1.0).abs() < 1e-12, "{t:?}");
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

    /// Solid balls and nano-porous shells scattered in a 40 × 36 × 48 grid, some pores
    /// sealed off: diffusivity 0, 0.3 or 1.
    fn porous_field() -> (Vec<f64>, [usize; 3]) {
        let n = [40, 36, 48];
        let mut seed = 12345u64;
        let mut next = |k: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) % k as u64) as i64
        };
        let balls: Vec<[i64; 4]> = (0..70).map(|_| [next(40), next(36), next(48), 3 + next(5)]).collect();
        let mut d = vec![1.0; n[0] * n[1] * n[2]];
        for (q, v) in d.iter_mut().enumerate() {
            let (i, j, k) = (
                (q % n[0]) as i64,
                ((q / n[0]) % n[1]) as i64,
                (q / (n[0] * n[1])) as i64,
            );
            for b in &balls {
                let dx = (i - b[0]).abs().min(40 - (i - b[0]).abs());
                let dy = (j - b[1]).abs().min(36 - (j - b[1]).abs());
                let r2 = dx * dx + dy * dy + (k - b[2]).pow(2);
                if r2 <= b[3] * b[3] {
                    *v = 0.0;
                } else if r2 <= (b[3] + 1) * (b[3] + 1) && *v > 0.0 {
                    *v = 0.3;
                }
            }
        }
        (d, n)
    }

    #[test]
    fn multigrid_and_jacobi_give_the_same_tortuosity() {
        let (d, n) = porous_field();
        let field = Field { n, d: &d };
        let jacobi = super::solve(&field, 1e-10, 100_000, Preconditioner::Jacobi).unwrap();
        let mg = super::solve(&field, 1e-10, 100_000, Preconditioner::Multigrid).unwrap();
        assert!(jacobi.tau > 1.2 && jacobi.porosity < 0.8, "{jacobi:?}");
        assert!((mg.tau / jacobi.tau - 1.0).abs() < 1e-8, "{mg:?} against {jacobi:?}");
        assert_eq!(mg.porosity, jacobi.porosity);
        assert!(5 * mg.iterations < jacobi.iterations, "{mg:?} against {jacobi:?}");
        // Sealed pores are counted in ε but carry no unknown.
        assert!(operator(&field).unwrap().0.len() < d.iter().filter(|&&v| v > 0.0).count());
    }

    #[test]
    fn the_multigrid_cycle_is_symmetric_and_positive() {
        let (d, n) = porous_field();
        let mg = Multigrid::new(operator(&Field { n, d: &d }).unwrap().1);
        assert!(mg.levels() >= 3, "{} levels", mg.levels());
        let m = mg.operator().len();
        let r1: Vec<f64> = (0..m).map(|i| ((i * 7919) % 1000) as f64 / 500.0 - 1.0).collect();
        let r2: Vec<f64> = (0..m).map(|i| ((i * 104_729) % 997) as f64 / 498.5 - 1.0).collect();
        let (mut z1, mut z2) = (vec![0.0; m], vec![0.0; m]);
        let mut w = mg.workspace();
        mg.apply(&r1, &mut z1, &mut w);
        mg.apply(&r2, &mut z2, &mut w);
        let (a12, a21) = (dot(&z1, &r2), dot(&r1, &z2));
        assert!((a12 - a21).abs() < 1e-10 * a12.abs().max(1.0), "{a12} against {a21}");
        assert!(dot(&z1, &r1) > 0.0 && dot(&z2, &r2) > 0.0);
    }

    #[test]
    fn a_blocked_film_has_no_flux() {
        let t = solve([4, 4, 6], |_, _, k| if k == 3 { 0.0 } else { 1.0 });
        assert_eq!(t.d_eff, 0.0);
        assert!(t.tau.is_infinite());
    }
}
