//! Simulation box: orthogonal or triclinic (LAMMPS convention), periodic or walled per axis.
//!
//! The cell vectors are a = (lx, 0, 0), b = (xy, ly, 0), c = (xz, yz, lz), the LAMMPS
//! restricted triclinic form. A deforming box (Lees–Edwards shear) changes `tilt` in time.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SimBox {
    /// Lower corner [µm].
    pub lo: [f64; 3],
    /// Upper corner [µm] (of the orthogonal bounding extents lx, ly, lz).
    pub hi: [f64; 3],
    /// Tilt factors (xy, xz, yz) [µm]; all zero for an orthogonal box.
    pub tilt: [f64; 3],
    /// Periodicity per axis; a non-periodic axis is bounded by walls or left open.
    pub periodic: [bool; 3],
}

impl SimBox {
    pub fn orthogonal(lo: [f64; 3], hi: [f64; 3], periodic: [bool; 3]) -> Self {
        SimBox {
            lo,
            hi,
            tilt: [0.0; 3],
            periodic,
        }
    }

    /// Scales the box about its centre along `axes` by `mu` (tilts scale with the lengths
    /// they tilt along); returns the centre, about which positions scale as
    /// x ← c + mu (x − c).
    pub fn scale_about_centre(&mut self, axes: &[usize], mu: f64) -> [f64; 3] {
        let centre: [f64; 3] = std::array::from_fn(|a| 0.5 * (self.lo[a] + self.hi[a]));
        for &a in axes {
            self.lo[a] = centre[a] + mu * (self.lo[a] - centre[a]);
            self.hi[a] = centre[a] + mu * (self.hi[a] - centre[a]);
        }
        // xy belongs to the b vector (scales with y); xz, yz to c (scale with z).
        if axes.contains(&1) {
            self.tilt[0] *= mu;
        }
        if axes.contains(&2) {
            self.tilt[1] *= mu;
            self.tilt[2] *= mu;
        }
        centre
    }

    /// Edge lengths lx, ly, lz [µm].
    #[inline]
    pub fn lengths(&self) -> [f64; 3] {
        [
            self.hi[0] - self.lo[0],
            self.hi[1] - self.lo[1],
            self.hi[2] - self.lo[2],
        ]
    }

    pub fn is_triclinic(&self) -> bool {
        self.tilt != [0.0; 3]
    }

    /// Volume [µm³].
    pub fn volume(&self) -> f64 {
        let l = self.lengths();
        l[0] * l[1] * l[2]
    }

    /// Distances between opposite faces [µm]; the largest sphere that fits has this diameter.
    pub fn perpendicular_widths(&self) -> [f64; 3] {
        let [lx, ly, lz] = self.lengths();
        let [xy, xz, yz] = self.tilt;
        let v = lx * ly * lz;
        // |b × c| and |c × a| for the restricted triclinic cell; |a × b| = lx·ly.
        let bxc = ((ly * lz).powi(2) + (xy * lz).powi(2) + (xy * yz - ly * xz).powi(2)).sqrt();
        let cxa = lx * (lz * lz + yz * yz).sqrt();
        [v / bxc, v / cxa, lz]
    }

    /// The narrowest of the [`SimBox::perpendicular_widths`] along the periodic ones of
    /// `axes` [µm] (∞ where none is periodic).
    pub fn narrowest_periodic_width(&self, axes: &[usize]) -> f64 {
        let w = self.perpendicular_widths();
        axes.iter()
            .filter(|&&a| self.periodic[a])
            .map(|&a| w[a])
            .fold(f64::INFINITY, f64::min)
    }

    /// The point at fractional coordinates `s` (inverse of [`SimBox::to_fractional`]).
    pub fn from_fractional(&self, s: [f64; 3]) -> [f64; 3] {
        let [lx, ly, lz] = self.lengths();
        let [xy, xz, yz] = self.tilt;
        [
            self.lo[0] + s[0] * lx + s[1] * xy + s[2] * xz,
            self.lo[1] + s[1] * ly + s[2] * yz,
            self.lo[2] + s[2] * lz,
        ]
    }

    /// Fractional coordinates of a point, 0..1 inside the box.
    #[inline]
    pub fn to_fractional(&self, x: [f64; 3]) -> [f64; 3] {
        let [lx, ly, lz] = self.lengths();
        let [xy, xz, yz] = self.tilt;
        let s2 = (x[2] - self.lo[2]) / lz;
        let s1 = (x[1] - self.lo[1] - yz * s2) / ly;
        let s0 = (x[0] - self.lo[0] - xy * s1 - xz * s2) / lx;
        [s0, s1, s2]
    }

    /// Minimum-image separation vector. Exact for any displacement along periodic axes,
    /// valid as the nearest image while |tilt| ≤ half the edge it tilts along.
    #[inline]
    pub fn minimum_image(&self, d: [f64; 3]) -> [f64; 3] {
        self.image_map().apply(d)
    }

    /// The minimum-image map with its lengths precomputed, for loops over many pairs.
    #[inline]
    pub fn image_map(&self) -> ImageMap {
        ImageMap {
            l: self.lengths(),
            tilt: self.tilt,
            periodic: self.periodic,
        }
    }

    /// Maps a position back into the box along periodic axes, counting the image shifts.
    #[inline]
    pub fn wrap(&self, x: &mut [f64; 3], image: &mut [i32; 3]) {
        let [lx, ly, lz] = self.lengths();
        let [xy, xz, yz] = self.tilt;
        let s = self.to_fractional(*x);
        if self.periodic[2] {
            let n = s[2].floor();
            if n != 0.0 {
                x[2] -= n * lz;
                x[1] -= n * yz;
                x[0] -= n * xz;
                image[2] += n as i32;
            }
        }
        let s = self.to_fractional(*x);
        if self.periodic[1] {
            let n = s[1].floor();
            if n != 0.0 {
                x[1] -= n * ly;
                x[0] -= n * xy;
                image[1] += n as i32;
            }
        }
        let s = self.to_fractional(*x);
        if self.periodic[0] {
            let n = s[0].floor();
            if n != 0.0 {
                x[0] -= n * lx;
                image[0] += n as i32;
            }
        }
    }

    /// Checks the box is usable with a neighbour list reaching `reach` [µm] (interaction
    /// range + skin): every periodic width must exceed it, or a particle would reach its own
    /// image. (A width below twice the reach is fine: the list then holds every image of a
    /// partner within reach.)
    pub fn check(&self, reach: f64) -> Result<(), String> {
        let l = self.lengths();
        if l.iter().any(|&v| !(v > 0.0 && v.is_finite())) {
            return Err(format!("box edges must be positive and finite, got {l:?} µm"));
        }
        let [xy, xz, yz] = self.tilt;
        if xy.abs() > 0.5 * l[0] + 1e-12 || xz.abs() > 0.5 * l[0] + 1e-12 || yz.abs() > 0.5 * l[1] + 1e-12 {
            return Err(format!(
                "box tilt (xy, xz, yz) = {:?} µm exceeds half the edge it tilts along; flip the box first",
                self.tilt
            ));
        }
        let w = self.perpendicular_widths();
        for k in 0..3 {
            if self.periodic[k] && reach >= w[k] {
                return Err(format!(
                    "periodic box width {:.6} µm along axis {} is not more than the neighbour reach {:.6} µm \
                     (interaction range + skin): a particle would interact with its own image; use a larger box",
                    w[k],
                    ["x", "y", "z"][k],
                    reach
                ));
            }
        }
        Ok(())
    }
}

/// Minimum image of separation vectors in one box (see [`SimBox::minimum_image`]).
#[derive(Debug, Clone, Copy)]
pub struct ImageMap {
    l: [f64; 3],
    tilt: [f64; 3],
    periodic: [bool; 3],
}

impl ImageMap {
    #[inline]
    pub fn apply(&self, d: [f64; 3]) -> [f64; 3] {
        self.apply_counted(d).0
    }

    /// The minimum image and the number of a (x), b (y) and c (z) cell vectors removed.
    #[inline]
    pub fn apply_counted(&self, mut d: [f64; 3]) -> ([f64; 3], [f64; 3]) {
        let mut count = [0.0; 3];
        let [lx, ly, lz] = self.l;
        let [xy, xz, yz] = self.tilt;
        if self.periodic[2] {
            let n = images(d[2], lz);
            if n != 0.0 {
                d[2] -= n * lz;
                d[1] -= n * yz;
                d[0] -= n * xz;
                count[2] = n;
            }
        }
        if self.periodic[1] {
            let n = images(d[1], ly);
            if n != 0.0 {
                d[1] -= n * ly;
                d[0] -= n * xy;
                count[1] = n;
            }
        }
        if self.periodic[0] {
            let n = images(d[0], lx);
            if n != 0.0 {
                d[0] -= n * lx;
                count[0] = n;
            }
        }
        (d, count)
    }

    /// The byte naming an image of at most one cell vector along each axis, `None` beyond.
    pub fn code(count: [f64; 3]) -> Option<u8> {
        count
            .iter()
            .rev()
            .try_fold(0u8, |acc, &n| (n.abs() <= 1.0).then(|| 3 * acc + (n + 1.0) as u8))
    }

    /// The cell vectors (n_a, n_b, n_c) an image code removes: the inverse of
    /// [`ImageMap::code`].
    #[inline]
    pub fn periods(code: usize) -> [f64; 3] {
        [code % 3, code / 3 % 3, code / 9].map(|v| v as f64 - 1.0)
    }

    /// The separation shift n_a a + n_b b + n_c c of every image code, and n_b (for the
    /// Lees–Edwards velocity offset), in the current box.
    pub fn shifts(&self) -> ImageShifts {
        let [lx, ly, lz] = self.l;
        let [xy, xz, yz] = self.tilt;
        let mut t = ImageShifts {
            shift: [[0.0; 3]; 27],
            nb: [0.0; 27],
        };
        for code in 0..27 {
            let [na, nb, nc] = Self::periods(code);
            t.shift[code] = [na * lx + nb * xy + nc * xz, nb * ly + nc * yz, nc * lz];
            t.nb[code] = nb;
        }
        t
    }
}

/// Separation shifts of the 27 image codes (see [`ImageMap::code`]).
#[derive(Debug, Clone, Copy)]
pub struct ImageShifts {
    pub shift: [[f64; 3]; 27],
    pub nb: [f64; 27],
}

/// Number of periods to remove from `d` (nearest integer of d/l). The branch spares most
/// pairs a call to `round`, which is a library call on baseline x86-64.
#[inline(always)]
fn images(d: f64, l: f64) -> f64 {
    if d.abs() <= 0.5 * l {
        0.0
    } else {
        (d / l).round()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_and_minimum_image_agree_in_a_triclinic_box() {
        let b = SimBox {
            lo: [-1.0, 0.0, 2.0],
            hi: [9.0, 8.0, 14.0],
            tilt: [3.0, -2.0, 1.5],
            periodic: [true; 3],
        };
        let mut x = [25.3, -17.2, 40.1];
        let orig = x;
        let mut img = [0; 3];
        b.wrap(&mut x, &mut img);
        let s = b.to_fractional(x);
        assert!(s.iter().all(|&v| (0.0..1.0).contains(&v)), "{s:?}");
        // Unwrapping with the image counts recovers the original point.
        let [lx, ly, lz] = b.lengths();
        let [xy, xz, yz] = b.tilt;
        let u = [
            x[0] + img[0] as f64 * lx + img[1] as f64 * xy + img[2] as f64 * xz,
            x[1] + img[1] as f64 * ly + img[2] as f64 * yz,
            x[2] + img[2] as f64 * lz,
        ];
        for k in 0..3 {
            assert!((u[k] - orig[k]).abs() < 1e-12);
        }
        let d = b.minimum_image([orig[0] - x[0], orig[1] - x[1], orig[2] - x[2]]);
        assert!(d.iter().all(|v| v.abs() < 1e-12), "{d:?}");
    }

    #[test]
    fn perpendicular_widths_of_orthogonal_box_are_edges() {
        let b = SimBox::orthogonal([0.0; 3], [2.0, 3.0, 4.0], [true; 3]);
        let w = b.perpendicular_widths();
        assert_eq!(w, [2.0, 3.0, 4.0]);
        assert!(b.check(1.99).is_ok());
        assert!(b.check(2.0).is_err());
    }
}
