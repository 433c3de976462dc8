//! Temporal smoothing of person masks (probabilities in [0, 1] at model resolution):
//! MediaPipe's uncertainty-weighted blend, a plain exponential moving average for comparison,
//! and motion compensation, which warps the previous mask along the frame's motion before
//! either blend so that a moving edge is compared with itself rather than with where it was.

use multiversion::multiversion;
use rayon::prelude::*;

use super::motion::{floor_int, MotionField};

/// How a new mask is blended with the previous one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaskBlend {
    /// MediaPipe's segmentation smoothing: confident values pass, uncertain ones (near 0.5)
    /// lean on the previous mask by `ratio`.
    Uncertainty(f32),
    /// `out = previous + (1 − ratio)·(new − previous)`: the reference for what a plain filter
    /// costs in lag.
    Ema(f32),
}

/// MediaPipe's uncertainty-weighted temporal blend (its segmentation smoothing calculator).
/// `ratio` 0 turns it off; MediaPipe uses 0.7.
pub fn uncertainty_blend(previous: &[f32], current: &mut [f32], ratio: f32) {
    if ratio <= 0.0 || previous.len() != current.len() {
        return;
    }
    const C: [f32; 5] = [5.68842, -0.748699, -57.8051, 291.309, -624.717];
    for (p, &q) in current.iter_mut().zip(previous) {
        let t = *p - 0.5;
        let x = t * t;
        let poly = x * (C[0] + x * (C[1] + x * (C[2] + x * (C[3] + x * C[4]))));
        let uncertainty = 1.0 - poly.min(1.0);
        *p += (q - *p) * uncertainty * ratio;
    }
}

/// Exponential moving average: `ratio` of the previous value is kept.
pub fn ema(previous: &[f32], current: &mut [f32], ratio: f32) {
    if ratio <= 0.0 || previous.len() != current.len() {
        return;
    }
    for (p, &q) in current.iter_mut().zip(previous) {
        *p += (q - *p) * ratio;
    }
}

/// Which blend a mask filter uses (its ratio is set separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaskFilter {
    /// [`MaskBlend::Ema`]: with motion compensation, the steadiest (measured: −75 % flicker
    /// on a still picture, 0.15 frames of lag on a pan, by `aifx-bench temporal`).
    #[default]
    Ema,
    /// [`MaskBlend::Uncertainty`]: MediaPipe's; confident pixels never lag, but it removes
    /// about half the flicker.
    MediaPipe,
}

impl MaskFilter {
    pub fn with_ratio(self, ratio: f32) -> MaskBlend {
        match self {
            MaskFilter::Ema => MaskBlend::Ema(ratio),
            MaskFilter::MediaPipe => MaskBlend::Uncertainty(ratio),
        }
    }
}

impl MaskBlend {
    pub fn apply(self, previous: &[f32], current: &mut [f32]) {
        match self {
            MaskBlend::Uncertainty(r) => uncertainty_blend(previous, current, r),
            MaskBlend::Ema(r) => ema(previous, current, r),
        }
    }
}

/// `previous` (a `width`×`height` mask over a `frame_width`×`frame_height` frame) warped
/// along `motion`: each mask pixel reads the previous mask where its content was.
pub fn warp(
    previous: &[f32],
    width: usize,
    height: usize,
    frame_width: usize,
    frame_height: usize,
    motion: &MotionField,
) -> Vec<f32> {
    let (sx, sy) = (
        frame_width as f32 / width as f32,
        frame_height as f32 / height as f32,
    );
    // Each mask pixel takes the vector of the motion block its centre falls in (blocks are
    // 8 low-resolution pixels, several mask pixels each); the block column of each mask
    // column, and each block's vector in mask pixels, are worked out once.
    let block_col: Vec<usize> = (0..width)
        .map(|x| motion.col_of(((x as f32 + 0.5) * sx) as usize))
        .collect();
    let shifts: Vec<[f32; 2]> = motion
        .vectors
        .iter()
        .map(|v| [v[0] / sx, v[1] / sy])
        .collect();
    let mut out = vec![0.0f32; width * height];
    out.par_chunks_mut(width.max(1))
        .enumerate()
        .for_each(|(y, row)| {
            let r = motion.row_of(((y as f32 + 0.5) * sy) as usize);
            let shifts = &shifts[r * motion.cols..(r + 1) * motion.cols];
            warp_row(previous, width, height, y, shifts, &block_col, row);
        });
    out
}

/// Row `y` of the warped mask (`shifts`: the vectors of the row's motion blocks in mask
/// pixels). Compiled for AVX2 as a whole, and without clamping where all four taps lie
/// inside the mask (most pixels): per pixel the clamps were most of the warp's time.
#[multiversion(targets("x86_64+avx+avx2+fma"))]
fn warp_row(
    previous: &[f32],
    width: usize,
    height: usize,
    y: usize,
    shifts: &[[f32; 2]],
    block_col: &[usize],
    row: &mut [f32],
) {
    let (w, h) = (width as i32, height as i32);
    let at =
        |x: i32, y: i32| previous[y.clamp(0, h - 1) as usize * width + x.clamp(0, w - 1) as usize];
    for (x, o) in row.iter_mut().enumerate() {
        let v = shifts[block_col[x]];
        let (px, py) = (x as f32 - v[0], y as f32 - v[1]);
        let (x0, y0) = (floor_int(px) as i32, floor_int(py) as i32);
        let (fx, fy) = (px - x0 as f32, py - y0 as f32);
        let [p00, p01, p10, p11] = if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
            let i = y0 as usize * width + x0 as usize;
            [
                previous[i],
                previous[i + 1],
                previous[i + width],
                previous[i + width + 1],
            ]
        } else {
            [
                at(x0, y0),
                at(x0 + 1, y0),
                at(x0, y0 + 1),
                at(x0 + 1, y0 + 1),
            ]
        };
        let top = p00 + (p01 - p00) * fx;
        let bottom = p10 + (p11 - p10) * fx;
        *o = top + (bottom - top) * fy;
    }
}

/// Mask smoothing state for one stream: the previous smoothed mask.
#[derive(Debug, Default, Clone)]
pub struct MaskSmoother {
    previous: Option<(usize, usize, Vec<f32>)>,
}

impl MaskSmoother {
    /// Smooths `mask` (`width`×`height`) in place against the previous one, warped by
    /// `motion` when given (`frame_size` is the frame the motion was measured on).
    pub fn apply(
        &mut self,
        mask: &mut [f32],
        width: usize,
        height: usize,
        blend: MaskBlend,
        motion: Option<(&MotionField, usize, usize)>,
    ) {
        if let Some((pw, ph, prev)) = &self.previous {
            if (*pw, *ph) == (width, height) {
                match motion {
                    Some((m, fw, fh)) => {
                        let warped = warp(prev, width, height, fw, fh, m);
                        blend.apply(&warped, mask);
                    }
                    None => blend.apply(prev, mask),
                }
            }
        }
        match &mut self.previous {
            Some((pw, ph, prev)) if (*pw, *ph) == (width, height) => prev.copy_from_slice(mask),
            _ => self.previous = Some((width, height, mask.to_vec())),
        }
    }

    pub fn reset(&mut self) {
        self.previous = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncertainty_blend_matches_hand_computed_values() {
        // Confident values pass; a value at 0.5 moves by `ratio` toward the previous one.
        let prev = [0.0, 1.0, 1.0];
        let mut cur = [1.0, 0.0, 0.5];
        uncertainty_blend(&prev, &mut cur, 0.7);
        assert!((cur[0] - 1.0).abs() < 1e-3, "{cur:?}");
        assert!((cur[1] - 0.0).abs() < 1e-3, "{cur:?}");
        assert!((cur[2] - (0.5 + 0.5 * 0.7)).abs() < 1e-5, "{cur:?}");
    }

    #[test]
    fn ema_keeps_the_ratio() {
        let mut cur = [1.0, 0.0];
        ema(&[0.0, 1.0], &mut cur, 0.25);
        assert_eq!(cur, [0.75, 0.25]);
    }

    #[test]
    fn warping_follows_the_motion() {
        // A 16×1 step moved 4 mask pixels right; the frame is 2× the mask.
        let prev: Vec<f32> = (0..16).map(|x| if x < 8 { 1.0 } else { 0.0 }).collect();
        let mut m = MotionField::still(32, 2);
        m.vectors.fill([8.0, 0.0]);
        let w = warp(&prev, 16, 1, 32, 2, &m);
        let want: Vec<f32> = (0..16).map(|x| if x < 12 { 1.0 } else { 0.0 }).collect();
        assert_eq!(w, want);
    }

    #[test]
    fn a_moving_edge_does_not_lag_with_motion_compensation() {
        // An edge moving 2 px a frame: the plain blend drags it, the warped one does not.
        let (w, h) = (32, 1);
        let mask_at = |t: usize| -> Vec<f32> {
            (0..w)
                .map(|x| ((x as f32 - (8 + 2 * t) as f32) * -0.5 + 0.5).clamp(0.0, 1.0))
                .collect()
        };
        let mut motion = MotionField::still(w, h);
        motion.vectors.fill([2.0, 0.0]);
        let (mut plain, mut warped) = (MaskSmoother::default(), MaskSmoother::default());
        let blend = MaskBlend::Ema(0.7);
        let (mut e_plain, mut e_warped) = (0.0, 0.0);
        for t in 0..6 {
            let truth = mask_at(t);
            let mut a = truth.clone();
            plain.apply(&mut a, w, h, blend, None);
            let mut b = truth.clone();
            warped.apply(&mut b, w, h, blend, Some((&motion, w, h)));
            e_plain = a
                .iter()
                .zip(&truth)
                .map(|(x, y)| (x - y).abs())
                .sum::<f32>();
            e_warped = b
                .iter()
                .zip(&truth)
                .map(|(x, y)| (x - y).abs())
                .sum::<f32>();
        }
        assert!(e_warped < 0.05, "warped error {e_warped}");
        assert!(e_plain > 1.0, "plain error {e_plain}");
    }
}
