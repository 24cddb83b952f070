//! The calendering stage's part of a scenario (DESIGN.md §3, stage 4): a plate or a roll
//! compresses the dry film on its current collector, then retracts.

use serde::{Deserialize, Serialize};

use super::quantity::{Force, Length, Pressure, Time, Velocity, Q};
use crate::sim::forcefield::hertz_sjkr::{Material, MixingRules, PairParams};

/// A key path below `calendering`, e.g. `["materials", "cbd"]`.
type Key = &'static [&'static str];

/// Material properties in scenario units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialSpec {
    /// Young's modulus [kPa]; write e.g. "200 GPa".
    pub youngs_modulus: Q<Pressure>,
    /// Poisson ratio [-].
    pub poisson_ratio: f64,
    /// Coefficient of restitution [-], (0, 1].
    pub restitution: f64,
    /// Coulomb friction coefficient [-].
    pub friction: f64,
    /// Cohesion energy density of the simplified JKR law [kPa]; write e.g. "1e6 J/m3".
    #[serde(default)]
    pub cohesion_energy_density: Q<Pressure>,
    /// Contact pressure at which the material yields [kPa] (Thornton's elastic–perfectly
    /// plastic contact), e.g. "100 MPa"; absent = elastic (Hertz gives all compression back).
    #[serde(default)]
    pub yield_pressure: Option<Q<Pressure>>,
}

impl MaterialSpec {
    fn new(e_gpa: f64, nu: f64, restitution: f64, friction: f64, ced_j_m3: f64) -> Self {
        MaterialSpec {
            youngs_modulus: Q::new(e_gpa * 1e6),
            poisson_ratio: nu,
            restitution,
            friction,
            cohesion_energy_density: Q::new(ced_j_m3 * 1e-3),
            yield_pressure: None,
        }
    }

    /// With a yield pressure [MPa].
    fn yielding(mut self, mpa: f64) -> Self {
        self.yield_pressure = Some(Q::new(mpa * 1e3));
        self
    }

    pub fn material(&self) -> Material {
        Material {
            youngs_modulus: self.youngs_modulus.get(),
            poisson_ratio: self.poisson_ratio,
            restitution: self.restitution,
            friction: self.friction,
            cohesion_energy_density: self.cohesion_energy_density.get(),
            yield_pressure: self.yield_pressure.map_or(0.0, |p| p.get()),
        }
    }

    fn problem(&self) -> Option<String> {
        let (e, nu) = (self.youngs_modulus.get(), self.poisson_ratio);
        if !(e > 0.0 && e.is_finite()) {
            return Some(format!("youngs_modulus {e} kPa must be > 0"));
        }
        if !(nu > -1.0 && nu <= 0.5) {
            return Some(format!("poisson_ratio {nu} not in (-1, 0.5]"));
        }
        if !(self.restitution > 0.0 && self.restitution <= 1.0) {
            return Some(format!("restitution {} not in (0, 1]", self.restitution));
        }
        if !(self.friction >= 0.0 && self.friction.is_finite()) {
            return Some(format!("friction {} must be ≥ 0", self.friction));
        }
        if let Some(p) = self.yield_pressure.map(|p| p.get()) {
            if !(p > 0.0 && p.is_finite()) {
                return Some(format!(
                    "yield_pressure {p} kPa must be > 0 (leave it out for an elastic material)"
                ));
            }
        }
        let c = self.cohesion_energy_density.get();
        if !(c >= 0.0 && c.is_finite()) {
            return Some(format!("cohesion_energy_density {c} kPa must be ≥ 0"));
        }
        None
    }
}

/// The materials of the dry electrode and of the machine. Type 1 is CBD, every other type
/// AM (the model's convention). Densities come from the structure's masses.
///
/// Defaults: NMC 200 GPa / 0.3 and CBD 2 GPa / 0.5 (DESIGN.md §3), aluminium 70 GPa /
/// 0.33, steel 210 GPa / 0.3. Restitution 0.3 everywhere (a quasi-static process: damping
/// only speeds the settling). Friction and cohesion are this project's uncalibrated
/// choices: binder bridges CBD–CBD at 1e6 J/m³, AM carries 1 % of it (so, geometric mixing:
/// AM–CBD 10 %, AM–AM 1 %), the foil bonds like CBD, the roll not at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Materials {
    /// Default NMC: 200 GPa, ν 0.3, e 0.3, μ 0.3, k_c 1e4 J/m³, yielding at 300 MPa.
    pub am: MaterialSpec,
    /// Default CBD: 2 GPa, ν 0.5, e 0.3, μ 0.5, k_c 1e6 J/m³, yielding at 20 MPa.
    pub cbd: MaterialSpec,
    /// The current collector (bottom wall); default aluminium 70 GPa, ν 0.33, elastic.
    pub collector: MaterialSpec,
    /// The plate or roll; default steel 210 GPa, ν 0.3, no cohesion, elastic.
    pub tool: MaterialSpec,
    pub mixing: MixingRules,
}

impl Default for Materials {
    fn default() -> Self {
        Materials {
            am: MaterialSpec::new(200.0, 0.3, 0.3, 0.3, 1e4).yielding(300.0),
            cbd: MaterialSpec::new(2.0, 0.5, 0.3, 0.5, 1e6).yielding(20.0),
            collector: MaterialSpec::new(70.0, 0.33, 0.3, 0.5, 1e6),
            tool: MaterialSpec::new(210.0, 0.3, 0.3, 0.3, 0.0),
            mixing: MixingRules::default(),
        }
    }
}

impl Materials {
    /// The first pair of materials whose yielding contacts cohesion would fuse, as (the
    /// stickier material's key, message). On Thornton's plastic branch the repulsion grows
    /// as π p_y R* δ, the simplified-JKR pull as k_c · 2π R* δ (the lens area, to first
    /// order): with 2 k_c > p_y cohesion wins until the lens' curvature stops it at an overlap
    /// of the order of the radius (tests/calendering.rs), and cohesion alone drives every
    /// contact past yield (its elastic equilibrium lies beyond δ_y once 3 k_c > p_y). The
    /// film then collapses into itself and no relaxation converges.
    fn fusing_pair(&self) -> Option<(Key, String)> {
        let named = self.named();
        for (i, &(ka, a)) in named.iter().enumerate() {
            for &(kb, b) in &named[i..] {
                let pp = PairParams::new(&a.material(), &b.material(), &self.mixing);
                if pp.yield_pressure > 0.0 && 2.0 * pp.cohesion > pp.yield_pressure {
                    let stickier = a.cohesion_energy_density.get() >= b.cohesion_energy_density.get();
                    return Some((
                        if stickier { ka } else { kb },
                        format!(
                            "the {}–{} contact's cohesion {:.3e} J/m³ exceeds half its yield pressure {} MPa: \
                             cohesion pulls a yielding contact in faster than plasticity pushes back, until the \
                             spheres fuse",
                            ka[1],
                            kb[1],
                            pp.cohesion * 1e3,
                            pp.yield_pressure * 1e-3
                        ),
                    ));
                }
            }
        }
        None
    }

    /// Each material with its key path below `calendering`.
    fn named(&self) -> [(Key, &MaterialSpec); 4] {
        [
            (&["materials", "am"], &self.am),
            (&["materials", "cbd"], &self.cbd),
            (&["materials", "collector"], &self.collector),
            (&["materials", "tool"], &self.tool),
        ]
    }

    /// `out[t − 1]` is the material of type t, for types 1..=n_types.
    pub fn by_type(&self, n_types: usize) -> Vec<Material> {
        (1..=n_types)
            .map(|t| {
                if t == 1 {
                    self.cbd.material()
                } else {
                    self.am.material()
                }
            })
            .collect()
    }
}

/// The calendering tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Tool {
    /// A flat plate parallel to the collector.
    Plate,
    /// A cylinder along y of `radius` [µm]; with `across_speed` [µm/µs] its axis also
    /// travels along x (periodic) and it spins to roll without slip.
    Roll {
        radius: Q<Length>,
        #[serde(default)]
        across_speed: Q<Velocity>,
    },
}

/// How far the tool goes down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Target {
    /// To this fraction of the film thickness below the film top [-], (0, 1).
    Compression(f64),
    /// To this distance above the collector [µm].
    Gap(Q<Length>),
    /// Until the tool carries this pressure [kPa] (e.g. "101.325 kPa"), then held at it by
    /// a force servo: a press, or the load on a drying film.
    Pressure(Q<Pressure>),
}

/// The tool's retreat and the film's spring-back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relaxation {
    /// Retract speed [µm/µs].
    pub retract_speed: Q<Velocity>,
    /// Time the film relaxes once the tool has left it [µs].
    pub time: Q<Time>,
}

/// The through-plane tortuosity solve of the calendered structure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TortuositySpec {
    /// Voxel edge [µm].
    pub voxel: Q<Length>,
    /// CBD diffusivity relative to the pores [-], default 0 (blocking).
    #[serde(default)]
    pub cbd_diffusivity: f64,
}

fn d_local_damping() -> f64 {
    0.3
}
fn d_relax_tol() -> Q<Force> {
    Q::new(10.0)
}
fn d_relax_iter() -> u64 {
    5000
}
fn d_speed() -> Q<Velocity> {
    Q::new(0.1)
}
fn d_mass_scale() -> f64 {
    1e4
}
fn d_rayleigh() -> f64 {
    0.2
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalenderingSpec {
    #[serde(default)]
    pub materials: Materials,
    pub tool: Tool,
    pub target: Target,
    /// Tool speed towards the collector [µm/µs], default 0.1 (= 0.1 m/s).
    #[serde(default = "d_speed")]
    pub tool_speed: Q<Velocity>,
    /// The minimization of the dry structure under the material law before anything moves:
    /// force tolerance [nN], default 10, and iteration cap, default 5000.
    #[serde(default = "d_relax_tol")]
    pub relax_force_tol: Q<Force>,
    #[serde(default = "d_relax_iter")]
    pub relax_iterations: u64,
    /// Time before the tool moves: the dry film settles under the new law [µs].
    #[serde(default)]
    pub settle_time: Q<Time>,
    /// Time the tool holds at its lowest position [µs].
    #[serde(default)]
    pub hold_time: Q<Time>,
    /// Retract and measure the spring-back; none: the film stays compressed.
    #[serde(default)]
    pub relaxation: Option<Relaxation>,
    /// CBD nano-porosity reached at the end of the loading [-] (the binder densifies; the
    /// bead shrinks at constant mass); none: unchanged.
    #[serde(default)]
    pub cbd_nanoporosity_after: Option<f64>,
    /// AM contact diameter / nominal diameter during calendering [-], for films dried by
    /// this model (their AM carry the slurry's contact diameter); none: unchanged.
    #[serde(default)]
    pub am_contact_factor: Option<f64>,
    /// Density scaling of every particle for the quasi-static compression [-], default 1e4:
    /// statics are unchanged, the stable timestep grows with √scale. The result reports
    /// the inertial number so the quasi-static assumption can be checked.
    #[serde(default = "d_mass_scale")]
    pub mass_scale: f64,
    /// Cundall local damping coefficient α [-], [0, 1), default 0.3: each step a velocity
    /// component loses α|F|dt/m (quasi-static DEM; 0 = none).
    #[serde(default = "d_local_damping")]
    pub local_damping: f64,
    /// Timestep [µs]; default `rayleigh_fraction` × the smallest Rayleigh time.
    #[serde(default)]
    pub timestep: Option<Q<Time>>,
    /// Default 0.2.
    #[serde(default = "d_rayleigh")]
    pub rayleigh_fraction: f64,
    /// Steps between samples of the pressure curve, default 100.
    #[serde(default = "super::d_sample")]
    pub sample_every: u64,
    /// A VTU frame every this many samples (0: none), default 0.
    #[serde(default)]
    pub frames_every: u64,
    /// Voxel edge of the porosity [µm], default 0.25.
    #[serde(default = "super::d_voxel")]
    pub voxel: Q<Length>,
    /// Slab of the profiles along z [µm], default 5.
    #[serde(default = "super::d_slab")]
    pub slab: Q<Length>,
    #[serde(default)]
    pub tortuosity: Option<TortuositySpec>,
    /// Replicas of one structure: before the relaxation every sphere moves by a random
    /// vector, uniform in [−a, a]³ for this a, drawn from the scenario's `seed` [µm]. A
    /// pressed packing does not repeat itself to the last digit, so one run is one sample:
    /// a sweep over `seed` with a jitter far below any measurement ("1 nm") gives the
    /// spread. None (default): the structure as it is.
    #[serde(default)]
    pub jitter: Option<Q<Length>>,
}

impl CalenderingSpec {
    /// A plate pressing to `target` at `tool_speed`, every other setting at its default.
    pub fn plate(materials: Materials, target: Target, tool_speed: Q<Velocity>) -> Self {
        CalenderingSpec {
            materials,
            tool: Tool::Plate,
            target,
            tool_speed,
            relax_force_tol: d_relax_tol(),
            relax_iterations: d_relax_iter(),
            settle_time: Q::default(),
            hold_time: Q::default(),
            relaxation: None,
            cbd_nanoporosity_after: None,
            am_contact_factor: None,
            mass_scale: d_mass_scale(),
            local_damping: d_local_damping(),
            timestep: None,
            rayleigh_fraction: d_rayleigh(),
            sample_every: super::d_sample(),
            frames_every: 0,
            voxel: super::d_voxel(),
            slab: super::d_slab(),
            tortuosity: None,
            jitter: None,
        }
    }

    /// The first problem: (key path below `calendering`, message, hint).
    pub fn problem(&self) -> Option<(Key, String, &'static str)> {
        let m = &self.materials;
        for (k, spec) in m.named() {
            if let Some(what) = spec.problem() {
                return Some((
                    k,
                    what,
                    "E in GPa (\"200 GPa\"), ν in (−1, 0.5], e in (0, 1], yield_pressure > 0 (\"20 MPa\") or left out",
                ));
            }
        }
        if let Some((key, what)) = m.fusing_pair() {
            return Some((
                key,
                what,
                "keep cohesion_energy_density ≤ yield_pressure / 2 for every pair (mixed as `mixing` says), or raise yield_pressure",
            ));
        }
        match &self.target {
            Target::Compression(f) if !(*f > 0.0 && *f < 1.0) => {
                return Some((
                    &["target"],
                    format!("compression {f} not in (0, 1)"),
                    "e.g. Compression(0.3)",
                ))
            }
            Target::Gap(g) if !(g.get() > 0.0 && g.get().is_finite()) => {
                return Some((
                    &["target"],
                    format!("gap {} µm must be > 0", g.get()),
                    "e.g. Gap(\"80 um\")",
                ))
            }
            Target::Pressure(p) if !(p.get() > 0.0 && p.get().is_finite()) => {
                return Some((
                    &["target"],
                    format!("pressure {} kPa must be > 0", p.get()),
                    "e.g. Pressure(\"101.325 kPa\")",
                ))
            }
            _ => {}
        }
        if let Tool::Roll { radius, across_speed } = &self.tool {
            if !(radius.get() > 0.0 && radius.get().is_finite() && across_speed.get().is_finite()) {
                return Some((
                    &["tool"],
                    "roll radius must be > 0".into(),
                    "e.g. Roll(radius: \"100 mm\")",
                ));
            }
        }
        let positive: [(&'static [&'static str], f64); 5] = [
            (&["tool_speed"], self.tool_speed.get()),
            (&["mass_scale"], self.mass_scale),
            (&["rayleigh_fraction"], self.rayleigh_fraction),
            (&["voxel"], self.voxel.get()),
            (&["slab"], self.slab.get()),
        ];
        for (k, v) in positive {
            if !(v > 0.0 && v.is_finite()) {
                return Some((k, format!("{v} must be > 0"), "see the unit in the docs"));
            }
        }
        let times: [(&'static [&'static str], f64); 2] = [
            (&["settle_time"], self.settle_time.get()),
            (&["hold_time"], self.hold_time.get()),
        ];
        for (k, v) in times {
            if !(v >= 0.0 && v.is_finite()) {
                return Some((k, format!("{v} µs must be ≥ 0"), "a time, e.g. \"10 us\""));
            }
        }
        if !(0.0..1.0).contains(&self.local_damping) {
            return Some((
                &["local_damping"],
                format!("{} not in [0, 1)", self.local_damping),
                "e.g. 0.3",
            ));
        }
        if self.sample_every == 0 {
            return Some((&["sample_every"], "must be ≥ 1".into(), "e.g. 100"));
        }
        if let Some(r) = &self.relaxation {
            if !(r.retract_speed.get() > 0.0 && r.time.get() >= 0.0 && r.time.get().is_finite()) {
                return Some((
                    &["relaxation"],
                    "retract_speed must be > 0 and time ≥ 0".into(),
                    "e.g. (retract_speed: \"0.1 m/s\", time: \"50 us\")",
                ));
            }
        }
        if let Some(p) = self.cbd_nanoporosity_after {
            if !(0.0..1.0).contains(&p) {
                return Some((&["cbd_nanoporosity_after"], format!("{p} not in [0, 1)"), "e.g. 0.4"));
            }
        }
        if let Some(f) = self.am_contact_factor {
            if !(f > 0.5 && f < 2.0) {
                return Some((&["am_contact_factor"], format!("{f} not in (0.5, 2)"), "e.g. 1.0"));
            }
        }
        if let Some(t) = &self.timestep {
            if !(t.get() > 0.0 && t.get().is_finite()) {
                return Some((&["timestep"], format!("{} µs must be > 0", t.get()), "or leave it out"));
            }
        }
        if let Some(a) = &self.jitter {
            if !(a.get() > 0.0 && a.get().is_finite()) {
                return Some((
                    &["jitter"],
                    format!("{} µm must be > 0", a.get()),
                    "e.g. \"1 nm\", or leave it out",
                ));
            }
        }
        if let Some(t) = &self.tortuosity {
            if !(t.voxel.get() > 0.0 && (0.0..=1.0).contains(&t.cbd_diffusivity)) {
                return Some((
                    &["tortuosity"],
                    "voxel must be > 0 and cbd_diffusivity in [0, 1]".into(),
                    "e.g. (voxel: \"0.5 um\")",
                ));
            }
        }
        None
    }
}
