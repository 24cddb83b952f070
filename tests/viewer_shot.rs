//! The viewer's screenshot check. `tests/viewer_check.sh` renders `etwin view out/chain_quick
//! --screenshot shot.png` under Xvfb with Mesa's software Vulkan, then runs the ignored test
//! here on it (`ETWIN_VIEWER_SHOT=shot.png cargo test --release --test viewer_shot --
//! --ignored`). The criteria themselves are tested on synthetic images: a blank, a black and
//! a panel-only image fail.

use image::{Rgb, RgbImage};

/// What the screenshot must show.
#[derive(Debug)]
struct Stats {
    /// Share of the 3D view's pixels that differ from its background colour.
    particles: f64,
    /// Hue families of the AM classes (orange, yellow, green) present with ≥ 0.2 % of the
    /// 3D view's pixels each.
    species_hues: usize,
    /// Dark, low-saturation pixels (CBD beads, box edges) in the 3D view.
    dark: f64,
    /// Mean luminance of the left panel strip, and of the 3D view's background.
    panel_luma: f64,
    background_luma: f64,
    /// Distinct colours in the panel strip (text on a panel).
    panel_colours: usize,
    mean_luma: f64,
}

fn luma(p: &Rgb<u8>) -> f64 {
    0.2126 * p[0] as f64 + 0.7152 * p[1] as f64 + 0.0722 * p[2] as f64
}

/// Hue [deg] and saturation of an sRGB pixel.
fn hue_sat(p: &Rgb<u8>) -> (f64, f64) {
    let [r, g, b] = [p[0] as f64 / 255.0, p[1] as f64 / 255.0, p[2] as f64 / 255.0];
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    let c = max - min;
    if c < 1e-9 {
        return (0.0, 0.0);
    }
    let h = if max == r {
        60.0 * (((g - b) / c).rem_euclid(6.0))
    } else if max == g {
        60.0 * ((b - r) / c + 2.0)
    } else {
        60.0 * ((r - g) / c + 4.0)
    };
    (h, c / max)
}

fn stats(img: &RgbImage) -> Stats {
    let (w, h) = img.dimensions();
    // The 3D view lies between the left (≈ 290 px) and right (≈ 300 px) panels and above the
    // bottom one (≈ 210 px) of a 1280 × 800 window: sample its central part.
    let (x0, x1, y0, y1) = (w * 26 / 100, w * 73 / 100, h * 3 / 100, h * 68 / 100);
    let mut counts = std::collections::HashMap::new();
    for y in y0..y1 {
        for x in x0..x1 {
            let p = img.get_pixel(x, y);
            *counts.entry((p[0] >> 3, p[1] >> 3, p[2] >> 3)).or_insert(0usize) += 1;
        }
    }
    let n = ((x1 - x0) * (y1 - y0)) as f64;
    let (bg, bg_count) = counts.iter().max_by_key(|(_, c)| **c).map(|(k, c)| (*k, *c)).unwrap();
    let mut hues = [0usize; 3];
    let mut dark = 0usize;
    let mut bg_luma = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            let p = img.get_pixel(x, y);
            if (p[0] >> 3, p[1] >> 3, p[2] >> 3) == bg {
                bg_luma += luma(p);
                continue;
            }
            let (hue, sat) = hue_sat(p);
            if sat > 0.4 && luma(p) > 30.0 {
                match hue {
                    h if (8.0..32.0).contains(&h) => hues[0] += 1,
                    h if (34.0..60.0).contains(&h) => hues[1] += 1,
                    h if (90.0..150.0).contains(&h) => hues[2] += 1,
                    _ => {}
                }
            } else if sat < 0.25 && luma(p) < 80.0 {
                dark += 1;
            }
        }
    }
    let species_hues = hues.iter().filter(|&&c| c as f64 >= 0.002 * n).count();
    let strip = w * 15 / 100;
    let mut panel = std::collections::HashSet::new();
    let mut panel_luma = 0.0;
    for y in 0..h {
        for x in 0..strip {
            let p = img.get_pixel(x, y);
            panel.insert((p[0] >> 4, p[1] >> 4, p[2] >> 4));
            panel_luma += luma(p);
        }
    }
    let mean_luma = img.pixels().map(luma).sum::<f64>() / (w * h) as f64;
    Stats {
        particles: 1.0 - bg_count as f64 / n,
        species_hues,
        dark: dark as f64 / n,
        panel_luma: panel_luma / (strip * h) as f64,
        background_luma: bg_luma / bg_count as f64,
        panel_colours: panel.len(),
        mean_luma,
    }
}

/// Why the screenshot fails, or Ok.
fn judge(s: &Stats) -> Result<(), String> {
    let mut why = Vec::new();
    if s.mean_luma < 15.0 {
        why.push(format!("black image (mean luminance {:.1})", s.mean_luma));
    }
    if s.particles < 0.05 {
        why.push(format!(
            "only {:.1} % of the 3D view is not background",
            100.0 * s.particles
        ));
    }
    if s.species_hues < 3 {
        why.push(format!("{} of the 3 AM class colours are visible", s.species_hues));
    }
    if s.dark < 0.002 {
        why.push(format!(
            "no CBD beads or box edges ({:.2} % dark pixels)",
            100.0 * s.dark
        ));
    }
    if (s.panel_luma - s.background_luma).abs() < 20.0 || s.panel_colours < 4 {
        why.push(format!(
            "no panel: left strip luminance {:.0} vs background {:.0}, {} colours",
            s.panel_luma, s.background_luma, s.panel_colours
        ));
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}

#[test]
#[ignore = "run by tests/viewer_check.sh on a screenshot it renders (ETWIN_VIEWER_SHOT)"]
fn viewer_screenshot_shows_particles_and_panels() {
    let path = std::env::var("ETWIN_VIEWER_SHOT").expect("ETWIN_VIEWER_SHOT names the screenshot to check");
    let img = image::open(&path).unwrap_or_else(|e| panic!("{path}: {e}")).to_rgb8();
    let s = stats(&img);
    println!("{path}: {s:?}");
    if let Err(e) = judge(&s) {
        panic!("{path}: {e}\n{s:?}");
    }
}

/// A synthetic screenshot: a dark left panel with light "text" pixels, a light background,
/// and discs in the three AM colours plus dark CBD discs.
fn synthetic(panel: bool, discs: bool) -> RgbImage {
    let (w, h) = (1280, 800);
    let mut img = RgbImage::from_pixel(w, h, Rgb([237, 240, 245]));
    if panel {
        for y in 0..h {
            for x in 0..290 {
                // Anti-aliased "text": a few grey levels on the panel's dark fill.
                let text = (x % 7 < 2) && (y % 11 < 6);
                let g = 90 + 30 * (x % 5) as u8;
                img.put_pixel(x, y, if text { Rgb([g, g, g]) } else { Rgb([27, 27, 27]) });
            }
        }
    }
    if discs {
        let colours = [[217, 84, 26], [237, 176, 33], [77, 176, 74], [30, 30, 33]];
        for k in 0..120u32 {
            let (cx, cy) = (360 + (k % 12) * 45, 60 + (k / 12) * 45);
            let c = colours[(k % 4) as usize];
            for y in cy.saturating_sub(15)..cy + 15 {
                for x in cx - 15..cx + 15 {
                    let (dx, dy) = (x as i64 - cx as i64, y as i64 - cy as i64);
                    if dx * dx + dy * dy < 225 {
                        img.put_pixel(x, y, Rgb(c));
                    }
                }
            }
        }
    }
    img
}

#[test]
fn the_criteria_pass_a_scene_and_fail_blank_black_and_panel_only_images() {
    let good = stats(&synthetic(true, true));
    assert!(judge(&good).is_ok(), "{good:?}");
    let blank = stats(&synthetic(false, false));
    assert!(judge(&blank).is_err(), "{blank:?}");
    let black = stats(&RgbImage::from_pixel(1280, 800, Rgb([0, 0, 0])));
    assert!(judge(&black).is_err(), "{black:?}");
    let panel_only = stats(&synthetic(true, false));
    assert!(judge(&panel_only).is_err(), "{panel_only:?}");
    let no_panel = stats(&synthetic(false, true));
    assert!(judge(&no_panel).is_err(), "{no_panel:?}");
}
