//! The bevy + egui viewer (feature `viewer`): `etwin view [SCENARIO | RUN_DIR | STRUCTURE]`.
//!
//! Systems, in frame order:
//! 1. `live::pump`: drain the worker's events (never waits), keep the newest frame;
//! 2. `ui::panels` (egui pass): controls, what-if sliders, plots, results, map, legend;
//!    sets the 3D viewport to what the panels leave;
//! 3. `camera::orbit`: mouse orbit / pan / zoom, ignored while the pointer is over egui;
//! 4. `scene::sync`: spheres, box and tools follow the shown frame when it changed;
//! 5. `shot::capture`: the command line's `--screenshot` (and the UI's button), once the
//!    render world's pipelines are compiled (`shot::track_pipelines`).

mod camera;
mod scene;
mod shot;
mod state;
mod ui;

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::window::WindowResolution;
use bevy_egui::{EguiPlugin, EguiPrimaryContextPass};

use crate::error::{Error, Result};
use crate::io::lammps_data::DataFile;
use crate::map::model::MapModel;
use crate::scenario::Scenario;
use crate::view::frame::{ColorBy, Stage, ViewFrame};
use crate::view::replay::RunFolder;
use crate::view::whatif::WhatIf;

pub use state::Source;

/// What `etwin view` was asked to do.
#[derive(Debug, Clone)]
pub struct ViewArgs {
    /// A scenario (.ron: live run), a run folder (replay) or a structure file (one frame).
    pub path: Option<PathBuf>,
    /// A trained map (`etwin map train --out …`) for the prediction panel.
    pub model: Option<PathBuf>,
    /// Save the window here after `frames` rendered frames, then exit.
    pub screenshot: Option<PathBuf>,
    pub frames: u32,
    pub color_by: ColorBy,
    /// Replay: the frame to show first (negative counts from the end).
    pub frame: i64,
    /// A live run starts running (else paused on its first frame).
    pub run: bool,
    pub width: u32,
    pub height: u32,
    /// Simulation threads of a live run.
    pub threads: usize,
}

/// Loads the inputs (errors before any window opens), then runs the app until closed.
pub fn run(args: ViewArgs) -> Result<()> {
    let source = load_source(&args)?;
    // winit panics without a display: say so first (this build speaks X11 only).
    if cfg!(target_os = "linux") && std::env::var_os("DISPLAY").is_none() {
        return Err(Error::Setup(
            "no X display (DISPLAY is unset)\n  hint: run it on a desktop, or headless: xvfb-run -a etwin view …"
                .into(),
        ));
    }
    let map = match &args.model {
        Some(p) => Some(MapModel::load(p)?),
        None => None,
    };
    let whatif = match &source {
        Source::Live { loaded, .. } => WhatIf::from_scenario(&loaded.scenario),
        _ => WhatIf::from_scenario(&Scenario::load(&default_scenario())?.scenario),
    };
    let state = state::ViewState::new(source, args.color_by, args.frame);
    let outcome = shot::Outcome::shared();
    let shared = outcome.clone();
    // bevy and winit panic on a missing display or GPU driver: turn that into an error.
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        build(&args, state, whatif, map, shared).run()
    }));
    match ran {
        Ok(AppExit::Success) => {}
        Ok(AppExit::Error(code)) => return Err(Error::Setup(format!("the viewer exited with code {code}"))),
        Err(_) => {
            return Err(Error::Setup(
                "the viewer stopped (see the message above)\n  hint: it needs an X display and a Vulkan or GL driver; without a GPU install Mesa's software Vulkan (Debian: mesa-vulkan-drivers)".into(),
            ))
        }
    }
    shot::report(&outcome)
}

/// The app: plugins, resources and the systems in the order of the module comment.
fn build(
    args: &ViewArgs,
    state: state::ViewState,
    whatif: WhatIf,
    map: Option<MapModel>,
    outcome: std::sync::Arc<std::sync::Mutex<shot::Outcome>>,
) -> App {
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: "electrode-twin".into(),
                    resolution: WindowResolution::new(args.width, args.height).with_scale_factor_override(1.0),
                    ..default()
                }),
                ..default()
            })
            .set(bevy::log::LogPlugin {
                level: bevy::log::Level::WARN,
                ..default()
            }),
    )
    .add_plugins(EguiPlugin::default())
    .add_plugins(shot::track_pipelines)
    .insert_resource(ClearColor(Color::srgb(0.93, 0.94, 0.96)))
    .insert_resource(state)
    .insert_resource(state::WhatIfState::new(whatif, map))
    .insert_resource(state::LiveState::new(args.threads, args.run))
    .insert_resource(shot::ShotRequest::new(args.screenshot.clone(), args.frames, outcome))
    .insert_resource(camera::Orbit::default())
    .insert_resource(state::Viewport3d::default())
    .add_systems(Startup, (scene::setup, camera::setup, state::start_live))
    .add_systems(EguiPrimaryContextPass, ui::panels)
    .add_systems(
        Update,
        (
            state::pump,
            camera::orbit,
            camera::apply_viewport,
            scene::sync,
            shot::capture,
        )
            .chain(),
    );
    app
}

/// The scenario the what-if panel starts from when none is open.
fn default_scenario() -> PathBuf {
    let local = PathBuf::from("scenarios/chain_quick.ron");
    if local.is_file() {
        local
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/chain_quick.ron")
    }
}

fn load_source(args: &ViewArgs) -> Result<Source> {
    let path = args.path.clone().unwrap_or_else(default_scenario);
    if path.is_dir() {
        return Ok(Source::Replay(Box::new(RunFolder::open(&path)?)));
    }
    if path.extension().is_some_and(|e| e == "ron") {
        return Ok(Source::Live {
            loaded: Box::new(Scenario::load(&path)?),
        });
    }
    if !path.exists() {
        return Err(Error::Setup(format!(
            "{}: no such file or folder\n  hint: etwin view takes a scenario (.ron), a run folder (out/NAME) or a LAMMPS data file",
            path.display()
        )));
    }
    let d = DataFile::read(&path)?;
    let label = path.display().to_string();
    Ok(Source::Structure(Box::new(ViewFrame::of_particles(
        &d.particles,
        d.simbox,
        Stage::Slurry,
        label,
        0.0,
    ))))
}
