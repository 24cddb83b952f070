//! The viewer's resources: what is shown, the live run, the what-if settings and the map.

use std::time::{Duration, Instant};

use bevy::prelude::*;

use crate::map::model::MapModel;
use crate::scenario::Loaded;
use crate::view::frame::{ColorBy, ViewFrame};
use crate::view::live::{Command, Event, Live, Sample};
use crate::view::replay::RunFolder;
use crate::view::whatif::{query, MapAnswer, WhatIf};

/// Where the frames come from.
pub enum Source {
    /// A scenario run live on a worker thread.
    Live { loaded: Box<Loaded> },
    /// A finished run folder.
    Replay(Box<RunFolder>),
    /// One structure file.
    Structure(Box<ViewFrame>),
}

/// A clipping plane: spheres whose centre lies beyond it are hidden.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clip {
    /// 0 = x, 1 = y, 2 = z (simulation axes).
    pub axis: usize,
    /// Position as a fraction of the box along `axis`.
    pub at: f32,
}

#[derive(Resource)]
pub struct ViewState {
    pub source: Source,
    /// The frame drawn now (None until a live run sends its first).
    pub frame: Option<ViewFrame>,
    /// Replay: index of the shown frame.
    pub index: usize,
    pub color_by: ColorBy,
    pub clip: Option<Clip>,
    /// The scene must be rebuilt from `frame`.
    pub dirty: bool,
    /// The legend's value range of the current colouring.
    pub legend: Option<(f32, f32)>,
}

impl ViewState {
    pub fn new(source: Source, color_by: ColorBy, first: i64) -> ViewState {
        let (frame, index) = match &source {
            Source::Replay(r) => {
                let n = r.frames.len() as i64;
                let k = if first < 0 { n + first } else { first }.clamp(0, n - 1) as usize;
                (Some(r.frames[k].clone()), k)
            }
            Source::Structure(f) => (Some((**f).clone()), 0),
            Source::Live { .. } => (None, 0),
        };
        ViewState {
            source,
            frame,
            index,
            color_by,
            clip: None,
            dirty: true,
            legend: None,
        }
    }

    /// Replay: show frame `k`.
    pub fn seek(&mut self, k: usize) {
        if let Source::Replay(r) = &self.source {
            let k = k.min(r.frames.len() - 1);
            if k != self.index || self.frame.is_none() {
                self.index = k;
                self.frame = Some(r.frames[k].clone());
                self.dirty = true;
            }
        }
    }
}

/// The live run and what it reported.
#[derive(Resource)]
pub struct LiveState {
    pub threads: usize,
    /// Start running (not paused).
    pub autorun: bool,
    pub live: Option<Live>,
    pub phase: String,
    pub total: u64,
    pub done: u64,
    pub paused: bool,
    pub finished: Option<std::result::Result<serde_json::Value, String>>,
    /// Frames received from the worker.
    pub frames_received: u64,
    /// The live plots' samples since the (re)start.
    pub samples: Vec<Sample>,
}

impl LiveState {
    pub fn new(threads: usize, autorun: bool) -> LiveState {
        LiveState {
            threads,
            autorun,
            live: None,
            phase: String::new(),
            total: 0,
            done: 0,
            paused: true,
            finished: None,
            frames_received: 0,
            samples: Vec::new(),
        }
    }

    pub fn send(&self, c: Command) {
        if let Some(l) = &self.live {
            l.send(c);
        }
    }

    /// (Re)starts the scenario with the what-if settings, paused unless `run`.
    pub fn restart(&mut self, base: &Loaded, w: &WhatIf, run: bool) -> std::result::Result<(), String> {
        self.live = None; // stops and joins the previous worker
        let mut l = base.clone();
        w.apply(&mut l).map_err(|e| e.to_string())?;
        let live = Live::start(l, self.threads, !run, Duration::from_millis(100)).map_err(|e| e.to_string())?;
        *self = LiveState {
            live: Some(live),
            paused: !run,
            ..LiveState::new(self.threads, self.autorun)
        };
        Ok(())
    }
}

/// The what-if sliders and the map's answer for them.
#[derive(Resource)]
pub struct WhatIfState {
    pub settings: WhatIf,
    pub map: Option<MapModel>,
    pub answer: Option<std::result::Result<MapAnswer, String>>,
    /// Wall time of the last map query [µs].
    pub query_us: f64,
    /// The settings differ from those of the running simulation.
    pub pending: bool,
}

impl WhatIfState {
    pub fn new(settings: WhatIf, map: Option<MapModel>) -> WhatIfState {
        let mut s = WhatIfState {
            settings,
            map,
            answer: None,
            query_us: 0.0,
            pending: false,
        };
        s.requery();
        s
    }

    /// Asks the map again (called when a slider moved; measured, typically microseconds).
    pub fn requery(&mut self) {
        if let Some(m) = &self.map {
            let t = Instant::now();
            self.answer = Some(query(m, &self.settings).map_err(|e| e.to_string()));
            self.query_us = t.elapsed().as_secs_f64() * 1e6;
        }
    }
}

/// The part of the window the 3D view gets (physical pixels), set by the panels.
#[derive(Resource, Default, Clone, Copy, PartialEq)]
pub struct Viewport3d {
    pub left: f32,
    pub right: f32,
    pub top: f32,
    pub bottom: f32,
}

/// Starts the live run when the source is a scenario (paused on its first frame unless `--run`).
pub fn start_live(view: Res<ViewState>, mut live: ResMut<LiveState>, whatif: Res<WhatIfState>) {
    if let Source::Live { loaded } = &view.source {
        let run = live.autorun;
        if let Err(e) = live.restart(loaded, &whatif.settings, run) {
            live.finished = Some(Err(e));
        }
    }
}

/// Drains the worker's events; keeps only the newest frame.
pub fn pump(mut view: ResMut<ViewState>, mut live: ResMut<LiveState>) {
    let Some(l) = &live.live else { return };
    let events = l.poll();
    let mut newest = None;
    for e in events {
        match e {
            Event::Phase { name, total } => {
                live.phase = name;
                live.total = total;
                live.done = 0;
            }
            Event::Progress(d) => live.done = d,
            Event::Frame(f) => {
                live.frames_received += 1;
                newest = Some(f);
            }
            Event::Sample(s) => live.samples.push(s),
            Event::Paused(p) => live.paused = p,
            Event::Done(r) => live.finished = Some(Ok(*r)),
            Event::Failed(e) => live.finished = Some(Err(e)),
            Event::Stopped => {}
        }
    }
    if let Some(f) = newest {
        view.frame = Some(*f);
        view.dirty = true;
    }
}
