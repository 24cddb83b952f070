//! Structure characterization: analytic porosities (one sphere, a periodic lattice, two
//! overlapping spheres) to 0.1 %, convergence with voxel size, contacts, the CBD profile,
//! the reference's dried electrode, and the resolution checks of the tortuosity factor and
//! the pore sizes.

mod common;

use std::f64::consts::PI;

use etwin::analysis::structure::{characterize, AnalysisSettings, TortuositySettings, ZRange};
use etwin::sim::particles::{sphere_mass, Particles};
use etwin::sim::simbox::SimBox;

fn cube(l: f64) -> SimBox {
    SimBox::orthogonal([0.0; 3], [l; 3], [true, true, false])
}

fn settings(voxel: f64) -> AnalysisSettings {
    AnalysisSettings {
        voxel_um: voxel,
        ..Default::default()
    }
}

/// Spheres of type 2 (AM) unless `cbd`; density 2 g/cm³.
fn spheres(list: &[([f64; 3], f64)], cbd: bool) -> Particles {
    let mut p = Particles::default();
    for (k, &(x, r)) in list.iter().enumerate() {
        p.push(k as u64 + 1, if cbd { 1 } else { 2 }, x, r, sphere_mass(r, 2.0));
    }
    p
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn one_sphere_converges_to_its_volume() {
    let r = 3.0;
    let p = spheres(&[([5.0, 5.0, 5.0], r)], false);
    let exact = 4.0 / 3.0 * PI * r.powi(3);
    let mut errors = Vec::new();
    for h in [0.4, 0.2, 0.1, 0.05] {
        let c = characterize(&p, &cube(10.0), &settings(h)).unwrap();
        errors.push((h, rel(c.volume_union_um3, exact)));
    }
    eprintln!("one sphere r = 3 µm, |ΔV|/V by voxel edge: {errors:?}");
    assert!(errors.last().unwrap().1 < 1e-3, "{errors:?}");
    assert!(errors.last().unwrap().1 < errors[0].1, "{errors:?}");
    let c = characterize(&p, &cube(10.0), &settings(0.05)).unwrap();
    assert!(rel(c.porosity_union, 1.0 - exact / 1000.0) < 1e-3);
    // Plain sum, density and loading are exact.
    assert!(rel(c.porosity_sum, 1.0 - exact / 1000.0) < 1e-12);
    assert!(rel(c.density_g_cm3, 2.0 * exact / 1000.0) < 1e-12);
    assert!(rel(c.mass_loading_mg_cm2, 0.1 * 2.0 * exact / 100.0) < 1e-12);
    assert!(rel(c.thickness_um, 2.0 * r) < 1e-12);
    assert_eq!(c.active_surface_fraction, 1.0);
}

#[test]
fn periodic_lattice_wraps_across_the_sides() {
    // 4 × 4 spheres per layer, shifted so that every sphere crosses an x or y side.
    let (r, a) = (1.1, 2.5);
    let mut list = Vec::new();
    for i in 0..4 {
        for j in 0..4 {
            for k in 0..4 {
                list.push(([i as f64 * a, j as f64 * a + 0.4, 1.25 + k as f64 * a], r));
            }
        }
    }
    let c = characterize(&spheres(&list, false), &cube(10.0), &settings(0.025)).unwrap();
    let exact = 1.0 - 64.0 * 4.0 / 3.0 * PI * r.powi(3) / 1000.0;
    assert!(rel(c.porosity_union, exact) < 1e-3, "{} vs {exact}", c.porosity_union);
    assert_eq!(c.contacts.am_am, 0);
}

#[test]
fn two_overlapping_spheres_count_the_lens_once_and_touch() {
    let (r, d) = (2.0, 3.0);
    let p = spheres(&[([5.0, 5.0, 5.0], r), ([5.0 + d, 5.0, 5.0], r)], false);
    let c = characterize(&p, &cube(12.0), &settings(0.05)).unwrap();
    let lens = PI * (4.0 * r + d) * (2.0 * r - d).powi(2) / 12.0;
    let exact = 2.0 * 4.0 / 3.0 * PI * r.powi(3) - lens;
    assert!(
        rel(c.volume_union_um3, exact) < 1e-3,
        "{} vs {exact}",
        c.volume_union_um3
    );
    assert_eq!(c.contacts.am_am, 1);
    // Each sphere loses a cap of height r − d/2: active fraction 1 − (r − d/2)/(2r) = 0.875.
    assert!(
        (c.active_surface_fraction - 0.875).abs() < 2e-3,
        "{}",
        c.active_surface_fraction
    );
    assert!(rel(c.am_surface_um2, 2.0 * 4.0 * PI * r * r) < 1e-12);
    // The same pair across the periodic x side.
    let p = spheres(&[([0.5, 5.0, 5.0], r), ([12.0 - 2.0, 5.0, 5.0], r)], false);
    assert_eq!(characterize(&p, &cube(12.0), &settings(0.2)).unwrap().contacts.am_am, 1);
    // Apart: no contact.
    let p = spheres(&[([3.0, 5.0, 5.0], r), ([7.5, 5.0, 5.0], r)], false);
    assert_eq!(characterize(&p, &cube(12.0), &settings(0.2)).unwrap().contacts.am_am, 0);
}

#[test]
fn cbd_nanoporosity_and_profile() {
    let r = 2.0;
    // A CBD bead low, an AM sphere high, overlapping neither.
    let mut p = spheres(&[([5.0, 5.0, 3.0], r)], true);
    p.push(2, 2, [5.0, 5.0, 15.0], r, sphere_mass(r, 4.65));
    let s = AnalysisSettings {
        voxel_um: 0.05,
        slab_um: 10.0,
        cbd_nanoporosity: 0.5,
        z_range: ZRange::Given(0.0, 20.0),
        ..Default::default()
    };
    let c = characterize(&p, &cube(10.0), &s).unwrap();
    let v = 4.0 / 3.0 * PI * r.powi(3);
    let total = 10.0 * 10.0 * 20.0;
    assert!(rel(c.porosity, 1.0 - 1.5 * v / total) < 1e-3);
    assert!(rel(c.porosity_pores_only, 1.0 - 2.0 * v / total) < 1e-3);
    // Masses over skeletal densities: exact, no voxels.
    assert!(rel(c.porosity_geometric, 1.0 - 1.5 * v / total) < 1e-12);
    assert_eq!((c.am_particles, c.cbd_particles), (1, 1));
    assert_eq!(c.cbd_profile.len(), 2);
    let slab = 10.0 * 10.0 * 10.0;
    assert!(rel(c.cbd_profile[0].cbd_fraction, v / slab) < 1e-3);
    assert_eq!(c.cbd_profile[1].cbd_fraction, 0.0);
    assert!(rel(c.cbd_profile[1].am_fraction, v / slab) < 1e-3);
    assert_eq!(c.contacts.am_cbd, 0);
}

/// Must-show: the reference's dried thick electrode (box 26.89 × 26.89 × 150.74 µm).
/// The reference quotes 41.5 % with V_solid = 63,793 µm³: that is the plain sum of the
/// sphere volumes with the AM at the nominal class diameters (2.5 … 10.35 µm; the file
/// stores them about 2 % larger) and the CBD beads whole, over the box volume.
#[test]
fn reference_dried_electrode_porosity_conventions() {
    let Some(dir) = common::env_dir("ETWIN_DATA_DIR", "dried electrode analysis") else {
        return;
    };
    let d = etwin::io::lammps_data::DataFile::read(&dir.join("artistic_structures/thick_dried_electrode.sys")).unwrap();
    let mut last: Option<(f64, f64)> = None;
    for h in [0.4, 0.2, 0.1] {
        let c = characterize(&d.particles, &d.simbox, &settings(h)).unwrap();
        eprintln!(
            "voxel {h} µm: porosity {:.4} (nano 0.5 as pore), pores only {:.4}, plain sum {:.4}",
            c.porosity, c.porosity_pores_only, c.porosity_sum
        );
        if let Some((p, u)) = last {
            assert!((c.porosity - p).abs() < 1e-3 && (c.porosity_union - u).abs() < 1e-3);
        }
        last = Some((c.porosity, c.porosity_union));
        assert!((c.porosity_sum - 0.3825).abs() < 5e-4, "{}", c.porosity_sum);
        assert_eq!((c.am_particles, c.cbd_particles), (396, 9463));
    }
    // The reference's convention, rebuilt: nominal AM diameters + whole CBD beads.
    let nominal = [2.5, 3.5, 4.5, 5.86, 8.28, 10.35];
    let p = &d.particles;
    let v_solid: f64 = (0..p.len())
        .map(|i| {
            let r = if p.kind[i] == 1 {
                p.radius[i]
            } else {
                let d = 2.0 * p.radius[i];
                0.5 * *nominal
                    .iter()
                    .min_by(|a, b| (*a - d).abs().total_cmp(&(*b - d).abs()))
                    .unwrap()
            };
            4.0 / 3.0 * PI * r.powi(3)
        })
        .sum();
    let b = &d.simbox;
    let v_box: f64 = (0..3).map(|a| b.hi[a] - b.lo[a]).product();
    eprintln!(
        "reference convention: V_solid {v_solid:.0} µm³, porosity {:.4}",
        1.0 - v_solid / v_box
    );
    assert!((v_solid - 63_793.0).abs() < 10.0, "{v_solid}");
    assert!((1.0 - v_solid / v_box - 0.415).abs() < 1e-3);
}

/// The pore-size flag on the reference's dried electrode: what 0.5 µm voxels call resolved
/// (3 voxels and more) stays within 10 % at 0.25 µm; its d10, one voxel, is flagged and
/// was not (measured: 0.499 → 0.614 µm; d50 2.495 → 2.482, d90 4.97 → 5.14).
#[test]
fn pore_sizes_the_voxel_resolves_keep_when_it_halves() {
    let Some(dir) = common::env_dir("ETWIN_DATA_DIR", "dried electrode pore sizes") else {
        return;
    };
    let d = etwin::io::lammps_data::DataFile::read(&dir.join("artistic_structures/thick_dried_electrode.sys")).unwrap();
    let psd = |h: f64| {
        let s = AnalysisSettings {
            pore_size_bins: Some(30),
            ..settings(h)
        };
        characterize(&d.particles, &d.simbox, &s).unwrap().pore_size.unwrap()
    };
    let (coarse, fine) = (psd(0.5), psd(0.25));
    let figures =
        |p: &etwin::analysis::pore_size::PoreSizeDistribution| [p.mean_diameter_um, p.d10_um, p.d50_um, p.d90_um];
    for (c, f) in figures(&coarse).into_iter().zip(figures(&fine)) {
        eprintln!(
            "{c:.3} µm at 0.5 µm ({}), {f:.3} at 0.25 µm",
            if coarse.resolves(c) { "resolved" } else { "not resolved" }
        );
        if coarse.resolves(c) {
            assert!(rel(c, f) < 0.1, "{c} at 0.5 µm against {f} at 0.25 µm");
        }
    }
    assert!(!coarse.resolves(coarse.d10_um) && rel(coarse.d10_um, fine.d10_um) > 0.1);
    assert!(coarse.resolves(coarse.d50_um) && coarse.resolves(coarse.d90_um));
    assert!(0.0 < fine.unresolved_fraction && fine.unresolved_fraction < coarse.unresolved_fraction);
}

/// The tortuosity check: around one sphere in open space the solve at twice the voxel
/// edge agrees (resolved); in a packing whose throats are a few voxels wide it does not
/// (measured: τ 1.57 at 0.2 µm, 2.02 at 0.4 µm).
#[test]
fn the_tortuosity_check_at_twice_the_voxel_edge() {
    let with_tortuosity = |voxel_um: f64| AnalysisSettings {
        voxel_um,
        tortuosity: Some(TortuositySettings {
            voxel_um,
            ..Default::default()
        }),
        ..Default::default()
    };
    let p = spheres(&[([5.0, 5.0, 5.0], 2.0)], false);
    let c = characterize(&p, &cube(10.0), &with_tortuosity(0.25)).unwrap();
    let (fine, coarse) = (
        c.tortuosity.as_ref().unwrap().tau,
        c.tortuosity_coarse.as_ref().unwrap().tau,
    );
    assert!(
        fine > 1.0 && (coarse / fine - 1.0).abs() < 0.02,
        "τ {fine} at 0.25 µm, {coarse} at 0.5 µm"
    );
    assert_eq!(c.tortuosity_resolved(), Some(true));
    // Square-packed spheres 2 µm apart, 0.98 µm in radius, layer on layer: the pores are
    // 0.04 µm gaps and the throats between four spheres, 0.87 µm across at their waist:
    // four voxels at 0.2 µm, two at 0.4 µm.
    let mut list = Vec::new();
    for k in 0..5 {
        for j in 0..5 {
            for i in 0..5 {
                list.push(([1.0 + 2.0 * i as f64, 1.0 + 2.0 * j as f64, 1.0 + 2.0 * k as f64], 0.98));
            }
        }
    }
    let p = spheres(&list, false);
    let c = characterize(&p, &cube(10.0), &with_tortuosity(0.2)).unwrap();
    let (fine, coarse) = (
        c.tortuosity.as_ref().unwrap().tau,
        c.tortuosity_coarse.as_ref().unwrap().tau,
    );
    assert!(
        fine.is_finite() && coarse > 1.2 * fine,
        "τ {fine} at 0.2 µm, {coarse} at 0.4 µm"
    );
    assert_eq!(c.tortuosity_resolved(), Some(false));
    assert_eq!(
        characterize(&p, &cube(10.0), &settings(0.2))
            .unwrap()
            .tortuosity_resolved(),
        None
    );
}
