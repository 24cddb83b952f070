//! A live run for the viewer: the scenario's stages on a worker thread that sends progress
//! and frames over a channel and obeys run / pause / step / stop. The render thread only
//! polls, so it never waits for the simulation.

use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::scenario::Loaded;
use crate::sim::forcefield::reference::nominal_mass;
use crate::sim::system::System;
use crate::slurry::output::results_json;
use crate::slurry::protocol::{self, Progress};
use crate::view::frame::{Stage, ViewFrame};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Run,
    Pause,
    /// Run one chunk (a sample interval) and pause.
    Step,
    /// End the run (the viewer's reset).
    Stop,
}

#[derive(Debug)]
pub enum Event {
    /// A phase started: its name and length in steps.
    Phase {
        name: String,
        total: u64,
    },
    /// Steps done in the current phase.
    Progress(u64),
    Frame(Box<ViewFrame>),
    /// Thermodynamic values after a chunk (the live plots).
    Sample(Sample),
    Paused(bool),
    /// The run ended: `results.json`'s content.
    Done(Box<serde_json::Value>),
    Failed(String),
    Stopped,
}

/// What the live plots draw, one per observed chunk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub stage: Stage,
    /// Simulated time [µs].
    pub time_us: f64,
    /// Slurry mass over the box volume [g/cm³] (during NPT only, where the box breathes).
    pub density_g_cm3: Option<f64>,
    /// Scalar pressure [kPa].
    pub pressure_kpa: f64,
    /// −p_xy [kPa] (the shear stress under NEMD).
    pub shear_stress_kpa: f64,
    /// The top z wall or tool: height [µm] and the pressure the film exerts on it [MPa].
    pub tool: Option<(f64, f64)>,
}

pub struct Live {
    commands: Sender<Command>,
    /// Behind a mutex so that the handle can live in shared (Sync) state; only the owner polls.
    events: Mutex<Receiver<Event>>,
}

impl Live {
    /// Starts `l`'s stages on a worker thread (`threads` rayon workers), paused if `paused`;
    /// frames go out at most every `frame_every` of wall clock, and whenever paused.
    pub fn start(l: Loaded, threads: usize, paused: bool, frame_every: Duration) -> Result<Live> {
        let (commands, command_rx) = channel();
        let (event_tx, events) = channel();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::Setup(format!("cannot start the simulation's threads: {e}")))?;
        // Detached: a dropped `Live` stops it through the command channel.
        std::thread::Builder::new()
            .name("etwin-live".into())
            .spawn(move || {
                let mut link = Link {
                    am_factor: l.model.fixed.contact_factor,
                    commands: command_rx,
                    events: event_tx.clone(),
                    paused,
                    step_once: false,
                    stage: Stage::Slurry,
                    phase: String::new(),
                    done: 0,
                    last_frame: None,
                    frame_every,
                };
                let _ = event_tx.send(Event::Paused(paused));
                let out = pool.install(|| protocol::run(&l, &mut link, None));
                let _ = event_tx.send(match out {
                    Ok(run) => Event::Done(Box::new(results_json(&run))),
                    Err(Error::Stopped) => Event::Stopped,
                    Err(e) => Event::Failed(e.to_string()),
                });
            })
            .map_err(|e| Error::Setup(format!("cannot start the simulation thread: {e}")))?;
        Ok(Live {
            commands,
            events: Mutex::new(events),
        })
    }

    pub fn send(&self, c: Command) {
        let _ = self.commands.send(c);
    }

    /// Everything the worker sent since the last call (never blocks).
    pub fn poll(&self) -> Vec<Event> {
        let mut out = Vec::new();
        let Ok(events) = self.events.lock() else {
            return out;
        };
        loop {
            match events.try_recv() {
                Ok(e) => out.push(e),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return out,
            }
        }
    }

    /// Waits for the next event (tests and headless use).
    pub fn wait(&self, timeout: Duration) -> Option<Event> {
        self.events.lock().ok()?.recv_timeout(timeout).ok()
    }
}

impl Drop for Live {
    /// Asks the worker to stop and leaves it: it ends at its next chunk boundary (after a
    /// minimization, which has none, at the latest), so a reset never blocks the UI.
    fn drop(&mut self) {
        self.send(Command::Stop);
    }
}

/// The worker's side: forwards progress and frames, and holds the run while paused.
struct Link {
    /// AM contact diameter / nominal diameter (for the density).
    am_factor: f64,
    commands: Receiver<Command>,
    events: Sender<Event>,
    paused: bool,
    step_once: bool,
    stage: Stage,
    phase: String,
    done: u64,
    last_frame: Option<Instant>,
    frame_every: Duration,
}

impl Link {
    fn apply(&mut self, c: Command) -> Result<()> {
        match c {
            Command::Run => self.paused = false,
            Command::Pause => self.paused = true,
            Command::Step => {
                self.paused = false;
                self.step_once = true;
            }
            Command::Stop => return Err(Error::Stopped),
        }
        let _ = self.events.send(Event::Paused(self.paused));
        Ok(())
    }

    fn sample(&self, sys: &System) -> Sample {
        let t = sys.thermo();
        let area = {
            let l = sys.simbox.lengths();
            l[0] * l[1]
        };
        let tool = sys
            .walls
            .iter()
            .filter(|w| w.axis == 2 && w.side == crate::sim::wall::Side::Hi)
            .map(|w| (w.position, w.force_on_wall[2] / area * 1e-3))
            .next();
        Sample {
            stage: self.stage,
            time_us: sys.step as f64 * sys.settings.dt,
            // 1 pg/µm³ = 1 g/cm³.
            density_g_cm3: (self.phase == "npt").then(|| nominal_mass(&sys.particles, self.am_factor) / t.volume_um3),
            pressure_kpa: t.pressure_scalar_kpa,
            shear_stress_kpa: -t.pressure_kpa[3],
            tool,
        }
    }

    fn send_frame(&mut self, sys: &System) {
        let time = sys.step as f64 * sys.settings.dt;
        let label = format!("{} step {}", self.phase, sys.step);
        let f = ViewFrame::from_system(sys, self.stage, label, time, true);
        let _ = self.events.send(Event::Frame(Box::new(f)));
        self.last_frame = Some(Instant::now());
    }
}

impl Progress for Link {
    fn start(&mut self, phase: &str, total: u64) {
        self.stage = match phase {
            "drying" => Stage::Drying,
            "calendering" => Stage::Calendering,
            _ => Stage::Slurry,
        };
        self.phase = phase.to_string();
        self.done = 0;
        let _ = self.events.send(Event::Phase {
            name: phase.to_string(),
            total,
        });
    }

    fn advance(&mut self, steps: u64) {
        self.done += steps;
        let _ = self.events.send(Event::Progress(self.done));
    }

    fn finish(&mut self) {}

    fn observe(&mut self, sys: &System) -> Result<()> {
        loop {
            match self.commands.try_recv() {
                Ok(c) => self.apply(c)?,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Err(Error::Stopped),
            }
        }
        if self.step_once {
            self.step_once = false;
            self.paused = true;
            let _ = self.events.send(Event::Paused(true));
        }
        let _ = self.events.send(Event::Sample(self.sample(sys)));
        if self.paused || self.last_frame.is_none_or(|t| t.elapsed() >= self.frame_every) {
            self.send_frame(sys);
        }
        while self.paused {
            match self.commands.recv() {
                Ok(c) => self.apply(c)?,
                Err(_) => return Err(Error::Stopped),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;
    use std::path::Path;

    #[test]
    fn a_paused_run_steps_one_chunk_at_a_time_and_stops_on_request() {
        let l = Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/slurry_quick.ron")).unwrap();
        let live = Live::start(l, 1, true, Duration::from_millis(0)).unwrap();
        let next_frame = |live: &Live| loop {
            match live.wait(Duration::from_secs(60)).expect("an event within a minute") {
                Event::Frame(f) => return f,
                Event::Failed(e) => panic!("{e}"),
                _ => {}
            }
        };
        // Paused from the start: the first frame (after minimization) arrives and the run holds.
        let first = next_frame(&live);
        assert!(!first.is_empty() && first.stage == Stage::Slurry);
        std::thread::sleep(Duration::from_millis(200));
        let idle = live.poll();
        assert!(
            !idle.iter().any(|e| matches!(e, Event::Frame(_) | Event::Progress(_))),
            "a paused run advanced: {idle:?}"
        );
        // One step = one more frame, a later step number, then paused again.
        live.send(Command::Step);
        let second = next_frame(&live);
        assert_ne!(first.label, second.label);
        std::thread::sleep(Duration::from_millis(200));
        assert!(!live.poll().iter().any(|e| matches!(e, Event::Frame(_))));
        live.send(Command::Stop);
        loop {
            match live.wait(Duration::from_secs(60)).expect("the worker ends") {
                Event::Stopped => break,
                Event::Done(_) | Event::Failed(_) => panic!("the run did not stop on request"),
                _ => {}
            }
        }
    }
}
