//! Upsampling a low-resolution mask to a full-resolution alpha plane, optionally edge-aware.
//!
//! Edge-aware upsampling is the fast guided filter (He & Sun): the filter's linear
//! coefficients `q = a·I + b` are solved at mask resolution against the frame's luma there,
//! then interpolated to full resolution and applied to the full-resolution luma. Hair and
//! shoulder edges follow the picture's real edges at the cost of two bilinear fetches and a
//! multiply-add per pixel. Hand-written: a fused per-row loop is the hot path of every
//! effect (measured by the segment benchmark).

use multiversion::multiversion;
use rayon::prelude::*;

use super::coverage::{byte_of, Coverage, SPAN};
use super::mask::{box_blur, Mask};
use crate::frame::FrameMut;
use crate::tensor::taps;
use crate::tensor::Sampling;

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

/// Luma in [0, 1] of a run of packed pixels with R at byte `R` and B at byte `B`
/// (monomorphised so the byte positions are constants and the loop vectorises). Each pixel
/// is read as one little-endian word and its bytes taken out by shifts, and a whole chunk
/// of the guided alpha goes through a fixed-size loop: read byte by byte, or with a run
/// length only known at run time, LLVM left part of this hot loop scalar.
#[inline]
fn packed_luma<const R: usize, const B: usize>(row: &[u8], out: &mut [f32]) {
    #[inline(always)]
    fn luma<const R: usize, const B: usize>(px: [u8; 4]) -> f32 {
        const K: f32 = 1.0 / 255.0;
        let w = u32::from_le_bytes(px);
        let byte = |i: usize| ((w >> (8 * i)) & 0xff) as f32;
        0.299 * K * byte(R) + 0.587 * K * byte(1) + 0.114 * K * byte(B)
    }
    let (px, _) = row.as_chunks::<4>();
    if let (Ok(px), Ok(out)) = (
        <&[[u8; 4]; LUMA_CHUNK]>::try_from(px),
        <&mut [f32; LUMA_CHUNK]>::try_from(&mut *out),
    ) {
        for (o, &p) in out.iter_mut().zip(px) {
            *o = luma::<R, B>(p);
        }
        return;
    }
    for (o, &p) in out.iter_mut().zip(px) {
        *o = luma::<R, B>(p);
    }
}

/// Pixels per chunk of the guided alpha's loop.
const LUMA_CHUNK: usize = 32;

/// How to read luma from plane 0 of a frame.
#[derive(Clone, Copy)]
enum LumaKind {
    Rgb,
    Bgr,
    /// Y plane: (offset, scale) to [0, 1].
    Y(f32, f32),
}

/// A mask-resolution map sampled bilinearly at frame pixels, with the coverage of each
/// frame span along each map row.
struct Bilinear<'a> {
    xs: Vec<(usize, usize, f32)>,
    ys: Vec<(usize, usize, f32)>,
    /// The mask (plain) or the filter's offset (guided), at mask resolution.
    value: &'a Mask,
    /// Coverage of each frame span along each mask row (`spans` per row).
    cover: Vec<Coverage>,
    spans: usize,
}

impl<'a> Bilinear<'a> {
    fn new(frame: &FrameMut<'_>, value: &'a Mask, slope: Option<&Mask>) -> Self {
        let xs = taps(value.width, frame.width, Sampling::HalfPixel);
        let (cover, spans) = span_coverage(value, slope, &xs);
        Self {
            xs,
            ys: taps(value.height, frame.height, Sampling::HalfPixel),
            value,
            cover,
            spans,
        }
    }

    /// `value` at frame pixel (`x`, `y`).
    #[inline(always)]
    fn at(&self, y: usize, x: usize) -> f32 {
        let (y0, y1, fy) = self.ys[y];
        let (i, j, fx) = self.xs[x];
        let m = self.value;
        let (r0, r1) = (&m.data[y0 * m.width..], &m.data[y1 * m.width..]);
        let top = r0[i] + (r0[j] - r0[i]) * fx;
        let bottom = r1[i] + (r1[j] - r1[i]) * fx;
        top + (bottom - top) * fy
    }

    fn coverage(&self, y: usize, out: &mut [Coverage]) {
        let (y0, y1, _) = self.ys[y];
        let (r0, r1) = (
            &self.cover[y0 * self.spans..(y0 + 1) * self.spans],
            &self.cover[y1 * self.spans..(y1 + 1) * self.spans],
        );
        for ((o, &p), &q) in out.iter_mut().zip(r0).zip(r1) {
            *o = p.merge(q);
        }
    }

    fn coarse_at(&self, y: usize, xs: &[usize], out: &mut [u8]) {
        for (o, &x) in out.iter_mut().zip(xs) {
            *o = to_alpha(self.at(y, x));
        }
    }
}

/// The plain bilinear alpha of a mask, sampled pixel by pixel: cheap to set up, for the
/// blur's weights (coverage and sparse samples) while the edge-aware alpha is prepared.
pub struct MaskWeights<'a>(Bilinear<'a>);

impl<'a> MaskWeights<'a> {
    pub fn new(frame: &FrameMut<'_>, mask: &'a Mask) -> Self {
        Self(Bilinear::new(frame, mask, None))
    }
}

impl super::coverage::AlphaRows for MaskWeights<'_> {
    fn span(&self, y: usize, x0: usize, _plane0: &[u8], out: &mut [u8]) {
        for (o, x) in out.iter_mut().zip(x0..) {
            *o = to_alpha(self.0.at(y, x));
        }
    }

    fn coarse_at(&self, y: usize, xs: &[usize], out: &mut [u8]) {
        self.0.coarse_at(y, xs, out);
    }

    fn coverage(&self, y: usize, out: &mut [Coverage]) {
        self.0.coverage(y, out);
    }
}

/// Per-row alpha of a mask upsampled to the frame: edge-aware (guided-filter coefficients
/// applied to the frame's own luma) or plain bilinear. Where some frame row computes alpha
/// pixel by pixel, mask rows are resampled to the frame width ahead; each such pixel is then
/// a vertical lerp plus, for the guided filter, its slope times the pixel's luma.
pub struct MaskAlpha<'a> {
    luma: LumaKind,
    width: usize,
    grid: Bilinear<'a>,
    /// `value` and the filter's slope (guided only), each mask row resampled to the frame
    /// width where needed.
    value_rows: &'a [f32],
    slope_rows: Option<&'a [f32]>,
}

/// Buffers reused from frame to frame: reallocating them per frame costs page faults that
/// showed up as a third of the alpha pass in profiles.
#[derive(Default)]
pub struct AlphaScratch {
    value: Vec<f32>,
    slope: Vec<f32>,
}

/// Slope below which the guided filter's output is taken as its offset alone.
const FLAT_SLOPE: f32 = 1e-3;

/// Alpha within this many levels of 0 or 255 is snapped to it: the model's faint
/// probabilities over the background (0.2–0.6 %) would otherwise make most of the frame a
/// blend that changes nothing visible, and cost a per-pixel pass there.
const SNAP: f32 = 1.5;

/// Coverage of mask cells, as flags: bit 0 set when the cell's alpha snaps to 0 whatever
/// the luma, bit 1 when it snaps to 255. `value` is the mask (plain) or the filter's offset
/// (guided), `slope` the filter's slope (0 for plain). Alpha there is `slope·luma + value`
/// for some luma in [0, 1], so it lies between `value` and `value + slope`; any bilinear mix
/// of cells whose ranges all snap to 0 (or all to 255) snaps to it too, as `to_alpha`
/// computes it. Flags merge by `&`, which vectorises.
fn cell_flags(value: &[f32], slope: Option<&[f32]>, out: &mut [u8]) {
    let flags = |v: f32, a: f32| {
        let lo = (v + a.min(0.0)) * 255.0;
        let hi = (v + a.max(0.0)) * 255.0;
        u8::from(hi < SNAP) | (u8::from(lo > 255.0 - SNAP) << 1)
    };
    match slope {
        Some(sl) => {
            for ((o, &v), &a) in out.iter_mut().zip(value).zip(sl) {
                *o = flags(v, a);
            }
        }
        None => {
            for (o, &v) in out.iter_mut().zip(value) {
                *o = flags(v, 0.0);
            }
        }
    }
}

/// Coverage of each `SPAN` of frame columns along each mask row: the merge over every mask
/// cell the span's bilinear taps touch.
fn span_coverage(
    value: &Mask,
    slope: Option<&Mask>,
    xs: &[(usize, usize, f32)],
) -> (Vec<Coverage>, usize) {
    let width = xs.len();
    let spans = width.div_ceil(SPAN);
    let mw = value.width;
    let mut cover = vec![Coverage::Mixed; spans * value.height];
    cover.par_chunks_mut(spans).enumerate().for_each_init(
        || vec![0u8; mw],
        |flags, (k, out)| {
            let row = k * mw..(k + 1) * mw;
            cell_flags(&value.data[row.clone()], slope.map(|m| &m.data[row]), flags);
            for (s, o) in out.iter_mut().enumerate() {
                let (lo, hi) = (xs[s * SPAN].0, xs[((s + 1) * SPAN).min(width) - 1].1);
                *o = match flags[lo..=hi].iter().fold(3, |a, &f| a & f) {
                    1 => Coverage::Background,
                    2 => Coverage::Person,
                    _ => Coverage::Mixed,
                };
            }
        },
    );
    (cover, spans)
}

impl<'a> MaskAlpha<'a> {
    /// `coefficients` None: plain bilinear upsampling of `mask`.
    pub fn new(
        frame: &FrameMut<'_>,
        mask: &'a Mask,
        coefficients: Option<&'a Coefficients>,
        scratch: &'a mut AlphaScratch,
    ) -> Self {
        let w = frame.width;
        let luma = match frame.format.rgb_offsets() {
            Some([0, _, _]) => LumaKind::Rgb,
            Some(_) => LumaKind::Bgr,
            None if frame.matrix.full_range => LumaKind::Y(0.0, 1.0 / 255.0),
            None => LumaKind::Y(16.0, 1.0 / 219.0),
        };
        let (value, slope) = match coefficients {
            Some(c) => (&c.b, Some(&c.a)),
            None => (mask, None),
        };
        let grid = Bilinear::new(frame, value, slope);
        // Mask rows resampled to the frame width, only in the spans that some frame row
        // computes pixel by pixel (mixed there, or next to a row that differs).
        let (mh, spans, cover) = (value.height, grid.spans, &grid.cover);
        let needed = |k: usize, s: usize| {
            let c = cover[k * spans + s];
            c == Coverage::Mixed
                || (k > 0 && cover[(k - 1) * spans + s] != c)
                || (k + 1 < mh && cover[(k + 1) * spans + s] != c)
        };
        let xs = &grid.xs;
        let AlphaScratch {
            value: vup,
            slope: sup,
        } = scratch;
        let planes: Vec<(&Mask, &mut Vec<f32>)> = match slope {
            Some(sl) => vec![(value, vup), (sl, sup)],
            None => vec![(value, vup)],
        };
        let ups: Vec<&[f32]> = planes
            .into_par_iter()
            .map(|(m, up)| {
                up.resize(mh * w, 0.0);
                up.par_chunks_mut(w).enumerate().for_each(|(k, row)| {
                    let src = &m.data[k * m.width..(k + 1) * m.width];
                    for s in (0..spans).filter(|&s| needed(k, s)) {
                        let (x0, x1) = (s * SPAN, ((s + 1) * SPAN).min(w));
                        for (o, &(i, j, f)) in row[x0..x1].iter_mut().zip(&xs[x0..x1]) {
                            *o = src[i] + (src[j] - src[i]) * f;
                        }
                    }
                });
                &up[..]
            })
            .collect();
        MaskAlpha {
            luma,
            width: w,
            value_rows: ups[0],
            slope_rows: ups.get(1).copied(),
            grid,
        }
    }
}

/// 0–1 to alpha 0–255, rounded, snapped within `SNAP` levels of either end. `max().min()`
/// instead of `clamp()` on purpose: it vectorises (clamp's NaN handling does not).
/// Rounded to nearest, ties to even ([`byte_of`]: it keeps the guided alpha's loop vector).
#[allow(clippy::manual_clamp)]
#[inline(always)]
fn to_alpha(v: f32) -> u8 {
    let x = v.max(0.0).min(1.0) * 255.0;
    byte_of(if x < SNAP {
        0.0
    } else if x > 255.0 - SNAP {
        255.0
    } else {
        x
    })
}

impl super::coverage::AlphaRows for MaskAlpha<'_> {
    // The guided filter's offset b is the locally averaged mask where the slope is ~0, and a
    // smoothed mask at edges: close enough for weighting a heavy blur.
    fn coarse_at(&self, y: usize, xs: &[usize], out: &mut [u8]) {
        self.grid.coarse_at(y, xs, out);
    }

    fn coverage(&self, y: usize, out: &mut [Coverage]) {
        self.grid.coverage(y, out);
    }

    // Each pixel is a vertical lerp between two rows resampled ahead (contiguous, so it
    // vectorises), plus, for the guided filter, the slope times the pixel's luma.
    #[allow(clippy::manual_clamp)]
    fn span(&self, y: usize, x0: usize, plane0: &[u8], out: &mut [u8]) {
        let w = self.width;
        let (y0, y1, fy) = self.grid.ys[y];
        fn rows(m: &[f32], w: usize, y0: usize, y1: usize) -> [&[f32]; 2] {
            [&m[y0 * w..(y0 + 1) * w], &m[y1 * w..(y1 + 1) * w]]
        }
        let slope = self.slope_rows.map(|s| (rows(s, w, y0, y1), self.luma));
        alpha_span(rows(self.value_rows, w, y0, y1), slope, fy, x0, plane0, out);
    }
}

/// Alpha of pixels `x0..x0 + out.len()` from two resampled rows of the offset (and of the
/// slope, with how to read the row's luma, for the guided filter), mixed by `fy`.
#[allow(clippy::manual_clamp)] // max().min() vectorises; clamp's NaN handling does not
#[multiversion(targets("x86_64+avx+avx2+fma"))]
fn alpha_span(
    value: [&[f32]; 2],
    slope: Option<([&[f32]; 2], LumaKind)>,
    fy: f32,
    x0: usize,
    plane0: &[u8],
    out: &mut [u8],
) {
    const CHUNK: usize = LUMA_CHUNK;
    let [b0, b1] = value;
    let mut rb = [0f32; CHUNK];
    let mut ra = [0f32; CHUNK];
    let mut luma = [0f32; CHUNK];
    for (c, oc) in out.chunks_mut(CHUNK).enumerate() {
        let x0 = x0 + c * CHUNK;
        let x1 = x0 + oc.len();
        let n = oc.len();
        for ((o, &p), &q) in rb[..n].iter_mut().zip(&b0[x0..x1]).zip(&b1[x0..x1]) {
            *o = p + (q - p) * fy;
        }
        let Some(([a0, a1], kind)) = slope else {
            for (o, &v) in oc.iter_mut().zip(&rb[..n]) {
                *o = to_alpha(v);
            }
            continue;
        };
        for ((o, &p), &q) in ra[..n].iter_mut().zip(&a0[x0..x1]).zip(&a1[x0..x1]) {
            *o = p + (q - p) * fy;
        }
        let l = &mut luma[..n];
        match kind {
            LumaKind::Rgb => packed_luma::<0, 2>(&plane0[x0 * 4..x1 * 4], l),
            LumaKind::Bgr => packed_luma::<2, 0>(&plane0[x0 * 4..x1 * 4], l),
            LumaKind::Y(lo, k) => {
                for (o, &v) in l.iter_mut().zip(&plane0[x0..x1]) {
                    *o = ((f32::from(v) - lo) * k).max(0.0).min(1.0);
                }
            }
        }
        // Where the slope is ~0 (flat picture or confident mask) alpha is the offset.
        for (((o, &a), &b), &l) in oc.iter_mut().zip(&ra[..n]).zip(&rb[..n]).zip(l.iter()) {
            let a = if a.abs() < FLAT_SLOPE { 0.0 } else { a };
            *o = to_alpha(a * l + b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{OwnedFrame, PixelFormat};
    use crate::segment::coverage::AlphaRows;

    #[test]
    fn alpha_rounds_as_a_conversion_would() {
        // The bit trick against `as` (round half up, snapped): equal except on exact ties,
        // where it rounds to even, and whatever the input (NaN and infinities included).
        let by_cast = |v: f32| {
            let x = v.clamp(0.0, 1.0) * 255.0;
            if x < SNAP {
                0
            } else if x > 255.0 - SNAP {
                255
            } else {
                (x + 0.5) as u8
            }
        };
        for k in -1000..=101_000 {
            let v = k as f32 / 100_000.0;
            let x = v.clamp(0.0, 1.0) * 255.0;
            let tie = (x + 0.5).fract() == 0.0;
            assert!(
                tie || to_alpha(v) == by_cast(v),
                "{v}: {} vs {}",
                to_alpha(v),
                by_cast(v)
            );
        }
        assert_eq!(to_alpha(f32::NAN), 0);
        assert_eq!(to_alpha(f32::INFINITY), 255);
        assert_eq!(to_alpha(f32::NEG_INFINITY), 0);
        assert_eq!(to_alpha(0.5), 128);
    }

    /// Writes the frame-resolution alpha (0–255) of `mask` into `alpha` (`width`×`height`),
    /// guided by the frame's luma when `coefficients` are given, plain bilinear otherwise.
    fn alpha_plane(
        frame: &FrameMut<'_>,
        mask: &Mask,
        coefficients: Option<&Coefficients>,
        alpha: &mut Vec<u8>,
        scratch: &mut AlphaScratch,
    ) {
        let (w, h) = (frame.width, frame.height);
        alpha.resize(w * h, 0);
        let src = MaskAlpha::new(frame, mask, coefficients, scratch);
        alpha.par_chunks_mut(w).enumerate().for_each_init(
            || vec![Coverage::Mixed; w.div_ceil(SPAN)],
            |cover, (y, out)| {
                src.coverage(y, cover);
                src.row(y, frame.row(0, y), cover, out);
            },
        );
    }

    #[test]
    fn flat_guide_reproduces_the_smoothed_mask() {
        // With a constant guide the filter can only smooth: a ≈ 0 and the alpha is b, the
        // twice box-blurred mask, through the guided (edge-aware) path itself.
        let m = Mask::new(
            8,
            8,
            (0..64).map(|i| if i % 8 < 4 { 1.0 } else { 0.0 }).collect(),
        );
        let c = guided_coefficients(&m, &[0.5; 64], 1, 1e-3);
        assert!(c.a.data.iter().all(|a| a.abs() < 1e-3));
        let mut smoothed = m.data.clone();
        box_blur(&mut smoothed, 8, 8, 1);
        box_blur(&mut smoothed, 8, 8, 1);
        for (b, s) in c.b.data.iter().zip(&smoothed) {
            assert!((b - s).abs() < 1e-3, "b {b} vs smoothed mask {s}");
        }
        let mut f = OwnedFrame::from_rgb(PixelFormat::Rgba, 8, 8, &[128u8; 8 * 8 * 3], 0);
        let mut alpha = Vec::new();
        alpha_plane(
            &f.view(),
            &m,
            Some(&c),
            &mut alpha,
            &mut AlphaScratch::default(),
        );
        for (i, (&a, s)) in alpha.iter().zip(&smoothed).enumerate() {
            assert!(
                (f32::from(a) - s * 255.0).abs() <= 2.0,
                "pixel {i}: alpha {a}, smoothed mask {}",
                s * 255.0
            );
        }
        // Far from the edge the mask comes through exactly.
        assert_eq!(alpha[0], 255);
        assert_eq!(alpha[7], 0);
        // The smoothing is real: next to the edge the guided alpha is soft.
        assert!(
            (1..255).contains(&alpha[3]),
            "alpha at the edge {}",
            alpha[3]
        );
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
