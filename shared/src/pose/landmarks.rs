//! The landmark model's outputs: decoding, heatmap refinement, projection to the frame, and
//! the rotated crop that feeds it.

use super::roi::Roi;
use crate::frame::FrameMut;
use crate::sample::{affine_to_tensor, Affine};
use crate::tensor::InputRange;

/// Landmarks the model emits: 33 pose + 2 auxiliary (centre, size/rotation) + 4 unused.
pub const MODEL_LANDMARKS: usize = 39;
pub const POSE_LANDMARKS: usize = 33;
/// Input side of the landmark model.
pub const INPUT: usize = 256;

/// One landmark: position (model input pixels, or frame pixels after projection), depth on the
/// x scale, and visibility / presence probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Landmark {
    pub x: f32,
    pub y: f32,
    pub z: f32,
    pub visibility: f32,
    pub presence: f32,
}

impl crate::temporal::one_euro::SmoothPoint for Landmark {
    fn coords(&mut self) -> [&mut f32; 3] {
        [&mut self.x, &mut self.y, &mut self.z]
    }

    fn visibility(&mut self) -> Option<&mut f32> {
        Some(&mut self.visibility)
    }
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// Decodes `Identity` (39 × [x, y, z, visibility logit, presence logit]) into landmarks in
/// normalised ROI coordinates ([0, 1]²; z on the same scale as x).
pub fn decode(raw: &[f32]) -> Vec<Landmark> {
    raw.chunks_exact(5)
        .take(MODEL_LANDMARKS)
        .map(|v| Landmark {
            x: v[0] / INPUT as f32,
            y: v[1] / INPUT as f32,
            z: v[2] / INPUT as f32,
            visibility: sigmoid(v[3]),
            presence: sigmoid(v[4]),
        })
        .collect()
}

/// MediaPipe's heatmap refinement: around each landmark's cell in the `side`×`side`×`channels`
/// heatmap (HWC logits), the sigmoid-weighted mean position over a `kernel`-wide window
/// replaces the regressed position when the window's peak confidence reaches `min_confidence`.
pub fn refine_with_heatmap(
    lms: &mut [Landmark],
    heatmap: &[f32],
    side: usize,
    channels: usize,
    kernel: usize,
    min_confidence: f32,
) {
    if heatmap.len() != side * side * channels {
        return;
    }
    let half = (kernel / 2) as isize;
    for (k, lm) in lms.iter_mut().enumerate().take(channels) {
        let (col, row) = (
            (lm.x * side as f32).floor() as isize,
            (lm.y * side as f32).floor() as isize,
        );
        if col < 0 || row < 0 || col >= side as isize || row >= side as isize {
            continue;
        }
        let (mut sum, mut sx, mut sy, mut peak) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
        for r in (row - half).max(0)..=(row + half).min(side as isize - 1) {
            for c in (col - half).max(0)..=(col + half).min(side as isize - 1) {
                let conf = sigmoid(heatmap[(r as usize * side + c as usize) * channels + k]);
                sum += conf;
                sx += c as f32 * conf;
                sy += r as f32 * conf;
                peak = peak.max(conf);
            }
        }
        if peak >= min_confidence && sum > 0.0 {
            lm.x = sx / sum / side as f32;
            lm.y = sy / sum / side as f32;
        }
    }
}

/// Projects ROI-normalised landmarks to frame pixels (z scaled by the ROI width).
pub fn project(lms: &[Landmark], roi: &Roi) -> Vec<Landmark> {
    lms.iter()
        .map(|l| {
            let [x, y] = roi.to_frame(l.x, l.y);
            Landmark {
                x,
                y,
                z: l.z * roi.width,
                ..*l
            }
        })
        .collect()
}

/// The landmark model's input: the rotated ROI resampled to `INPUT`² RGB in [0, 1] (NHWC),
/// straight from the frame's native planes. Tensor pixel (u, v) reads the frame at
/// `roi.to_frame(u / INPUT, v / INPUT)`; outside the frame the border is replicated.
pub fn crop(f: &FrameMut<'_>, roi: &Roi) -> Vec<f32> {
    let n = INPUT as f32;
    let origin = roi.to_frame(0.0, 0.0);
    let (pu, pv) = (roi.to_frame(1.0 / n, 0.0), roi.to_frame(0.0, 1.0 / n));
    let map = Affine {
        origin,
        du: [pu[0] - origin[0], pu[1] - origin[1]],
        dv: [pv[0] - origin[0], pv[1] - origin[1]],
    };
    affine_to_tensor(f, INPUT, INPUT, map, InputRange::UNIT, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{OwnedFrame, PixelFormat};

    #[test]
    fn decode_scales_and_squashes() {
        let mut raw = vec![0.0; MODEL_LANDMARKS * 5];
        raw[..5].copy_from_slice(&[128.0, 64.0, -25.6, 0.0, 100.0]);
        let l = decode(&raw);
        assert_eq!(l.len(), MODEL_LANDMARKS);
        assert_eq!((l[0].x, l[0].y, l[0].z), (0.5, 0.25, -0.1));
        assert!((l[0].visibility - 0.5).abs() < 1e-6 && l[0].presence > 0.999);
    }

    #[test]
    fn heatmap_pulls_toward_the_peak() {
        let (side, ch) = (8, 1);
        let mut heat = vec![-20.0; side * side];
        heat[3 * side + 5] = 20.0; // confident peak at column 5, row 3
        let mut lms = vec![Landmark {
            x: 4.5 / 8.0,
            y: 3.5 / 8.0,
            ..Default::default()
        }];
        refine_with_heatmap(&mut lms, &heat, side, ch, 7, 0.5);
        assert!(
            (lms[0].x - 5.0 / 8.0).abs() < 1e-3 && (lms[0].y - 3.0 / 8.0).abs() < 1e-3,
            "{:?}",
            lms[0]
        );
        // A weak heatmap leaves the regression alone.
        let mut lms2 = vec![Landmark {
            x: 0.3,
            y: 0.3,
            ..Default::default()
        }];
        refine_with_heatmap(&mut lms2, &vec![-5.0; side * side], side, ch, 7, 0.5);
        assert_eq!((lms2[0].x, lms2[0].y), (0.3, 0.3));
    }

    #[test]
    fn projection_round_trips_through_the_roi() {
        let roi = Roi {
            cx: 300.0,
            cy: 200.0,
            width: 180.0,
            height: 180.0,
            rotation: -0.4,
        };
        let l = Landmark {
            x: 0.2,
            y: 0.7,
            z: 0.1,
            visibility: 0.9,
            presence: 0.8,
        };
        let p = project(&[l], &roi)[0];
        let [u, v] = roi.from_frame(p.x, p.y);
        assert!((u - 0.2).abs() < 1e-5 && (v - 0.7).abs() < 1e-5);
        assert!((p.z - 18.0).abs() < 1e-4 && p.visibility == 0.9);
    }

    #[test]
    fn axis_aligned_crop_is_a_resize() {
        let (w, h) = (64, 64);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| [(i % w * 4) as u8, (i / w * 4) as u8, 9])
            .collect();
        let mut f = OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, &rgb, 0);
        let roi = Roi {
            cx: 32.0,
            cy: 32.0,
            width: 64.0,
            height: 64.0,
            rotation: 0.0,
        };
        let t = crop(&f.view(), &roi);
        // Tensor (u, v) = (128, 64) reads frame (32, 16).
        let i = (64 * INPUT + 128) * 3;
        assert!((t[i] * 255.0 - 128.0).abs() < 0.5 && (t[i + 1] * 255.0 - 64.0).abs() < 0.5);
    }
}
