//! Colours: one per species, and a perceptual map (viridis) for properties, quantized into a
//! fixed palette so that spheres of one colour share a material and draw as one batch.

/// Colour buckets of a property map.
pub const BUCKETS: usize = 32;

/// CBD beads, then the AM size classes (a scenario has at most 10).
const CBD: [f32; 3] = [0.12, 0.12, 0.13];
const AM: [[f32; 3]; 10] = [
    [0.85, 0.33, 0.10],
    [0.93, 0.69, 0.13],
    [0.30, 0.69, 0.29],
    [0.36, 0.54, 0.86],
    [0.60, 0.40, 0.75],
    [0.90, 0.45, 0.65],
    [0.55, 0.35, 0.20],
    [0.40, 0.75, 0.80],
    [0.70, 0.70, 0.30],
    [0.95, 0.60, 0.45],
];

/// sRGB colour of type `kind` (1 = CBD; AM classes cycle after 10, never to CBD's).
pub fn species(kind: u32) -> [f32; 3] {
    match kind {
        0 | 1 => CBD,
        k => AM[(k as usize - 2) % AM.len()],
    }
}

/// Viridis at t ∈ [0, 1] (piecewise linear through 9 of its stops).
pub fn viridis(t: f32) -> [f32; 3] {
    const STOPS: [[f32; 3]; 9] = [
        [0.267, 0.005, 0.329],
        [0.278, 0.175, 0.483],
        [0.229, 0.322, 0.546],
        [0.173, 0.449, 0.558],
        [0.128, 0.567, 0.551],
        [0.153, 0.680, 0.504],
        [0.361, 0.785, 0.388],
        [0.668, 0.862, 0.196],
        [0.993, 0.906, 0.144],
    ];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let s = t * (STOPS.len() - 1) as f32;
    let i = (s.floor() as usize).min(STOPS.len() - 2);
    let u = s - i as f32;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    [
        a[0] + u * (b[0] - a[0]),
        a[1] + u * (b[1] - a[1]),
        a[2] + u * (b[2] - a[2]),
    ]
}

/// The colour of bucket `b` of the property map.
pub fn bucket_color(b: usize) -> [f32; 3] {
    viridis(b as f32 / (BUCKETS - 1) as f32)
}

/// The legend's value range: the finite minimum and maximum (a flat range widened a little).
pub fn range(values: &[f32]) -> (f32, f32) {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo <= f32::EPSILON * lo.abs().max(1.0) {
        return (lo - 0.5, hi + 0.5);
    }
    (lo, hi)
}

/// The bucket of `v` in [lo, hi].
pub fn bucket(v: f32, (lo, hi): (f32, f32)) -> usize {
    let t = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
    let t = if t.is_finite() { t } else { 0.0 };
    ((t * (BUCKETS - 1) as f32).round() as usize).min(BUCKETS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_span_the_range_and_viridis_its_ends() {
        let r = range(&[2.0, 4.0, f32::NAN, 3.0]);
        assert_eq!(r, (2.0, 4.0));
        assert_eq!(bucket(2.0, r), 0);
        assert_eq!(bucket(4.0, r), BUCKETS - 1);
        assert_eq!(bucket(9.0, r), BUCKETS - 1);
        assert_eq!(bucket(f32::NAN, r), 0);
        assert_eq!(range(&[1.0, 1.0]), (0.5, 1.5));
        assert_eq!(viridis(0.0), [0.267, 0.005, 0.329]);
        assert_eq!(viridis(1.0), [0.993, 0.906, 0.144]);
        assert!((2..40).all(|k| species(k) != species(1)));
        assert_ne!(species(2), species(3));
    }
}
