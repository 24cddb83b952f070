//! Random non-overlapping placement of the slurry's spheres in a dilute periodic box
//! (random sequential addition, largest first, seeded, on a cell grid).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::io::lammps_data::DataFile;
use crate::sim::forcefield::reference::ReferenceModel;
use crate::sim::particles::{sphere_mass, Particles};
use crate::sim::simbox::SimBox;
use crate::slurry::recipe::{Counts, Formulation};

/// Attempts per sphere before giving up.
const MAX_ATTEMPTS: usize = 100_000;

/// Places `spheres` (type, radius [µm], density [g/cm³]) without overlap in `simbox`
/// (periodic on every axis). Ids follow the input order; deterministic for a seed.
pub fn place(spheres: &[(u32, f64, f64)], simbox: SimBox, seed: u64) -> Result<Particles, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rmax = spheres.iter().map(|s| s.1).fold(0.0, f64::max);
    let l = simbox.lengths();
    let image = simbox.image_map();
    let dims = l.map(|v| ((v / (2.0 * rmax)).floor() as usize).clamp(1, 512));
    let mut cells: Vec<Vec<usize>> = vec![Vec::new(); dims[0] * dims[1] * dims[2]];
    let cell_of = |x: [f64; 3]| -> [usize; 3] {
        std::array::from_fn(|a| ((((x[a] - simbox.lo[a]) / l[a]) * dims[a] as f64) as usize).min(dims[a] - 1))
    };
    // Largest first: they are the hardest to fit; ids keep the input order.
    let mut order: Vec<usize> = (0..spheres.len()).collect();
    order.sort_by(|&a, &b| spheres[b].1.total_cmp(&spheres[a].1).then(a.cmp(&b)));
    let mut pos = vec![[0.0; 3]; spheres.len()];
    for &k in &order {
        let r = spheres[k].1;
        let mut placed = false;
        for _ in 0..MAX_ATTEMPTS {
            let x: [f64; 3] = std::array::from_fn(|a| simbox.lo[a] + rng.random::<f64>() * l[a]);
            let c = cell_of(x);
            let mut free = true;
            'search: for dz in [dims[2] - 1, 0, 1] {
                for dy in [dims[1] - 1, 0, 1] {
                    for dx in [dims[0] - 1, 0, 1] {
                        let cc = [(c[0] + dx) % dims[0], (c[1] + dy) % dims[1], (c[2] + dz) % dims[2]];
                        for &o in &cells[(cc[2] * dims[1] + cc[1]) * dims[0] + cc[0]] {
                            let d = image.apply([x[0] - pos[o][0], x[1] - pos[o][1], x[2] - pos[o][2]]);
                            let rs = r + spheres[o].1;
                            if d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < rs * rs {
                                free = false;
                                break 'search;
                            }
                        }
                    }
                }
            }
            if free {
                pos[k] = x;
                cells[(c[2] * dims[1] + c[1]) * dims[0] + c[0]].push(k);
                placed = true;
                break;
            }
        }
        if !placed {
            return Err(format!(
                "could not place sphere {} of radius {r} µm without overlap after {MAX_ATTEMPTS} attempts; \
                 the box is too dense: lower the solid fraction of the initial box",
                k + 1
            ));
        }
    }
    let mut p = Particles::default();
    for (k, &(t, r, rho)) in spheres.iter().enumerate() {
        p.push(k as u64 + 1, t, pos[k], r, sphere_mass(r, rho));
    }
    Ok(p)
}

/// The initial slurry: counts from the recipe, sizes and densities from the force field
/// (type 1 = wet CBD bead, types 2.. = AM classes), in a cubic-footprint box of height
/// `aspect` × width whose spheres fill `volume_fraction` of it.
pub fn initial_slurry(
    f: &Formulation,
    model: &ReferenceModel,
    volume_fraction: f64,
    aspect: f64,
    seed: u64,
) -> Result<(DataFile, Counts), String> {
    let am_d = &model.fixed.am_diameters;
    let psd_d: Vec<f64> = f.psd.iter().map(|c| c.diameter).collect();
    if am_d.len() != psd_d.len() || am_d.iter().zip(&psd_d).any(|(a, b)| (a - b).abs() > 1e-9 * a.abs()) {
        return Err(format!(
            "the recipe's AM diameters {psd_d:?} µm differ from the force field's {am_d:?} µm; \
             the force field defines one type per AM size class"
        ));
    }
    if !(volume_fraction > 0.0 && volume_fraction < 0.5 && aspect > 0.0) {
        return Err(format!(
            "initial volume fraction {volume_fraction} must be in (0, 0.5), aspect {aspect} > 0"
        ));
    }
    let counts = f.counts();
    let props = model.type_props();
    let mut spheres = Vec::new();
    for _ in 0..counts.cbd {
        spheres.push((1, 0.5 * props[0].diameter, props[0].density));
    }
    for (c, &n) in counts.am.iter().enumerate() {
        for _ in 0..n {
            spheres.push((c as u32 + 2, 0.5 * props[c + 1].diameter, props[c + 1].density));
        }
    }
    let solid: f64 = spheres
        .iter()
        .map(|s| 4.0 / 3.0 * std::f64::consts::PI * s.1.powi(3))
        .sum();
    let volume = solid / volume_fraction;
    let width = (volume / aspect).cbrt();
    let h = 0.5 * width;
    let simbox = SimBox::orthogonal([-h, -h, -0.5 * aspect * width], [h, h, 0.5 * aspect * width], [true; 3]);
    let particles = place(&spheres, simbox, seed)?;
    Ok((
        DataFile {
            title: format!(
                "initial slurry: {} AM + {} CBD, seed {seed} (electrode-twin)",
                counts.am_total(),
                counts.cbd
            ),
            n_types: props.len() as u32,
            simbox,
            particles,
            has_velocities: false,
        },
        counts,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_has_no_overlap_and_is_reproducible() {
        let spheres: Vec<(u32, f64, f64)> = (0..600)
            .map(|k| (1 + (k % 3) as u32, [0.65, 1.5, 3.0][k % 3], 1.0))
            .collect();
        let b = SimBox::orthogonal([0.0; 3], [60.0; 3], [true; 3]);
        let p = place(&spheres, b, 9).unwrap();
        let img = b.image_map();
        for i in 0..p.len() {
            for j in i + 1..p.len() {
                let d = img.apply([p.x[i][0] - p.x[j][0], p.x[i][1] - p.x[j][1], p.x[i][2] - p.x[j][2]]);
                let rs = p.radius[i] + p.radius[j];
                assert!(d.iter().map(|v| v * v).sum::<f64>() >= rs * rs, "{i} and {j} overlap");
            }
        }
        assert_eq!(p.x, place(&spheres, b, 9).unwrap().x);
        assert_ne!(p.x, place(&spheres, b, 10).unwrap().x);
        // Too dense: a clear error, no hang.
        let b = SimBox::orthogonal([0.0; 3], [8.0; 3], [true; 3]);
        assert!(place(&spheres, b, 9).unwrap_err().contains("too dense"));
    }
}
