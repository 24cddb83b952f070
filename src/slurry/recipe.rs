//! Recipe → particle counts, with the reference workflow's arithmetic:
//!
//! * dry AM mass = w_AM · m_dry, CBD mass = w_CBD · m_dry;
//! * V_AM = m_AM / ρ_AM; V_CBD = m_CBD / ρ_CBD,dry with ρ_CBD,dry = (1 − φ_nano) ρ_skeleton;
//! * n_AM = round(V_AM / Σ p_i v_i) over size classes (number fractions p_i, sphere volumes
//!   v_i of the nominal diameters), then n_i = round(n_AM p_i);
//! * n_CBD = round(V_CBD / v_dry bead);
//! * solvent mass = (1 − s) m_dry / s for solid content s; a wet bead lumps its share of
//!   CBD + solvent mass: m_wet = (m_CBD + m_solvent) / n_CBD.

use serde::{Deserialize, Serialize};

/// One active-material size class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeClass {
    /// Nominal diameter [µm], > 0.
    pub diameter: f64,
    /// Number fraction [-], 0..1; the fractions of all classes sum to 1.
    pub number_fraction: f64,
}

/// What goes into the slurry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Formulation {
    /// Active-material name (for reports), e.g. "NMC111".
    pub am_material: String,
    /// AM density [g/cm³], default 4.65 (NMC111).
    #[serde(default = "default_am_density")]
    pub am_density: f64,
    /// AM mass fraction of the dry electrode [-], e.g. 0.96.
    pub am_wt_fraction: f64,
    /// CBD (carbon + binder) mass fraction of the dry electrode [-], e.g. 0.04.
    pub cbd_wt_fraction: f64,
    /// Solid content: dry mass / slurry mass [-], 0 < s < 1, e.g. 0.69.
    pub solid_content: f64,
    /// Simulated dry mass [µg].
    pub dry_mass_ug: f64,
    /// AM size classes (up to 10).
    pub psd: Vec<SizeClass>,
    /// Dry CBD agglomerate diameter [µm], default 1.3.
    #[serde(default = "default_cbd_dry_diameter")]
    pub cbd_dry_diameter: f64,
    /// CBD nano-porosity [-], default 0.5.
    #[serde(default = "default_cbd_nanoporosity")]
    pub cbd_nanoporosity: f64,
    /// Density of the CBD skeleton (carbon black + PVdF) [g/cm³], default 1.8.
    #[serde(default = "default_cbd_skeleton_density")]
    pub cbd_skeleton_density: f64,
}

fn default_am_density() -> f64 {
    4.65
}
fn default_cbd_dry_diameter() -> f64 {
    1.3
}
fn default_cbd_nanoporosity() -> f64 {
    0.5
}
fn default_cbd_skeleton_density() -> f64 {
    1.8
}

/// Particle counts and the masses behind them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// AM particles per size class, in `psd` order.
    pub am: Vec<usize>,
    /// CBD beads.
    pub cbd: usize,
    /// Dry CBD density (1 − φ_nano)·ρ_skeleton [g/cm³].
    pub cbd_dry_density: f64,
    /// AM, CBD and solvent mass [pg].
    pub am_mass_pg: f64,
    pub cbd_mass_pg: f64,
    pub solvent_mass_pg: f64,
    /// Mass of one wet bead (CBD + its share of solvent) [pg].
    pub wet_bead_mass_pg: f64,
}

impl Counts {
    pub fn am_total(&self) -> usize {
        self.am.iter().sum()
    }

    /// Wet bead diameter [µm] that carries the wet bead mass at density `rho_wet` [g/cm³].
    pub fn wet_bead_diameter(&self, rho_wet: f64) -> f64 {
        (6.0 * self.wet_bead_mass_pg / (std::f64::consts::PI * rho_wet)).cbrt()
    }
}

/// A recipe problem: the key at fault and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipeError {
    pub key: String,
    /// Index of the size class at fault, for keys inside `psd`.
    pub index: Option<usize>,
    pub what: String,
    pub hint: String,
}

fn sphere_volume(d: f64) -> f64 {
    std::f64::consts::PI * d * d * d / 6.0
}

/// Mass fractions must add up to 1 within this tolerance.
const SUM_TOL: f64 = 1e-6;

impl Formulation {
    /// Range and consistency checks.
    pub fn check(&self) -> Result<(), RecipeError> {
        let err = |key: &str, what: String, hint: &str| {
            Err(RecipeError {
                key: key.into(),
                index: None,
                what,
                hint: hint.into(),
            })
        };
        let class_err = |index: usize, key: &str, what: String, hint: &str| {
            Err(RecipeError {
                key: key.into(),
                index: Some(index),
                what,
                hint: hint.into(),
            })
        };
        let unit_interval = [
            ("am_wt_fraction", self.am_wt_fraction),
            ("cbd_wt_fraction", self.cbd_wt_fraction),
        ];
        for (k, v) in unit_interval {
            if !(0.0..=1.0).contains(&v) {
                return err(
                    k,
                    format!("{v} is outside 0..1"),
                    "mass fractions, e.g. 0.96 for 96 wt %",
                );
            }
        }
        if (self.am_wt_fraction + self.cbd_wt_fraction - 1.0).abs() > SUM_TOL {
            return err(
                "cbd_wt_fraction",
                format!(
                    "am_wt_fraction + cbd_wt_fraction = {}",
                    self.am_wt_fraction + self.cbd_wt_fraction
                ),
                "the dry electrode is AM + CBD: the two fractions sum to 1",
            );
        }
        if !(self.solid_content > 0.0 && self.solid_content < 1.0) {
            return err(
                "solid_content",
                format!("{} is not in (0, 1)", self.solid_content),
                "dry mass / slurry mass, e.g. 0.69",
            );
        }
        if !(self.cbd_nanoporosity >= 0.0 && self.cbd_nanoporosity < 1.0) {
            return err(
                "cbd_nanoporosity",
                format!("{} is not in [0, 1)", self.cbd_nanoporosity),
                "e.g. 0.5",
            );
        }
        for (k, v) in [
            ("am_density", self.am_density),
            ("dry_mass_ug", self.dry_mass_ug),
            ("cbd_dry_diameter", self.cbd_dry_diameter),
            ("cbd_skeleton_density", self.cbd_skeleton_density),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return err(k, format!("{v} must be > 0"), "see the unit in the documentation");
            }
        }
        if self.psd.is_empty() || self.psd.len() > 10 {
            return err(
                "psd",
                format!("{} size classes", self.psd.len()),
                "give 1 to 10 classes",
            );
        }
        for (k, c) in self.psd.iter().enumerate() {
            if !(c.diameter > 0.0 && c.diameter.is_finite()) {
                let what = format!("diameter {} must be > 0", c.diameter);
                return class_err(k, "diameter", what, "AM diameters in µm");
            }
            if !(0.0..=1.0).contains(&c.number_fraction) {
                let what = format!("{} is outside 0..1", c.number_fraction);
                return class_err(k, "number_fraction", what, "number fractions");
            }
        }
        let sum: f64 = self.psd.iter().map(|c| c.number_fraction).sum();
        if (sum - 1.0).abs() > SUM_TOL {
            return err(
                "psd",
                format!("the number fractions sum to {sum}"),
                "they must sum to 1",
            );
        }
        Ok(())
    }

    /// Particle counts (call [`Formulation::check`] first).
    pub fn counts(&self) -> Counts {
        let dry_mass_pg = self.dry_mass_ug * 1e6;
        let am_mass = self.am_wt_fraction * dry_mass_pg;
        let cbd_mass = self.cbd_wt_fraction * dry_mass_pg;
        let am_volume = am_mass / self.am_density;
        let cbd_dry_density = (1.0 - self.cbd_nanoporosity) * self.cbd_skeleton_density;
        let cbd_volume = cbd_mass / cbd_dry_density;
        let mean_volume: f64 = self
            .psd
            .iter()
            .map(|c| c.number_fraction * sphere_volume(c.diameter))
            .sum();
        let n_am = (am_volume / mean_volume).round();
        let am = self
            .psd
            .iter()
            .map(|c| (n_am * c.number_fraction).round() as usize)
            .collect();
        let cbd = (cbd_volume / sphere_volume(self.cbd_dry_diameter)).round() as usize;
        let solvent = (1.0 - self.solid_content) * dry_mass_pg / self.solid_content;
        Counts {
            am,
            cbd,
            cbd_dry_density,
            am_mass_pg: am_mass,
            cbd_mass_pg: cbd_mass,
            solvent_mass_pg: solvent,
            wet_bead_mass_pg: if cbd > 0 {
                (cbd_mass + solvent) / cbd as f64
            } else {
                0.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nmc() -> Formulation {
        Formulation {
            am_material: "NMC111".into(),
            am_density: 4.65,
            am_wt_fraction: 0.96,
            cbd_wt_fraction: 0.04,
            solid_content: 0.69,
            dry_mass_ug: 0.1,
            psd: vec![
                SizeClass {
                    diameter: 4.0,
                    number_fraction: 0.5,
                },
                SizeClass {
                    diameter: 8.0,
                    number_fraction: 0.5,
                },
            ],
            cbd_dry_diameter: 1.3,
            cbd_nanoporosity: 0.5,
            cbd_skeleton_density: 1.8,
        }
    }

    #[test]
    fn counts_follow_the_reference_arithmetic() {
        let c = nmc().counts();
        // AM: 96,000 pg / 4.65 = 20,645.16 µm³; mean class volume (33.51 + 268.08)/2 = 150.80 µm³
        // → n_AM = round(136.9) = 137 → 68.5 → 69 per class (round half away from zero).
        assert_eq!(c.am, vec![69, 69]);
        // CBD: 4,000 pg / 0.9 = 4,444.4 µm³; bead 1.1503 µm³ → 3,863.8 → 3,864.
        assert_eq!(c.cbd, 3864);
        assert!((c.cbd_dry_density - 0.9).abs() < 1e-15);
        // Solvent: (1 − 0.69)/0.69 · 100,000 pg.
        assert!((c.solvent_mass_pg - 0.31 / 0.69 * 1e5).abs() < 1e-6);
        let wet = (4000.0 + 0.31 / 0.69 * 1e5) / 3864.0;
        assert!((c.wet_bead_mass_pg - wet).abs() < 1e-9);
        // At the reference's wet density 0.05 g/cm³ the bead is ≈ 6.5 µm, close to its 6.2.
        let d = c.wet_bead_diameter(0.05);
        assert!((d - (6.0 * wet / (std::f64::consts::PI * 0.05)).cbrt()).abs() < 1e-12 && d > 5.0 && d < 8.0);
    }

    #[test]
    fn inconsistent_recipes_are_rejected_with_the_key() {
        let mut f = nmc();
        f.cbd_wt_fraction = 0.05;
        assert_eq!(f.check().unwrap_err().key, "cbd_wt_fraction");
        let mut f = nmc();
        f.psd[0].number_fraction = 0.6;
        assert_eq!(f.check().unwrap_err().key, "psd");
        let mut f = nmc();
        f.solid_content = 1.0;
        assert_eq!(f.check().unwrap_err().key, "solid_content");
        let mut f = nmc();
        f.psd[1].diameter = -8.0;
        assert_eq!(f.check().unwrap_err().key, "diameter");
        assert!(nmc().check().is_ok());
    }
}
