//! Screenshots: `--screenshot PNG --frames N` renders N frames once the scene is built (and
//! at least `SETTLE` of wall clock, while software renderers compile shaders), saves the
//! window and exits; the UI's button saves without exiting. Frame times are recorded.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};

use super::state::ViewState;
use crate::error::{Error, Result};

/// Minimum wall time between the scene being ready and the capture.
const SETTLE: Duration = Duration::from_secs(3);

/// What the run reports when it ends.
#[derive(Debug, Default)]
pub struct Outcome {
    pub saved: Option<PathBuf>,
    pub error: Option<String>,
    pub spheres: usize,
    /// Frame times after the scene was ready [s].
    pub frame_times: Vec<f32>,
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
    let due = req.counted >= req.frames && req.ready_at.is_some_and(|t| t.elapsed() >= SETTLE);
    if let (Some(path), true, false) = (req.exit_after.clone(), due, req.in_flight) {
        req.in_flight = true;
        let outcome = req.outcome.clone();
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
