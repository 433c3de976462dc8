//! Temporal filters for landmarks, as in MediaPipe's landmark smoothing calculator: the
//! one-euro filter (per coordinate, on timestamps) and a plain low-pass (for visibility),
//! and [`PointSmoother`], the pair applied to a whole set of landmarks.

use std::f32::consts::PI;

/// Exponential low-pass; the first value passes through.
#[derive(Debug, Clone, Default)]
pub struct LowPass {
    last: Option<f32>,
}

impl LowPass {
    pub fn apply(&mut self, value: f32, alpha: f32) -> f32 {
        let out = match self.last {
            Some(prev) => alpha * value + (1.0 - alpha) * prev,
            None => value,
        };
        self.last = Some(out);
        out
    }
}

/// One-euro filter parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneEuroParams {
    pub min_cutoff: f32,
    pub beta: f32,
    pub derivate_cutoff: f32,
}

impl OneEuroParams {
    /// MediaPipe's pose landmarks (values in pixels scaled by 1/object scale).
    pub const POSE: OneEuroParams = OneEuroParams {
        min_cutoff: 0.05,
        beta: 80.0,
        derivate_cutoff: 1.0,
    };
    /// MediaPipe's auxiliary landmarks (the tracking ROI).
    pub const AUX: OneEuroParams = OneEuroParams {
        min_cutoff: 0.01,
        beta: 10.0,
        derivate_cutoff: 1.0,
    };
    /// MediaPipe's world landmarks (metres, no scaling).
    pub const WORLD: OneEuroParams = OneEuroParams {
        min_cutoff: 0.1,
        beta: 40.0,
        derivate_cutoff: 1.0,
    };
}

fn alpha(cutoff: f32, frequency: f32) -> f32 {
    let tau = 1.0 / (2.0 * PI * cutoff);
    1.0 / (1.0 + tau * frequency)
}

/// The one-euro filter of one value stream, with timestamps in seconds.
#[derive(Debug, Clone, Default)]
pub struct OneEuro {
    x: LowPass,
    dx: LowPass,
    last_raw: Option<f32>,
    last_time: Option<f64>,
}

impl OneEuro {
    /// Filters `value` at `time`; `scale` multiplies the derivative (MediaPipe's 1/object
    /// scale). A timestamp that does not increase returns the value unchanged.
    pub fn apply(&mut self, value: f32, time: f64, scale: f32, p: OneEuroParams) -> f32 {
        let frequency = match self.last_time {
            Some(t) if time > t => (1.0 / (time - t)) as f32,
            Some(_) => return value,
            None => 0.0,
        };
        self.last_time = Some(time);
        let d = match self.last_raw {
            Some(prev) if frequency > 0.0 => (value - prev) * scale * frequency,
            _ => 0.0,
        };
        self.last_raw = Some(value);
        let ed = self.dx.apply(
            d,
            alpha(p.derivate_cutoff, frequency.max(f32::MIN_POSITIVE)),
        );
        let cutoff = p.min_cutoff + p.beta * ed.abs();
        self.x
            .apply(value, alpha(cutoff, frequency.max(f32::MIN_POSITIVE)))
    }
}

/// A landmark as the smoother sees it: three coordinates and, optionally, a visibility.
pub trait SmoothPoint {
    fn coords(&mut self) -> [&mut f32; 3];
    fn visibility(&mut self) -> Option<&mut f32>;
}

/// `[x, y, z, visibility, presence]`, the layout of the pose metadata.
impl SmoothPoint for [f32; 5] {
    fn coords(&mut self) -> [&mut f32; 3] {
        let [x, y, z, ..] = self;
        [x, y, z]
    }

    fn visibility(&mut self) -> Option<&mut f32> {
        Some(&mut self[3])
    }
}

/// `[x, y, z]` (world landmarks).
impl SmoothPoint for [f32; 3] {
    fn coords(&mut self) -> [&mut f32; 3] {
        let [x, y, z] = self;
        [x, y, z]
    }

    fn visibility(&mut self) -> Option<&mut f32> {
        None
    }
}

/// One-euro filters for x, y, z of a set of landmarks, and a low-pass on visibility
/// (MediaPipe's 0.1). A set of another size starts the filters afresh.
#[derive(Debug, Clone, Default)]
pub struct PointSmoother {
    f: Vec<[OneEuro; 3]>,
    visibility: Vec<LowPass>,
}

impl PointSmoother {
    /// Filters `points` observed at `time` (seconds); `scale` multiplies the derivative
    /// (MediaPipe's 1 / object size, so the filter behaves the same for near and far people).
    pub fn apply<P: SmoothPoint>(
        &mut self,
        points: &mut [P],
        time: f64,
        scale: f32,
        p: OneEuroParams,
    ) {
        if self.f.len() != points.len() {
            *self = Self {
                f: vec![Default::default(); points.len()],
                visibility: vec![LowPass::default(); points.len()],
            };
        }
        for ((pt, f), v) in points.iter_mut().zip(&mut self.f).zip(&mut self.visibility) {
            for (c, f) in pt.coords().into_iter().zip(f.iter_mut()) {
                *c = f.apply(*c, time, scale, p);
            }
            if let Some(vis) = pt.visibility() {
                *vis = v.apply(*vis, 0.1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_passes_and_stale_time_is_ignored() {
        let mut f = OneEuro::default();
        assert_eq!(f.apply(10.0, 0.0, 1.0, OneEuroParams::POSE), 10.0);
        assert_eq!(f.apply(99.0, 0.0, 1.0, OneEuroParams::POSE), 99.0);
    }

    #[test]
    fn matches_hand_computed_values() {
        // 30 Hz, min_cutoff 1, beta 0, derivate cutoff 1: a plain low-pass with
        // α = 1 / (1 + 30 / (2π)) = 0.17316.
        let p = OneEuroParams {
            min_cutoff: 1.0,
            beta: 0.0,
            derivate_cutoff: 1.0,
        };
        let mut f = OneEuro::default();
        f.apply(0.0, 0.0, 1.0, p);
        let a = 1.0 / (1.0 + 30.0 / (2.0 * PI));
        let y = f.apply(1.0, 1.0 / 30.0, 1.0, p);
        assert!((y - a).abs() < 1e-5, "{y} vs {a}");
        let y2 = f.apply(1.0, 2.0 / 30.0, 1.0, p);
        assert!((y2 - (a + (1.0 - a) * a)).abs() < 1e-5);
    }

    #[test]
    fn fast_motion_raises_the_cutoff() {
        // With beta > 0 a big jump is followed more closely than with beta = 0.
        let slow = OneEuroParams {
            min_cutoff: 0.05,
            beta: 0.0,
            derivate_cutoff: 1.0,
        };
        let (mut a, mut b) = (OneEuro::default(), OneEuro::default());
        a.apply(0.0, 0.0, 1.0, slow);
        b.apply(0.0, 0.0, 1.0, OneEuroParams::POSE);
        let ya = a.apply(100.0, 1.0 / 30.0, 0.01, slow);
        let yb = b.apply(100.0, 1.0 / 30.0, 0.01, OneEuroParams::POSE);
        assert!(yb > ya * 5.0, "{yb} vs {ya}");
    }

    #[test]
    fn low_pass() {
        let mut l = LowPass::default();
        assert_eq!(l.apply(1.0, 0.1), 1.0);
        assert!((l.apply(0.0, 0.1) - 0.9).abs() < 1e-6);
    }
}
