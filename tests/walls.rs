//! Granular plane walls: analytic contact force, elastic and damped bounces, the
//! sliding-to-rolling transition (v → 5/7 v₀), history across reordering, bad setups, and
//! the step's stability limit with wall contacts alone.

use etwin::sim::forcefield::hertz_history::HertzHistory;
use etwin::sim::forcefield::ForceField;
use etwin::sim::particles::{sphere_mass, Particles};
use etwin::sim::simbox::SimBox;
use etwin::sim::system::{StepSettings, System};
use etwin::sim::wall::{Side, Wall};

const LAW: HertzHistory = HertzHistory {
    kn: 2e4,
    kt: 2e4 * 2.0 / 7.0,
    gamma_n: 0.0,
    gamma_t: 0.0,
    xmu: 0.0,
};

/// One sphere (r = 1, ρ = 2) in a box walled in z (periodic in x, y).
fn one_sphere(z: f64, v: [f64; 3], law: HertzHistory, settings: StepSettings) -> System {
    let mut p = Particles::default();
    p.push(1, 1, [5.0, 5.0, z], 1.0, sphere_mass(1.0, 2.0));
    p.v[0] = v;
    let b = SimBox::orthogonal([0.0; 3], [10.0, 10.0, 10.0], [true, true, false]);
    let ff = ForceField::new("none", vec![]);
    let mut sys = System::new(p, b, ff, settings).unwrap();
    sys.add_wall(Wall::new(2, Side::Lo, 0.0, law)).unwrap();
    sys.add_wall(Wall::new(2, Side::Hi, 10.0, law)).unwrap();
    sys.setup().unwrap();
    sys
}

#[test]
fn wall_contact_force_is_hertz_with_infinite_partner() {
    let delta: f64 = 0.03;
    for (z, sign) in [(1.0 - delta, 1.0), (9.0 + delta, -1.0)] {
        let sys = one_sphere(z, [0.0; 3], LAW, StepSettings::default());
        let expected = LAW.kn * delta * (delta * 1.0).sqrt();
        let fz = sys.particles.f[0][2];
        assert!(
            (fz - sign * expected).abs() < 1e-12 * expected,
            "z={z}: {fz} vs {}",
            sign * expected
        );
        let w = &sys.walls[if sign > 0.0 { 0 } else { 1 }];
        assert_eq!(w.force_on_wall[2], -fz, "reaction on the wall");
    }
}

#[test]
fn elastic_bounce_returns_the_speed_and_damped_bounce_loses_some() {
    let settings = StepSettings {
        dt: 1e-4,
        ..Default::default()
    };
    let mut sys = one_sphere(2.0, [0.0, 0.0, -1.0], LAW, settings);
    sys.run(25_000, &mut []);
    let vz = sys.particles.v[0][2];
    assert!(sys.particles.x[0][2] > 1.0, "left the wall");
    assert!((vz - 1.0).abs() < 1e-6, "elastic rebound speed {vz}");

    let damped = HertzHistory { gamma_n: 30.0, ..LAW };
    let mut sys = one_sphere(2.0, [0.0, 0.0, -1.0], damped, settings);
    sys.run(25_000, &mut []);
    let e = sys.particles.v[0][2];
    eprintln!("coefficient of restitution with γ_n = 30: {e:.4}");
    assert!(e > 0.05 && e < 0.95, "restitution {e}");
}

/// A sphere launched sliding without spin on a frictional floor under gravity ends up
/// rolling at v = 5/7 v₀ (angular momentum about the contact point is conserved).
#[test]
fn sliding_sphere_rolls_at_five_sevenths_of_its_speed() {
    let law = HertzHistory {
        kn: 2e5,
        kt: 2e5 * 2.0 / 7.0,
        gamma_n: 50.0,
        gamma_t: 50.0,
        xmu: 0.3,
    };
    let g = 5.0;
    let settings = StepSettings {
        dt: 2e-5,
        gravity: [0.0, 0.0, -g],
        ..Default::default()
    };
    // Start resting at the static overlap so the normal force settles fast.
    let m = sphere_mass(1.0, 2.0);
    let delta = (m * g / law.kn).powf(2.0 / 3.0);
    let v0 = 0.5;
    let mut sys = one_sphere(1.0 - delta, [v0, 0.0, 0.0], law, settings);
    sys.run(100_000, &mut []);
    let v = sys.particles.v[0][0];
    let w = sys.particles.omega[0][1];
    eprintln!("v/v0 = {:.5} (5/7 = {:.5}), ω r / v = {:.5}", v / v0, 5.0 / 7.0, w / v);
    assert!((v / v0 - 5.0 / 7.0).abs() < 0.005, "final speed {v}");
    assert!(
        (w * 1.0 / v - 1.0).abs() < 0.01,
        "rolling without slipping: ω r = {w}, v = {v}"
    );
}

#[test]
fn wall_history_follows_particle_reordering() {
    let law = HertzHistory {
        kn: 2e4,
        kt: 5e3,
        gamma_n: 10.0,
        gamma_t: 10.0,
        xmu: 0.5,
    };
    let make = || {
        let mut p = Particles::default();
        for (k, x) in [2.0, 5.0, 8.0].into_iter().enumerate() {
            p.push(k as u64 + 1, 1, [x, 5.0, 0.98], 1.0, sphere_mass(1.0, 2.0));
            p.v[k] = [0.1 * (k as f64 + 1.0), 0.05, 0.0];
        }
        let b = SimBox::orthogonal([0.0; 3], [10.0; 3], [true, true, false]);
        let settings = StepSettings {
            dt: 1e-4,
            gravity: [0.0, 0.0, -1.0],
            sort: false,
            ..Default::default()
        };
        let mut sys = System::new(p, b, ForceField::new("none", vec![]), settings).unwrap();
        sys.add_wall(Wall::new(2, Side::Lo, 0.0, law)).unwrap();
        sys.setup().unwrap();
        sys.run(50, &mut []);
        sys
    };
    let mut a = make();
    let mut b = make();
    a.reorder_particles(&[2, 0, 1]);
    a.run(200, &mut []);
    b.run(200, &mut []);
    for id in 1..=3u64 {
        let ka = a.particles.id.iter().position(|&x| x == id).unwrap();
        let kb = b.particles.id.iter().position(|&x| x == id).unwrap();
        assert_eq!(a.particles.x[ka], b.particles.x[kb], "id {id}");
        assert_eq!(a.particles.omega[ka], b.particles.omega[kb], "id {id}");
        assert_eq!(a.walls[0].history[ka], b.walls[0].history[kb], "id {id}");
    }
    assert!(
        a.walls[0].history.iter().any(|h| h != &[0.0; 4]),
        "the test needs wall shear history"
    );
}

#[test]
fn walls_need_non_periodic_untilted_faces() {
    let b = SimBox::orthogonal([0.0; 3], [10.0; 3], [true; 3]);
    let mut sys = System::new(
        Particles::default(),
        b,
        ForceField::new("none", vec![]),
        StepSettings::default(),
    )
    .unwrap();
    let e = sys.add_wall(Wall::new(2, Side::Lo, 0.0, LAW)).unwrap_err();
    assert!(e.to_string().contains("non-periodic"), "{e}");
    let tilted = SimBox {
        tilt: [1.0, 0.0, 0.0],
        periodic: [false, true, true],
        ..b
    };
    let mut sys = System::new(
        Particles::default(),
        tilted,
        ForceField::new("none", vec![]),
        StepSettings::default(),
    )
    .unwrap();
    assert!(sys.add_wall(Wall::new(0, Side::Lo, 0.0, LAW)).is_err());
}

/// One sphere (r = 1, ρ = 2) pressed between z walls 1.8 apart (overlap 0.1 on each side, the
/// forces balanced), Hertz with damping `gamma_n`, kicked along z. No pair touches: only the
/// walls can make the step unstable. Its period-two number is dt γ_n h + dt² 3/4 K_n h / m
/// (h = √(δ r)): each wall adds (dt² 3/2 K_n h + 2 dt m γ_n h)/m to the eigenvalue, over 4.
#[test]
fn wall_contacts_alone_make_the_step_unstable_where_the_number_passes_one() {
    use etwin::sim::stability::{check, period_two_number};
    let (dt, h, m) = (1e-3, 0.1f64.sqrt(), sphere_mass(1.0, 2.0));
    let gamma_for = |number: f64| (number - dt * dt * 0.75 * LAW.kn * h / m) / (dt * h);
    for target in [0.9, 0.98, 1.02, 1.1] {
        let law = HertzHistory {
            gamma_n: gamma_for(target),
            ..LAW
        };
        let mut p = Particles::default();
        p.push(1, 1, [5.0, 5.0, 0.9], 1.0, m);
        p.v[0] = [0.0, 0.0, 1e-6];
        let b = SimBox::orthogonal([0.0; 3], [10.0, 10.0, 1.8], [true, true, false]);
        let settings = StepSettings {
            dt,
            ..Default::default()
        };
        let mut sys = System::new(p, b, ForceField::new("none", vec![]), settings).unwrap();
        sys.add_wall(Wall::new(2, Side::Lo, 0.0, law)).unwrap();
        sys.add_wall(Wall::new(2, Side::Hi, 1.8, law)).unwrap();
        sys.setup().unwrap();
        let number = period_two_number(&sys);
        assert!((number - target).abs() < 1e-9 * target, "{number} vs {target}");
        assert_eq!(check(&sys).is_err(), target > 1.0);
        sys.run(1000, &mut []);
        let growth = sys.particles.v[0][2].abs() / 1e-6;
        if target > 1.0 {
            assert!(growth > 1e3, "number {target}: the disturbance grew only {growth}×");
        } else {
            assert!(growth < 1.0, "number {target}: the disturbance grew {growth}×");
        }
    }
}
