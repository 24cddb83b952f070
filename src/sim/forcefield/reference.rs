//! The reference slurry force field (Lombardo et al. 2020 / ARTISTIC) as a RON file:
//! the 8 fitted parameters plus the fixed ones, turned into per-type sphere properties
//! and pair-style coefficients exactly as the reference LAMMPS inputs set them.
//!
//! Types: 1 = CBD bead, 2.. = active-material size classes in `fixed.am_diameters` order.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{style_builder, ForceField, StyleParams, TypeProps, PAIR_STYLES};
use crate::error::{Error, Result};
use crate::io::text::{locate_key, ron_error};
use crate::sim::particles::Particles;

/// Parameters that the fit does not move. Defaults are the reference's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FixedParams {
    /// Nominal AM diameters of types 2, 3, … [µm].
    pub am_diameters: Vec<f64>,
    /// Contact diameter / nominal diameter for AM, and AM r_c / d [-].
    pub contact_factor: f64,
    /// AM density [g/cm³].
    pub rho_am: f64,
    /// CBD–CBD LJ σ [µm].
    pub sigma_cb: f64,
    /// CBD–CBD LJ cutoff [µm].
    pub rc_cb: f64,
    /// K_t / K_n [-].
    pub kt_over_kn: f64,
    /// γ_t / γ_n [-].
    pub gamma_t_over_gamma_n: f64,
}

impl Default for FixedParams {
    fn default() -> Self {
        FixedParams {
            am_diameters: vec![2.5, 3.5, 4.5, 5.86, 8.28, 10.35],
            contact_factor: 1.14,
            rho_am: 4.65,
            sigma_cb: 1.1,
            rc_cb: 2.2,
            kt_over_kn: 1.378,
            gamma_t_over_gamma_n: 0.959,
        }
    }
}

fn default_version() -> u32 {
    1
}

fn default_styles() -> Vec<String> {
    vec!["lj/sf".into(), "gran/hertz/history".into()]
}

/// The reference model's 8 fitted parameters (P1…P8 of the PSO study) and fixed ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceModel {
    /// File format version (1).
    #[serde(default = "default_version")]
    pub version: u32,
    /// A name for reports.
    pub name: String,
    /// P1: AM well depth per µm of nominal diameter, ε_i = eps_am·d_i [fJ/µm].
    pub eps_am: f64,
    /// P2: AM σ per nominal diameter, σ_i = w_sigma·d_i [-].
    pub w_sigma: f64,
    /// P3: CBD well depth per µm of bead diameter, ε_CB = eps_cb·d_cbd [fJ/µm].
    pub eps_cb: f64,
    /// P4: CBD bead (contact) diameter [µm].
    pub d_cbd: f64,
    /// P5: CBD bead density [g/cm³].
    pub rho_cbd: f64,
    /// P6: Hertz normal stiffness K_n [nN/µm²].
    pub kn: f64,
    /// P7: normal damping γ_n [1/(µs·µm)].
    pub gamma_n: f64,
    /// P8: friction coefficient x_u [-].
    pub xu: f64,
    /// Parameters held fixed.
    #[serde(default)]
    pub fixed: FixedParams,
    /// Overlaid pair styles, by registered name.
    #[serde(default = "default_styles")]
    pub pair_styles: Vec<String>,
}

impl ReferenceModel {
    /// The parameter vector (P1…P8) in the reference's order.
    pub fn vector(&self) -> [f64; 8] {
        [
            self.eps_am,
            self.w_sigma,
            self.eps_cb,
            self.d_cbd,
            self.rho_cbd,
            self.kn,
            self.gamma_n,
            self.xu,
        ]
    }

    /// Sets the parameter vector (P1…P8); the fixed parameters stay.
    pub fn set_vector(&mut self, p: [f64; 8]) {
        [
            self.eps_am,
            self.w_sigma,
            self.eps_cb,
            self.d_cbd,
            self.rho_cbd,
            self.kn,
            self.gamma_n,
            self.xu,
        ] = p;
    }

    /// Builds a model from a parameter vector with the default fixed parameters.
    pub fn from_vector(name: &str, p: [f64; 8]) -> Self {
        let mut m = ReferenceModel {
            version: 1,
            name: name.into(),
            eps_am: 0.0,
            w_sigma: 0.0,
            eps_cb: 0.0,
            d_cbd: 0.0,
            rho_cbd: 0.0,
            kn: 0.0,
            gamma_n: 0.0,
            xu: 0.0,
            fixed: FixedParams::default(),
            pair_styles: default_styles(),
        };
        m.set_vector(p);
        m
    }

    pub fn n_types(&self) -> usize {
        1 + self.fixed.am_diameters.len()
    }

    /// Per-type (ε [fJ], σ [µm], r_c [µm]) of `lj/sf`, type 1 first.
    pub fn lj_per_type(&self) -> Vec<(f64, f64, f64)> {
        let f = &self.fixed;
        let mut v = vec![(self.eps_cb * self.d_cbd, f.sigma_cb, f.rc_cb)];
        for &d in &f.am_diameters {
            v.push((self.eps_am * d, self.w_sigma * d, f.contact_factor * d));
        }
        v
    }

    /// Per-type contact diameter and density, type 1 first.
    pub fn type_props(&self) -> Vec<TypeProps> {
        let f = &self.fixed;
        let mut v = vec![TypeProps {
            diameter: self.d_cbd,
            density: self.rho_cbd,
        }];
        for &d in &f.am_diameters {
            v.push(TypeProps {
                diameter: f.contact_factor * d,
                density: f.rho_am,
            });
        }
        v
    }

    /// Range checks; returns the offending key, what is wrong, and a hint.
    pub fn check(&self) -> std::result::Result<(), (&'static str, String, String)> {
        let positive = [
            ("eps_am", self.eps_am),
            ("w_sigma", self.w_sigma),
            ("eps_cb", self.eps_cb),
            ("d_cbd", self.d_cbd),
            ("rho_cbd", self.rho_cbd),
            ("kn", self.kn),
            ("contact_factor", self.fixed.contact_factor),
            ("rho_am", self.fixed.rho_am),
            ("sigma_cb", self.fixed.sigma_cb),
            ("rc_cb", self.fixed.rc_cb),
        ];
        for (k, v) in positive {
            if !(v > 0.0 && v.is_finite()) {
                return Err((
                    k,
                    format!("{v} must be a finite number > 0"),
                    "see the unit in the file's comments".into(),
                ));
            }
        }
        let non_negative = [
            ("gamma_n", self.gamma_n),
            ("xu", self.xu),
            ("kt_over_kn", self.fixed.kt_over_kn),
            ("gamma_t_over_gamma_n", self.fixed.gamma_t_over_gamma_n),
        ];
        for (k, v) in non_negative {
            if !(v >= 0.0 && v.is_finite()) {
                return Err((
                    k,
                    format!("{v} must be a finite number ≥ 0"),
                    "0 switches the term off".into(),
                ));
            }
        }
        if self.version != 1 {
            return Err((
                "version",
                format!("unsupported version {}", self.version),
                "this build reads version 1".into(),
            ));
        }
        if self.fixed.am_diameters.is_empty() {
            return Err((
                "am_diameters",
                "empty list".into(),
                "give at least one AM size class in µm".into(),
            ));
        }
        if let Some(d) = self.fixed.am_diameters.iter().find(|d| !(**d > 0.0 && d.is_finite())) {
            return Err((
                "am_diameters",
                format!("diameter {d} must be > 0"),
                "diameters are in µm".into(),
            ));
        }
        for s in &self.pair_styles {
            if style_builder(s).is_none() {
                let names: Vec<&str> = PAIR_STYLES.iter().map(|(n, _)| *n).collect();
                return Err((
                    "pair_styles",
                    format!("unknown pair style \"{s}\""),
                    format!("registered styles: {}", names.join(", ")),
                ));
            }
        }
        if self.pair_styles.is_empty() {
            return Err((
                "pair_styles",
                "no pair style".into(),
                "e.g. [\"lj/sf\", \"gran/hertz/history\"]".into(),
            ));
        }
        Ok(())
    }

    /// Parses RON text; `file` names the source in errors.
    pub fn from_ron_str(src: &str, file: &str) -> Result<Self> {
        let m: ReferenceModel =
            ron::from_str(src).map_err(|e| ron_error(&e, src, file, "a ReferenceModel(...) force-field file"))?;
        m.check().map_err(|(key, what, hint)| Error::Value {
            at: locate_key(src, key, file),
            key: key.into(),
            what,
            hint,
        })?;
        Ok(m)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let src = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_ron_str(&src, &path.display().to_string())
    }

    /// The force field: registered styles plus per-type diameters and densities.
    pub fn build(&self) -> Result<ForceField> {
        if let Err((key, what, hint)) = self.check() {
            return Err(Error::Setup(format!(
                "force field `{}`: {key}: {what} ({hint})",
                self.name
            )));
        }
        let mut styles = Vec::new();
        for n in &self.pair_styles {
            let build = style_builder(n).ok_or_else(|| Error::Setup(format!("unknown pair style {n}")))?;
            let params = StyleParams {
                model: self,
                materials: None,
            };
            styles.push(build(&params).map_err(|e| Error::Setup(format!("force field `{}`: {e}", self.name)))?);
        }
        let mut ff = ForceField::new(self.name.clone(), styles);
        ff.types = self.type_props().into_iter().map(Some).collect();
        Ok(ff)
    }
}

/// AM + CBD mass [pg] with the AM at its nominal size and CBD beads as they are (type 1);
/// `am_factor` is the simulated AM diameter over the nominal one (the slurry's contact
/// factor), whose cube the AM masses are divided by. Over the volume, this is the slurry
/// density the reference reports: its PSO log matches it, not the recipe's slurry mass
/// (see the README's protocol study).
pub fn nominal_mass(p: &Particles, am_factor: f64) -> f64 {
    let am_scale3 = am_factor.powi(-3);
    (0..p.len())
        .map(|k| {
            if p.kind[k] == 1 {
                p.mass[k]
            } else {
                am_scale3 * p.mass[k]
            }
        })
        .sum()
}
