//! The particle system and its step pipeline.
//!
//! A step runs these phases, in order (LAMMPS `run` semantics):
//! 1. **integrate** (first half): half-kick v and ω, drift x;
//! 2. **neighbor**: rebuild the list if some pair may have come within range;
//! 3. **force**: pair forces, torques, virial and energy (shear histories advance);
//! 4. **integrate** (second half): half-kick v and ω;
//! 5. **observe**: observers whose interval divides the step number.
//!
//! Within `run`, where nothing acts between two steps, phase 4 is fused with the next
//! step's phase 1 (same arithmetic, one pass over memory).
//!
//! `setup` builds the list and computes forces without advancing histories, as the
//! setup call of a LAMMPS run does. Results are bit-identical for any thread count.

mod kick_pass;

use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sim::ensemble::Fix;
use crate::sim::forcefield::batch::LaneInput;
use crate::sim::forcefield::{ContactRates, ForceField, PairBatch, PairContext, PairInput, ReachTable};
use crate::sim::integrate::{self, Chunk, KickFactors};
use crate::sim::neighbor::{owner_block, MoveTest, NeighborList, Reorder};
use crate::sim::observer::Observer;
use crate::sim::pair_pass::{outer, BlockOut, LaneSource, PassOne, SUMS};
use crate::sim::parallel::{add_in_order, det_sum, split_lengths};
use crate::sim::particles::Particles;
use crate::sim::scatter::{self, BlockJSides, Destinations};
use crate::sim::simbox::{ImageMap, SimBox};
use crate::sim::team;
use crate::sim::timers::{Phase, Timers};
use crate::sim::wall::Wall;
use kick_pass::KickPlan;

/// What the last tallying force call summed over pairs.
///
/// As LAMMPS' `eflag`/`vflag`, a step inside [`System::run_with`] takes these sums only
/// when something reads them after it: a fix that asks for them, an observer due, or the
/// last step of the run. Other steps leave them as they were.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ForceSummary {
    /// The step these sums belong to.
    #[serde(default)]
    pub step: u64,
    /// Pair potential energy [fJ] (LAMMPS `pe`: granular contacts tally none).
    pub pe: f64,
    /// Normal elastic energy stored in granular contacts [fJ].
    pub contact_elastic: f64,
    /// Pair virial Σ del_a F_b, order xx, yy, zz, xy, xz, yz [nN·µm].
    pub virial: [f64; 6],
    /// Pairs with overlapping spheres (r < r_i + r_j).
    pub contacts: u64,
    /// The pair virial of the same configuration at rest ([`System::pair_virial_at_rest`]),
    /// taken with the other sums when [`System::rest_virial`] asks for it [nN·µm].
    #[serde(default)]
    pub virial_at_rest: Option<[f64; 6]>,
}

/// Thermodynamic state (LAMMPS thermo conventions; kinetic pressure is translational).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Thermo {
    pub step: u64,
    /// Pair potential energy [fJ] (LAMMPS `pe`).
    pub pe_fj: f64,
    /// Normal elastic energy stored in contacts [fJ] (not part of LAMMPS `pe`).
    pub contact_elastic_fj: f64,
    /// ½ Σ m v² [fJ].
    pub ke_trans_fj: f64,
    /// ½ Σ I ω² [fJ].
    pub ke_rot_fj: f64,
    /// Pressure tensor xx, yy, zz, xy, xz, yz [kPa].
    pub pressure_kpa: [f64; 6],
    /// Its virial part only [kPa].
    pub virial_kpa: [f64; 6],
    /// Scalar pressure (trace / 3) [kPa].
    pub pressure_scalar_kpa: f64,
    pub volume_um3: f64,
    pub contacts: u64,
}

/// Settings of the step loop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepSettings {
    /// Timestep [µs].
    pub dt: f64,
    /// Neighbour skin [µm].
    pub skin: f64,
    /// Reorder particles spatially at each neighbour build.
    pub sort: bool,
    /// Optional cap on the displacement per step [µm] (`nve/limit`).
    pub max_step: Option<f64>,
    /// Uniform body acceleration [µm/µs²] (1 g = 9.81e-6 µm/µs²); adds m·g to each force.
    pub gravity: [f64; 3],
    /// Integrate angular velocities (false freezes them, as the reference's NEMD runs).
    pub rotate: bool,
}

impl Default for StepSettings {
    fn default() -> Self {
        StepSettings {
            dt: 0.001,
            skin: 1.0,
            sort: true,
            max_step: None,
            gravity: [0.0; 3],
            rotate: true,
        }
    }
}

/// Everything that evolves in a [`System`] (not the force field, which is rebuilt from its
/// file): restoring it continues a run bit for bit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SystemState {
    pub particles: Particles,
    pub simbox: SimBox,
    pub neighbor: NeighborList,
    pub settings: StepSettings,
    pub step: u64,
    pub summary: ForceSummary,
    pub xy_rate: f64,
    /// Plane walls with their shear histories (none for a periodic slurry).
    #[serde(default)]
    pub walls: Vec<Wall>,
}

/// What of the integration a step of [`System::run_with`] starts with.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pending {
    /// Its first half-kick and drift.
    Initial,
    /// The previous step's deferred final half-kick, then its own first one and drift.
    FinalThenInitial,
    /// Nothing: the previous step's force pass did both ([`System::forces_then_kick`]).
    Done,
}

pub struct System {
    pub particles: Particles,
    pub simbox: SimBox,
    pub ff: ForceField,
    pub neighbor: NeighborList,
    /// Plane walls on non-periodic axes (add with [`System::add_wall`]).
    pub walls: Vec<Wall>,
    pub settings: StepSettings,
    /// Steps taken since the structure was loaded.
    pub step: u64,
    pub timers: Timers,
    /// Sums of the last force call.
    pub summary: ForceSummary,
    /// d(xy)/dt of a Lees–Edwards box [µm/µs]: the velocity of the +y periodic image
    /// relative to the particle (set by the shear deformation, 0 otherwise).
    pub xy_rate: f64,
    /// Take [`ForceSummary::virial_at_rest`] with the force sums, where every style has a
    /// force at rest (the shear stage's stress split; off by default).
    pub rest_virial: bool,
    reach: ReachTable,
    /// Per owner block and destination range: (partner, j-side) of the pairs that
    /// interacted, in pair order.
    jside: Vec<BlockJSides>,
    /// Per destination range, in block and pair order: the j-sides of a force pass that
    /// kicks as it goes ([`System::forces_then_kick`]).
    incoming: BlockJSides,
    /// When each range's forces are complete, for the current list.
    kick_plan: Option<KickPlan>,
    /// Of the kicks of a run ([`System::run_with`], [`System::step`], the Nosé–Hoover
    /// loop): forgotten when one starts, at each list build and after a fix that may change
    /// masses.
    kick_factors: KickFactors,
}

/// What the neighbour test after a drift knows of how far the particles moved.
enum Moved<'a> {
    /// A bound on the travel since the build, or none ([`System::run_with`]); the test is
    /// taken where the bound does not spare it.
    Travel(&'a mut Option<f64>),
    /// The pass that drifted took the test ([`System::timed_drift_then_test`]).
    Tested { stale: bool },
}

/// Adds a bound on a drift's steps, dt times a bound on its speeds, to a known `travel` [µm].
fn add_travel(travel: &mut Option<f64>, dt: f64, speed_bound_sq: Option<f64>) {
    if let (Some(t), Some(v2)) = (travel.as_mut(), speed_bound_sq) {
        *t += dt * v2.sqrt();
    }
}

/// Adds m·g to each force (nothing for g = 0).
fn add_weight(f: &mut [[f64; 3]], mass: &[f64], g: [f64; 3]) {
    if g == [0.0; 3] {
        return;
    }
    for (f, &m) in f.iter_mut().zip(mass) {
        for a in 0..3 {
            f[a] += m * g[a];
        }
    }
}

impl System {
    /// Applies the force field's per-type properties and checks the setup.
    pub fn new(mut particles: Particles, simbox: SimBox, ff: ForceField, settings: StepSettings) -> Result<Self> {
        let max_kind = particles.max_kind();
        for s in &ff.styles {
            if let Some(n) = s.max_type() {
                if max_kind > n {
                    return Err(Error::Setup(format!(
                        "the structure has atom type {max_kind} but pair style {} defines types 1..={n}; \
                         the force field must cover every type in the structure",
                        s.name()
                    )));
                }
            }
        }
        if !(settings.dt > 0.0 && settings.dt.is_finite()) {
            return Err(Error::Setup(format!("timestep {} µs must be > 0", settings.dt)));
        }
        if !(settings.skin >= 0.0 && settings.skin.is_finite()) {
            return Err(Error::Setup(format!("neighbour skin {} µm must be ≥ 0", settings.skin)));
        }
        ff.apply_types(&mut particles);
        let reach = ff.reach_table(max_kind.max(1));
        Ok(System {
            particles,
            simbox,
            ff,
            neighbor: NeighborList::new(settings.skin),
            walls: Vec::new(),
            settings,
            step: 0,
            timers: Timers::default(),
            summary: ForceSummary::default(),
            xy_rate: 0.0,
            reach,
            rest_virial: false,
            jside: Vec::new(),
            incoming: Vec::new(),
            kick_plan: None,
            kick_factors: KickFactors::default(),
        })
    }

    /// The evolving state, for checkpoints.
    pub fn snapshot(&self) -> SystemState {
        SystemState {
            particles: self.particles.clone(),
            simbox: self.simbox,
            neighbor: self.neighbor.clone(),
            settings: self.settings,
            step: self.step,
            summary: self.summary,
            xy_rate: self.xy_rate,
            walls: self.walls.clone(),
        }
    }

    /// Continues from a snapshot with the force field `ff`: forces, neighbour list and
    /// histories are taken as saved (a list read from a checkpoint is listed again as its
    /// last build made it), so the next step is the one the snapshot would take.
    pub fn restore(s: SystemState, ff: ForceField) -> Result<Self> {
        let mut sys = System::new(s.particles, s.simbox, ff, s.settings)?;
        sys.neighbor = s.neighbor;
        sys.neighbor
            .rebuild_stored(&sys.particles, &sys.reach)
            .map_err(|e| Error::Setup(format!("restoring a saved state: {e}")))?;
        sys.step = s.step;
        sys.summary = s.summary;
        sys.xy_rate = s.xy_rate;
        sys.walls = s.walls;
        Ok(sys)
    }

    /// Adds a plane wall; its axis must be non-periodic.
    pub fn add_wall(&mut self, wall: Wall) -> Result<()> {
        wall.check(&self.simbox).map_err(Error::Setup)?;
        self.walls.push(wall);
        Ok(())
    }

    /// Builds the neighbour list and computes forces without advancing histories.
    pub fn setup(&mut self) -> Result<()> {
        self.rebuild_neighbors();
        self.simbox.check(self.neighbor.reach()).map_err(Error::Setup)?;
        self.refresh_forces();
        Ok(())
    }

    /// Recomputes forces without advancing histories, after something outside a step
    /// changed what they depend on (velocities, for damping and friction).
    pub fn refresh_forces(&mut self) {
        let t = std::time::Instant::now();
        self.compute_forces(false);
        self.timers.add(Phase::Force, t.elapsed());
    }

    pub fn rebuild_neighbors(&mut self) {
        self.build_neighbors(None);
    }

    /// Builds the list (reordering particles as set, or by `perm`), then carries wall
    /// histories along and applies the Lees–Edwards velocity jump to particles wrapped
    /// across the sheared boundary.
    fn build_neighbors(&mut self, perm: Option<&[usize]>) {
        let order = match perm {
            Some(p) => Reorder::Given(p),
            None => self.reorder(),
        };
        let images_before = (self.xy_rate != 0.0).then(|| self.particles.image.clone());
        let Self {
            particles,
            simbox,
            neighbor,
            reach,
            timers,
            ..
        } = self;
        let applied = timers.time(Phase::Neighbor, || neighbor.build(particles, simbox, reach, order));
        timers.neighbor_builds += 1;
        self.kick_factors.forget();
        if let Some(before) = images_before {
            let p = &mut self.particles;
            for k in 0..p.len() {
                let old = applied.as_ref().map_or(k, |perm| perm[k]);
                // Wrapped by −n b: the particle now stands where the image moves at −n ḃ.
                let n = (p.image[k][1] - before[old][1]) as f64;
                p.v[k][0] -= n * self.xy_rate;
            }
        }
        self.permute_walls(applied);
    }

    fn permute_walls(&mut self, perm: Option<Vec<usize>>) {
        if let Some(perm) = perm {
            for w in &mut self.walls {
                w.permute(&perm);
            }
        }
    }

    fn reorder(&self) -> Reorder<'static> {
        if self.settings.sort {
            Reorder::Spatial
        } else {
            Reorder::Keep
        }
    }

    /// One velocity-Verlet step (phases 1–4), taking the force sums.
    pub fn step(&mut self) {
        // Masses and radii may have changed since the last step.
        self.kick_factors.forget();
        self.advance(Pending::Initial, true, false, &mut None);
        self.final_half();
    }

    /// Phases 1–3 of a step, starting from what `pending` leaves to do; `tally` as in
    /// [`System::forces_after_drift`], `travel` as in [`System::run_with`]. With `defer`,
    /// phase 4 is left to the next step, and the returned value says how far it got.
    fn advance(&mut self, pending: Pending, tally: bool, defer: bool, travel: &mut Option<f64>) -> Pending {
        let (dt, lim, rot) = (self.settings.dt, self.settings.max_step, self.settings.rotate);
        let speed_bound_sq = match pending {
            Pending::Done => None, // counted in `travel` by the pass that drifted
            Pending::Initial => Some(self.timed_kick(|p, k| integrate::initial(p, dt, k, lim, rot))),
            Pending::FinalThenInitial => {
                Some(self.timed_kick(|p, k| integrate::final_then_initial(p, dt, k, lim, rot)))
            }
        };
        add_travel(travel, dt, speed_bound_sq);
        let kick = defer && self.can_kick_in_force_pass();
        self.after_drift(tally && !kick, kick, Moved::Travel(travel));
        match (defer, kick) {
            (false, _) => Pending::Initial,
            (true, false) => Pending::FinalThenInitial,
            (true, true) => Pending::Done,
        }
    }

    /// After the drift: neighbours, walls, forces (histories advance), step count; with
    /// `tally`, the [`ForceSummary`] sums too.
    pub fn forces_after_drift(&mut self, tally: bool) {
        self.after_drift(tally, false, Moved::Travel(&mut None));
    }

    /// `drift` (a pass that moves the particles, their kick factors at hand) on every chunk
    /// of [`integrate::CHUNK`] particles, each chunk's part of the rebuild test taken right
    /// after on its new positions, while they are in the cache: one parallel pass where the
    /// test took a second. The box must be the one the drift ends in. Timed as integration;
    /// returns the verdict for [`System::forces_after_tested_drift`]: whether the list is
    /// stale.
    pub(crate) fn timed_drift_then_test(&mut self, drift: impl Fn(&mut Chunk) + Sync + Send) -> bool {
        let t = Instant::now();
        self.kick_factors.refresh(&self.particles, self.settings.dt);
        let test = self.neighbor.move_test(self.particles.len(), &self.simbox);
        let build = self.neighbor.build_positions();
        let largest = integrate::map_chunks(&mut self.particles, &self.kick_factors, integrate::CHUNK, |mut c| {
            drift(&mut c);
            match test {
                MoveTest::Rebuild => 0.0, // there may be no build positions to read
                _ => test.largest_sq(c.x, &build[c.lo..c.lo + c.x.len()]),
            }
        });
        self.timers.neighbor_checks += 1;
        self.timers.add(Phase::Integrate, t.elapsed());
        test.verdict(largest.into_iter().fold(0.0, f64::max)).0
    }

    /// [`System::forces_after_drift`] where the pass that drifted took the rebuild test
    /// ([`System::timed_drift_then_test`]) and found the list `stale` or not.
    pub(crate) fn forces_after_tested_drift(&mut self, tally: bool, stale: bool) {
        self.after_drift(tally, false, Moved::Tested { stale });
    }

    /// [`System::forces_after_drift`], the neighbour test spared where `travel` allows;
    /// with `kick`, the force pass also runs the deferred phase 4 and the next step's
    /// phase 1 ([`System::forces_then_kick`]).
    fn after_drift(&mut self, tally: bool, kick: bool, moved: Moved) {
        let mut untracked = None;
        let travel = match moved {
            Moved::Travel(travel) => {
                self.refresh_neighbors_after(travel);
                travel
            }
            Moved::Tested { stale } => {
                if stale {
                    self.build_neighbors(None);
                }
                &mut untracked
            }
        };
        let dt = self.settings.dt;
        for w in &mut self.walls {
            w.advance(dt);
        }
        // The forces are those of the step being completed.
        self.step += 1;
        self.timers.steps += 1;
        let t = Instant::now();
        if kick {
            let (kicking, speed_bound_sq) = self.forces_then_kick(true);
            add_travel(travel, dt, Some(speed_bound_sq));
            self.timers.kicking_force_passes += 1;
            self.timers.add(Phase::Force, t.elapsed().saturating_sub(kicking));
            self.timers.add(Phase::Integrate, kicking);
        } else {
            self.forces(true, tally);
            self.timers.add(Phase::Force, t.elapsed());
        }
    }

    /// Phase 4: the second half-kick.
    fn final_half(&mut self) {
        let (dt, lim, rot) = (self.settings.dt, self.settings.max_step, self.settings.rotate);
        self.timed_kick(|p, k| integrate::final_kick(p, dt, k, lim, rot));
    }

    /// `kick` on the particles with their [`KickFactors`] for the timestep (computed if
    /// forgotten), timed as integration.
    pub(crate) fn timed_kick<R>(&mut self, kick: impl FnOnce(&mut Particles, &KickFactors) -> R) -> R {
        let t = Instant::now();
        self.kick_factors.refresh(&self.particles, self.settings.dt);
        let out = kick(&mut self.particles, &self.kick_factors);
        self.timers.add(Phase::Integrate, t.elapsed());
        out
    }

    /// Marks the [`KickFactors`] stale: masses or radii may have changed.
    pub(crate) fn forget_kick_factors(&mut self) {
        self.kick_factors.forget();
    }

    /// Rebuilds the neighbour list if particles or the box moved past the skin.
    pub fn refresh_neighbors(&mut self) {
        self.refresh_neighbors_after(&mut None);
    }

    /// [`System::refresh_neighbors`], without reading the particles where `travel` (see
    /// [`System::run_with`]) shows none can have moved past the skin; the test, where
    /// taken, and a build set `travel` anew.
    fn refresh_neighbors_after(&mut self, travel: &mut Option<f64>) {
        if travel.is_some_and(|t| !self.neighbor.may_need_rebuild(t, &self.simbox)) {
            return;
        }
        let t = Instant::now();
        let (stale, largest) = self.neighbor.check(&self.particles.x, &self.simbox);
        self.timers.add(Phase::Neighbor, t.elapsed());
        self.timers.neighbor_checks += 1;
        *travel = largest;
        if stale {
            self.build_neighbors(None);
            *travel = Some(0.0);
        }
    }

    /// Runs `n` steps, calling observers on the steps their interval divides.
    pub fn run(&mut self, n: u64, observers: &mut [&mut dyn Observer]) {
        self.run_with(n, &mut [], observers);
    }

    /// Runs `n` steps with end-of-step fixes (thermostats, barostats, deformations).
    ///
    /// Where nothing acts between two steps (no fix, no observer due, not the last step),
    /// a step's final half-kick is deferred and fused with the next step's first one: the
    /// same arithmetic with one pass over memory instead of two. On one thread that pass
    /// runs inside the force pass, range by range ([`System::forces_then_kick`]). Kicks take
    /// their per-particle factors from [`KickFactors`], computed again after a list build
    /// or a fix that may change masses or radii ([`Fix::keeps_masses`]). The force sums are
    /// taken on the steps after which something may read them (see [`ForceSummary`]).
    ///
    /// The neighbour test reads every particle's position and its position at the build.
    /// While only this loop moves them, it keeps `travel`, a bound on how far any particle
    /// has moved since the build: the largest displacement at the last test, plus dt times
    /// a bound on the drift speeds of each step since (the kick returns it). Steps whose bound
    /// stays below half the skin skip the test, which could not have found a rebuild due.
    /// A fix may move particles or the box, so after one runs the bound is unknown.
    pub fn run_with(&mut self, n: u64, fixes: &mut [&mut dyn Fix], observers: &mut [&mut dyn Observer]) {
        // Masses and radii may have changed since the last run.
        self.kick_factors.forget();
        let mut pending = Pending::Initial;
        let mut travel = None;
        let fixes_read = fixes.iter().any(|f| f.reads_force_sums());
        team::run(|| {
            for k in 0..n {
                let next = self.step + 1;
                let due = observers.iter().any(|o| next.is_multiple_of(o.interval().max(1)));
                let last = k + 1 == n;
                let defer = fixes.is_empty() && !due && !last;
                pending = self.advance(pending, fixes_read || due || last, defer, &mut travel);
                if defer {
                    continue;
                }
                self.final_half();
                for f in fixes.iter_mut() {
                    f.end_of_step(self);
                    travel = None;
                    if !f.keeps_masses() {
                        self.kick_factors.forget();
                    }
                }
                self.observe(observers);
            }
        });
    }

    fn observe(&mut self, observers: &mut [&mut dyn Observer]) {
        if observers.is_empty() {
            return;
        }
        let t = std::time::Instant::now();
        for o in observers.iter_mut() {
            if self.step.is_multiple_of(o.interval().max(1)) {
                o.observe(self);
            }
        }
        self.timers.add(Phase::Observe, t.elapsed());
    }

    /// The narrowest periodic width a box may shrink to [µm]: the neighbour list's reach with
    /// a 2 % margin (see [`System::limit_shrink`]).
    pub fn shrink_floor(&self) -> f64 {
        1.02 * self.neighbor.reach()
    }

    /// The box scale factor `mu` along `axes`, raised where needed so that no periodic width
    /// shrinks below the neighbour list's reach (interaction range + skin, with a 2 %
    /// margin): past it a particle would reach its own image, or a partner's image two
    /// periods away, which the list does not hold (below twice the reach it holds every
    /// other image of a partner within reach, [`NeighborList`]); the flag says whether it
    /// was raised.
    pub fn limit_shrink(&self, axes: &[usize], mu: f64) -> (f64, bool) {
        let floor = self.shrink_floor();
        let narrowest = self.simbox.narrowest_periodic_width(axes);
        if mu < 1.0 && narrowest * mu < floor {
            ((floor / narrowest).min(1.0), true)
        } else {
            (mu, false)
        }
    }

    /// Scales the box and the particle positions affinely about the box centre along `axes`
    /// by `mu` (tilts scale with the lengths they tilt along).
    pub fn scale_box(&mut self, axes: &[usize], mu: f64) {
        let centre = self.simbox.scale_about_centre(axes, mu);
        self.particles.x.par_iter_mut().for_each(|x| {
            for &a in axes {
                x[a] = centre[a] + mu * (x[a] - centre[a]);
            }
        });
    }

    /// Pair forces and torques into `particles.f` / `particles.torque`, and `summary`.
    ///
    /// Pass 1 runs over blocks of owners in parallel, sized by the particle count
    /// ([`owner_block`]): in-range pairs go in pair order through [`PairBatch`]es to the
    /// styles; each owner sums its own side in pair order, a partner inside the block takes
    /// its side at once, and the j-sides of the other pairs go to the block's list for the
    /// partner's destination range. Pass 2 applies each range's lists in block (= pair) order
    /// on its own worker ([`scatter`]). Every sum thus has one order whatever the number of
    /// threads.
    pub fn compute_forces(&mut self, update_history: bool) {
        self.forces(update_history, true);
    }

    /// [`System::compute_forces`], taking the [`ForceSummary`] sums only with `tally`.
    fn forces(&mut self, update_history: bool, tally: bool) {
        let n = self.particles.len();
        let ob = owner_block(n);
        let n_blocks = n.div_ceil(ob);
        let dest = Destinations::new(n, rayon::current_num_threads());
        self.jside.resize_with(n_blocks, Vec::new);
        let (mut history, mut held) = self.neighbor.take_histories_out();
        let Particles {
            x,
            v,
            omega,
            f,
            torque,
            radius,
            mass,
            kind,
            ..
        } = &mut self.particles;
        let nl = &self.neighbor;
        let ctx = PairContext {
            kind,
            radius,
            mass,
            v,
            omega,
            dt: self.settings.dt,
            update_history,
        };
        let image = self.simbox.image_map();
        let rest = tally && self.rest_virial && self.ff.has_rest_forces();
        let pass = PassOne {
            list: nl,
            x,
            image: &image,
            shifts: &image.shifts(),
            lanes: LaneSource {
                ff: &self.ff,
                ctx: &ctx,
                xy_rate: self.xy_rate,
            },
            dest,
            tally,
            rest,
        };

        // Pass 1.
        let offsets = &nl.offsets;
        let block = |b: usize| (b * ob, ((b + 1) * ob).min(n));
        let owners = || (0..n_blocks).map(|b| block(b).1 - block(b).0);
        let pairs = || (0..n_blocks).map(|b| offsets[block(b).1] - offsets[block(b).0]);
        let work: Vec<_> = split_lengths(f, owners())
            .zip(split_lengths(torque, owners()))
            .zip(split_lengths(&mut history, pairs()).zip(split_lengths(&mut held, pairs())))
            .zip(self.jside.iter_mut())
            .enumerate()
            .map(|(b, (((f, torque), (hist, held)), js))| (b * ob, f, torque, hist, held, js))
            .collect();
        let partials: Vec<[f64; SUMS]> = team::map_items(
            work,
            Box::<PairBatch>::default,
            |batch, (lo, f, torque, hist, held, js)| {
                js.resize_with(dest.parts(), Vec::new);
                js.iter_mut().for_each(Vec::clear);
                pass.block(
                    batch,
                    BlockOut {
                        lo,
                        f,
                        torque,
                        hist,
                        held,
                        js,
                    },
                )
            },
        );
        self.neighbor.put_histories_back(history, held);
        if tally {
            let s = add_in_order(&partials);
            self.summary = ForceSummary {
                step: self.step,
                pe: s[0],
                virial: [s[1], s[2], s[3], s[4], s[5], s[6]],
                contacts: s[7] as u64,
                contact_elastic: s[8],
                virial_at_rest: rest.then(|| [s[9], s[10], s[11], s[12], s[13], s[14]]),
            };
        }

        // Pass 2.
        let p = &mut self.particles;
        scatter::apply(&self.jside, dest, &mut p.f, &mut p.torque, &p.radius);

        // Body force, then walls, act on every particle.
        let g = self.settings.gravity;
        if g != [0.0; 3] {
            p.f.par_chunks_mut(integrate::CHUNK)
                .zip(p.mass.par_chunks(integrate::CHUNK))
                .for_each(|(f, m)| add_weight(f, m, g));
        }
        let (dt, particles) = (self.settings.dt, &mut self.particles);
        for w in &mut self.walls {
            let elastic = w.apply(particles, dt, update_history);
            if tally {
                self.summary.contact_elastic += elastic;
            }
        }
    }

    /// Fails when a position, velocity, spin or force is not finite, naming the first such
    /// particle. Stage runners call it after each chunk of steps, so that a run that blew up
    /// (a timestep too large for the stiffest, lightest contact) stops with an error instead
    /// of writing NaN results or checkpointing a broken state.
    pub fn check_finite(&self) -> Result<()> {
        let p = &self.particles;
        let finite = |a: &[f64; 3]| a.iter().all(|v| v.is_finite());
        let quantities: [(&str, &[[f64; 3]]); 4] = [
            ("position", &p.x),
            ("velocity", &p.v),
            ("angular velocity", &p.omega),
            ("force", &p.f),
        ];
        for (name, values) in quantities {
            if let Some(k) = values.iter().position(|a| !finite(a)) {
                return Err(Error::Unstable {
                    step: self.step,
                    what: format!(
                        "particle {} (type {}) has a non-finite {name} {:?}",
                        p.id[k], p.kind[k], values[k]
                    ),
                    hint: format!(
                        "the timestep {} µs is probably too large for this force field's lightest, \
                         stiffest contacts: reduce it (the reference slurry model runs at 0.001 µs; \
                         at its best fit 0.002 µs already gives wrong stresses and 0.005 µs NaN), or \
                         check the force field and structure",
                        self.settings.dt
                    ),
                });
            }
        }
        Ok(())
    }

    /// Thermodynamic summary of the current state (uses the last force call).
    pub fn thermo(&self) -> Thermo {
        let p = &self.particles;
        let k = det_sum(p.len(), |k| {
            let v = p.v[k];
            let w = p.omega[k];
            let m = p.mass[k];
            let i = p.inertia(k);
            [
                m * v[0] * v[0],
                m * v[1] * v[1],
                m * v[2] * v[2],
                m * v[0] * v[1],
                m * v[0] * v[2],
                m * v[1] * v[2],
                i * (w[0] * w[0] + w[1] * w[1] + w[2] * w[2]),
            ]
        });
        let vol = self.simbox.volume();
        let w = self.summary.virial;
        let mut pressure = [0.0; 6];
        let mut virial = [0.0; 6];
        for a in 0..6 {
            pressure[a] = (k[a] + w[a]) / vol;
            virial[a] = w[a] / vol;
        }
        Thermo {
            step: self.step,
            pe_fj: self.summary.pe,
            contact_elastic_fj: self.summary.contact_elastic,
            ke_trans_fj: 0.5 * (k[0] + k[1] + k[2]),
            ke_rot_fj: 0.5 * k[6],
            pressure_kpa: pressure,
            virial_kpa: virial,
            pressure_scalar_kpa: (pressure[0] + pressure[1] + pressure[2]) / 3.0,
            volume_um3: vol,
            contacts: self.summary.contacts,
        }
    }

    /// Per particle: the number of overlapping neighbours and the pair-force stress
    /// σ = −(1/V) Σ_j ½ del ⊗ f over its pairs (walls excluded), order xx, yy, zz, xy, xz,
    /// yz [kPa], V its sphere volume. For output frames: one extra force pass that leaves
    /// the shear histories as they are.
    pub fn particle_stress(&self) -> (Vec<u32>, Vec<[f64; 6]>) {
        let p = &self.particles;
        let n = p.len();
        let mut contacts = vec![0u32; n];
        let mut w = vec![[0.0f64; 6]; n];
        let ctx = self.pair_context(&p.v, &p.omega);
        let mut batch = Box::<PairBatch>::default();
        self.visit_pair_forces(&ctx, self.xy_rate, 0..n, &mut batch, |i, j, del, rsq, f| {
            let pair = outer(del, f);
            for k in [i, j] {
                for a in 0..6 {
                    w[k][a] += 0.5 * pair[a];
                }
            }
            if rsq < (p.radius[i] + p.radius[j]).powi(2) {
                contacts[i] += 1;
                contacts[j] += 1;
            }
        });
        let stress = (0..n)
            .map(|k| {
                let v = 4.0 / 3.0 * std::f64::consts::PI * p.radius[k].powi(3);
                std::array::from_fn(|a| -w[k][a] / v)
            })
            .collect();
        (contacts, stress)
    }

    /// [`System::pair_virial_at_rest`] of the last force pass's configuration: taken with its
    /// sums when [`System::rest_virial`] is set, every style has a force at rest and those
    /// sums are this step's; else a pass at rest now. The two differ only where a fix moved
    /// the box after the pass (a shear's tilt, by γ̇·dt).
    pub fn virial_at_rest(&self) -> [f64; 6] {
        match self.summary.virial_at_rest {
            Some(w) if self.summary.step == self.step => w,
            _ => self.pair_virial_at_rest(),
        }
    }

    /// The pair virial Σ del ⊗ f (xx, yy, zz, xy, xz, yz) [nN·µm] of the present
    /// configuration brought to rest: every velocity and spin zero, the Lees–Edwards image
    /// at rest, shear histories as they are. What remains are the conservative forces (pair
    /// potentials, elastic overlaps, tangential springs); the full virial less this one is
    /// what the velocity-dependent damping adds. A force pass that changes nothing, over
    /// the owner blocks of [`owner_block`] in parallel, their sums added in block order (the
    /// same bits for any thread count).
    pub fn pair_virial_at_rest(&self) -> [f64; 6] {
        let n = self.particles.len();
        let zeros = vec![[0.0; 3]; n];
        let ctx = self.pair_context(&zeros, &zeros);
        let ob = owner_block(n);
        let partials: Vec<[f64; 6]> = (0..n.div_ceil(ob))
            .into_par_iter()
            .map_init(Box::<PairBatch>::default, |batch, b| {
                let mut w = [0.0; 6];
                self.visit_pair_forces(&ctx, 0.0, b * ob..((b + 1) * ob).min(n), batch, |_, _, del, _, f| {
                    for (a, x) in w.iter_mut().zip(outer(del, f)) {
                        *a += x;
                    }
                });
                w
            })
            .collect();
        add_in_order(&partials)
    }

    /// The context of a force pass that does not advance histories.
    fn pair_context<'a>(&'a self, v: &'a [[f64; 3]], omega: &'a [[f64; 3]]) -> PairContext<'a> {
        let p = &self.particles;
        PairContext {
            kind: &p.kind,
            radius: &p.radius,
            mass: &p.mass,
            v,
            omega,
            dt: self.settings.dt,
            update_history: false,
        }
    }

    /// Calls `visit(i, j, unit normal, rates)` for every listed pair in contact, in pair
    /// order (the unit normal points from j to i).
    pub fn each_contact(&self, mut visit: impl FnMut(usize, usize, [f64; 3], ContactRates)) {
        let p = &self.particles;
        let ctx = self.pair_context(&p.v, &p.omega);
        self.each_pair_in_range(0..p.len(), |i, j, slot, del, rsq, _| {
            if rsq == 0.0 {
                return;
            }
            let r = rsq.sqrt();
            let input = PairInput {
                i,
                j,
                del,
                rsq,
                r,
                dv: [0.0; 3],
            };
            if let Some(rates) = self.ff.contact_rates(&input, &ctx, &self.neighbor.history[slot]) {
                visit(i, j, [del[0] / r, del[1] / r, del[2] / r], rates);
            }
        });
    }

    /// Calls `visit(i, j, slot, del, rsq, image count)` for every listed pair of the
    /// `owners` within its stored range, in pair order, with its separation: through the
    /// pair's image where the list fixes it (as the force loop), else the minimum image.
    #[inline]
    fn each_pair_in_range(
        &self,
        owners: std::ops::Range<usize>,
        mut visit: impl FnMut(usize, usize, usize, [f64; 3], f64, [f64; 3]),
    ) {
        let (p, nl, image) = (&self.particles, &self.neighbor, self.simbox.image_map());
        let fixed = nl.fixed_images && nl.image.len() == nl.partner.len();
        let shifts = image.shifts();
        for i in owners {
            for slot in nl.pairs_of(i) {
                let j = nl.partner[slot] as usize;
                let raw = [p.x[i][0] - p.x[j][0], p.x[i][1] - p.x[j][1], p.x[i][2] - p.x[j][2]];
                let (del, count) = if fixed {
                    let code = nl.image[slot] as usize;
                    let s = shifts.shift[code];
                    ([raw[0] - s[0], raw[1] - s[1], raw[2] - s[2]], ImageMap::periods(code))
                } else {
                    image.apply_counted(raw)
                };
                let rsq = del[0] * del[0] + del[1] * del[1] + del[2] * del[2];
                if rsq < nl.range_sq[slot] as f64 {
                    visit(i, j, slot, del, rsq, count);
                }
            }
        }
    }

    /// Calls `visit(i, j, del, rsq, f)` for every in-range pair of the `owners`, in pair
    /// order, with its force on i; the styles run on batches, from copies of the shear
    /// histories (the list's stay as they are). `xy_rate` is the Lees–Edwards image speed.
    fn visit_pair_forces(
        &self,
        ctx: &PairContext,
        xy_rate: f64,
        owners: std::ops::Range<usize>,
        batch: &mut PairBatch,
        mut visit: impl FnMut(usize, usize, [f64; 3], f64, [f64; 3]),
    ) {
        let mut flush = |batch: &mut PairBatch| {
            batch.prepare();
            self.ff.compute_batch(batch, ctx);
            for k in 0..batch.len {
                let del = [batch.del[0][k], batch.del[1][k], batch.del[2][k]];
                let f = [batch.f[0][k], batch.f[1][k], batch.f[2][k]];
                visit(batch.i[k] as usize, batch.j[k] as usize, del, batch.rsq[k], f);
            }
            batch.len = 0;
        };
        let (p, nl) = (&self.particles, &self.neighbor);
        self.each_pair_in_range(owners, |i, j, slot, del, rsq, count| {
            let lane = LaneInput {
                i,
                j,
                slot,
                del,
                rsq,
                dvx: count[1] * xy_rate,
                ri: p.radius[i],
                rj: p.radius[j],
            };
            batch.push(&lane, &nl.history[slot]);
            if batch.is_full() {
                flush(batch);
            }
        });
        flush(batch);
    }

    /// Total momentum Σ m v [pg·µm/µs].
    pub fn momentum(&self) -> [f64; 3] {
        let p = &self.particles;
        det_sum(p.len(), |k| {
            let m = p.mass[k];
            [m * p.v[k][0], m * p.v[k][1], m * p.v[k][2]]
        })
    }

    /// Total energy: pair potential + contact elastic + translational and rotational
    /// kinetic [fJ]. (The tangential spring energy of contacts is not tallied.)
    pub fn total_energy(&self) -> f64 {
        let t = self.thermo();
        t.pe_fj + t.contact_elastic_fj + t.ke_trans_fj + t.ke_rot_fj
    }

    /// Reorders particles (new index n holds old particle `perm[n]`) and rebuilds the
    /// neighbour list, carrying each shear history over to its particle pair.
    pub fn reorder_particles(&mut self, perm: &[usize]) {
        self.build_neighbors(Some(perm));
    }
}

#[cfg(test)]
mod tests {
    use crate::bench::gas_case;

    /// The rebuild test taken chunk by chunk in the drifting pass gives
    /// `NeighborList::check`'s verdict on the moved particles: in the build's box, a
    /// scaled one and one changed past the test, for moves either side of the limit, of one
    /// particle (in either chunk) or all.
    #[test]
    fn the_test_taken_while_drifting_is_the_list_check() {
        let fresh = || {
            let mut sys = gas_case(13, 1).unwrap().system; // 2197 spheres: a chunk and a part
            sys.setup().unwrap();
            sys
        };
        let (n, skin) = (fresh().particles.len(), fresh().settings.skin);
        let (mut verdicts, mut tests) = (Vec::new(), Vec::new());
        for mu in [1.0, 1.0 + 1e-4, 1.1] {
            for (who, step) in [(0, 0.2), (n - 1, 0.2), (n / 2, 0.3), (usize::MAX, 0.26), (7, 0.6)] {
                let mut sys = fresh();
                sys.scale_box(&[0, 1, 2], mu);
                let shift = |x: &mut [f64; 3], i: usize| {
                    if who == usize::MAX || i == who {
                        x[0] += step * skin;
                    }
                };
                let mut plain = sys.particles.x.clone();
                plain.iter_mut().enumerate().for_each(|(i, x)| shift(x, i));
                let want = sys.neighbor.check(&plain, &sys.simbox).0;
                tests.push(std::mem::discriminant(&sys.neighbor.move_test(n, &sys.simbox)));
                let got = sys.timed_drift_then_test(|c| {
                    for (k, x) in c.x.iter_mut().enumerate() {
                        shift(x, c.lo + k);
                    }
                });
                assert_eq!(got, want, "box × {mu}, particle {who}, moved {step} skins");
                assert_eq!(sys.particles.x, plain);
                verdicts.push(got);
            }
        }
        // Both verdicts and every kind of test occur, so the comparison can fail either way.
        assert!(verdicts.contains(&true) && verdicts.contains(&false), "{verdicts:?}");
        tests.dedup();
        assert_eq!(tests.len(), 3, "fixed, affine and rebuild tests: {tests:?}");
    }
}
