//! The experiments behind `aifx-bench temporal` and the temporal tests: real models on
//! sequences made from real photos, each filter applied to the same raw results, and the
//! flicker and lag of each. Measurement code only: it composes `segment`, `pose` and the
//! temporal filters the way an element chain would, so both the bench and the tests report
//! the same figures.

use super::deflicker::Deflicker;
use super::mask::{MaskBlend, MaskSmoother};
use super::measure::{centroid_x, flicker, lag, pan_zoom, with_noise};
use super::motion::{estimate, factor_for, LowLuma, MotionEstimator, MotionField, MotionMode};
use super::one_euro::{OneEuroParams, PointSmoother};
use super::stream::person_scale;
use crate::frame::{OwnedFrame, PixelFormat};
use crate::pose::pipeline::PoseModels;
use crate::pose::tracker::{PoseTracker, TrackerSettings};
use crate::segment::{Effect, SegmentSettings, Segmenter};
use crate::Result;

/// Frames of one sequence, interleaved RGB, `fps` apart.
pub struct Sequence {
    pub name: &'static str,
    pub width: usize,
    pub height: usize,
    pub fps: f64,
    pub frames: Vec<Vec<u8>>,
}

impl Sequence {
    /// (1) The same photo with fresh noise (σ 3 levels) every frame.
    pub fn still(rgb: &[u8], width: usize, height: usize, n: usize) -> Self {
        Self {
            name: "static",
            width,
            height,
            fps: 30.0,
            frames: (0..n).map(|t| with_noise(rgb, 3.0, t as u64 + 1)).collect(),
        }
    }

    /// (2) A window panning right 3 px and zooming in 0.4 % a frame, with the same noise.
    pub fn moving(rgb: &[u8], w: usize, h: usize, out_w: usize, out_h: usize, n: usize) -> Self {
        Self {
            name: "moving",
            width: out_w,
            height: out_h,
            fps: 30.0,
            frames: (0..n)
                .map(|t| {
                    let f = pan_zoom(rgb, w, h, out_w, out_h, t, 3.0, 0.004);
                    with_noise(&f, 3.0, t as u64 + 1)
                })
                .collect(),
        }
    }

    fn frame(&self, t: usize) -> OwnedFrame {
        OwnedFrame::from_rgb(
            PixelFormat::Rgba,
            self.width,
            self.height,
            &self.frames[t],
            0,
        )
    }

    /// Motion from each frame to the next (still for the first).
    fn motion(&self, mode: MotionMode) -> Vec<MotionField> {
        let mut m = MotionEstimator::default();
        (0..self.frames.len())
            .map(|t| m.next(&self.frame(t).view(), mode).0)
            .collect()
    }
}

/// Flicker and lag of one filter on one sequence.
#[derive(Debug, Clone)]
pub struct Row {
    pub filter: &'static str,
    /// Mean absolute frame-to-frame change: mask probability in %, keypoints in % of the
    /// person's box diagonal, pixels in levels.
    pub flicker: f64,
    /// Frames of delay behind the unfiltered result (moving sequences).
    pub lag: f64,
    /// Mean absolute difference from the unfiltered result (pixels: ghosting), same unit as
    /// `flicker`.
    pub error: f64,
}

fn mean_abs(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from((x - y).abs()))
        .sum::<f64>()
        / a.len().max(1) as f64
}

/// The selfie model's raw masks (no smoothing) on every frame, and their size.
pub fn raw_masks(seq: &Sequence) -> Result<(Vec<Vec<f32>>, usize, usize)> {
    let settings = SegmentSettings {
        smoothing: 0.0,
        composite: crate::segment::CompositeParams {
            effect: Effect::None,
            ..Default::default()
        },
        ..SegmentSettings::default()
    };
    let mut s = Segmenter::new();
    let mut out = Vec::new();
    let (mut mw, mut mh) = (0, 0);
    for t in 0..seq.frames.len() {
        let mut f = seq.frame(t);
        let m = s.process(&mut f.view(), &settings, false)?;
        let m = m.mask.expect("a synchronous frame has a mask");
        (mw, mh) = (m.width, m.height);
        out.push(m.data.clone());
    }
    Ok((out, mw, mh))
}

/// Mask filters on one sequence: none, MediaPipe's blend, an EMA, and both motion-compensated.
pub fn mask_rows(seq: &Sequence) -> Result<Vec<Row>> {
    let (raw, w, h) = raw_masks(seq)?;
    let dense = seq.motion(MotionMode::Dense);
    let variants: [(&'static str, Option<MaskBlend>, bool); 5] = [
        ("none", None, false),
        (
            "MediaPipe blend 0.7",
            Some(MaskBlend::Uncertainty(0.7)),
            false,
        ),
        ("EMA 0.7", Some(MaskBlend::Ema(0.7)), false),
        (
            "MediaPipe blend 0.7 + motion",
            Some(MaskBlend::Uncertainty(0.7)),
            true,
        ),
        ("EMA 0.7 + motion", Some(MaskBlend::Ema(0.7)), true),
    ];
    let raw_cx: Vec<f64> = raw.iter().map(|m| centroid_x(m, w)).collect();
    Ok(variants
        .iter()
        .map(|&(filter, blend, compensate)| {
            let mut smoother = MaskSmoother::default();
            let out: Vec<Vec<f32>> = raw
                .iter()
                .zip(&dense)
                .map(|(m, field)| {
                    let mut m = m.clone();
                    if let Some(b) = blend {
                        let warp = compensate.then_some((field, seq.width, seq.height));
                        smoother.apply(&mut m, w, h, b, warp);
                    }
                    m
                })
                .collect();
            let cx: Vec<f64> = out.iter().map(|m| centroid_x(m, w)).collect();
            Row {
                filter,
                flicker: flicker(&out) * 100.0,
                lag: lag(&raw_cx, &cx, 10),
                error: raw
                    .iter()
                    .zip(&out)
                    .map(|(a, b)| mean_abs(a, b))
                    .sum::<f64>()
                    / raw.len() as f64
                    * 100.0,
            }
        })
        .collect())
}

/// Keypoint filters: the tracker without smoothing, and one-euro with MediaPipe's pose
/// parameters on frame timestamps (what `pose smoothing=true` and `temporalsmooth` run).
pub fn keypoint_rows(seq: &Sequence, models: PoseModels) -> Result<Vec<Row>> {
    let mut tracker = PoseTracker::new(models);
    let settings = TrackerSettings {
        smoothing: false,
        ..TrackerSettings::default()
    };
    let mut raw: Vec<Vec<[f32; 5]>> = Vec::new();
    let mut sizes: Vec<f32> = Vec::new();
    for t in 0..seq.frames.len() {
        let mut f = seq.frame(t);
        let p = tracker.process(&f.view(), t as f64 / seq.fps, &settings, false)?;
        let Some(p) = p else { continue };
        sizes.push(p.size());
        raw.push(
            p.landmarks
                .iter()
                .map(|l| [l.x, l.y, l.z, l.visibility, l.presence])
                .collect(),
        );
    }
    let diag = |lms: &[[f32; 5]]| {
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for l in lms {
            (x0, y0, x1, y1) = (x0.min(l[0]), y0.min(l[1]), x1.max(l[0]), y1.max(l[1]));
        }
        f64::from(((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt()).max(1.0)
    };
    let measure = |filter: &'static str, series: &[Vec<[f32; 5]>]| {
        let mut total = 0.0;
        for pair in series.windows(2) {
            let d: f64 = pair[0]
                .iter()
                .zip(&pair[1])
                .map(|(a, b)| f64::from(((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()))
                .sum::<f64>()
                / pair[0].len() as f64;
            total += d / diag(&pair[1]) * 100.0;
        }
        let mean_x = |s: &[Vec<[f32; 5]>]| -> Vec<f64> {
            s.iter()
                .map(|l| l.iter().map(|p| f64::from(p[0])).sum::<f64>() / l.len() as f64)
                .collect()
        };
        Row {
            filter,
            flicker: total / (series.len().max(2) - 1) as f64,
            lag: lag(&mean_x(&raw), &mean_x(series), 10),
            error: 0.0,
        }
    };
    // As `temporalsmooth` filters them: scaled by the person's size from pose's meta, or by
    // the landmarks' bounding box where a meta carries no size.
    let one_euro = |size: &dyn Fn(usize) -> f32| -> Vec<Vec<[f32; 5]>> {
        let mut smoother = PointSmoother::default();
        raw.iter()
            .enumerate()
            .map(|(t, l)| {
                let mut l = l.clone();
                let scale = person_scale(size(t), &l);
                smoother.apply(&mut l, t as f64 / seq.fps, scale, OneEuroParams::POSE);
                l
            })
            .collect()
    };
    Ok(vec![
        measure("none", &raw),
        measure(
            "one-euro (MediaPipe's pose parameters)",
            &one_euro(&|t| sizes[t]),
        ),
        measure("one-euro, box scale (no size known)", &one_euro(&|_| 0.0)),
    ])
}

/// Pixel deflicker on the frames themselves: off, without motion and with dense motion.
/// Lag here is how far each output frame sits behind its input along the motion (the global
/// translation between them over the input's own speed, in frames).
pub fn pixel_rows(seq: &Sequence, strength: f32, threshold: f32) -> Vec<Row> {
    let variants: [(&'static str, Option<MotionMode>); 3] = [
        ("none", None),
        ("deflicker, no motion", Some(MotionMode::None)),
        ("deflicker + dense motion", Some(MotionMode::Dense)),
    ];
    let luma = |f: &[u8]| -> Vec<f32> {
        f.chunks_exact(3)
            .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
            .collect()
    };
    let factor = factor_for(seq.width, seq.height);
    let low = |f: &mut OwnedFrame| LowLuma::new(&f.view(), factor);
    let raw: Vec<Vec<f32>> = seq.frames.iter().map(|f| luma(f)).collect();
    let raw_low: Vec<LowLuma> = (0..seq.frames.len())
        .map(|t| low(&mut seq.frame(t)))
        .collect();
    let norm = |v: [f32; 2]| f64::from((v[0] * v[0] + v[1] * v[1]).sqrt());
    let speed: f64 = raw_low
        .windows(2)
        .map(|p| norm(estimate(&p[0], &p[1], MotionMode::Global).global))
        .sum::<f64>()
        / (raw_low.len().max(2) - 1) as f64;
    variants
        .iter()
        .map(|&(filter, mode)| {
            let (mut d, mut m) = (Deflicker::default(), MotionEstimator::default());
            let (mut out, mut behind) = (Vec::new(), 0.0);
            for (t, raw_l) in raw_low.iter().enumerate() {
                let mut f = seq.frame(t);
                if let Some(mode) = mode {
                    let (field, l) = m.next(&f.view(), mode);
                    let l = l.clone();
                    d.apply(&mut f.view(), &l, &field, strength, threshold);
                }
                behind += norm(estimate(&low(&mut f), raw_l, MotionMode::Global).global);
                out.push(luma(&f.to_rgb()));
            }
            Row {
                filter,
                flicker: flicker(&out),
                lag: if speed > 0.1 {
                    behind / seq.frames.len() as f64 / speed
                } else {
                    0.0
                },
                error: raw
                    .iter()
                    .zip(&out)
                    .map(|(a, b)| mean_abs(a, b))
                    .sum::<f64>()
                    / raw.len() as f64,
            }
        })
        .collect()
}
