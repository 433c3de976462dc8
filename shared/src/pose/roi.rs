//! Rotated regions of interest: from a detection (or the previous frame's auxiliary
//! landmarks) to the square, rotated crop the landmark model sees.

use std::f32::consts::PI;

/// A rotated rectangle in frame pixels: centre, size, rotation (radians, y-down pixels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roi {
    pub cx: f32,
    pub cy: f32,
    pub width: f32,
    pub height: f32,
    pub rotation: f32,
}

/// Wraps an angle into [−π, π).
pub fn normalize_radians(a: f32) -> f32 {
    a - 2.0 * PI * ((a + PI) / (2.0 * PI)).floor()
}

/// MediaPipe's alignment-points rule: centre at `center`, side 2·|scale − centre|, rotated so
/// the centre→scale direction points up (target angle 90°), then squared on the long side and
/// enlarged by `scale` (1.25 for pose). Points are in frame pixels.
pub fn from_alignment_points(center: [f32; 2], scale_point: [f32; 2], enlarge: f32) -> Roi {
    let (dx, dy) = (scale_point[0] - center[0], scale_point[1] - center[1]);
    let side = 2.0 * (dx * dx + dy * dy).sqrt();
    let rotation = normalize_radians(PI / 2.0 - (-dy).atan2(dx));
    Roi {
        cx: center[0],
        cy: center[1],
        width: side * enlarge,
        height: side * enlarge,
        rotation,
    }
}

impl Roi {
    /// Frame position of a point given in ROI-normalised coordinates ([0, 1]², (0.5, 0.5) the
    /// centre), honouring the rotation.
    pub fn to_frame(&self, u: f32, v: f32) -> [f32; 2] {
        let (dx, dy) = ((u - 0.5) * self.width, (v - 0.5) * self.height);
        let (s, c) = self.rotation.sin_cos();
        [self.cx + c * dx - s * dy, self.cy + s * dx + c * dy]
    }

    /// Inverse of [`Roi::to_frame`].
    pub fn from_frame(&self, x: f32, y: f32) -> [f32; 2] {
        let (dx, dy) = (x - self.cx, y - self.cy);
        let (s, c) = self.rotation.sin_cos();
        let (rx, ry) = (c * dx + s * dy, -s * dx + c * dy);
        [rx / self.width + 0.5, ry / self.height + 0.5]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upright_person_has_no_rotation() {
        // Hip centre below, scale point straight above: already upright.
        let r = from_alignment_points([100.0, 200.0], [100.0, 150.0], 1.25);
        assert!(r.rotation.abs() < 1e-6, "{}", r.rotation);
        assert!((r.width - 125.0).abs() < 1e-4 && (r.height - 125.0).abs() < 1e-4);
    }

    #[test]
    fn lying_person_is_rotated_a_quarter_turn() {
        // Scale point to the right of the centre: rotate by +90° (clockwise in y-down pixels).
        let r = from_alignment_points([0.0, 0.0], [10.0, 0.0], 1.0);
        assert!((r.rotation - PI / 2.0).abs() < 1e-6, "{}", r.rotation);
        // The ROI's "up" (v = 0) maps onto the scale point's side.
        let top = r.to_frame(0.5, 0.0);
        assert!(
            (top[0] - 10.0).abs() < 1e-4 && top[1].abs() < 1e-4,
            "{top:?}"
        );
    }

    #[test]
    fn frame_round_trip() {
        let r = Roi {
            cx: 320.0,
            cy: 240.0,
            width: 200.0,
            height: 160.0,
            rotation: 0.7,
        };
        for (u, v) in [(0.0, 0.0), (0.25, 0.9), (1.0, 0.5)] {
            let [x, y] = r.to_frame(u, v);
            let [u2, v2] = r.from_frame(x, y);
            assert!((u - u2).abs() < 1e-5 && (v - v2).abs() < 1e-5);
        }
    }

    #[test]
    fn angles_wrap() {
        assert!((normalize_radians(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-6);
        assert!((normalize_radians(-PI) + PI).abs() < 1e-6);
    }
}
