//! Every bundled file under scenarios/ loads and runs.

use std::path::Path;

use etwin::io::lammps_data::DataFile;
use etwin::sim::forcefield::reference::ReferenceModel;
use etwin::sim::system::{StepSettings, System};

#[test]
fn bundled_forcefields_run_the_demo_slurry() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let data = DataFile::read(&root.join("structures/demo_slurry.data")).unwrap();
    let mut n = 0;
    for entry in std::fs::read_dir(root.join("forcefields")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "ron") {
            continue;
        }
        let model = ReferenceModel::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut sys = System::new(
            data.particles.clone(),
            data.simbox,
            model.build().unwrap(),
            StepSettings::default(),
        )
        .unwrap();
        sys.setup().unwrap();
        let p0 = sys.momentum();
        sys.run(200, &mut []);
        let t = sys.thermo();
        assert!(
            t.pe_fj.is_finite() && t.ke_trans_fj.is_finite() && t.pressure_scalar_kpa.is_finite(),
            "{}",
            path.display()
        );
        assert!(t.contacts > 1000, "{}: the demo slurry is in contact", path.display());
        let p1 = sys.momentum();
        let scale: f64 = (0..sys.particles.len())
            .map(|k| sys.particles.mass[k] * sys.particles.v[k].iter().map(|v| v * v).sum::<f64>().sqrt())
            .sum();
        for c in 0..3 {
            assert!((p1[c] - p0[c]).abs() <= 1e-12 * scale, "{}: momentum", path.display());
        }
        n += 1;
    }
    assert!(n >= 2, "both reference parameter sets are bundled");
}

#[test]
fn bundled_forcefields_are_the_golden_parameter_sets() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/forcefields");
    let a = ReferenceModel::load(&root.join("lombardo2020_best.ron")).unwrap();
    let b = ReferenceModel::load(&root.join("lombardo2020_start.ron")).unwrap();
    assert_eq!(a.vector(), etwin::bench::SET_A);
    assert_eq!(b.vector(), etwin::bench::SET_B);
    assert_eq!(a.fixed, Default::default());
    assert_eq!(b.fixed, Default::default());
}
