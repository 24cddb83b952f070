//! `report.md` of a run: the key numbers of every stage with units, the figures (PNG) and
//! the manifest — what an engineer reads first; `results.json` stays the machine record.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::calendering::CalenderingResult;
use crate::drying::ProfilePoint;
use crate::error::Result;
use crate::io::atomic::write_atomic;
use crate::io::plot::{Line, LineChart, PALETTE};
use crate::slurry::protocol::SlurryRun;

const SIZE: (u32, u32) = (800, 560);

/// Figures of the report: (file, caption).
fn figures(dir: &Path, run: &SlurryRun) -> Result<Vec<(&'static str, &'static str)>> {
    let mut out = Vec::new();
    let v = &run.result.viscosity;
    if !v.is_empty() {
        let mut l = Line::new(
            "NEMD (SLLOD), ± standard error",
            v.iter().map(|p| (p.shear_rate_per_s, p.viscosity_pa_s)).collect(),
            PALETTE[0],
        );
        l.y_err = Some(v.iter().map(|p| p.stderr_pa_s).collect());
        LineChart {
            title: "Slurry viscosity".into(),
            x_desc: "shear rate [1/s]".into(),
            y_desc: "viscosity [Pa·s]".into(),
            log_x: true,
            log_y: v.iter().all(|p| p.viscosity_pa_s - p.stderr_pa_s > 0.0),
            lines: vec![l],
        }
        .write(&dir.join("viscosity.png"), SIZE)?;
        out.push(("viscosity.png", "Slurry viscosity vs shear rate"));
    }
    if let Some(c) = &run.calendering {
        let curve = &c.pressure_curve;
        if !curve.is_empty() {
            LineChart {
                title: format!("Calendering ({}): loading branch", c.tool),
                x_desc: "strain (compression of the film) [-]".into(),
                y_desc: "tool pressure [MPa]".into(),
                log_x: false,
                log_y: false,
                lines: vec![Line::new(
                    "tool force / area",
                    curve.iter().map(|p| (p.strain, p.pressure_mpa)).collect(),
                    PALETTE[1],
                )],
            }
            .write(&dir.join("pressure_strain.png"), SIZE)?;
            out.push(("pressure_strain.png", "Calendering pressure vs strain"));
        }
    }
    let profiles: Vec<(&str, &[ProfilePoint])> = [
        ("dried", run.drying.as_ref().map(|d| d.cbd_profile.as_slice())),
        (
            "consolidated",
            run.consolidation.as_ref().map(|c| c.cbd_profile.as_slice()),
        ),
        ("calendered", run.calendering.as_ref().map(|c| c.cbd_profile.as_slice())),
    ]
    .into_iter()
    .filter_map(|(n, p)| p.filter(|p| !p.is_empty()).map(|p| (n, p)))
    .collect();
    if !profiles.is_empty() {
        let chart = |title: &str, y: &str, f: fn(&ProfilePoint) -> f64| LineChart {
            title: title.into(),
            x_desc: "height above the collector z [µm]".into(),
            y_desc: y.into(),
            log_x: false,
            log_y: false,
            lines: profiles
                .iter()
                .enumerate()
                .map(|(k, (n, p))| Line::new(*n, p.iter().map(|q| (q.z_um, f(q))).collect(), PALETTE[k]))
                .collect(),
        };
        chart(
            "Porosity along the thickness",
            "porosity (CBD nano-pores as pore) [-]",
            |q| q.porosity,
        )
        .write(&dir.join("porosity_z.png"), SIZE)?;
        out.push(("porosity_z.png", "Porosity vs height"));
        chart(
            "Binder distribution along the thickness",
            "CBD share of the solid [-]",
            |q| q.cbd_share_of_solid,
        )
        .write(&dir.join("cbd_z.png"), SIZE)?;
        out.push(("cbd_z.png", "CBD share of the solid vs height (binder migration)"));
    }
    Ok(out)
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |x| format!("{x:.digits$}"))
}

/// Writes `report.md` and its figures into `dir`.
pub fn write_report(dir: &Path, run: &SlurryRun, manifest: &Value) -> Result<()> {
    let figs = figures(dir, run)?;
    let mut s = String::new();
    let name = manifest["scenario"].as_str().unwrap_or("?");
    let _ = writeln!(s, "# electrode-twin run report\n");
    let _ = writeln!(
        s,
        "Scenario `{name}`, seed {}, {} threads.\n",
        manifest["seed"], manifest["threads"]
    );
    slurry_section(&mut s, run);
    drying_section(&mut s, run);
    consolidation_section(&mut s, run);
    calendering_section(&mut s, run);
    if !figs.is_empty() {
        let _ = writeln!(s, "## Figures\n");
        for (file, caption) in &figs {
            let _ = writeln!(s, "![{caption}]({file})\n");
        }
    }
    let _ = writeln!(s, "## Timing\n\n| phase | wall time [s] |\n|---|---|");
    for (phase, t) in &run.timing {
        let _ = writeln!(s, "| {phase} | {t:.2} |");
    }
    let _ = writeln!(
        s,
        "\n## Manifest\n\n```json\n{}\n```",
        serde_json::to_string_pretty(manifest).unwrap_or_default()
    );
    write_atomic(&dir.join("report.md"), |w| w.write_all(s.as_bytes()))
}

fn slurry_section(s: &mut String, run: &SlurryRun) {
    let r = &run.result;
    let _ = writeln!(s, "## Slurry\n\n| quantity | value |\n|---|---|");
    let _ = writeln!(s, "| particles (AM, CBD) | {}, {} |", r.particles.am, r.particles.cbd);
    if let Some(m) = &r.minimize {
        let _ = writeln!(
            s,
            "| minimization: iterations, final max force [nN] | {}, {:.3e} |",
            m.iterations, m.max_force_nn
        );
    }
    let _ = writeln!(
        s,
        "| density [g/cm³] (AM + wet CBD beads, as the reference) | {} ± {} |",
        opt(r.density_g_cm3, 4),
        opt(r.density_stderr_g_cm3, 4)
    );
    let _ = writeln!(
        s,
        "| recipe density [g/cm³] (AM + CBD + solvent of the recipe) | {} |",
        opt(r.recipe_density_g_cm3, 4)
    );
    if let Some((what, hint)) = r.npt_box_warning() {
        let _ = writeln!(s, "\n**Warning:** {what}. Hint: {hint}.");
    }
    if !r.viscosity.is_empty() {
        let _ = writeln!(
            s,
            "\n| shear rate [1/s] | viscosity [Pa·s] | std. error [Pa·s] | strain [-] | steady | profile R² [-] | static stress [Pa] | damping viscosity [Pa·s] |\n|---|---|---|---|---|---|---|---|"
        );
        for v in &r.viscosity {
            let _ = writeln!(
                s,
                "| {:.3e} | {:.4} | {:.4} | {:.2} | {} | {:.3} | {:.2} ± {:.2} | {:.4} ± {:.4} |",
                v.shear_rate_per_s,
                v.viscosity_pa_s,
                v.stderr_pa_s,
                v.strain,
                v.steady,
                v.profile_r2,
                v.static_stress_pa,
                v.static_stress_stderr_pa,
                v.damping_viscosity_pa_s,
                v.damping_stderr_pa_s
            );
        }
    }
    s.push('\n');
}

fn drying_section(s: &mut String, run: &SlurryRun) {
    let Some(d) = &run.drying else { return };
    let _ = writeln!(
        s,
        "## Coating and drying ({})\n\n| quantity | value |\n|---|---|",
        d.mode
    );
    let rows = [
        ("wet thickness [µm]", format!("{:.2}", d.coating.wet_thickness_um)),
        ("dry thickness [µm]", format!("{:.2}", d.thickness_um)),
        ("mass loading [mg/cm²]", format!("{:.3}", d.mass_loading_mg_cm2)),
        ("porosity, CBD nano-pores as pore [-]", format!("{:.4}", d.porosity)),
        ("porosity, pores only [-]", format!("{:.4}", d.porosity_pores_only)),
        ("porosity, sphere sum [-]", format!("{:.4}", d.porosity_sum)),
        ("porosity, geometric [-]", format!("{:.4}", d.porosity_geometric)),
        ("density [g/cm³]", format!("{:.4}", d.density_g_cm3)),
        (
            "contacts AM–AM, AM–CBD",
            format!("{}, {}", d.contacts.am_am, d.contacts.am_cbd),
        ),
        ("active AM surface [-]", format!("{:.3}", d.active_surface_fraction)),
        (
            "film top converged",
            format!("{} (last change {:.3} µm)", d.converged, d.final_thickness_change_um),
        ),
        ("particles outside the film", d.particles_outside_film.to_string()),
    ];
    table_rows(s, &rows);
}

fn consolidation_section(s: &mut String, run: &SlurryRun) {
    let Some(c) = &run.consolidation else { return };
    let _ = writeln!(
        s,
        "## Consolidation of the dried film (dry material law, plate under load)\n\n| quantity | value |\n|---|---|"
    );
    let mut rows = vec![
        (
            "thickness before (minimized), after [µm]",
            format!("{:.2}, {:.2}", c.thickness_before_um, c.thickness_um),
        ),
        (
            "load held over the second half [kPa]",
            opt(c.hold_pressure_mpa.map(|p| p * 1e3), 3),
        ),
        ("collector / plate force there [-]", opt(c.force_balance, 3)),
        (
            "thickness converged",
            format!(
                "{} (change over the second half {} µm)",
                c.converged.unwrap_or(false),
                opt(c.hold_thickness_change_um, 3)
            ),
        ),
        (
            "porosity before → after, CBD nano-pores as pore [-]",
            format!("{:.4} → {:.4}", c.porosity_before, c.porosity),
        ),
        (
            "porosity after, pores only / sphere sum / geometric [-]",
            format!(
                "{:.4} / {:.4} / {:.4}",
                c.porosity_pores_only, c.porosity_sum, c.porosity_geometric
            ),
        ),
        (
            "minimization under the material law: iterations, max force [nN]",
            format!("{}, {:.3e}", c.relax.iterations, c.relax.max_force_nn),
        ),
    ];
    rows.extend(pressed_film_rows(c));
    table_rows(s, &rows);
}

fn calendering_section(s: &mut String, run: &SlurryRun) {
    let Some(c) = &run.calendering else { return };
    let _ = writeln!(s, "## Calendering ({})\n\n| quantity | value |\n|---|---|", c.tool);
    let mut rows = vec![
        (
            "thickness before, at the tool's lowest, after [µm]",
            format!(
                "{:.2}, {:.2}, {:.2}",
                c.thickness_before_um, c.thickness_min_um, c.thickness_um
            ),
        ),
        ("spring-back [%]", opt(c.springback_pct, 2)),
        (
            "porosity before → after, CBD nano-pores as pore [-]",
            format!("{:.4} → {:.4}", c.porosity_before, c.porosity),
        ),
        (
            "porosity before → after, sphere sum [-]",
            format!("{:.4} → {:.4}", c.porosity_before_sum, c.porosity_sum),
        ),
        (
            "porosity after, pores only / geometric [-]",
            format!("{:.4} / {:.4}", c.porosity_pores_only, c.porosity_geometric),
        ),
        ("peak pressure [MPa]", format!("{:.3}", c.max_pressure_mpa)),
        ("force balance collector/tool [-]", opt(c.force_balance, 3)),
        (
            "inertial number [-]",
            c.inertial_number.map_or("–".into(), |i| format!("{i:.2e}")),
        ),
        (
            "tortuosity factor before loading (through-plane) [-]",
            c.tortuosity_before_text(),
        ),
        ("tortuosity factor (through-plane) [-]", c.tortuosity_text()),
        (
            "pore size, local thickness [µm]",
            c.pore_size.as_ref().map_or("–".into(), |p| p.quantiles_text()),
        ),
        ("active AM surface [-]", format!("{:.3}", c.active_surface_fraction)),
    ];
    rows.extend(pressed_film_rows(c));
    table_rows(s, &rows);
}

/// The rows a consolidated and a calendered film share.
fn pressed_film_rows(c: &CalenderingResult) -> [(&'static str, String); 5] {
    [
        ("density [g/cm³]", format!("{:.4}", c.density_g_cm3)),
        ("mass loading [mg/cm²]", format!("{:.3}", c.mass_loading_mg_cm2)),
        (
            "contacts AM–AM, AM–CBD",
            format!("{}, {}", c.contacts.am_am, c.contacts.am_cbd),
        ),
        (
            "steps, timestep [µs], mass scale",
            format!("{}, {:.3e}, {:.0e}", c.steps, c.timestep_us, c.mass_scale),
        ),
        ("particles outside the film", c.particles_outside_film.to_string()),
    ]
}

fn table_rows(s: &mut String, rows: &[(&str, String)]) {
    for (k, v) in rows {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    s.push('\n');
}
