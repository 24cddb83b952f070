//! Orbit camera: left drag orbits, right or middle drag pans, the wheel zooms; input over
//! the egui panels is left to them.

use bevy::camera::visibility::RenderLayers;
use bevy::camera::{CameraOutputMode, Viewport};
use bevy::input::mouse::AccumulatedMouseScroll;
use bevy::prelude::*;
use bevy::render::render_resource::BlendState;
use bevy::render::view::Msaa;
use bevy::window::PrimaryWindow;
use bevy_egui::input::EguiWantsInput;
use bevy_egui::{EguiGlobalSettings, PrimaryEguiContext};

use super::state::Viewport3d;

#[derive(Resource, Debug, Clone, Copy)]
pub struct Orbit {
    /// Point looked at (bevy coordinates).
    pub target: Vec3,
    pub yaw: f32,
    pub pitch: f32,
    pub distance: f32,
    /// The box size the view was last fitted to (zero: fit at the next frame).
    pub fitted_to: Vec3,
    /// The user moved the camera: stop following the box.
    pub user_moved: bool,
}

impl Default for Orbit {
    fn default() -> Self {
        Orbit {
            target: Vec3::ZERO,
            yaw: 0.6,
            pitch: 0.35,
            distance: 50.0,
            fitted_to: Vec3::ZERO,
            user_moved: false,
        }
    }
}

impl Orbit {
    /// Looks at a box of centre `c` and size `size` from far enough to see all of it.
    pub fn fit(&mut self, c: Vec3, size: Vec3) {
        self.target = c;
        self.distance = 1.6 * size.length().max(1.0);
        self.fitted_to = size;
    }

    /// Whether a box of `size` should be refitted: never after the user moved the camera,
    /// else when its size changed by more than 10 % (a compressing slurry, a drying film).
    pub fn wants_fit(&self, size: Vec3) -> bool {
        !self.user_moved && (size - self.fitted_to).length() > 0.1 * self.fitted_to.length()
    }

    fn transform(&self) -> Transform {
        let dir = Vec3::new(
            self.pitch.cos() * self.yaw.sin(),
            self.pitch.sin(),
            self.pitch.cos() * self.yaw.cos(),
        );
        Transform::from_translation(self.target + self.distance * dir).looking_at(self.target, Vec3::Y)
    }
}

#[derive(Component)]
pub struct SceneCamera;

pub fn setup(mut commands: Commands, mut egui: ResMut<EguiGlobalSettings>, orbit: Res<Orbit>) {
    // The egui context gets its own camera so that the 3D camera's viewport can shrink.
    egui.auto_create_primary_context = false;
    commands.spawn((Camera3d::default(), Msaa::Off, SceneCamera, orbit.transform()));
    commands.spawn((
        DirectionalLight {
            illuminance: 9000.0,
            ..default()
        },
        Transform::from_xyz(3.0, 8.0, 5.0).looking_at(Vec3::ZERO, Vec3::Y),
    ));
    commands.insert_resource(GlobalAmbientLight {
        color: Color::WHITE,
        brightness: 700.0,
        affects_lightmapped_meshes: true,
    });
    commands.spawn((
        PrimaryEguiContext,
        Camera2d,
        Msaa::Off,
        RenderLayers::none(),
        Camera {
            order: 1,
            output_mode: CameraOutputMode::Write {
                blend_state: Some(BlendState::ALPHA_BLENDING),
                clear_color: ClearColorConfig::None,
            },
            clear_color: ClearColorConfig::Custom(Color::NONE),
            ..default()
        },
    ));
}

/// Orbit / pan from the cursor's movement (not raw device motion: remote and virtual X
/// servers send none), zoom from the wheel.
pub fn orbit(
    mut orbit: ResMut<Orbit>,
    buttons: Res<ButtonInput<MouseButton>>,
    mut last_cursor: Local<Option<Vec2>>,
    scroll: Res<AccumulatedMouseScroll>,
    egui: Res<EguiWantsInput>,
    area: Res<Viewport3d>,
    window: Single<&Window, With<PrimaryWindow>>,
) {
    // The panels fill a background layer over the whole window, so egui reports the pointer
    // "over an area" everywhere: test the 3D view's own rectangle instead.
    let cursor = window.physical_cursor_position();
    let inside = cursor.is_some_and(|p| {
        p.x >= area.left
            && p.y >= area.top
            && p.x <= window.physical_width() as f32 - area.right
            && p.y <= window.physical_height() as f32 - area.bottom
    });
    let d = match (cursor, *last_cursor) {
        (Some(now), Some(before)) => now - before,
        _ => Vec2::ZERO,
    };
    *last_cursor = cursor;
    if !inside || egui.is_using_pointer() {
        return;
    }
    let dragging = [MouseButton::Left, MouseButton::Right, MouseButton::Middle]
        .iter()
        .any(|b| buttons.pressed(*b));
    if (dragging && d != Vec2::ZERO) || scroll.delta.y != 0.0 {
        orbit.user_moved = true;
    }
    if buttons.pressed(MouseButton::Left) {
        orbit.yaw -= 0.008 * d.x;
        orbit.pitch = (orbit.pitch + 0.008 * d.y).clamp(-1.5, 1.5);
    } else if buttons.pressed(MouseButton::Right) || buttons.pressed(MouseButton::Middle) {
        let t = orbit.transform();
        let s = 0.0015 * orbit.distance;
        orbit.target += s * (-d.x * *t.right() + d.y * *t.up());
    }
    if scroll.delta.y != 0.0 {
        orbit.distance = (orbit.distance * (1.0 - 0.1 * scroll.delta.y.clamp(-3.0, 3.0))).max(0.5);
    }
}

/// Places the 3D camera and gives it the window area the panels leave.
pub fn apply_viewport(
    orbit: Res<Orbit>,
    area: Res<Viewport3d>,
    window: Single<&Window, With<PrimaryWindow>>,
    mut camera: Single<(&mut Camera, &mut Transform), With<SceneCamera>>,
) {
    let (cam, tf) = &mut *camera;
    **tf = orbit.transform();
    let (w, h) = (window.physical_width() as f32, window.physical_height() as f32);
    let x0 = area.left.clamp(0.0, w - 16.0);
    let y0 = area.top.clamp(0.0, h - 16.0);
    let size = UVec2::new(
        (w - x0 - area.right).max(16.0) as u32,
        (h - y0 - area.bottom).max(16.0) as u32,
    );
    let viewport = Viewport {
        physical_position: UVec2::new(x0 as u32, y0 as u32),
        physical_size: size,
        ..default()
    };
    let same = cam.viewport.as_ref().is_some_and(|v| {
        v.physical_position == viewport.physical_position && v.physical_size == viewport.physical_size
    });
    if !same {
        cam.viewport = Some(viewport);
    }
}
