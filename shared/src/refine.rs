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

/// Luma in [0, 1] of a run of packed pixels with R at byte `R` and B at byte `B`
/// (monomorphised so the byte positions are constants and the loop vectorises).
fn packed_luma<const R: usize, const B: usize>(row: &[u8], out: &mut [f32]) {
    const K: f32 = 1.0 / 255.0;
    let (kr, kg, kb) = (0.299 * K, 0.587 * K, 0.114 * K);
    for (o, px) in out.iter_mut().zip(row.chunks_exact(4)) {
        *o = kr * f32::from(px[R]) + kg * f32::from(px[1]) + kb * f32::from(px[B]);
    }
}

/// How to read luma from plane 0 of a frame.
#[derive(Clone, Copy)]
enum LumaKind {
    Rgb,
    Bgr,
    /// Y plane: (offset, scale) to [0, 1].
    Y(f32, f32),
}

/// Per-row alpha of a mask upsampled to the frame: edge-aware (guided-filter coefficients
/// applied to the frame's own luma) or plain bilinear. Coefficient rows are resampled to the
/// frame width once per frame; each frame row is then a vertical lerp plus, only where the
/// filter's slope is not ~0 (edges), the luma of the row.
pub struct MaskAlpha<'a> {
    width: usize,
    luma: LumaKind,
    ys: Vec<(usize, usize, f32)>,
    a: &'a [f32],
    b: Option<&'a [f32]>,
}

impl<'a> MaskAlpha<'a> {
    /// `coefficients` None: plain bilinear upsampling of `mask`.
    pub fn new(
        frame: &FrameMut<'_>,
        mask: &Mask,
        coefficients: Option<&Coefficients>,
        scratch: &'a mut AlphaScratch,
    ) -> Self {
        let w = frame.width;
        let luma = match frame.format.rgb_offsets() {
            Some([0, _, _]) => LumaKind::Rgb,
            Some(_) => LumaKind::Bgr,
            None if frame.matrix.full_range => LumaKind::Y(0.0, 1.0 / 255.0),
            None => LumaKind::Y(16.0, 1.0 / 219.0),
        };
        let ys = crate::sample::taps(
            mask.height,
            frame.height,
            crate::tensor::Sampling::HalfPixel,
        );
        let AlphaScratch { a, b } = scratch;
        match coefficients {
            Some(c) => {
                rayon::join(|| upsample_rows(&c.a, w, a), || upsample_rows(&c.b, w, b));
                MaskAlpha {
                    width: w,
                    luma,
                    ys,
                    a,
                    b: Some(b),
                }
            }
            None => {
                upsample_rows(mask, w, a);
                MaskAlpha {
                    width: w,
                    luma,
                    ys,
                    a,
                    b: None,
                }
            }
        }
    }
}

impl crate::composite::AlphaRows for MaskAlpha<'_> {
    // The guided filter's offset b is the locally averaged mask where the slope is ~0, and a
    // smoothed mask at edges: close enough for weighting a heavy blur.
    #[allow(clippy::manual_clamp)]
    fn coarse_row(&self, y: usize, out: &mut [u8]) {
        let w = self.width;
        let (y0, y1, fy) = self.ys[y];
        let src = self.b.unwrap_or(self.a);
        let (r0, r1) = (&src[y0 * w..(y0 + 1) * w], &src[y1 * w..(y1 + 1) * w]);
        for ((o, &p), &q) in out.iter_mut().zip(r0).zip(r1) {
            *o = ((p + (q - p) * fy).max(0.0).min(1.0) * 255.0 + 0.5) as i32 as u8;
        }
    }

    // `max().min()` instead of `clamp()` on purpose: it vectorises (clamp's NaN handling does not).
    #[allow(clippy::manual_clamp)]
    fn row(&self, y: usize, plane0: &[u8], out: &mut [u8]) {
        const CHUNK: usize = 32;
        let w = self.width;
        let (y0, y1, fy) = self.ys[y];
        let (a0, a1) = (&self.a[y0 * w..(y0 + 1) * w], &self.a[y1 * w..(y1 + 1) * w]);
        let mut ra = [0f32; CHUNK];
        let mut rb = [0f32; CHUNK];
        let mut luma = [0f32; CHUNK];
        let mut x0 = 0;
        while x0 < w {
            let x1 = (x0 + CHUNK).min(w);
            let n = x1 - x0;
            for ((o, &p), &q) in ra[..n].iter_mut().zip(&a0[x0..x1]).zip(&a1[x0..x1]) {
                *o = p + (q - p) * fy;
            }
            let oc = &mut out[x0..x1];
            match self.b {
                None => {
                    for (o, &v) in oc.iter_mut().zip(&ra[..n]) {
                        *o = (v.max(0.0).min(1.0) * 255.0 + 0.5) as i32 as u8;
                    }
                }
                Some(b) => {
                    let (b0, b1) = (&b[y0 * w..(y0 + 1) * w], &b[y1 * w..(y1 + 1) * w]);
                    for ((o, &p), &q) in rb[..n].iter_mut().zip(&b0[x0..x1]).zip(&b1[x0..x1]) {
                        *o = p + (q - p) * fy;
                    }
                    if ra[..n].iter().all(|a| a.abs() < 1e-3) {
                        // Flat picture or confident mask (most of the frame): alpha is b.
                        for (o, &v) in oc.iter_mut().zip(&rb[..n]) {
                            *o = (v.max(0.0).min(1.0) * 255.0 + 0.5) as i32 as u8;
                        }
                    } else {
                        let l = &mut luma[..n];
                        match self.luma {
                            LumaKind::Rgb => packed_luma::<0, 2>(&plane0[x0 * 4..x1 * 4], l),
                            LumaKind::Bgr => packed_luma::<2, 0>(&plane0[x0 * 4..x1 * 4], l),
                            LumaKind::Y(lo, k) => {
                                for (o, &v) in l.iter_mut().zip(&plane0[x0..x1]) {
                                    *o = ((f32::from(v) - lo) * k).max(0.0).min(1.0);
                                }
                            }
                        }
                        for (((o, &a), &b), &l) in
                            oc.iter_mut().zip(&ra[..n]).zip(&rb[..n]).zip(l.iter())
                        {
                            *o = ((a * l + b).max(0.0).min(1.0) * 255.0 + 0.5) as i32 as u8;
                        }
                    }
                }
            }
            x0 = x1;
        }
    }
}

/// Writes the frame-resolution alpha (0–255) of `mask` into `alpha` (`width`×`height`),
/// guided by the frame's luma when `coefficients` are given, plain bilinear otherwise.
pub fn alpha_plane(
    frame: &FrameMut<'_>,
    mask: &Mask,
    coefficients: Option<&Coefficients>,
    alpha: &mut Vec<u8>,
    scratch: &mut AlphaScratch,
) {
    use crate::composite::AlphaRows;
    let (w, h) = (frame.width, frame.height);
    alpha.resize(w * h, 0);
    let src = MaskAlpha::new(frame, mask, coefficients, scratch);
    alpha
        .par_chunks_mut(w)
        .enumerate()
        .for_each(|(y, out)| src.row(y, frame.row(0, y), out));
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
