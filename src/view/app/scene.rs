//! The 3D scene: one entity per sphere sharing one mesh and a small set of materials (so
//! bevy draws them as instanced batches), the box edges and the tools.

use std::collections::HashMap;

use bevy::prelude::*;

use super::camera::Orbit;
use super::state::ViewState;
use crate::sim::simbox::SimBox;
use crate::view::color;
use crate::view::frame::{ColorBy, Tool, ViewFrame};

/// Simulation (x, y, z-up) → bevy (x, y-up, z): a rotation about x.
pub fn to_bevy(x: [f32; 3]) -> Vec3 {
    Vec3::new(x[0], x[2], -x[1])
}

#[derive(Resource)]
pub struct SceneAssets {
    sphere: Handle<Mesh>,
    cuboid: Handle<Mesh>,
    cylinder: Handle<Mesh>,
    species: HashMap<u32, Handle<StandardMaterial>>,
    buckets: Vec<Handle<StandardMaterial>>,
    edge: Handle<StandardMaterial>,
    tool: Handle<StandardMaterial>,
    /// The sphere entities, by particle index of the shown frame.
    balls: Vec<Entity>,
    /// Box edges and tools (rebuilt with each frame).
    decor: Vec<Entity>,
}

fn material(c: [f32; 3]) -> StandardMaterial {
    StandardMaterial {
        base_color: Color::srgb(c[0], c[1], c[2]),
        perceptual_roughness: 0.7,
        ..default()
    }
}

pub fn setup(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    // 80 triangles: tens of thousands of spheres stay interactive, even in software.
    let sphere = meshes.add(
        Sphere::new(1.0)
            .mesh()
            .ico(1)
            .unwrap_or_else(|_| Sphere::new(1.0).mesh().uv(12, 8)),
    );
    let assets = SceneAssets {
        sphere,
        cuboid: meshes.add(Cuboid::new(1.0, 1.0, 1.0)),
        cylinder: meshes.add(Cylinder::new(1.0, 1.0)),
        species: HashMap::new(),
        buckets: (0..color::BUCKETS)
            .map(|b| materials.add(material(color::bucket_color(b))))
            .collect(),
        edge: materials.add(StandardMaterial {
            base_color: Color::srgb(0.2, 0.2, 0.25),
            unlit: true,
            ..default()
        }),
        tool: materials.add(StandardMaterial {
            base_color: Color::srgba(0.55, 0.6, 0.7, 0.35),
            alpha_mode: AlphaMode::Blend,
            ..default()
        }),
        balls: Vec::new(),
        decor: Vec::new(),
    };
    commands.insert_resource(assets);
}

/// Rebuilds the scene from the shown frame when it (or the colouring, or the clip) changed.
#[allow(clippy::type_complexity)]
pub fn sync(
    mut commands: Commands,
    mut view: ResMut<ViewState>,
    mut assets: ResMut<SceneAssets>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut orbit: ResMut<Orbit>,
    mut balls: Query<(&mut Transform, &mut MeshMaterial3d<StandardMaterial>, &mut Visibility)>,
) {
    if !view.dirty {
        return;
    }
    view.dirty = false;
    let view = &mut *view;
    let Some(frame) = view.frame.as_ref() else {
        return;
    };
    let (handles, legend) = sphere_materials(frame, view.color_by, &mut assets, &mut materials);
    view.legend = legend;
    let n = frame.len();
    while assets.balls.len() > n {
        if let Some(e) = assets.balls.pop() {
            commands.entity(e).despawn();
        }
    }
    let lengths = frame.simbox.lengths();
    let clip = view
        .clip
        .map(|c| (c.axis, frame.simbox.lo[c.axis] as f32 + c.at * lengths[c.axis] as f32));
    for (k, mat) in handles.into_iter().enumerate() {
        let tf = Transform::from_translation(to_bevy(frame.x[k])).with_scale(Vec3::splat(frame.radius[k]));
        let vis = match clip {
            Some((axis, at)) if frame.x[k][axis] > at => Visibility::Hidden,
            _ => Visibility::Inherited,
        };
        match assets.balls.get(k).copied() {
            Some(e) => {
                if let Ok((mut t, mut m, mut v)) = balls.get_mut(e) {
                    *t = tf;
                    if m.0 != mat {
                        m.0 = mat;
                    }
                    *v = vis;
                }
            }
            None => {
                let e = commands
                    .spawn((Mesh3d(assets.sphere.clone()), MeshMaterial3d(mat), tf, vis))
                    .id();
                assets.balls.push(e);
            }
        }
    }
    for e in assets.decor.drain(..) {
        commands.entity(e).despawn();
    }
    let decor = decor(&mut commands, &assets, &frame.simbox, &frame.tools);
    assets.decor = decor;
    let (c, size) = box_centre_size(&frame.simbox);
    if orbit.wants_fit(size) {
        orbit.fit(c, size);
    }
}

/// The material of every sphere, and the legend range of a property colouring.
fn sphere_materials(
    frame: &ViewFrame,
    by: ColorBy,
    assets: &mut SceneAssets,
    materials: &mut Assets<StandardMaterial>,
) -> (Vec<Handle<StandardMaterial>>, Option<(f32, f32)>) {
    match frame.values(by) {
        Some(values) => {
            let range = color::range(&values);
            let h = values
                .iter()
                .map(|&v| assets.buckets[color::bucket(v, range)].clone())
                .collect();
            (h, Some(range))
        }
        None => {
            let h = frame
                .kind
                .iter()
                .map(|&k| {
                    assets
                        .species
                        .entry(k)
                        .or_insert_with(|| materials.add(material(color::species(k))))
                        .clone()
                })
                .collect();
            (h, None)
        }
    }
}

fn corners(b: &SimBox) -> [Vec3; 8] {
    let l = b.lengths();
    let (xy, xz, yz) = (b.tilt[0], b.tilt[1], b.tilt[2]);
    let mut c = [Vec3::ZERO; 8];
    for (i, corner) in c.iter_mut().enumerate() {
        let (a, bb, cc) = ((i & 1) as f64, ((i >> 1) & 1) as f64, ((i >> 2) & 1) as f64);
        let p = [
            b.lo[0] + a * l[0] + bb * xy + cc * xz,
            b.lo[1] + bb * l[1] + cc * yz,
            b.lo[2] + cc * l[2],
        ];
        *corner = to_bevy([p[0] as f32, p[1] as f32, p[2] as f32]);
    }
    c
}

fn box_centre_size(b: &SimBox) -> (Vec3, Vec3) {
    let c = corners(b);
    let lo = c.iter().fold(Vec3::splat(f32::INFINITY), |a, p| a.min(*p));
    let hi = c.iter().fold(Vec3::splat(f32::NEG_INFINITY), |a, p| a.max(*p));
    (0.5 * (lo + hi), hi - lo)
}

fn decor(commands: &mut Commands, assets: &SceneAssets, b: &SimBox, tools: &[Tool]) -> Vec<Entity> {
    let c = corners(b);
    let (_, size) = box_centre_size(b);
    let thick = 0.004 * size.max_element().max(1.0);
    let mut out = Vec::new();
    for i in 0..8usize {
        for bit in [1usize, 2, 4] {
            if i & bit == 0 {
                let (p, q) = (c[i], c[i | bit]);
                let d = q - p;
                let tf = Transform {
                    translation: 0.5 * (p + q),
                    rotation: Quat::from_rotation_arc(Vec3::Z, d.normalize_or(Vec3::Z)),
                    scale: Vec3::new(thick, thick, d.length()),
                };
                out.push(
                    commands
                        .spawn((Mesh3d(assets.cuboid.clone()), MeshMaterial3d(assets.edge.clone()), tf))
                        .id(),
                );
            }
        }
    }
    let l = b.lengths();
    let (cx, cy) = ((b.lo[0] + 0.5 * l[0]) as f32, (b.lo[1] + 0.5 * l[1]) as f32);
    for t in tools {
        let tf = match *t {
            Tool::Plane { z, .. } => Transform {
                translation: to_bevy([cx, cy, z as f32]),
                rotation: Quat::IDENTITY,
                scale: Vec3::new(l[0] as f32, 2.0 * thick, l[1] as f32),
            },
            Tool::Roll { radius, axis_x, z } => Transform {
                translation: to_bevy([axis_x as f32, cy, (z + radius) as f32]),
                // The cylinder's axis (bevy y) along the simulation's y (bevy −z).
                rotation: Quat::from_rotation_x(std::f32::consts::FRAC_PI_2),
                scale: Vec3::new(radius as f32, l[1] as f32, radius as f32),
            },
        };
        let mesh = match t {
            Tool::Plane { .. } => assets.cuboid.clone(),
            Tool::Roll { .. } => assets.cylinder.clone(),
        };
        out.push(
            commands
                .spawn((Mesh3d(mesh), MeshMaterial3d(assets.tool.clone()), tf))
                .id(),
        );
    }
    out
}
