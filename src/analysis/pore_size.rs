//! Pore-size distribution by local thickness (Hildebrand & Rüegsegger 1997; the "continuous
//! PSD" of Münch & Holzer 2008): each pore voxel gets the diameter of the largest sphere
//! that fits in the pore and covers it; the distribution is the pore volume by that
//! diameter.
//!
//! 1. Exact Euclidean distance transform of the pore phase to the nearest solid voxel
//!    (Felzenszwalb & Huttenlocher's separable lower envelope; x, y periodic; nothing
//!    solid beyond the z faces).
//! 2. A ball of radius EDT around every pore voxel that is not inside a neighbour's ball
//!    (the rest are the medial axis), painted largest first, so each voxel keeps the
//!    largest ball that covers it.
//!
//! Diameters are 2·EDT − 1 voxels (the ball reaches the solid voxel's face): exact for
//! slits and channels an odd number of voxels wide, one voxel short for even widths.
//! Under `RESOLVED_VOXELS` voxels a diameter is the voxel's, not the pore's: each
//! distribution says from which diameter it resolves and how much pore volume lies below.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A voxel phase field, x fastest, z slowest: `true` = pore.
pub struct PoreField<'a> {
    pub n: [usize; 3],
    /// Voxel edge [µm] (cubic voxels).
    pub h: f64,
    pub pore: &'a [bool],
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoreSizeBin {
    /// Upper edge of the bin [µm].
    pub diameter_um: f64,
    /// Share of the pore volume with a local diameter in the bin [-].
    pub volume_fraction: f64,
    /// Share with a local diameter ≤ the edge [-].
    pub cumulative: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoreSizeDistribution {
    pub voxel_um: f64,
    /// Volume-weighted mean and median local pore diameter [µm].
    pub mean_diameter_um: f64,
    pub d50_um: f64,
    /// 10 % and 90 % of the pore volume lie in pores up to these diameters [µm].
    pub d10_um: f64,
    pub d90_um: f64,
    /// Smallest diameter the voxel resolves, `RESOLVED_VOXELS` voxels [µm]: a quantile
    /// below it is the voxel's size, not the pore's.
    #[serde(default)]
    pub resolved_from_um: f64,
    /// Share of the pore volume with a local diameter below `resolved_from_um` [-].
    #[serde(default)]
    pub unresolved_fraction: f64,
    pub bins: Vec<PoreSizeBin>,
}

/// Local diameters under this many voxels are not measured. On the reference's dried
/// electrode and a calendered film, quantiles under 2 voxels moved by up to 50 % when the
/// voxel edge was halved, those of 2.5 voxels and more by at most 8 % (README, Structure
/// analysis).
pub const RESOLVED_VOXELS: f64 = 3.0;

impl PoreSizeDistribution {
    /// Whether a diameter [µm] of this distribution is above the voxel's resolution.
    pub fn resolves(&self, d_um: f64) -> bool {
        d_um >= self.resolved_from_um
    }

    /// "mean 1.434, d10 0.249*, d50 0.866, d90 4.128" [µm], with what `*` means when a
    /// figure is under the resolved diameter.
    pub fn quantiles_text(&self) -> String {
        let figures = [
            ("mean", self.mean_diameter_um),
            ("d10", self.d10_um),
            ("d50", self.d50_um),
            ("d90", self.d90_um),
        ];
        let text: Vec<String> = figures
            .iter()
            .map(|&(name, d)| format!("{name} {d:.3}{}", if self.resolves(d) { "" } else { "*" }))
            .collect();
        let note = if figures.iter().all(|&(_, d)| self.resolves(d)) {
            String::new()
        } else {
            format!(
                " (*: under {RESOLVED_VOXELS} voxels, {:.3} µm, not resolved)",
                self.resolved_from_um
            )
        };
        text.join(", ") + &note
    }
}

const FAR: f64 = 1e30;

/// 1-D squared distance transform of `f` (0 at solid, FAR at pore) in place: the lower
/// envelope of parabolas (Felzenszwalb & Huttenlocher 2012).
fn dt_1d(f: &[f64], out: &mut [f64], v: &mut [usize], z: &mut [f64]) {
    let n = f.len();
    let Some(first) = (0..n).find(|&q| f[q] < FAR) else {
        out.fill(FAR);
        return;
    };
    // Parabolas of the finite samples; z[0] = −∞ stops the pops at the first.
    let cross =
        |q: usize, p: usize| ((f[q] + (q * q) as f64) - (f[p] + (p * p) as f64)) / (2.0 * (q as f64 - p as f64));
    let mut k = 0usize;
    v[0] = first;
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    for q in (first + 1..n).filter(|&q| f[q] < FAR) {
        let mut s = cross(q, v[k]);
        while s <= z[k] {
            k -= 1;
            s = cross(q, v[k]);
        }
        k += 1;
        v[k] = q;
        z[k] = s;
        z[k + 1] = f64::INFINITY;
    }
    let mut k = 0;
    for (q, o) in out.iter_mut().enumerate() {
        while z[k + 1] < q as f64 {
            k += 1;
        }
        let d = q as f64 - v[k] as f64;
        *o = d * d + f[v[k]];
    }
}

/// Squared distance transform along one axis of `d` (in place). Periodic axes are
/// unrolled three times so distances wrap.
fn dt_axis(d: &mut [f64], n: [usize; 3], axis: usize, periodic: bool) {
    let len = n[axis];
    let stride = [1, n[0], n[0] * n[1]][axis];
    let lines: Vec<usize> = (0..d.len()).filter(|&i| (i / stride).is_multiple_of(len)).collect();
    let reps = if periodic { 3 } else { 1 };
    let results: Vec<(usize, Vec<f64>)> = lines
        .par_iter()
        .map_init(
            || {
                let m = len * reps;
                (vec![0.0; m], vec![0.0; m], vec![0usize; m], vec![0.0; m + 1])
            },
            |(f, out, v, z), &start| {
                for r in 0..reps {
                    for i in 0..len {
                        f[r * len + i] = d[start + i * stride];
                    }
                }
                dt_1d(f, out, v, z);
                let off = if periodic { len } else { 0 };
                (start, out[off..off + len].to_vec())
            },
        )
        .collect();
    for (start, line) in results {
        for (i, x) in line.into_iter().enumerate() {
            d[start + i * stride] = x;
        }
    }
}

/// Local pore diameter [voxels] of every voxel (0 for solid).
pub fn local_thickness(f: &PoreField) -> Vec<f64> {
    let n = f.n;
    let mut d2: Vec<f64> = f.pore.iter().map(|&p| if p { FAR } else { 0.0 }).collect();
    dt_axis(&mut d2, n, 0, true);
    dt_axis(&mut d2, n, 1, true);
    dt_axis(&mut d2, n, 2, false);
    let idx = |x: i64, y: i64, z: usize| -> usize {
        z * n[0] * n[1] + y.rem_euclid(n[1] as i64) as usize * n[0] + x.rem_euclid(n[0] as i64) as usize
    };
    // Centres whose ball no neighbour's ball contains (R_n ≥ R + |c − n| would; the margin
    // keeps both where rounding could make the containment a near miss).
    let centres: Vec<(f64, usize)> = (0..d2.len())
        .into_par_iter()
        .filter(|&i| f.pore[i] && d2[i] < FAR)
        .filter_map(|i| {
            let r = d2[i].sqrt();
            let (x, y, z) = ((i % n[0]) as i64, ((i / n[0]) % n[1]) as i64, i / (n[0] * n[1]));
            for dz in -1i64..=1 {
                let zz = z as i64 + dz;
                if zz < 0 || zz >= n[2] as i64 {
                    continue;
                }
                for dy in -1i64..=1 {
                    for dx in -1i64..=1 {
                        if dx == 0 && dy == 0 && dz == 0 {
                            continue;
                        }
                        let j = idx(x + dx, y + dy, zz as usize);
                        let dist = ((dx * dx + dy * dy + dz * dz) as f64).sqrt();
                        if f.pore[j] && d2[j].sqrt() >= r + dist + 1e-9 {
                            return None;
                        }
                    }
                }
            }
            Some((r, i))
        })
        .collect();
    // Each voxel takes the largest ball that covers it, whatever the order of painting: the
    // planes paint in parallel, each from the centres within reach of it.
    let plane = n[0] * n[1];
    let reach = centres.iter().fold(0.0f64, |m, c| m.max(c.0)).floor() as usize;
    let mut by_plane: Vec<Vec<(f64, usize)>> = vec![Vec::new(); n[2]];
    for &(r, i) in &centres {
        by_plane[i / plane].push((r, i));
    }
    let mut thick = vec![0.0f64; d2.len()];
    thick.par_chunks_mut(plane).enumerate().for_each(|(z, slab)| {
        let pore = &f.pore[z * plane..(z + 1) * plane];
        let near = z.saturating_sub(reach)..=(z + reach).min(n[2] - 1);
        for (zc, centres) in near.clone().zip(&by_plane[near]) {
            for &(r, i) in centres {
                let dz = z as i64 - zc as i64;
                let ri = r.floor() as i64;
                if dz.abs() > ri {
                    continue;
                }
                let dia = 2.0 * r - 1.0;
                let (x, y) = ((i % n[0]) as i64, ((i / n[0]) % n[1]) as i64);
                // The exact squared radius: (√d²)² can round below d² and lose the rim.
                let r2 = d2[i];
                for dy in -ri..=ri {
                    for dx in -ri..=ri {
                        if ((dx * dx + dy * dy + dz * dz) as f64) > r2 {
                            continue;
                        }
                        let j = idx(x + dx, y + dy, 0);
                        if pore[j] && slab[j] < dia {
                            slab[j] = dia;
                        }
                    }
                }
            }
        }
    });
    thick
}

/// The volume-weighted distribution of local pore diameters in `bins` equal bins up to the
/// largest; `None` without pore voxels.
pub fn pore_size_distribution(f: &PoreField, bins: usize) -> Option<PoreSizeDistribution> {
    let t: Vec<f64> = local_thickness(f)
        .into_iter()
        .zip(f.pore)
        .filter(|(_, &p)| p)
        .map(|(d, _)| d.max(1.0) * f.h)
        .collect();
    if t.is_empty() {
        return None;
    }
    let mut sorted = t.clone();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| sorted[((p * sorted.len() as f64) as usize).min(sorted.len() - 1)];
    let max = sorted[sorted.len() - 1];
    let bins = bins.max(1);
    let w = max / bins as f64;
    let mut counts = vec![0usize; bins];
    for d in &t {
        counts[((d / w).ceil() as usize).clamp(1, bins) - 1] += 1;
    }
    let total = t.len() as f64;
    let resolved_from_um = RESOLVED_VOXELS * f.h;
    let mut cum = 0.0;
    Some(PoreSizeDistribution {
        voxel_um: f.h,
        mean_diameter_um: t.iter().sum::<f64>() / total,
        d50_um: q(0.5),
        d10_um: q(0.1),
        d90_um: q(0.9),
        resolved_from_um,
        unresolved_fraction: sorted.partition_point(|&d| d < resolved_from_um) as f64 / total,
        bins: counts
            .iter()
            .enumerate()
            .map(|(k, &c)| {
                cum += c as f64 / total;
                PoreSizeBin {
                    diameter_um: (k + 1) as f64 * w,
                    volume_fraction: c as f64 / total,
                    cumulative: cum,
                }
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Solid where `solid(x, y, z)`.
    fn field(n: [usize; 3], solid: impl Fn(usize, usize, usize) -> bool) -> Vec<bool> {
        let mut v = Vec::with_capacity(n[0] * n[1] * n[2]);
        for z in 0..n[2] {
            for y in 0..n[1] {
                for x in 0..n[0] {
                    v.push(!solid(x, y, z));
                }
            }
        }
        v
    }

    #[test]
    fn the_distance_transform_is_exact_and_wraps() {
        // One solid voxel in a periodic 9 × 9 plane (one z layer): the distance to it,
        // through the nearest image.
        let n = [9, 9, 1];
        let pore = field(n, |x, y, _| x == 1 && y == 7);
        let mut d2: Vec<f64> = pore.iter().map(|&p| if p { FAR } else { 0.0 }).collect();
        dt_axis(&mut d2, n, 0, true);
        dt_axis(&mut d2, n, 1, true);
        for y in 0..9i64 {
            for x in 0..9i64 {
                let dx = (x - 1).abs().min(9 - (x - 1).abs());
                let dy = (y - 7).abs().min(9 - (y - 7).abs());
                assert_eq!(d2[(y * 9 + x) as usize], (dx * dx + dy * dy) as f64, "({x}, {y})");
            }
        }
    }

    #[test]
    fn a_slit_and_a_channel_have_their_width_as_pore_size() {
        // A slit 7 voxels wide in z between solid plates: every pore voxel 7 wide.
        let n = [12, 12, 9];
        let pore = field(n, |_, _, z| z == 0 || z == 8);
        let f = PoreField { n, h: 0.1, pore: &pore };
        let t = local_thickness(&f);
        for (i, &p) in pore.iter().enumerate() {
            if p {
                assert_eq!(t[i], 7.0, "voxel {i}");
            }
        }
        let psd = pore_size_distribution(&f, 7).unwrap();
        assert!(
            (psd.d50_um - 0.7).abs() < 1e-9 && (psd.mean_diameter_um - 0.7).abs() < 1e-9,
            "{psd:?}"
        );
        // A square channel 9 wide along z in solid: the inscribed circle, 9 voxels.
        let n = [21, 21, 6];
        let pore = field(n, |x, y, _| !((6..15).contains(&x) && (6..15).contains(&y)));
        let t = local_thickness(&PoreField { n, h: 1.0, pore: &pore });
        let centre = 10 * 21 + 10;
        assert_eq!(t[centre], 9.0);
        // Corners of the square are reached only by smaller balls.
        let corner = 6 * 21 + 6;
        assert!(t[corner] < 9.0 && t[corner] >= 1.0, "{}", t[corner]);
    }

    #[test]
    fn local_thickness_is_the_largest_covering_ball() {
        // The definition, brute force: every pore voxel's largest inscribed ball paints
        // itself on the voxels it covers, the largest wins. Scattered solids make many balls.
        let n = [18, 16, 12];
        let grains = [
            (3, 4, 2, 9),
            (12, 9, 6, 6),
            (7, 13, 10, 4),
            (15, 2, 8, 12),
            (1, 11, 5, 2),
            (9, 1, 0, 5),
        ];
        let pore = field(n, |x, y, z| {
            grains.iter().any(|&(gx, gy, gz, r2)| {
                let dx = x.abs_diff(gx).min(n[0] - x.abs_diff(gx));
                let dy = y.abs_diff(gy).min(n[1] - y.abs_diff(gy));
                dx * dx + dy * dy + z.abs_diff(gz).pow(2) <= r2
            })
        });
        let mut d2: Vec<f64> = pore.iter().map(|&p| if p { FAR } else { 0.0 }).collect();
        dt_axis(&mut d2, n, 0, true);
        dt_axis(&mut d2, n, 1, true);
        dt_axis(&mut d2, n, 2, false);
        let mut want = vec![0.0f64; pore.len()];
        for (i, &r2) in d2.iter().enumerate() {
            if !pore[i] || r2 >= FAR {
                continue;
            }
            let (x, y, z) = (i % n[0], (i / n[0]) % n[1], i / (n[0] * n[1]));
            for (j, w) in want.iter_mut().enumerate() {
                let (xj, yj, zj) = (j % n[0], (j / n[0]) % n[1], j / (n[0] * n[1]));
                let dx = x.abs_diff(xj).min(n[0] - x.abs_diff(xj));
                let dy = y.abs_diff(yj).min(n[1] - y.abs_diff(yj));
                let dz = z.abs_diff(zj);
                if pore[j] && ((dx * dx + dy * dy + dz * dz) as f64) <= r2 {
                    *w = w.max(2.0 * r2.sqrt() - 1.0);
                }
            }
        }
        let got = local_thickness(&PoreField { n, h: 1.0, pore: &pore });
        assert!(want.iter().any(|&w| w > 6.0), "the field has no large pores");
        assert_eq!(got, want);
    }

    #[test]
    fn two_pore_sizes_split_the_volume_by_their_share() {
        // Slits 3 and 11 voxels wide, stacked in z: volume shares 3/14 and 11/14.
        let n = [8, 8, 17];
        let pore = field(n, |_, _, z| z == 0 || z == 4 || z == 16);
        let psd = pore_size_distribution(&PoreField { n, h: 1.0, pore: &pore }, 11).unwrap();
        let at = |d: f64| {
            psd.bins
                .iter()
                .find(|b| (b.diameter_um - d).abs() < 1e-9)
                .unwrap()
                .volume_fraction
        };
        assert!((at(3.0) - 3.0 / 14.0).abs() < 1e-9, "{:?}", psd.bins);
        assert!((at(11.0) - 11.0 / 14.0).abs() < 1e-9);
        assert!((psd.bins.last().unwrap().cumulative - 1.0).abs() < 1e-12);
        assert_eq!(psd.unresolved_fraction, 0.0, "3 voxels are resolved");
    }

    #[test]
    fn diameters_under_three_voxels_are_flagged() {
        // Slits 1 and 5 voxels wide at 0.2 µm: a sixth of the pore volume is 0.2 µm
        // across, under the 0.6 µm the voxel resolves, and so is d10; d50 is 1 µm.
        let n = [8, 8, 9];
        let pore = field(n, |_, _, z| z == 0 || z == 2 || z == 8);
        let psd = pore_size_distribution(&PoreField { n, h: 0.2, pore: &pore }, 5).unwrap();
        assert!((psd.resolved_from_um - 0.6).abs() < 1e-12);
        assert!((psd.unresolved_fraction - 1.0 / 6.0).abs() < 1e-12, "{psd:?}");
        assert!((psd.d10_um - 0.2).abs() < 1e-12 && !psd.resolves(psd.d10_um));
        assert!((psd.d50_um - 1.0).abs() < 1e-12 && psd.resolves(psd.d50_um));
        assert_eq!(
            psd.quantiles_text(),
            "mean 0.867, d10 0.200*, d50 1.000, d90 1.000 (*: under 3 voxels, 0.600 µm, not resolved)"
        );
    }
}
