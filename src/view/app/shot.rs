//! Screenshots: `--screenshot PNG --frames N` renders N frames once the scene is built, waits
//! (at least `SETTLE` of wall clock) until the render world has compiled every pipeline it
//! asked for, saves the window and exits; the UI's button saves without exiting. Frame times
//! are recorded.
//!
//! Why the pipeline wait: bevy compiles shaders on a task pool and skips what they draw until
//! they are ready. A software renderer with an unoptimized shader compiler (the CI's viewer
//! build) once took longer than the fixed wait, and the shot showed the panels without spheres.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::render::render_resource::PipelineCache;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::render::{Render, RenderApp, RenderSystems};

use super::state::ViewState;
use crate::error::{Error, Result};

/// Minimum wall time between the scene being ready and the capture.
const SETTLE: Duration = Duration::from_secs(3);
/// Frames in a row with no pipeline compiling and none added before the shot: pipelines are
/// queued when the render world first meets what needs them, a frame or two after the scene.
const QUIET_FRAMES: u32 = 10;
/// Longest wait for pipelines after the scene is ready; then the shot is taken anyway, with a
/// warning (the pixel check will say whether it matters).
const PIPELINE_PATIENCE: Duration = Duration::from_secs(600);

/// The render world's pipeline cache, as the main world sees it: pipelines known, and of
/// those, still queued or compiling. Written after each render.
#[derive(Resource, Clone, Default)]
pub struct Pipelines(Arc<PipelineCounts>);

#[derive(Default)]
struct PipelineCounts {
    known: AtomicUsize,
    waiting: AtomicUsize,
}

impl Pipelines {
    fn known_and_waiting(&self) -> (usize, usize) {
        (
            self.0.known.load(Ordering::Relaxed),
            self.0.waiting.load(Ordering::Relaxed),
        )
    }
}

/// Registers the render-world system that fills [`Pipelines`] (after `DefaultPlugins`).
pub fn track_pipelines(app: &mut App) {
    let pipelines = Pipelines::default();
    app.insert_resource(pipelines.clone());
    if let Some(render) = app.get_sub_app_mut(RenderApp) {
        render
            .insert_resource(pipelines)
            .add_systems(Render, publish_pipelines.in_set(RenderSystems::Cleanup));
    }
}

fn publish_pipelines(cache: Option<Res<PipelineCache>>, out: Res<Pipelines>) {
    if let Some(cache) = cache {
        out.0.known.store(cache.pipelines().count(), Ordering::Relaxed);
        out.0
            .waiting
            .store(cache.waiting_pipelines().count(), Ordering::Relaxed);
    }
}

/// What the run reports when it ends.
#[derive(Debug, Default)]
pub struct Outcome {
    pub saved: Option<PathBuf>,
    pub error: Option<String>,
    pub spheres: usize,
    /// Frame times after the scene was ready [s].
    pub frame_times: Vec<f32>,
    /// When the shot was taken: render pipelines known, of those still compiling, and the
    /// time since the scene was ready [s].
    pub pipelines: Option<(usize, usize, f32)>,
    /// The command line asked for a screenshot.
    pub wanted: Option<PathBuf>,
}

impl Outcome {
    pub fn shared() -> Arc<Mutex<Outcome>> {
        Arc::new(Mutex::new(Outcome::default()))
    }
}

#[derive(Resource)]
pub struct ShotRequest {
    /// The command line's screenshot (then exit).
    exit_after: Option<PathBuf>,
    frames: u32,
    counted: u32,
    ready_at: Option<Instant>,
    /// Pipeline count seen last frame, and frames in a row it held with none compiling.
    pipelines_seen: usize,
    quiet: u32,
    in_flight: bool,
    /// A screenshot asked for from the UI.
    pub ui_request: Option<PathBuf>,
    /// The last UI screenshot's result, for the panel.
    pub ui_status: Arc<Mutex<String>>,
    outcome: Arc<Mutex<Outcome>>,
}

impl ShotRequest {
    pub fn new(exit_after: Option<PathBuf>, frames: u32, outcome: Arc<Mutex<Outcome>>) -> ShotRequest {
        if let Ok(mut o) = outcome.lock() {
            o.wanted = exit_after.clone();
        }
        ShotRequest {
            exit_after,
            frames: frames.max(1),
            counted: 0,
            ready_at: None,
            pipelines_seen: 0,
            quiet: 0,
            in_flight: false,
            ui_request: None,
            ui_status: Arc::new(Mutex::new(String::new())),
            outcome,
        }
    }
}

fn save(image: &Image, path: &PathBuf) -> std::result::Result<(), String> {
    let rgb = image
        .clone()
        .try_into_dynamic()
        .map_err(|e| format!("cannot convert the frame: {e}"))?
        .to_rgb8();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    // Written beside and renamed: a reader never sees half a PNG.
    let tmp = path.with_extension("png.part");
    rgb.save_with_format(
        &tmp,
        bevy::image::ImageFormat::Png
            .as_image_crate_format()
            .ok_or("no PNG encoder")?,
    )
    .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn capture(
    mut commands: Commands,
    mut req: ResMut<ShotRequest>,
    view: Res<ViewState>,
    pipelines: Res<Pipelines>,
    time: Res<Time>,
    mut exit: MessageWriter<AppExit>,
) {
    let ready = view.frame.is_some() && !view.dirty;
    if ready {
        let spheres = view.frame.as_ref().map_or(0, |f| f.len());
        if let Ok(mut o) = req.outcome.lock() {
            if o.saved.is_some() || o.error.is_some() {
                if req.exit_after.is_some() {
                    exit.write(AppExit::Success);
                }
            } else if req.ready_at.is_some() {
                o.frame_times.push(time.delta_secs());
            }
            o.spheres = spheres;
        }
        req.ready_at.get_or_insert_with(Instant::now);
        req.counted += 1;
        let (known, waiting) = pipelines.known_and_waiting();
        req.quiet = if waiting == 0 && known == req.pipelines_seen {
            req.quiet + 1
        } else {
            0
        };
        req.pipelines_seen = known;
    }
    if let Some(path) = req.ui_request.take() {
        let status = req.ui_status.clone();
        commands
            .spawn(Screenshot::primary_window())
            .observe(move |shot: On<ScreenshotCaptured>| {
                let msg = match save(&shot.image, &path) {
                    Ok(()) => format!("saved {}", path.display()),
                    Err(e) => e,
                };
                if let Ok(mut s) = status.lock() {
                    *s = msg;
                }
            });
    }
    let waited = req.ready_at.map_or(Duration::ZERO, |t| t.elapsed());
    let compiled = req.quiet >= QUIET_FRAMES || waited >= PIPELINE_PATIENCE;
    let due = req.counted >= req.frames && waited >= SETTLE && compiled;
    if let (Some(path), true, false) = (req.exit_after.clone(), due, req.in_flight) {
        req.in_flight = true;
        let outcome = req.outcome.clone();
        if let Ok(mut o) = outcome.lock() {
            let (known, waiting) = pipelines.known_and_waiting();
            o.pipelines = Some((known, waiting, waited.as_secs_f32()));
        }
        commands
            .spawn(Screenshot::primary_window())
            .observe(move |shot: On<ScreenshotCaptured>| {
                let r = save(&shot.image, &path);
                if let Ok(mut o) = outcome.lock() {
                    match r {
                        Ok(()) => o.saved = Some(path.clone()),
                        Err(e) => o.error = Some(e),
                    }
                }
            });
    }
}

/// After the window closed: the frame-time figures, and an error if the asked-for
/// screenshot was not saved.
pub fn report(outcome: &Arc<Mutex<Outcome>>) -> Result<()> {
    let o = outcome
        .lock()
        .map_err(|_| Error::Setup("the viewer's report was poisoned".into()))?;
    let mut t: Vec<f32> = o.frame_times.iter().copied().filter(|t| *t > 0.0).collect();
    if !t.is_empty() {
        t.sort_by(f32::total_cmp);
        let mean = t.iter().sum::<f32>() / t.len() as f32;
        eprintln!(
            "viewer: {} spheres, {} frames after the scene was ready: frame time mean {:.1} ms, median {:.1} ms",
            o.spheres,
            t.len(),
            1e3 * mean,
            1e3 * t[t.len() / 2]
        );
    }
    match o.pipelines {
        Some((known, 0, wait)) => {
            eprintln!("viewer: {known} render pipelines compiled, shot taken {wait:.1} s after the scene was ready")
        }
        Some((known, waiting, wait)) => eprintln!(
            "viewer: WARNING: {waiting} of {known} render pipelines still compiling {wait:.0} s after the scene was ready; the shot may lack what they draw"
        ),
        None => {}
    }
    if let Some(e) = &o.error {
        return Err(Error::Setup(format!("screenshot: {e}")));
    }
    match (&o.wanted, &o.saved) {
        (Some(want), None) => Err(Error::Setup(format!(
            "{}: the window closed before the screenshot was taken",
            want.display()
        ))),
        (_, Some(p)) => {
            eprintln!("viewer: screenshot saved to {}", p.display());
            Ok(())
        }
        _ => Ok(()),
    }
}
