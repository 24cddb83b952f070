//! The egui panels around the 3D view: run controls and view options (left), what-if
//! sliders and the map's prediction (right), plots and results (bottom).

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::{egui, EguiContexts};
use egui_plot::{Legend, Line, MarkerShape, Plot, PlotPoints, Points};

use super::camera::Orbit;
use super::shot::ShotRequest;
use super::state::{Clip, LiveState, Source, ViewState, Viewport3d, WhatIfState};
use crate::view::color;
use crate::view::frame::{ColorBy, Stage, CBD_SLAB_UM};
use crate::view::live::Command;
use crate::view::whatif::{self, Psd, Range};

/// The bottom panel's tabs.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    #[default]
    Density,
    Viscosity,
    PressureStrain,
    CbdProfile,
    Results,
}

#[derive(Default)]
pub struct UiLocal {
    tab: Tab,
    playing: bool,
    /// UI time of the last replay step [s].
    last_step: f64,
}

/// Height of the bottom panel's plots [px].
const PLOT_HEIGHT: f32 = 170.0;

/// Replay speed when playing [frames/s].
const PLAY_FPS: f64 = 4.0;

#[allow(clippy::too_many_arguments)]
pub fn panels(
    mut contexts: EguiContexts,
    mut view: ResMut<ViewState>,
    mut live: ResMut<LiveState>,
    mut whatif: ResMut<WhatIfState>,
    mut shot: ResMut<ShotRequest>,
    mut area: ResMut<Viewport3d>,
    window: Single<&Window, With<PrimaryWindow>>,
    mut orbit: ResMut<Orbit>,
    mut local: Local<UiLocal>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let (view, live, whatif, shot, local) = (&mut *view, &mut *live, &mut *whatif, &mut *shot, &mut *local);
    let mut root = egui::Ui::new(
        ctx.clone(),
        "viewport".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    let left = egui::Panel::left("controls")
        .default_size(290.0)
        .show(&mut root, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                controls(ui, view, live, whatif, local);
                ui.separator();
                view_options(ui, view);
                if ui.button("Fit the view to the box").clicked() {
                    orbit.user_moved = false;
                    orbit.fitted_to = Vec3::ZERO;
                    view.dirty = true;
                }
                ui.small("drag: orbit · right drag: pan · wheel: zoom");
                ui.separator();
                if ui.button("Save screenshot (PNG)").clicked() {
                    shot.ui_request = Some(std::path::PathBuf::from("etwin-screenshot.png"));
                }
                if let Ok(s) = shot.ui_status.lock() {
                    if !s.is_empty() {
                        ui.small(s.as_str());
                    }
                }
            });
        })
        .response
        .rect
        .width();
    let right = egui::Panel::right("whatif")
        .default_size(300.0)
        .show(&mut root, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                whatif_panel(ui, whatif, view, live);
                ui.separator();
                map_panel(ui, whatif);
            });
        })
        .response
        .rect
        .width();
    let bottom = egui::Panel::bottom("plots")
        .default_size(210.0)
        .show(&mut root, |ui| plots(ui, view, live, local))
        .response
        .rect
        .height();
    let s = window.scale_factor();
    let new = Viewport3d {
        left: left * s,
        right: right * s,
        top: 0.0,
        bottom: bottom * s,
    };
    if *area != new {
        *area = new;
    }
    Ok(())
}

fn controls(ui: &mut egui::Ui, view: &mut ViewState, live: &mut LiveState, whatif: &WhatIfState, local: &mut UiLocal) {
    ui.heading("electrode-twin");
    match &view.source {
        Source::Live { loaded } => {
            ui.label(format!("live: {}", loaded.scenario.name));
            ui.horizontal(|ui| {
                if ui.button(if live.paused { "▶ Run" } else { "⏸ Pause" }).clicked() {
                    live.send(if live.paused { Command::Run } else { Command::Pause });
                }
                if ui.button("⏭ Step").clicked() {
                    live.send(Command::Step);
                }
                if ui.button("⟲ Reset").clicked() {
                    let base = loaded.clone();
                    if let Err(e) = live.restart(&base, &whatif.settings, false) {
                        live.finished = Some(Err(e));
                    }
                    view.frame = None;
                }
            });
            stage_strip(ui, view.frame.as_ref().map(|f| f.stage));
            ui.label(format!(
                "phase: {}",
                if live.phase.is_empty() { "starting" } else { &live.phase }
            ));
            let frac = if live.total > 0 {
                live.done as f32 / live.total as f32
            } else {
                0.0
            };
            ui.add(egui::ProgressBar::new(frac).text(format!("{} / {} steps", live.done, live.total)));
            ui.small(format!("{} frames received", live.frames_received));
            match &live.finished {
                Some(Ok(_)) => {
                    ui.colored_label(egui::Color32::DARK_GREEN, "run finished");
                }
                Some(Err(e)) => {
                    ui.colored_label(egui::Color32::DARK_RED, e);
                }
                None => {}
            }
        }
        Source::Replay(r) => {
            ui.label(format!("replay: {}", r.dir.display()));
            let n = r.frames.len();
            let mut k = view.index;
            // Clicking a stage jumps to its first frame.
            if let Some(s) = stage_strip(ui, view.frame.as_ref().map(|f| f.stage)) {
                if let Some(first) = r.frames.iter().position(|f| f.stage == s) {
                    k = first;
                }
            }
            ui.add(egui::Slider::new(&mut k, 0..=n.saturating_sub(1)).text("frame"));
            ui.horizontal(|ui| {
                if ui.button("⏮").clicked() {
                    k = k.saturating_sub(1);
                }
                if ui.button(if local.playing { "⏸" } else { "▶" }).clicked() {
                    local.playing = !local.playing;
                }
                if ui.button("⏭").clicked() {
                    k = (k + 1).min(n - 1);
                }
            });
            if local.playing {
                let now = ui.ctx().input(|i| i.time);
                if now - local.last_step >= 1.0 / PLAY_FPS {
                    k = (k + 1) % n;
                    local.last_step = now;
                }
                ui.ctx().request_repaint();
            }
            view.seek(k);
        }
        Source::Structure(_) => {
            ui.label("structure file");
        }
    }
    if let Some(f) = &view.frame {
        ui.small(format!("{} · {} spheres", f.label, f.len()));
        if f.time_us.is_finite() {
            ui.small(format!("t = {:.2} µs", f.time_us));
        }
    }
}

/// The stages with the current one underlined; returns the one clicked.
fn stage_strip(ui: &mut egui::Ui, now: Option<Stage>) -> Option<Stage> {
    let mut clicked = None;
    ui.horizontal(|ui| {
        for (k, s) in Stage::ALL.iter().enumerate() {
            if k > 0 {
                ui.label(">");
            }
            let text = egui::RichText::new(s.name());
            let text = if Some(*s) == now {
                text.strong().underline()
            } else {
                text
            };
            if ui.add(egui::Label::new(text).sense(egui::Sense::click())).clicked() {
                clicked = Some(*s);
            }
        }
    });
    clicked
}

fn view_options(ui: &mut egui::Ui, view: &mut ViewState) {
    let mut by = view.color_by;
    egui::ComboBox::from_label("colour by")
        .selected_text(by.label())
        .show_ui(ui, |ui| {
            for c in ColorBy::ALL {
                ui.selectable_value(&mut by, c, c.label());
            }
        });
    if by != view.color_by {
        view.color_by = by;
        view.dirty = true;
    }
    legend(ui, view);
    let mut on = view.clip.is_some();
    let mut clip = view.clip.unwrap_or(Clip { axis: 1, at: 0.5 });
    ui.checkbox(&mut on, "clipping plane");
    if on {
        ui.horizontal(|ui| {
            for (a, name) in ["x", "y", "z"].iter().enumerate() {
                ui.radio_value(&mut clip.axis, a, *name);
            }
        });
        ui.add(egui::Slider::new(&mut clip.at, 0.0..=1.0).text("position (box fraction)"));
    }
    let new = on.then_some(clip);
    if new != view.clip {
        view.clip = new;
        view.dirty = true;
    }
}

fn rgb(c: [f32; 3]) -> egui::Color32 {
    let u = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    egui::Color32::from_rgb(u(c[0]), u(c[1]), u(c[2]))
}

fn legend(ui: &mut egui::Ui, view: &ViewState) {
    match (view.color_by, view.legend) {
        (ColorBy::Species, _) | (_, None) => {
            let kinds = view.frame.as_ref().map(|f| f.kinds()).unwrap_or_default();
            for k in kinds {
                ui.horizontal(|ui| {
                    let (r, _) = ui.allocate_exact_size(egui::vec2(14.0, 14.0), egui::Sense::hover());
                    ui.painter().rect_filled(r, 2.0, rgb(color::species(k)));
                    ui.label(if k == 1 {
                        "CBD (carbon + binder)".to_string()
                    } else {
                        format!("AM size class {}", k - 1)
                    });
                });
            }
            if view.color_by != ColorBy::Species {
                ui.small("(this frame has no such data: coloured by species)");
            }
        }
        (by, Some((lo, hi))) => {
            let (r, _) = ui.allocate_exact_size(egui::vec2(ui.available_width(), 14.0), egui::Sense::hover());
            let n = color::BUCKETS;
            let w = r.width() / n as f32;
            for b in 0..n {
                let cell =
                    egui::Rect::from_min_size(r.min + egui::vec2(b as f32 * w, 0.0), egui::vec2(w + 0.5, r.height()));
                ui.painter().rect_filled(cell, 0.0, rgb(color::bucket_color(b)));
            }
            ui.horizontal(|ui| {
                ui.small(format!("{lo:.3}"));
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    ui.small(format!("{hi:.3}"));
                });
            });
            ui.small(by.label());
        }
    }
}

fn slider(ui: &mut egui::Ui, v: &mut f64, r: Range) -> bool {
    ui.add(egui::Slider::new(v, r.min..=r.max).text(format!("{} [{}]", r.name, r.unit)))
        .changed()
}

fn whatif_panel(ui: &mut egui::Ui, w: &mut WhatIfState, view: &ViewState, live: &mut LiveState) {
    ui.heading("What if");
    let s = &mut w.settings;
    let mut changed = false;
    changed |= slider(ui, &mut s.am_pct, whatif::AM);
    changed |= slider(ui, &mut s.solids_pct, whatif::SOLIDS);
    egui::ComboBox::from_label("PSD (number fractions)")
        .selected_text(s.psd.name())
        .show_ui(ui, |ui| {
            for p in Psd::ALL {
                changed |= ui.selectable_value(&mut s.psd, p, p.name()).changed();
            }
        });
    changed |= slider(ui, &mut s.gap_um, whatif::GAP);
    ui.small("comma gap: map input only (the simulated film is a representative volume)");
    changed |= ui
        .checkbox(&mut s.heterogeneous, "binder migration (3 zones)")
        .changed();
    if s.heterogeneous {
        changed |= slider(ui, &mut s.rsf_top, whatif::RSF);
    }
    egui::ComboBox::from_label("live run goes through")
        .selected_text(s.last_stage.name())
        .show_ui(ui, |ui| {
            for st in Stage::ALL {
                changed |= ui.selectable_value(&mut s.last_stage, st, st.name()).changed();
            }
        });
    changed |= slider(ui, &mut s.compression_pct, whatif::COMPRESSION);
    changed |= slider(ui, &mut s.tool_speed, whatif::TOOL_SPEED);
    if changed {
        w.requery();
        w.pending = true;
    }
    if let Source::Live { loaded } = &view.source {
        let label = if w.pending {
            "Apply to the simulation (restarts it)"
        } else {
            "Restart the simulation"
        };
        if ui.button(label).clicked() {
            let base = loaded.clone();
            match live.restart(&base, &w.settings, true) {
                Ok(()) => w.pending = false,
                Err(e) => live.finished = Some(Err(e)),
            }
        }
    }
}

fn interval(v: &crate::map::model::ValuePrediction, unit: &str) -> String {
    format!("{:.3} [{:.3}, {:.3}] {unit}", v.value, v.low, v.high)
}

fn map_panel(ui: &mut egui::Ui, w: &WhatIfState) {
    ui.heading("Map prediction");
    let Some(model) = &w.map else {
        ui.label("no map loaded: start with --model out/map.json (from `etwin map train`)");
        return;
    };
    match &w.answer {
        Some(Ok(a)) => {
            egui::Grid::new("map_grid").num_columns(2).show(ui, |ui| {
                ui.label("mass loading class");
                ui.strong(a.mass_loading_class);
                ui.end_row();
                ui.label("porosity class");
                ui.strong(a.porosity_class);
                ui.end_row();
                ui.label("mass loading");
                ui.label(interval(&a.mass_loading, "mg/cm²"));
                ui.end_row();
                ui.label("dried porosity");
                ui.label(interval(&a.porosity, "%"));
                ui.end_row();
                ui.label("viscosity");
                ui.label(interval(&a.viscosity, "Pa·s"));
                ui.end_row();
            });
            if !a.extrapolated.is_empty() {
                ui.colored_label(
                    egui::Color32::from_rgb(180, 90, 0),
                    format!("outside the training data: {}", a.extrapolated.join(", ")),
                );
            }
            ui.small(format!("query {:.0} µs (on the UI thread)", w.query_us));
            let measured: Vec<[f64; 2]> = model
                .measured
                .iter()
                .map(|e| [e.mass_loading_mg_cm2, e.porosity_percent])
                .collect();
            let here = [a.mass_loading.value, a.porosity.value];
            let bar = vec![[a.mass_loading.low, here[1]], [a.mass_loading.high, here[1]]];
            let bar_y = vec![[here[0], a.porosity.low], [here[0], a.porosity.high]];
            Plot::new("map_plot")
                .height(190.0)
                .x_axis_label("mass loading [mg/cm²]")
                .y_axis_label("porosity [%]")
                .legend(Legend::default())
                .show(ui, move |p| {
                    p.points(
                        Points::new("measured", PlotPoints::from(measured))
                            .radius(2.5)
                            .color(egui::Color32::GRAY),
                    );
                    p.line(Line::new("interval", PlotPoints::from(bar)).color(egui::Color32::RED));
                    p.line(Line::new("", PlotPoints::from(bar_y)).color(egui::Color32::RED));
                    p.points(
                        Points::new("this recipe", PlotPoints::from(vec![here]))
                            .shape(MarkerShape::Diamond)
                            .radius(6.0)
                            .color(egui::Color32::RED),
                    );
                });
        }
        Some(Err(e)) => {
            ui.colored_label(egui::Color32::DARK_RED, e);
        }
        None => {}
    }
}

/// The results the plots draw from: the replay's, or the live run's once finished.
fn results<'a>(view: &'a ViewState, live: &'a LiveState) -> Option<&'a serde_json::Value> {
    match &view.source {
        Source::Replay(r) => r.results.as_ref(),
        _ => live.finished.as_ref().and_then(|f| f.as_ref().ok()),
    }
}

fn plot(ui: &mut egui::Ui, id: &str, x: &str, y: &str, lines: Vec<(String, Vec<[f64; 2]>)>) {
    if lines.iter().all(|(_, p)| p.is_empty()) {
        ui.label("no data yet for this plot");
        ui.allocate_space(egui::vec2(ui.available_width(), PLOT_HEIGHT));
        return;
    }
    Plot::new(id.to_string())
        .height(PLOT_HEIGHT)
        .x_axis_label(x.to_string())
        .y_axis_label(y.to_string())
        .legend(Legend::default())
        .show(ui, move |p| {
            for (name, pts) in lines {
                let n = pts.len();
                if n < 4 {
                    p.points(Points::new(name.clone(), PlotPoints::from(pts.clone())).radius(4.0));
                }
                p.line(Line::new(name, PlotPoints::from(pts)));
            }
        });
}

fn plots(ui: &mut egui::Ui, view: &ViewState, live: &LiveState, local: &mut UiLocal) {
    ui.horizontal(|ui| {
        for (t, name) in [
            (Tab::Density, "density"),
            (Tab::Viscosity, "viscosity vs shear rate"),
            (Tab::PressureStrain, "pressure vs strain"),
            (Tab::CbdProfile, "CBD vs z"),
            (Tab::Results, "results"),
        ] {
            ui.selectable_value(&mut local.tab, t, name);
        }
    });
    let replay = match &view.source {
        Source::Replay(r) => Some(r),
        _ => None,
    };
    let res = results(view, live);
    let live_pts = |f: &dyn Fn(&crate::view::live::Sample) -> Option<[f64; 2]>| -> Vec<[f64; 2]> {
        live.samples.iter().filter_map(f).collect()
    };
    match local.tab {
        Tab::Density => {
            let pts = match replay {
                Some(r) => r
                    .series("npt")
                    .and_then(|s| s.points("time", "density"))
                    .unwrap_or_default(),
                None => live_pts(&|s| Some([s.time_us, s.density_g_cm3?])),
            };
            plot(
                ui,
                "density",
                "time [µs]",
                "density [g/cm³]",
                vec![("slurry".into(), pts)],
            );
        }
        Tab::Viscosity if replay.is_none() && res.is_none() => {
            let pts = live_pts(&|s| (s.stage == Stage::Slurry).then_some([s.time_us, s.shear_stress_kpa]));
            ui.small("live: the shear stress; the viscosity curve appears when the run ends");
            plot(
                ui,
                "shear",
                "time [µs]",
                "−p_xy [kPa]",
                vec![("shear stress".into(), pts)],
            );
        }
        Tab::Viscosity => {
            let pts: Vec<[f64; 2]> = res
                .and_then(|r| r["slurry"]["viscosity"].as_array())
                .map(|v| {
                    v.iter()
                        .filter_map(|p| Some([p["shear_rate_per_s"].as_f64()?, p["viscosity_pa_s"].as_f64()?]))
                        .collect()
                })
                .unwrap_or_default();
            plot(
                ui,
                "viscosity",
                "shear rate [1/s]",
                "viscosity [Pa·s]",
                vec![("NEMD".into(), pts)],
            );
        }
        Tab::PressureStrain if replay.is_none() => {
            let pts = live_pts(&|s| {
                let (z, p) = s.tool?;
                (s.stage == Stage::Calendering).then_some([z, p])
            });
            plot(
                ui,
                "pressure",
                "tool height [µm]",
                "tool pressure [MPa]",
                vec![("calendering".into(), pts)],
            );
        }
        Tab::PressureStrain => {
            let pts = replay
                .and_then(|r| r.series("calendering"))
                .and_then(|s| s.points("strain", "tool_pressure"))
                .unwrap_or_default();
            plot(
                ui,
                "pressure",
                "strain [-]",
                "tool pressure [MPa]",
                vec![("calendering".into(), pts)],
            );
        }
        Tab::CbdProfile => {
            let mut lines = Vec::new();
            if let Some(f) = &view.frame {
                let mut prof: Vec<[f64; 2]> =
                    f.x.iter()
                        .zip(f.cbd_fraction(CBD_SLAB_UM))
                        .map(|(x, c)| [x[2] as f64, c as f64])
                        .collect();
                prof.sort_by(|a, b| a[0].total_cmp(&b[0]));
                lines.push(("this frame (per sphere's slab)".to_string(), prof));
            }
            for (stage, key) in [("drying", "drying"), ("calendering", "calendering")] {
                if let Some(p) = res.and_then(|r| r[key]["cbd_profile"].as_array()) {
                    let pts = p
                        .iter()
                        .filter_map(|s| Some([s["z_um"].as_f64()?, s["cbd_fraction"].as_f64()?]))
                        .collect();
                    lines.push((format!("after {stage}"), pts));
                }
            }
            plot(ui, "cbd", "z [µm]", "CBD fraction [-]", lines);
        }
        Tab::Results => results_table(ui, res),
    }
}

fn results_table(ui: &mut egui::Ui, res: Option<&serde_json::Value>) {
    let Some(r) = res else {
        ui.label("no results yet (a live run shows them when it finishes)");
        return;
    };
    let rows: [(&str, &str, &str); 10] = [
        ("slurry density", "/slurry/density_g_cm3", "g/cm³"),
        ("± stderr", "/slurry/density_stderr_g_cm3", "g/cm³"),
        ("wet film", "/drying/coating/wet_thickness_um", "µm"),
        ("dried thickness", "/drying/thickness_um", "µm"),
        ("dried porosity", "/drying/porosity", "-"),
        ("mass loading", "/drying/mass_loading_mg_cm2", "mg/cm²"),
        ("calendered thickness", "/calendering/thickness_um", "µm"),
        ("calendered porosity", "/calendering/porosity", "-"),
        ("spring-back", "/calendering/springback_pct", "%"),
        ("tortuosity factor", "/calendering/tortuosity_factor", "-"),
    ];
    egui::ScrollArea::vertical()
        .min_scrolled_height(PLOT_HEIGHT)
        .show(ui, |ui| {
            egui::Grid::new("results").striped(true).num_columns(3).show(ui, |ui| {
                for (name, ptr, unit) in rows {
                    if let Some(v) = r.pointer(ptr).and_then(|v| v.as_f64()) {
                        ui.label(name);
                        ui.monospace(format!("{v:.4}"));
                        ui.label(unit);
                        ui.end_row();
                    }
                }
                if let Some(v) = r.pointer("/slurry/viscosity").and_then(|v| v.as_array()) {
                    for p in v {
                        if let (Some(g), Some(e), Some(s)) = (
                            p["shear_rate_per_s"].as_f64(),
                            p["viscosity_pa_s"].as_f64(),
                            p["stderr_pa_s"].as_f64(),
                        ) {
                            ui.label(format!("viscosity at {g:.3e} 1/s"));
                            ui.monospace(format!("{e:.4} ± {s:.4}"));
                            ui.label("Pa·s");
                            ui.end_row();
                        }
                    }
                }
            });
        });
}
