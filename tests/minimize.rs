//! FIRE minimisation: analytic minima, overlap removal, and a built slurry.

mod common;

use etwin::sim::forcefield::hertz_history::HertzHistory;
use etwin::sim::forcefield::lj_sf::{LjCoeff, LjSf};
use etwin::sim::forcefield::reference::ReferenceModel;
use etwin::sim::forcefield::{ForceField, PairStyle};
use etwin::sim::minimize::{fire, FireParams, Stop};
use etwin::sim::particles::{sphere_mass, Particles};
use etwin::sim::simbox::SimBox;
use etwin::sim::system::{StepSettings, System};
use etwin::slurry::placement::initial_slurry;
use etwin::slurry::recipe::{Formulation, SizeClass};

fn two(r: f64, styles: Vec<Box<dyn PairStyle>>, radius: f64) -> System {
    let mut p = Particles::default();
    p.push(1, 1, [5.0, 5.0, 5.0], radius, sphere_mass(radius, 1.0));
    p.push(2, 1, [5.0 + r, 5.0, 5.0], radius, sphere_mass(radius, 1.0));
    let b = SimBox::orthogonal([0.0; 3], [20.0; 3], [true; 3]);
    let mut sys = System::new(p, b, ForceField::new("t", styles), StepSettings::default()).unwrap();
    sys.setup().unwrap();
    sys
}

fn separation(sys: &System) -> f64 {
    let d = sys.simbox.minimum_image([
        sys.particles.x[0][0] - sys.particles.x[1][0],
        sys.particles.x[0][1] - sys.particles.x[1][1],
        sys.particles.x[0][2] - sys.particles.x[1][2],
    ]);
    (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
}

#[test]
fn lj_dimer_relaxes_to_the_analytic_minimum() {
    let (eps, sigma, rc) = (0.5, 1.0, 2.5);
    let mut sys = two(1.3, vec![Box::new(LjSf::mixed(&[(eps, sigma, rc)]))], 0.1);
    let rep = fire(
        &mut sys,
        &FireParams {
            force_tol: 1e-10,
            ..Default::default()
        },
    );
    assert_eq!(rep.stop, Stop::Converged, "{rep:?}");
    // The shifted-force minimum: F_LJ(r) = F_LJ(r_c), found by bisection.
    let lo = common::shifted_force_minimum(&LjCoeff::new(eps, sigma, rc), 1.0, 2.0);
    let r = separation(&sys);
    assert!((r - lo).abs() < 1e-8, "r = {r}, analytic {lo}");
    assert!(rep.energy_final_fj < rep.energy_initial_fj);
    assert_eq!(sys.particles.v, vec![[0.0; 3]; 2]);
}

#[test]
fn overlapping_hertz_spheres_are_pushed_apart() {
    let law = HertzHistory {
        kn: 100.0,
        kt: 137.8,
        gamma_n: 30.0,
        gamma_t: 28.8,
        xmu: 0.1,
    };
    let mut sys = two(1.2, vec![Box::new(law)], 1.0);
    let rep = fire(
        &mut sys,
        &FireParams {
            force_tol: 1e-9,
            ..Default::default()
        },
    );
    assert_eq!(rep.stop, Stop::Converged, "{rep:?}");
    assert!(separation(&sys) > 2.0 - 1e-6, "r = {}", separation(&sys));
    assert!(rep.energy_final_fj < 1e-12);
}

fn recipe() -> Formulation {
    Formulation {
        am_material: "NMC111".into(),
        am_density: 4.65,
        am_wt_fraction: 0.96,
        cbd_wt_fraction: 0.04,
        solid_content: 0.69,
        dry_mass_ug: 0.01,
        psd: [2.5, 3.5, 4.5, 5.86, 8.28, 10.35]
            .iter()
            .zip([0.184, 0.230, 0.162, 0.144, 0.207, 0.073])
            .map(|(&diameter, number_fraction)| SizeClass {
                diameter,
                number_fraction,
            })
            .collect(),
        cbd_dry_diameter: 1.3,
        cbd_nanoporosity: 0.5,
        cbd_skeleton_density: 1.8,
    }
}

/// A built slurry, squeezed so that its spheres overlap, relaxes below the force tolerance
/// with falling energy, and identically on 1 and 2 threads.
#[test]
fn compressed_slurry_relaxes_identically_on_1_and_2_threads() {
    let model = ReferenceModel::from_vector("set A", etwin::bench::SET_A);
    let run = || {
        let (mut d, counts) = initial_slurry(&recipe(), &model, 0.2, 1.0, 3).unwrap();
        // Squeeze by 25 % per axis: many overlaps.
        let s = 0.75;
        for x in &mut d.particles.x {
            x.iter_mut().for_each(|c| *c *= s);
        }
        d.simbox.lo = d.simbox.lo.map(|v| v * s);
        d.simbox.hi = d.simbox.hi.map(|v| v * s);
        let mut sys = System::new(d.particles, d.simbox, model.build().unwrap(), StepSettings::default()).unwrap();
        sys.setup().unwrap();
        let contacts0 = sys.summary.contacts;
        let rep = fire(
            &mut sys,
            &FireParams {
                force_tol: 1e-4,
                ..Default::default()
            },
        );
        let bits: Vec<u64> = sys.particles.x.iter().flat_map(|x| x.map(f64::to_bits)).collect();
        (rep, contacts0, counts, bits)
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(run);
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap()
        .install(run);
    let (rep, contacts0, counts, bits) = one;
    eprintln!(
        "{} AM + {} CBD, {contacts0} contacts at start: {rep:?}",
        counts.am_total(),
        counts.cbd
    );
    assert!(contacts0 > 100, "the squeezed start must overlap");
    assert_eq!(rep.stop, Stop::Converged);
    assert!(rep.max_force_nn < 1e-4);
    assert!(rep.energy_final_fj < 0.01 * rep.energy_initial_fj);
    assert!(bits == two.3, "minimised positions differ between 1 and 2 threads");
}
