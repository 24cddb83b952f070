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
//!
//! Phase 3 lives in `forces` (and, fused with phase 4 on one thread, in `kick_pass`);
//! what a state measures without advancing it (thermo, stresses, contacts) in `measure`.

mod forces;
mod kick_pass;
mod measure;

pub use measure::Thermo;

use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sim::ensemble::Fix;
use crate::sim::forcefield::{ForceField, ReachTable};
use crate::sim::integrate::{self, Chunk, KickFactors};
use crate::sim::neighbor::{MoveTest, NeighborList, Reorder};
use crate::sim::observer::Observer;
use crate::sim::particles::Particles;
use crate::sim::scatter::BlockJSides;
use crate::sim::simbox::SimBox;
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
