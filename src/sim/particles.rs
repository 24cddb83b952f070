//! Particle storage: one array per quantity (struct of arrays), all f64.

use rayon::prelude::*;

use crate::sim::integrate;

/// Spheres of the coarse-grained model. Index `k` of every array is the same particle;
/// the order changes when the neighbour list sorts particles spatially, `id` never does.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Particles {
    /// Global identifier (LAMMPS atom id), unique, ≥ 1.
    pub id: Vec<u64>,
    /// Type (species), 1-based as in LAMMPS.
    pub kind: Vec<u32>,
    /// Position [µm].
    pub x: Vec<[f64; 3]>,
    /// Velocity [µm/µs].
    pub v: Vec<[f64; 3]>,
    /// Angular velocity [rad/µs].
    pub omega: Vec<[f64; 3]>,
    /// Force [nN]: of the last force pass, except inside `System::run_with`, whose passes
    /// that kick as they go keep their forces to themselves.
    pub f: Vec<[f64; 3]>,
    /// Torque [nN·µm] (as `f`).
    pub torque: Vec<[f64; 3]>,
    /// Radius [µm] (contact radius).
    pub radius: Vec<f64>,
    /// Mass [pg].
    pub mass: Vec<f64>,
    /// Periodic image counts (how many box lengths the particle has been wrapped by).
    pub image: Vec<[i32; 3]>,
}

/// Moment of inertia of a solid sphere of mass `m` and radius `r` [pg·µm²].
#[inline]
pub fn sphere_inertia(m: f64, r: f64) -> f64 {
    0.4 * m * r * r
}

/// v ← f·v and ω ← f·ω, elementwise (flat loops, which vectorize), subnormal results
/// flushed ([`integrate::flush_subnormal`]).
fn scale_motion(v: &mut [[f64; 3]], omega: &mut [[f64; 3]], f: f64) {
    for c in v.as_flattened_mut() {
        *c = integrate::flush_subnormal(*c * f);
    }
    for c in omega.as_flattened_mut() {
        *c = integrate::flush_subnormal(*c * f);
    }
}

/// Reorders `v` so that new index `n` holds old element `perm[n]` (as [`Particles::permute`],
/// for data kept per particle elsewhere).
pub fn permute<T: Copy>(v: &mut Vec<T>, perm: &[usize]) {
    let old = std::mem::take(v);
    *v = perm.iter().map(|&k| old[k]).collect();
}

/// Mass [pg] of a sphere of radius `r` [µm] and density `rho` [g/cm³], as LAMMPS `set density`.
pub fn sphere_mass(radius: f64, density: f64) -> f64 {
    4.0 * std::f64::consts::PI / 3.0 * radius * radius * radius * density
}

impl Particles {
    pub fn len(&self) -> usize {
        self.id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }

    /// Appends a particle at rest with zero force.
    pub fn push(&mut self, id: u64, kind: u32, x: [f64; 3], radius: f64, mass: f64) {
        self.id.push(id);
        self.kind.push(kind);
        self.x.push(x);
        self.v.push([0.0; 3]);
        self.omega.push([0.0; 3]);
        self.f.push([0.0; 3]);
        self.torque.push([0.0; 3]);
        self.radius.push(radius);
        self.mass.push(mass);
        self.image.push([0; 3]);
    }

    /// Moment of inertia of particle `k` [pg·µm²] (solid sphere).
    #[inline]
    pub fn inertia(&self, k: usize) -> f64 {
        sphere_inertia(self.mass[k], self.radius[k])
    }

    /// Multiplies every velocity and angular velocity by `factor` (thermostats), in parallel:
    /// elementwise, so the same bits on any thread count.
    pub fn scale_motion(&mut self, factor: f64) {
        self.v
            .par_chunks_mut(integrate::CHUNK)
            .zip(self.omega.par_chunks_mut(integrate::CHUNK))
            .for_each(|(v, w)| scale_motion(v, w, factor));
    }

    /// Reorders every array so that new index `n` holds old particle `perm[n]`.
    pub fn permute(&mut self, perm: &[usize]) {
        permute(&mut self.id, perm);
        permute(&mut self.kind, perm);
        permute(&mut self.x, perm);
        permute(&mut self.v, perm);
        permute(&mut self.omega, perm);
        permute(&mut self.f, perm);
        permute(&mut self.torque, perm);
        permute(&mut self.radius, perm);
        permute(&mut self.mass, perm);
        permute(&mut self.image, perm);
    }

    /// Indices sorted by id (for output in a stable order).
    pub fn order_by_id(&self) -> Vec<usize> {
        let mut o: Vec<usize> = (0..self.len()).collect();
        o.sort_by_key(|&k| self.id[k]);
        o
    }

    /// Largest type number present (0 when empty).
    pub fn max_kind(&self) -> u32 {
        self.kind.iter().copied().max().unwrap_or(0)
    }
}
