//! Upsampling a low-resolution mask to a full-resolution alpha plane, optionally edge-aware.
//!
//! Edge-aware upsampling is the fast guided filter (He & Sun): the filter's linear
//! coefficients `q = a·I + b` are solved at mask resolution against the frame's luma there,
//! then interpolated to full resolution and applied to the full-resolution luma. Hair and
//! shoulder edges follow the picture's real edges at the cost of two bilinear fetches and a
//! multiply-add per pixel. Hand-written: a fused per-row loop is the hot path of every
//! effect (measured by the segment benchmark).

use rayon::prelude::*;

use crate::frame::FrameMut;
use crate::mask::{box_blur, Mask};

/// The guided filter's per-pixel linear model at mask resolution.
pub struct Coefficients {
    pub a: Mask,
    pub b: Mask,
}

/// Solves the guided filter of `mask` under `guide` (luma in [0, 1], same size).
pub fn guided_coefficients(mask: &Mask, guide: &[f32], radius: usize, eps: f32) -> Coefficients {
    let (w, h) = (mask.width, mask.height);
    assert_eq!(guide.len(), w * h);
    let p = &mask.data;
    // The four local means, blurred in parallel.
    let mut planes = [
        guide.to_vec(),
        p.clone(),
        guide.iter().map(|i| i * i).collect(),
        guide.iter().zip(p).map(|(i, p)| i * p).collect(),
    ];
    planes
        .par_iter_mut()
        .for_each(|v| box_blur(v, w, h, radius));
    let [mean_i, mean_p, corr_i, corr_ip] = planes;
    let mut a = corr_ip;
    let mut b = mean_p;
    for (((a, b), &mi), &ci) in a.iter_mut().zip(b.iter_mut()).zip(&mean_i).zip(&corr_i) {
        let var = ci - mi * mi;
        let cov = *a - mi * *b;
        let ak = cov / (var + eps);
        *b -= ak * mi;
        *a = ak;
    }
    rayon::join(
        || box_blur(&mut a, w, h, radius),
        || box_blur(&mut b, w, h, radius),
    );
    Coefficients {
        a: Mask::new(w, h, a),
        b: Mask::new(w, h, b),
    }
}

/// Every row of `m` resampled horizontally to `width` (pixel centres aligned), so the
/// per-pixel work below is a vertical lerp between two contiguous rows (vectorises).
fn upsample_rows(m: &Mask, width: usize, out: &mut Vec<f32>) {
    let xs = crate::sample::taps(m.width, width, crate::tensor::Sampling::HalfPixel);
    out.resize(m.height * width, 0.0);
    out.par_chunks_mut(width).enumerate().for_each(|(k, row)| {
        let src = &m.data[k * m.width..(k + 1) * m.width];
        for (o, &(i, j, f)) in row.iter_mut().zip(&xs) {
            *o = src[i] + (src[j] - src[i]) * f;
        }
    });
}

/// Buffers reused from frame to frame: reallocating them per frame costs page faults that
/// showed up as a third of the alpha pass in profiles.
#[derive(Default)]
pub struct AlphaScratch {
    a: Vec<f32>,
    b: Vec<f32>,
}

#[inline]
fn lerp_rows(up: &[f32], width: usize, y0: usize, y1: usize, fy: f32, out: &mut [f32]) {
    let (r0, r1) = (
        &up[y0 * width..(y0 + 1) * width],
        &up[y1 * width..(y1 + 1) * width],
    );
    for ((o, &a), &b) in out.iter_mut().zip(r0).zip(r1) {
        *o = a + (b - a) * fy;
    }
}

/// Luma of packed pixels with R at byte `R` and B at byte `B` (monomorphised so the byte
/// positions are constants and the loop vectorises).
fn packed_luma<const R: usize, const B: usize>(row: &[u8], out: &mut [f32]) {
    const K: f32 = 1.0 / 255.0;
    let (kr, kg, kb) = (0.299 * K, 0.587 * K, 0.114 * K);
    // Whole pixels as little-endian words: shifts and masks on u32 lanes vectorise where
    // byte-wise strided loads do not.
    for (o, px) in out.iter_mut().zip(row.chunks_exact(4)) {
        let v = u32::from_le_bytes([px[0], px[1], px[2], px[3]]);
        let (r, g, b) = (
            (v >> (8 * R)) & 0xff,
            (v >> 8) & 0xff,
            (v >> (8 * B)) & 0xff,
        );
        *o = kr * r as i32 as f32 + kg * g as i32 as f32 + kb * b as i32 as f32;
    }
}

/// Full-resolution luma of pixels `x0..x0 + out.len()` of row `y`, in [0, 1].
fn luma_span(frame: &FrameMut<'_>, y: usize, x0: usize, out: &mut [f32]) {
    const K: f32 = 1.0 / 255.0;
    let n = out.len();
    match frame.format.rgb_offsets() {
        Some([0, _, _]) => packed_luma::<0, 2>(&frame.row(0, y)[x0 * 4..(x0 + n) * 4], out),
        Some(_) => packed_luma::<2, 0>(&frame.row(0, y)[x0 * 4..(x0 + n) * 4], out),
        None => {
            let (lo, scale) = if frame.matrix.full_range {
                (0.0, K)
            } else {
                (16.0, 1.0 / 219.0)
            };
            for (o, &v) in out.iter_mut().zip(&frame.row(0, y)[x0..x0 + n]) {
                *o = ((f32::from(v) - lo) * scale).clamp(0.0, 1.0);
            }
        }
    }
}

/// Writes the frame-resolution alpha (0–255) of `mask` into `alpha` (`width`×`height`),
/// guided by the frame's luma when `coefficients` are given, plain bilinear otherwise.
// `max().min()` instead of `clamp()` on purpose: it vectorises (clamp's NaN handling does not).
#[allow(clippy::manual_clamp)]
pub fn alpha_plane(
    frame: &FrameMut<'_>,
    mask: &Mask,
    coefficients: Option<&Coefficients>,
    alpha: &mut Vec<u8>,
    scratch: &mut AlphaScratch,
) {
    let (w, h) = (frame.width, frame.height);
    alpha.resize(w * h, 0);
    let ys = crate::sample::taps(mask.height, h, crate::tensor::Sampling::HalfPixel);
    match coefficients {
        Some(c) => {
            upsample_rows(&c.a, w, &mut scratch.a);
            upsample_rows(&c.b, w, &mut scratch.b);
            let (ua, ub) = (&scratch.a, &scratch.b);
            alpha.par_chunks_mut(w).enumerate().for_each_init(
                || (vec![0.0f32; w], vec![0.0f32; w], vec![0.0f32; w]),
                |(ra, rb, luma), (y, out)| {
                    let (y0, y1, fy) = ys[y];
                    lerp_rows(ua, w, y0, y1, fy, ra);
                    lerp_rows(ub, w, y0, y1, fy, rb);
                    // Where the filter's slope is ~0 (flat picture or confident mask, most of
                    // the frame) alpha is just b: skip the frame's luma there.
                    const CHUNK: usize = 32;
                    let mut x0 = 0;
                    while x0 < w {
                        let x1 = (x0 + CHUNK).min(w);
                        let (ac, bc, oc) = (&ra[x0..x1], &rb[x0..x1], &mut out[x0..x1]);
                        if ac.iter().all(|a| a.abs() < 1e-3) {
                            for (o, &b) in oc.iter_mut().zip(bc) {
                                *o = (b.max(0.0).min(1.0) * 255.0 + 0.5) as i32 as u8;
                            }
                        } else {
                            let lc = &mut luma[x0..x1];
                            luma_span(frame, y, x0, lc);
                            for (((o, &a), &b), &l) in oc.iter_mut().zip(ac).zip(bc).zip(lc.iter())
                            {
                                // max/min rather than clamp, and an i32 cast of a value known
                                // to be in range: both vectorise.
                                *o = ((a * l + b).max(0.0).min(1.0) * 255.0 + 0.5) as i32 as u8;
                            }
                        }
                        x0 = x1;
                    }
                },
            );
        }
        None => {
            upsample_rows(mask, w, &mut scratch.a);
            let um = &scratch.a;
            alpha.par_chunks_mut(w).enumerate().for_each_init(
                || vec![0.0f32; w],
                |rm, (y, out)| {
                    let (y0, y1, fy) = ys[y];
                    lerp_rows(um, w, y0, y1, fy, rm);
                    for (o, &v) in out.iter_mut().zip(rm.iter()) {
                        *o = (v.max(0.0).min(1.0) * 255.0 + 0.5) as i32 as u8;
                    }
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{OwnedFrame, PixelFormat};

    #[test]
    fn flat_guide_reproduces_the_mask() {
        // With a constant guide the filter can only smooth: a ≈ 0, b ≈ blurred mask.
        let m = Mask::new(
            8,
            8,
            (0..64).map(|i| if i % 8 < 4 { 1.0 } else { 0.0 }).collect(),
        );
        let c = guided_coefficients(&m, &[0.5; 64], 1, 1e-3);
        assert!(c.a.data.iter().all(|a| a.abs() < 1e-3));
        let mut f = OwnedFrame::from_rgb(PixelFormat::Rgba, 8, 8, &[128u8; 8 * 8 * 3], 0);
        let mut alpha = Vec::new();
        alpha_plane(
            &f.view(),
            &m,
            None,
            &mut alpha,
            &mut AlphaScratch::default(),
        );
        assert_eq!(alpha[0], 255);
        assert_eq!(alpha[7], 0);
    }

    #[test]
    fn edges_follow_the_guide() {
        // A blurry mask edge around column 8 of 16; the picture's edge is sharp at column 6.
        let w = 16;
        let mask = Mask::new(
            w,
            w,
            (0..w * w)
                .map(|i| 1.0 - ((i % w) as f32 / (w - 1) as f32))
                .collect(),
        );
        let guide: Vec<f32> = (0..w * w)
            .map(|i| if i % w < 6 { 0.9 } else { 0.1 })
            .collect();
        let c = guided_coefficients(&mask, &guide, 3, 1e-4);
        let mut rgb = Vec::new();
        for i in 0..w * w {
            let v = if i % w < 6 { 230u8 } else { 25 };
            rgb.extend_from_slice(&[v, v, v]);
        }
        let mut f = OwnedFrame::from_rgb(PixelFormat::Rgbx, w, w, &rgb, 4);
        let mut alpha = Vec::new();
        alpha_plane(
            &f.view(),
            &mask,
            Some(&c),
            &mut alpha,
            &mut AlphaScratch::default(),
        );
        let row = &alpha[8 * w..9 * w];
        // The step between columns 5 and 6 is much larger than in the plain bilinear mask.
        let jump = i32::from(row[5]) - i32::from(row[6]);
        assert!(jump > 60, "{row:?}");
    }
}
