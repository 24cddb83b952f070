//! The densest slurry a scenario's box can hold. The NPT stage scales the box, and stops it
//! at the self-image limit (1.02 × the neighbour list's reach, `System::limit_shrink`);
//! the shear tilts it to the flip point, where it must stay wider than the reach. With the
//! simulated mass fixed, each limit is a density: a slurry denser than the first is held
//! (its density is then the limit's), one denser than the second cannot be sheared. Known
//! before the run, so `etwin validate` reports them.

use serde::Serialize;

use crate::error::Result;
use crate::scenario::{Loaded, NptEnsemble};
use crate::sim::forcefield::reference::nominal_mass;
use crate::sim::nemd::at_flip_point;

use super::protocol::initial_system;

/// Densities [g/cm³] as the NPT stage reports them (AM at nominal size + wet CBD beads).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BoxLimits {
    /// The neighbour list's reach (largest interaction range + skin) [µm].
    pub reach_um: f64,
    /// The density at which the NPT box is held.
    pub npt_density_g_cm3: f64,
    /// The density above which the shear refuses the box (None without a shear stage).
    pub shear_density_g_cm3: Option<f64>,
}

/// The limits of `l`'s run, from its initial system (built or imported, not minimized);
/// None without an NPT stage.
pub fn box_limits(l: &Loaded) -> Result<Option<BoxLimits>> {
    let p = &l.scenario.protocol;
    let Some(npt) = &p.npt else { return Ok(None) };
    let sys = initial_system(l)?;
    let (reach, floor) = (sys.neighbor.reach(), sys.shrink_floor());
    let axes: &[usize] = match npt.ensemble {
        NptEnsemble::NoseHoover => &[0, 1, 2],
        NptEnsemble::Berendsen => npt.coupling.axes(),
    };
    let b0 = sys.simbox;
    let scaled = |mu: f64| {
        let mut b = b0;
        b.scale_about_centre(axes, mu);
        b
    };
    // The conditions of `System::limit_shrink` and `ShearDeform::start`.
    let held = smallest_scale(|mu| scaled(mu).narrowest_periodic_width(axes) >= floor);
    let sheared = smallest_scale(|mu| at_flip_point(scaled(mu)).check(reach).is_ok());
    let mass_pg = nominal_mass(&sys.particles, l.model.fixed.contact_factor);
    // pg / µm³ = g / cm³.
    let density = |mu: f64| mass_pg / scaled(mu).volume();
    Ok(Some(BoxLimits {
        reach_um: reach,
        npt_density_g_cm3: density(held),
        shear_density_g_cm3: p.nemd.as_ref().map(|_| density(sheared.max(held))),
    }))
}

/// The least box scale in (0, 1] at which `fits` holds (it holds at every larger scale), to
/// 1e-12; 1 where it holds nowhere below.
fn smallest_scale(fits: impl Fn(f64) -> bool) -> f64 {
    if !fits(1.0) {
        return 1.0;
    }
    let (mut lo, mut hi) = (0.0, 1.0);
    while hi - lo > 1e-12 {
        let mid = 0.5 * (lo + hi);
        if fits(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}
