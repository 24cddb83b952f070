//! What the viewer draws at one instant: spheres, the box and the tools, with the per-sphere
//! properties it can colour by. Built from a live [`System`] or read from a run folder.

use crate::sim::particles::Particles;
use crate::sim::simbox::SimBox;
use crate::sim::system::System;
use crate::sim::wall::{Shape, Side};

/// The process stage a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Slurry,
    Drying,
    Calendering,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Slurry, Stage::Drying, Stage::Calendering];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Slurry => "slurry",
            Stage::Drying => "drying",
            Stage::Calendering => "calendering",
        }
    }
}

/// A wall or tool bounding the film along z.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tool {
    /// A plane at height z [µm] (substrate, drying top wall, calender plate).
    Plane { z: f64, top: bool },
    /// A calender roll: radius [µm], axis at x [µm], lowest line at z [µm].
    Roll { radius: f64, axis_x: f64, z: f64 },
}

/// The per-sphere quantity that sets its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorBy {
    /// CBD beads and each AM size class in its own colour.
    Species,
    Speed,
    Force,
    Contacts,
    Height,
    /// CBD share of the solid volume in the sphere's horizontal slab.
    CbdFraction,
}

impl ColorBy {
    pub const ALL: [ColorBy; 6] = [
        ColorBy::Species,
        ColorBy::Speed,
        ColorBy::Force,
        ColorBy::Contacts,
        ColorBy::Height,
        ColorBy::CbdFraction,
    ];

    /// Name with unit, as the legend shows it.
    pub fn label(self) -> &'static str {
        match self {
            ColorBy::Species => "species",
            ColorBy::Speed => "speed [µm/µs]",
            ColorBy::Force => "force [nN]",
            ColorBy::Contacts => "contacts [-]",
            ColorBy::Height => "z [µm]",
            ColorBy::CbdFraction => "CBD fraction of slab solid [-]",
        }
    }

    pub fn parse(s: &str) -> Option<ColorBy> {
        Some(match s {
            "species" => ColorBy::Species,
            "speed" | "velocity" => ColorBy::Speed,
            "force" => ColorBy::Force,
            "contacts" => ColorBy::Contacts,
            "z" | "height" => ColorBy::Height,
            "cbd" | "cbd-fraction" => ColorBy::CbdFraction,
            _ => return None,
        })
    }
}

/// Slab thickness of the CBD-fraction colouring [µm].
pub const CBD_SLAB_UM: f64 = 2.0;

#[derive(Debug, Clone, PartialEq)]
pub struct ViewFrame {
    pub stage: Stage,
    /// What the frame shows, e.g. "drying cycle 4".
    pub label: String,
    /// Simulated time since the stage started [µs].
    pub time_us: f64,
    pub simbox: SimBox,
    /// Centres [µm].
    pub x: Vec<[f32; 3]>,
    /// Radii [µm].
    pub radius: Vec<f32>,
    /// Type: 1 = CBD, 2… = AM size classes.
    pub kind: Vec<u32>,
    /// |v| [µm/µs].
    pub speed: Vec<f32>,
    /// |F| [nN], where known.
    pub force: Option<Vec<f32>>,
    /// Contacts per sphere, where known.
    pub contacts: Option<Vec<f32>>,
    pub tools: Vec<Tool>,
}

/// |v| of a 3-vector, as the viewer stores it.
pub(crate) fn norm(v: &[f64; 3]) -> f32 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt() as f32
}

fn to_f32(x: &[f64; 3]) -> [f32; 3] {
    [x[0] as f32, x[1] as f32, x[2] as f32]
}

impl ViewFrame {
    /// The state of a running system; `contacts` computes the per-sphere contact counts
    /// (one pass over the neighbour list).
    pub fn from_system(sys: &System, stage: Stage, label: String, time_us: f64, contacts: bool) -> ViewFrame {
        let p = &sys.particles;
        let tools = sys
            .walls
            .iter()
            .filter(|w| w.axis == 2)
            .map(|w| match w.shape {
                Shape::Plane => Tool::Plane {
                    z: w.position,
                    top: w.side == Side::Hi,
                },
                Shape::Roll(r) => Tool::Roll {
                    radius: r.radius,
                    axis_x: r.axis_x,
                    z: w.position,
                },
            })
            .collect();
        ViewFrame {
            force: Some(p.f.iter().map(norm).collect()),
            contacts: contacts.then(|| sys.particle_stress().0.iter().map(|&c| c as f32).collect()),
            tools,
            ..ViewFrame::of_particles(p, sys.simbox, stage, label, time_us)
        }
    }

    /// The spheres of `p` in `simbox` (no forces, contacts or tools).
    pub fn of_particles(p: &Particles, simbox: SimBox, stage: Stage, label: String, time_us: f64) -> ViewFrame {
        ViewFrame {
            stage,
            label,
            time_us,
            simbox,
            x: p.x.iter().map(to_f32).collect(),
            radius: p.radius.iter().map(|&r| r as f32).collect(),
            kind: p.kind.clone(),
            speed: p.v.iter().map(norm).collect(),
            force: None,
            contacts: None,
            tools: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.x.len()
    }

    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// The values `by` colours with (`None` for species, or where the frame lacks them).
    pub fn values(&self, by: ColorBy) -> Option<Vec<f32>> {
        match by {
            ColorBy::Species => None,
            ColorBy::Speed => Some(self.speed.clone()),
            ColorBy::Force => self.force.clone(),
            ColorBy::Contacts => self.contacts.clone(),
            ColorBy::Height => Some(self.x.iter().map(|x| x[2]).collect()),
            ColorBy::CbdFraction => Some(self.cbd_fraction(CBD_SLAB_UM)),
        }
    }

    /// For every sphere, the CBD share of the solid volume of its slab of thickness `slab` [µm].
    pub fn cbd_fraction(&self, slab: f64) -> Vec<f32> {
        if self.is_empty() {
            return Vec::new();
        }
        let z0 = self.x.iter().map(|x| x[2]).fold(f32::INFINITY, f32::min) as f64;
        let bin = |z: f32| ((z as f64 - z0) / slab).floor().max(0.0) as usize;
        let bins = self.x.iter().map(|x| bin(x[2])).max().unwrap_or(0) + 1;
        let (mut cbd, mut all) = (vec![0.0f64; bins], vec![0.0f64; bins]);
        for k in 0..self.len() {
            let v = (self.radius[k] as f64).powi(3);
            let b = bin(self.x[k][2]);
            all[b] += v;
            if self.kind[k] == 1 {
                cbd[b] += v;
            }
        }
        self.x
            .iter()
            .map(|x| {
                let b = bin(x[2]);
                (cbd[b] / all[b]) as f32
            })
            .collect()
    }

    /// The distinct types present, sorted.
    pub fn kinds(&self) -> Vec<u32> {
        let mut k = self.kind.clone();
        k.sort_unstable();
        k.dedup();
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(xs: &[(f32, f32, u32)]) -> ViewFrame {
        ViewFrame {
            stage: Stage::Drying,
            label: "t".into(),
            time_us: 0.0,
            simbox: SimBox::orthogonal([0.0; 3], [10.0; 3], [true, true, false]),
            x: xs.iter().map(|&(z, _, _)| [1.0, 1.0, z]).collect(),
            radius: xs.iter().map(|&(_, r, _)| r).collect(),
            kind: xs.iter().map(|&(_, _, k)| k).collect(),
            speed: vec![0.0; xs.len()],
            force: None,
            contacts: None,
            tools: Vec::new(),
        }
    }

    #[test]
    fn cbd_fraction_is_the_slab_volume_share() {
        // Slab 0: one CBD r = 1 and one AM r = 1 → 0.5; slab 1: CBD only → 1; slab 2: AM → 0.
        let f = frame(&[(0.0, 1.0, 1), (1.0, 1.0, 2), (2.5, 0.5, 1), (4.5, 2.0, 3)]);
        assert_eq!(f.cbd_fraction(2.0), vec![0.5, 0.5, 1.0, 0.0]);
        assert!(f.values(ColorBy::Force).is_none() && f.values(ColorBy::Species).is_none());
        assert_eq!(f.values(ColorBy::Height).unwrap(), vec![0.0, 1.0, 2.5, 4.5]);
        assert_eq!(f.kinds(), vec![1, 2, 3]);
    }
}
