//! Pair interactions. Each law is one type implementing [`PairStyle`], registered by name
//! in [`PAIR_STYLES`]; a force field overlays several styles (LAMMPS `hybrid/overlay`).

pub mod batch;
pub mod hertz_history;
pub mod hertz_sjkr;
pub mod lj_sf;
pub mod reference;

use crate::sim::particles::{sphere_mass, Particles};

pub use batch::PairBatch;

/// How far a style reaches for a type pair: `max(fixed, r_i + r_j if radius_sum)` [µm].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reach {
    /// A cutoff independent of the particle sizes [µm] (e.g. an LJ r_c), 0 if none.
    pub fixed: f64,
    /// The style acts while the spheres overlap (contact laws).
    pub radius_sum: bool,
}

impl Reach {
    fn max(self, o: Reach) -> Reach {
        Reach {
            fixed: self.fixed.max(o.fixed),
            radius_sum: self.radius_sum || o.radius_sum,
        }
    }
    /// Interaction range for radii `ri`, `rj` [µm].
    #[inline]
    pub fn range(self, ri: f64, rj: f64) -> f64 {
        if self.radius_sum {
            self.fixed.max(ri + rj)
        } else {
            self.fixed
        }
    }
}

/// Geometry and indices of one pair; `del = x_i − x_j` (minimum image) [µm].
#[derive(Debug, Clone, Copy)]
pub struct PairInput {
    pub i: usize,
    pub j: usize,
    pub del: [f64; 3],
    /// |del|² [µm²].
    pub rsq: f64,
    /// |del| [µm], computed once for all styles.
    pub r: f64,
    /// Velocity of j's periodic image relative to j [µm/µs]: non-zero across the sheared
    /// boundary of a deforming (Lees–Edwards) box.
    pub dv: [f64; 3],
}

/// Read-only particle state and step settings a style may need.
pub struct PairContext<'a> {
    pub kind: &'a [u32],
    pub radius: &'a [f64],
    pub mass: &'a [f64],
    pub v: &'a [[f64; 3]],
    pub omega: &'a [[f64; 3]],
    /// Timestep [µs].
    pub dt: f64,
    /// Advance shear histories (false in the setup force call of a run, as LAMMPS).
    pub update_history: bool,
}

/// What a pair contributes. Force on i is `f` (on j: −f). Torques follow the LAMMPS
/// granular convention: τ_i −= r_i·`tor`, τ_j −= r_j·`tor`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PairOut {
    /// Force on i [nN].
    pub f: [f64; 3],
    /// (del × F_t)/r [nN].
    pub tor: [f64; 3],
    /// Pair-potential energy [fJ] (what LAMMPS reports as `pe`).
    pub energy: f64,
    /// Elastic energy stored in contacts [fJ] (granular styles; LAMMPS does not tally it).
    pub elastic: f64,
}

/// Linearised normal response of one contact: F_n changes by −`stiffness`·dδ_closing
/// − `damping`·dv_closing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContactRates {
    /// dF_n/dδ [nN/µm].
    pub stiffness: f64,
    /// Force per normal closing speed [nN·µs/µm = pg/µs].
    pub damping: f64,
}

/// Per-contact state carried across steps: shear displacement [µm] (0..3) and the
/// largest overlap reached [µm] (3; elastic–plastic laws).
pub type History = [f64; 4];

/// A contact's state before it exists.
pub const NO_HISTORY: History = [0.0; 4];

/// The same contact's state seen from the other sphere (the shear flips, the overlap not).
pub fn swapped(h: &History) -> History {
    [-h[0], -h[1], -h[2], h[3]]
}

/// Whether any component has a bit set (−0.0 included): false only for [`NO_HISTORY`]'s bits.
#[inline]
pub fn has_bits(h: &History) -> bool {
    h.iter().fold(0, |acc, v| acc | v.to_bits()) != 0
}

/// One interaction law.
pub trait PairStyle: Send + Sync {
    /// Registered name (LAMMPS style name).
    fn name(&self) -> &'static str;
    /// Reach for types `ti`, `tj` (1-based).
    fn reach(&self, ti: u32, tj: u32) -> Reach;
    /// Highest type the style has coefficients for (`None`: any type).
    fn max_type(&self) -> Option<u32> {
        None
    }
    /// Adds the pair's force, torque term and energy to `out`.
    fn compute(&self, p: &PairInput, ctx: &PairContext, hist: &mut History, out: &mut PairOut);
    /// The pair's normal contact stiffness and damping at its present separation and
    /// history, where the style has a contact law and the spheres touch; read by the
    /// integrator's stability check ([`crate::sim::stability`]), never by the dynamics.
    fn contact_rates(&self, _p: &PairInput, _ctx: &PairContext, _hist: &History) -> Option<ContactRates> {
        None
    }
    /// Whether the style implements [`add_rest_forces`](Self::add_rest_forces).
    fn has_rest_forces(&self) -> bool {
        false
    }
    /// Adds to `b.f_rest` each lane's force with every velocity and spin zero (the
    /// Lees–Edwards image too) and the lane's history as [`compute_batch`](Self::compute_batch)
    /// left it, not advanced: what a pass at rest over the same configuration would give,
    /// bit for bit. Runs after every style's `compute_batch`; reads nothing else that it
    /// changed.
    fn add_rest_forces(&self, _b: &mut PairBatch, _ctx: &PairContext) {}
    /// [`compute`](Self::compute) for every lane of a batch. Styles on the hot path override
    /// it with a vector loop that gives the same result bit for bit.
    fn compute_batch(&self, b: &mut PairBatch, ctx: &PairContext) {
        b.compute_scalar(self, ctx);
    }
}

/// What a style may be built from: the slurry model's parameters, and for the dry-state
/// laws a material per type.
pub struct StyleParams<'a> {
    pub model: &'a reference::ReferenceModel,
    /// `materials[t − 1]` is the material of type `t`, with the mixing rules.
    pub materials: Option<(&'a [hertz_sjkr::Material], &'a hertz_sjkr::MixingRules)>,
}

/// Builds a style; the error says what it lacks.
pub type StyleBuilder = fn(&StyleParams) -> Result<Box<dyn PairStyle>, String>;

/// The registration table: one row per interaction law.
pub const PAIR_STYLES: &[(&str, StyleBuilder)] = &[
    ("lj/sf", |p| Ok(Box::new(lj_sf::LjSf::from_reference(p.model)))),
    ("gran/hertz/history", |p| {
        Ok(Box::new(hertz_history::HertzHistory::from_reference(p.model)))
    }),
    ("gran/hertz/sjkr", |p| match p.materials {
        Some((m, rules)) => Ok(Box::new(hertz_sjkr::HertzSjkr::new(m, rules))),
        None => Err("gran/hertz/sjkr needs materials (a calendering block's `materials`)".into()),
    }),
];

/// Looks up a registered style builder by name.
pub fn style_builder(name: &str) -> Option<StyleBuilder> {
    PAIR_STYLES.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Diameter and density a force field imposes on every particle of one type
/// (LAMMPS `set type T diameter D` then `set type T density RHO`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TypeProps {
    /// Contact diameter [µm].
    pub diameter: f64,
    /// Density [g/cm³].
    pub density: f64,
}

/// The overlaid pair styles plus optional per-type sphere properties.
pub struct ForceField {
    pub name: String,
    pub styles: Vec<Box<dyn PairStyle>>,
    /// Index `t − 1` holds the properties of type `t`; `None` keeps the structure's values.
    pub types: Vec<Option<TypeProps>>,
}

/// Per type-pair reach, summed over styles.
#[derive(Debug, Clone)]
pub struct ReachTable {
    n: usize,
    reach: Vec<Reach>,
}

impl ReachTable {
    #[inline]
    pub fn get(&self, ti: u32, tj: u32) -> Reach {
        self.reach[(ti as usize - 1) * self.n + (tj as usize - 1)]
    }
    pub fn n_types(&self) -> usize {
        self.n
    }
}

impl ForceField {
    pub fn new(name: impl Into<String>, styles: Vec<Box<dyn PairStyle>>) -> Self {
        ForceField {
            name: name.into(),
            styles,
            types: Vec::new(),
        }
    }

    /// Reach of every type pair for types 1..=n_types.
    pub fn reach_table(&self, n_types: u32) -> ReachTable {
        let n = n_types as usize;
        let mut reach = vec![Reach::default(); n * n];
        for ti in 1..=n_types {
            for tj in 1..=n_types {
                let r = self
                    .styles
                    .iter()
                    .fold(Reach::default(), |acc, s| acc.max(s.reach(ti, tj)));
                reach[(ti as usize - 1) * n + tj as usize - 1] = r;
            }
        }
        ReachTable { n, reach }
    }

    /// Sets radius and mass of each particle whose type has imposed properties.
    pub fn apply_types(&self, p: &mut Particles) {
        for k in 0..p.len() {
            if let Some(Some(tp)) = self.types.get(p.kind[k] as usize - 1) {
                p.radius[k] = 0.5 * tp.diameter;
                p.mass[k] = sphere_mass(p.radius[k], tp.density);
            }
        }
    }

    /// The pair's normal contact rates summed over the styles that have a contact law.
    pub fn contact_rates(&self, p: &PairInput, ctx: &PairContext, hist: &History) -> Option<ContactRates> {
        self.styles
            .iter()
            .filter_map(|s| s.contact_rates(p, ctx, hist))
            .reduce(|a, b| ContactRates {
                stiffness: a.stiffness + b.stiffness,
                damping: a.damping + b.damping,
            })
    }

    /// Computes all styles for one pair.
    #[inline]
    pub fn compute(&self, p: &PairInput, ctx: &PairContext, hist: &mut History) -> PairOut {
        let mut out = PairOut::default();
        for s in &self.styles {
            s.compute(p, ctx, hist, &mut out);
        }
        out
    }

    /// Computes all styles for the pairs of a batch (outputs must be zeroed).
    pub fn compute_batch(&self, b: &mut PairBatch, ctx: &PairContext) {
        for s in &self.styles {
            s.compute_batch(b, ctx);
        }
        if b.rest {
            for s in &self.styles {
                s.add_rest_forces(b, ctx);
            }
        }
    }

    /// Whether every style has a force at rest ([`PairStyle::add_rest_forces`]).
    pub fn has_rest_forces(&self) -> bool {
        self.styles.iter().all(|s| s.has_rest_forces())
    }
}

/// A dense symmetric table indexed by 1-based type pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct TypePairTable<T> {
    n: usize,
    data: Vec<T>,
}

impl<T: Copy + Default> TypePairTable<T> {
    pub fn new(n_types: usize) -> Self {
        TypePairTable {
            n: n_types,
            data: vec![T::default(); n_types * n_types],
        }
    }
    pub fn n_types(&self) -> usize {
        self.n
    }
    #[inline]
    pub fn get(&self, ti: u32, tj: u32) -> T {
        self.data[(ti as usize - 1) * self.n + (tj as usize - 1)]
    }
    /// Sets both (ti, tj) and (tj, ti).
    pub fn set(&mut self, ti: u32, tj: u32, v: T) {
        let (a, b) = (ti as usize - 1, tj as usize - 1);
        self.data[a * self.n + b] = v;
        self.data[b * self.n + a] = v;
    }
}
