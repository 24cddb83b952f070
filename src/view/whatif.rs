//! The viewer's what-if settings: formulation and process values with units and valid
//! ranges, applied to a loaded scenario before a live run, and the map's prediction for them.

use crate::error::{Error, Result};
use crate::map::model::{MapModel, ValuePrediction};
use crate::scenario::calendering::{Target, Tool};
use crate::scenario::drying::{DryingMode, Freeze, Heterogeneous};
use crate::scenario::quantity::Q;
use crate::scenario::{Loaded, Scenario};
use crate::view::frame::Stage;

/// One slider: name, unit and valid range.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub name: &'static str,
    pub unit: &'static str,
    pub min: f64,
    pub max: f64,
}

pub const AM: Range = Range {
    name: "AM content",
    unit: "wt %",
    min: 80.0,
    max: 98.0,
};
pub const SOLIDS: Range = Range {
    name: "solid content (S-to-L)",
    unit: "%",
    min: 40.0,
    max: 85.0,
};
pub const GAP: Range = Range {
    name: "comma gap",
    unit: "µm",
    min: 50.0,
    max: 400.0,
};
pub const RSF: Range = Range {
    name: "top-zone shrink factor",
    unit: "-",
    min: 1.0,
    max: 3.0,
};
pub const COMPRESSION: Range = Range {
    name: "compression",
    unit: "%",
    min: 5.0,
    max: 60.0,
};
pub const TOOL_SPEED: Range = Range {
    name: "roll / plate speed",
    unit: "m/s",
    min: 0.002,
    max: 0.2,
};

/// Number-fraction presets of the scenario's AM size classes (the diameters are the force
/// field's types and stay).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Psd {
    Scenario,
    /// Weighted toward the smallest class.
    Fine,
    /// Weighted toward the largest class.
    Coarse,
}

impl Psd {
    pub const ALL: [Psd; 3] = [Psd::Scenario, Psd::Fine, Psd::Coarse];
    pub fn name(self) -> &'static str {
        match self {
            Psd::Scenario => "as in the scenario",
            Psd::Fine => "fine",
            Psd::Coarse => "coarse",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WhatIf {
    /// AM share of the dry mass [wt %]; CBD is the rest.
    pub am_pct: f64,
    /// Solid content [%] (the map's S-to-L ratio: solid mass share of the slurry).
    pub solids_pct: f64,
    pub psd: Psd,
    /// Comma gap [µm]: a map input only (the simulated film is a representative volume).
    pub gap_um: f64,
    /// Binder migration on (3 zones, RSF 1, (1 + top)/2, top), else homogeneous drying.
    pub heterogeneous: bool,
    pub rsf_top: f64,
    /// Calendering compression of the dried thickness [%].
    pub compression_pct: f64,
    /// Tool speed [m/s] (= µm/µs).
    pub tool_speed: f64,
    /// The last stage a live run goes through (the scenario's later stages are dropped).
    pub last_stage: Stage,
}

impl WhatIf {
    /// The scenario's own values (defaults where it has no such stage).
    pub fn from_scenario(s: &Scenario) -> WhatIf {
        let f = &s.formulation;
        let d = s.protocol.drying.as_ref();
        let c = s.protocol.calendering.as_ref();
        let (heterogeneous, rsf_top) = match d.map(|d| &d.mode) {
            Some(DryingMode::Heterogeneous(h)) => (true, h.shrink_factors.last().copied().unwrap_or(1.0)),
            _ => (false, 1.8),
        };
        WhatIf {
            am_pct: 100.0 * f.am_wt_fraction,
            solids_pct: 100.0 * f.solid_content,
            psd: Psd::Scenario,
            gap_um: 200.0,
            heterogeneous,
            rsf_top,
            compression_pct: match c.map(|c| &c.target) {
                Some(Target::Compression(x)) => 100.0 * x,
                _ => 30.0,
            },
            tool_speed: c.map_or(0.02, |c| c.tool_speed.get()),
            last_stage: if c.is_some() {
                Stage::Calendering
            } else if d.is_some() {
                Stage::Drying
            } else {
                Stage::Slurry
            },
        }
    }

    /// Every value clamped into its range.
    pub fn clamped(&self) -> WhatIf {
        let c = |v: f64, r: Range| v.clamp(r.min, r.max);
        WhatIf {
            am_pct: c(self.am_pct, AM),
            solids_pct: c(self.solids_pct, SOLIDS),
            gap_um: c(self.gap_um, GAP),
            rsf_top: c(self.rsf_top, RSF),
            compression_pct: c(self.compression_pct, COMPRESSION),
            tool_speed: c(self.tool_speed, TOOL_SPEED),
            ..self.clone()
        }
    }

    /// The scenario with these settings (the stages it lacks stay absent).
    pub fn apply(&self, l: &mut Loaded) -> Result<()> {
        let w = self.clamped();
        let s = &mut l.scenario;
        let f = &mut s.formulation;
        f.am_wt_fraction = w.am_pct / 100.0;
        f.cbd_wt_fraction = 1.0 - f.am_wt_fraction;
        f.solid_content = w.solids_pct / 100.0;
        let n = f.psd.len();
        if n > 1 && w.psd != Psd::Scenario {
            // Linear weights by size rank, 1…n toward the coarse or the fine end, normalized.
            let mut by_size: Vec<usize> = (0..n).collect();
            by_size.sort_by(|&a, &b| f.psd[a].diameter.total_cmp(&f.psd[b].diameter));
            let total = (n * (n + 1) / 2) as f64;
            for (rank, &k) in by_size.iter().enumerate() {
                let weight = if w.psd == Psd::Fine { n - rank } else { rank + 1 };
                f.psd[k].number_fraction = weight as f64 / total;
            }
        }
        if let Some(d) = s.protocol.drying.as_mut() {
            d.mode = if w.heterogeneous {
                let freeze = match &d.mode {
                    DryingMode::Heterogeneous(h) => h.freeze,
                    DryingMode::Homogeneous => Freeze::Fraction(0.8),
                };
                DryingMode::Heterogeneous(Heterogeneous {
                    shrink_factors: vec![1.0, 0.5 * (1.0 + w.rsf_top), w.rsf_top],
                    freeze,
                })
            } else {
                DryingMode::Homogeneous
            };
        }
        if let Some(c) = s.protocol.calendering.as_mut() {
            c.target = Target::Compression(w.compression_pct / 100.0);
            c.tool_speed = Q::new(w.tool_speed);
            if let Tool::Roll { across_speed, .. } = &mut c.tool {
                if across_speed.get() != 0.0 {
                    *across_speed = Q::new(w.tool_speed);
                }
            }
        }
        if w.last_stage == Stage::Slurry {
            s.protocol.drying = None;
        }
        if w.last_stage != Stage::Calendering {
            s.protocol.calendering = None;
        }
        s.check()
            .map_err(|e| Error::Setup(format!("{}: with the viewer's settings: {e}", l.path.display())))
    }
}

/// The map's prediction for the what-if settings.
#[derive(Debug, Clone)]
pub struct MapAnswer {
    /// Viscosity at the coating shear rate [Pa·s].
    pub viscosity: ValuePrediction,
    /// [mg/cm²]
    pub mass_loading: ValuePrediction,
    /// Dried porosity [%].
    pub porosity: ValuePrediction,
    pub mass_loading_class: &'static str,
    pub porosity_class: &'static str,
    /// Inputs outside the training data's range.
    pub extrapolated: Vec<String>,
}

/// Predicts from (AM %, solid content %, gap) through the map's viscosity model; a model
/// trained without the gap cannot answer.
pub fn query(m: &MapModel, w: &WhatIf) -> Result<MapAnswer> {
    let vm = m.viscosity.as_ref().ok_or_else(|| {
        Error::Setup(
            "this map was trained without the comma gap, so it cannot predict the viscosity\n  hint: etwin map train --data FILE (with the gap column) --out out/map.json"
                .into(),
        )
    })?;
    let viscosity = vm.predict(&[w.am_pct, w.solids_pct, w.gap_um]);
    let x = [w.am_pct, w.solids_pct, viscosity.value, w.gap_um];
    Ok(MapAnswer {
        viscosity,
        mass_loading: m.mass_loading.predict(&x),
        porosity: m.porosity.predict(&x),
        mass_loading_class: m.mass_loading_class.predict(&x).class,
        porosity_class: m.porosity_class.predict(&x).class,
        extrapolated: m.outside_domain(&x),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn chain() -> Loaded {
        Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/chain_quick.ron")).unwrap()
    }

    #[test]
    fn settings_round_trip_and_reach_the_scenario() {
        let mut l = chain();
        let w0 = WhatIf::from_scenario(&l.scenario);
        assert!((w0.am_pct - 96.0).abs() < 1e-9 && (w0.compression_pct - 30.0).abs() < 1e-9);
        let w = WhatIf {
            am_pct: 90.0,
            solids_pct: 60.0,
            psd: Psd::Coarse,
            heterogeneous: true,
            rsf_top: 2.0,
            compression_pct: 40.0,
            tool_speed: 0.05,
            ..w0
        };
        assert_eq!(w0.last_stage, Stage::Calendering);
        w.apply(&mut l).unwrap();
        let f = &l.scenario.formulation;
        assert!((f.am_wt_fraction - 0.9).abs() < 1e-12 && (f.cbd_wt_fraction - 0.1).abs() < 1e-12);
        assert!((f.solid_content - 0.6).abs() < 1e-12);
        let fr: Vec<f64> = f.psd.iter().map(|c| c.number_fraction).collect();
        assert!(fr.windows(2).all(|p| p[1] > p[0]) && (fr.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(WhatIf::from_scenario(&l.scenario).rsf_top, 2.0);
        let c = l.scenario.protocol.calendering.as_ref().unwrap();
        assert_eq!(c.target, Target::Compression(0.4));
        assert_eq!(c.tool_speed.get(), 0.05);
        let mut slurry_only = chain();
        WhatIf {
            last_stage: Stage::Slurry,
            ..w.clone()
        }
        .apply(&mut slurry_only)
        .unwrap();
        let p = &slurry_only.scenario.protocol;
        assert!(p.drying.is_none() && p.calendering.is_none() && p.nemd.is_some());
        // Out-of-range values are clamped, never passed on.
        let wild = WhatIf { am_pct: 150.0, ..w };
        assert_eq!(wild.clamped().am_pct, AM.max);
    }
}
