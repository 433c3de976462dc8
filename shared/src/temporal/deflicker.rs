//! Pixel deflicker for generated or stylized video: each output pixel is blended with the
//! previous output, warped along the motion, wherever the frame's content did not really
//! change; where it did (new content, occlusions, lighting), it passes through.
//!
//! "Did not really change" is decided per low-resolution cell: the cell's luma against the
//! previous frame's luma at the place the motion says it came from. A difference below
//! `threshold` levels is flicker (blend weight `strength`), twice the threshold or more is
//! real change (weight 0), with a ramp in between. The blend itself runs over whole rows of a
//! cell with one integer vector per motion block, in the frame's own planes and format.
//! Hand-written: it touches every byte of the frame and must stay within a few ms at 1080p.

use multiversion::multiversion;
use rayon::prelude::*;

use super::motion::{round_int, LowLuma, MotionField};
use crate::frame::{FrameMut, FrameRef, PixelFormat};

/// The deflicker's memory of the previous frame: its input luma and, unless the caller keeps
/// the previous output itself ([`Deflicker::apply_after`]), a copy of that output.
#[derive(Debug, Default)]
pub struct Deflicker {
    previous: Option<Previous>,
}

#[derive(Debug)]
struct Previous {
    format: PixelFormat,
    width: usize,
    height: usize,
    /// The previous output, when this deflicker keeps it ([`Deflicker::apply`]).
    kept: Option<Kept>,
    /// The previous input's low-resolution luma (what the change test compares with).
    luma: LowLuma,
}

/// The previous output, plane by plane (tightly packed).
#[derive(Debug)]
struct Kept {
    planes: Vec<Vec<u8>>,
    /// Where this frame's output is copied as it is written (then swapped with `planes`):
    /// each row is copied while it is still in cache, instead of in a second pass.
    next: Vec<Vec<u8>>,
}

impl Kept {
    fn new(format: PixelFormat, w: usize, h: usize) -> Self {
        let planes = || {
            (0..format.plane_count())
                .map(|p| {
                    let (bytes, rows) = format.plane_size(p, w, h);
                    vec![0u8; bytes * rows]
                })
                .collect()
        };
        Self {
            planes: planes(),
            next: planes(),
        }
    }
}

/// `(a·x + (256−a)·y) / 256` in 16-bit integers (vectorises).
#[inline(always)]
fn mix(cur: u8, prev: u8, w: u8) -> u8 {
    let w = u16::from(w);
    ((u16::from(prev) * w + u16::from(cur) * (256 - w) + 128) >> 8) as u8
}

/// `dst = mix(dst, src, weight)` over a run of bytes (inlined into `blend_blocks`, which is
/// compiled for AVX2 too: 16 lanes of u16).
#[inline(always)]
fn mix_run(dst: &mut [u8], src: &[u8], weights: &[u8]) {
    for ((d, &s), &a) in dst.iter_mut().zip(src).zip(weights) {
        *d = mix(*d, s, a);
    }
}

/// What every row of one plane's blend shares.
struct PlaneBlend<'a> {
    /// The previous output's plane and its row stride.
    prev: &'a [u8],
    prev_stride: usize,
    /// Bytes per pixel, plane pixels across and down, bytes of a row's pixels.
    bpp: usize,
    pw: usize,
    ph: usize,
    bytes: usize,
    /// Plane pixels per motion block, and the block column of each run of that many.
    block: usize,
    block_cols: Vec<usize>,
}

/// Blends row `y` of the plane (`row`, its weights per byte in `wrow`) with the previous
/// output, one motion block at a time (`shifts`: the vectors of the row's blocks in whole
/// plane pixels). One function compiled for AVX2 as a whole: a dispatched call per
/// 16-pixel block cost more than its blend.
#[multiversion(targets("x86_64+avx+avx2+fma"))]
fn blend_blocks<'a>(
    g: &PlaneBlend<'a>,
    y: usize,
    row: &mut [u8],
    wrow: &[u8],
    shifts: &[(isize, isize)],
) {
    let (bpp, pw) = (g.bpp, g.pw);
    for (x0, &c) in (0..pw).step_by(g.block).zip(&g.block_cols) {
        let (dx, dy) = shifts[c];
        let x1 = (x0 + g.block).min(pw);
        let wgt = &wrow[x0 * bpp..x1 * bpp];
        let sy = (y as isize - dy).clamp(0, g.ph as isize - 1) as usize;
        let src_row = &g.prev[sy * g.prev_stride..sy * g.prev_stride + g.bytes];
        let (s0, s1) = (x0 as isize - dx, x1 as isize - dx);
        let dst = &mut row[x0 * bpp..x1 * bpp];
        if s0 >= 0 && s1 <= pw as isize {
            mix_run(dst, &src_row[s0 as usize * bpp..s1 as usize * bpp], wgt);
        } else {
            // At the borders: the pixels whose source lies outside the plane take its edge
            // pixel; the rest are a straight run again.
            let n = x1 - x0;
            let lo = (-s0).clamp(0, n as isize) as usize;
            let hi = (pw as isize - s0).clamp(lo as isize, n as isize) as usize;
            let edge = |x: usize| &src_row[x * bpp..(x + 1) * bpp];
            for i in (0..lo).chain(hi..n) {
                let e = edge(if i < lo { 0 } else { pw - 1 });
                let at = i * bpp..(i + 1) * bpp;
                mix_run(&mut dst[at.clone()], e, &wgt[at]);
            }
            if lo < hi {
                let s = (s0 + lo as isize) as usize;
                mix_run(
                    &mut dst[lo * bpp..hi * bpp],
                    &src_row[s * bpp..(s + hi - lo) * bpp],
                    &wgt[lo * bpp..hi * bpp],
                );
            }
        }
    }
}

/// Bytes per pixel and (horizontal, vertical) subsampling of plane `p`.
fn plane_geometry(format: PixelFormat, p: usize) -> (usize, usize) {
    match (format, p) {
        (PixelFormat::I420, 0) | (PixelFormat::Nv12, 0) => (1, 1),
        (PixelFormat::I420, _) => (1, 2),
        (PixelFormat::Nv12, _) => (2, 2),
        _ => (4, 1),
    }
}

impl Deflicker {
    pub fn reset(&mut self) {
        self.previous = None;
    }

    /// Deflickers `frame` in place, keeping a copy of the output for the next frame. `luma`
    /// is this input's low-resolution luma and `motion` the motion from the previous input to
    /// it (both from one `MotionEstimator::next`).
    pub fn apply(
        &mut self,
        frame: &mut FrameMut<'_>,
        luma: &LowLuma,
        motion: &MotionField,
        strength: f32,
        threshold: f32,
    ) {
        let (format, w, h) = (frame.format, frame.width, frame.height);
        if !self.follows(format, w, h, luma) || strength <= 0.0 {
            // Nothing to blend with: this output is the next frame's previous one.
            let mut kept = self
                .previous
                .take()
                .filter(|p| (p.format, p.width, p.height) == (format, w, h))
                .and_then(|p| p.kept)
                .unwrap_or_else(|| Kept::new(format, w, h));
            for (p, dst) in kept.planes.iter_mut().enumerate() {
                let (bytes, _) = format.plane_size(p, w, h);
                dst.par_chunks_mut(bytes.max(1))
                    .enumerate()
                    .for_each(|(y, d)| d.copy_from_slice(&frame.row(p, y)[..bytes]));
            }
            self.remember(format, w, h, luma, Some(kept));
            return;
        }
        let prev = self.previous.as_mut().expect("checked by `follows`");
        let kept = prev.kept.get_or_insert_with(|| Kept::new(format, w, h));
        let weights = cell_weights(&prev.luma, luma, motion, strength, threshold);
        for p in 0..format.plane_count() {
            let (bytes, _) = format.plane_size(p, w, h);
            let source = (kept.planes[p].as_slice(), bytes.max(1));
            blend_plane(
                frame,
                p,
                source,
                Some(&mut kept.next[p]),
                &weights,
                luma,
                motion,
            );
        }
        std::mem::swap(&mut kept.planes, &mut kept.next);
        prev.luma.clone_from(luma);
    }

    /// Deflickers `frame` in place against `previous`, the previous output, which the caller
    /// keeps (a GStreamer element holds a reference to the buffer it pushed: no copy of the
    /// frame is made here, a quarter of the memory traffic at 1080p RGBA). `previous` must be
    /// the output of the last call; None, or another geometry, starts afresh.
    pub fn apply_after(
        &mut self,
        frame: &mut FrameMut<'_>,
        previous: Option<&FrameRef<'_>>,
        luma: &LowLuma,
        motion: &MotionField,
        strength: f32,
        threshold: f32,
    ) {
        let (format, w, h) = (frame.format, frame.width, frame.height);
        let previous = previous.filter(|p| (p.format, p.width, p.height) == (format, w, h));
        match previous {
            Some(src) if strength > 0.0 && self.follows(format, w, h, luma) => {
                let prev = self.previous.as_mut().expect("checked by `follows`");
                let weights = cell_weights(&prev.luma, luma, motion, strength, threshold);
                for p in 0..format.plane_count() {
                    blend_plane(frame, p, src.planes[p], None, &weights, luma, motion);
                }
                prev.luma.clone_from(luma);
            }
            _ => self.remember(format, w, h, luma, None),
        }
    }

    /// Whether the last frame had this geometry (its output and luma can be used).
    fn follows(&self, format: PixelFormat, w: usize, h: usize, luma: &LowLuma) -> bool {
        self.previous.as_ref().is_some_and(|p| {
            (p.format, p.width, p.height) == (format, w, h)
                && (p.luma.width, p.luma.height) == (luma.width, luma.height)
        })
    }

    fn remember(
        &mut self,
        format: PixelFormat,
        width: usize,
        height: usize,
        luma: &LowLuma,
        kept: Option<Kept>,
    ) {
        self.previous = Some(Previous {
            format,
            width,
            height,
            kept,
            luma: luma.clone(),
        });
    }
}

/// Blend weight (0–255, of the previous output) per low-resolution cell.
fn cell_weights(
    prev: &LowLuma,
    cur: &LowLuma,
    motion: &MotionField,
    strength: f32,
    threshold: f32,
) -> Vec<u8> {
    let f = cur.factor as f32;
    let full = (strength.clamp(0.0, 1.0) * 255.0).round();
    let t = threshold.max(0.5);
    // The weight of each luma difference: `full` below the threshold, 0 from twice the
    // threshold. A table, and the shifts and blocks below worked out once, rather than per
    // cell: per cell this was a tenth of the deflicker's time at 1080p in profiles.
    let by_difference: [u8; 256] =
        std::array::from_fn(|d| (full * (2.0 - d as f32 / t).clamp(0.0, 1.0)) as u8);
    // Each block's vector in whole low-resolution pixels (the blend moves whole pixels too):
    // the nearest pixel to x − v/f is x + round(−v/f) for a whole x.
    let shifts: Vec<(i32, i32)> = motion
        .vectors
        .iter()
        .map(|v| (round_int(-v[0] / f) as i32, round_int(-v[1] / f) as i32))
        .collect();
    // The block each cell's centre lies in.
    let centre = |c: usize| ((c as f32 + 0.5) * f) as usize;
    let cols: Vec<usize> = (0..cur.width).map(|x| motion.col_of(centre(x))).collect();
    let mut out = vec![0u8; cur.width * cur.height];
    out.par_chunks_mut(cur.width.max(1))
        .enumerate()
        .for_each(|(y, row)| {
            let blocks = &shifts[motion.row_of(centre(y)) * motion.cols..];
            let here = &cur.data[y * cur.width..(y + 1) * cur.width];
            for (x, (o, &now)) in row.iter_mut().zip(here).enumerate() {
                let (dx, dy) = blocks[cols[x]];
                let was = prev.at(x as i32 + dx, y as i32 + dy);
                *o = by_difference[usize::from(now.abs_diff(was))];
            }
        });
    out
}

/// Blends plane `p` of `frame` with the previous output's plane, warped by the block vectors.
/// Each row gets its per-byte weights once per weight-cell row (kept while a thread's rows
/// stay in that cell row), then blends one motion block at a time as a straight run of bytes
/// (vectorises).
fn blend_plane(
    frame: &mut FrameMut<'_>,
    p: usize,
    (prev, prev_stride): (&[u8], usize),
    next: Option<&mut [u8]>,
    weights: &[u8],
    luma: &LowLuma,
    motion: &MotionField,
) {
    let (format, w, h) = (frame.format, frame.width, frame.height);
    let (bpp, sub) = plane_geometry(format, p);
    let (bytes, rows) = format.plane_size(p, w, h);
    let (pw, ph) = (bytes / bpp, rows);
    let stride = frame.planes[p].stride;
    let cell = luma.factor;
    // Plane pixels per motion block (the block grid is in frame pixels), and each block's
    // vector in whole plane pixels, rounded once here rather than per row.
    let block = (motion.block / sub).max(1);
    let shifts: Vec<(isize, isize)> = motion
        .vectors
        .iter()
        .map(|v| (round_int(v[0] / sub as f32), round_int(v[1] / sub as f32)))
        .collect();
    let (cols, cell_count) = (motion.cols, luma.width);
    let geometry = PlaneBlend {
        prev,
        prev_stride,
        bpp,
        pw,
        ph,
        bytes,
        block,
        block_cols: (0..pw)
            .step_by(block)
            .map(|x0| motion.col_of((x0 * sub).min(w - 1)))
            .collect(),
    };
    // Per thread: the cell row whose weights `wrow` holds, per byte of a plane row.
    let blend_row = |(cached, wrow): &mut (usize, Vec<u8>), y: usize, row: &mut [u8]| {
        let row = &mut row[..bytes];
        let fy = (y * sub).min(h - 1);
        let wy = (fy / cell).min(luma.height - 1);
        if *cached != wy {
            // Plane pixel x lies in cell (x·sub)/cell (the last cell takes the rest):
            // one run of bytes per cell.
            let cells = &weights[wy * cell_count..(wy + 1) * cell_count];
            for (cx, &v) in cells.iter().enumerate() {
                let x0 = (cx * cell).div_ceil(sub).min(pw);
                let x1 = if cx + 1 == cell_count {
                    pw
                } else {
                    ((cx + 1) * cell).div_ceil(sub).min(pw)
                };
                wrow[x0 * bpp..x1 * bpp].fill(v);
            }
            *cached = wy;
        }
        let shift_row = motion.row_of(fy) * cols;
        blend_blocks(
            &geometry,
            y,
            row,
            wrow,
            &shifts[shift_row..shift_row + cols],
        );
    };
    let init = || (usize::MAX, vec![0u8; bytes]);
    let rows_of_frame = frame.planes[p]
        .data
        .par_chunks_mut(stride)
        .take(rows)
        .enumerate();
    match next {
        Some(next) => rows_of_frame
            .zip(next.par_chunks_mut(bytes.max(1)))
            .for_each_init(init, |st, ((y, row), kept)| {
                blend_row(st, y, row);
                kept.copy_from_slice(&row[..bytes]);
            }),
        None => rows_of_frame.for_each_init(init, |st, (y, row)| blend_row(st, y, row)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::OwnedFrame;
    use crate::temporal::motion::LowLuma;
    use crate::temporal::motion::{MotionEstimator, MotionMode};

    fn noisy(w: usize, h: usize, seed: u32, base: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let n = ((s >> 24) % 7) as i32 - 3;
                let v = (i32::from(base(x, y)) + n).clamp(0, 255) as u8;
                rgb.extend_from_slice(&[v, v, v]);
            }
        }
        rgb
    }

    fn mean_abs(a: &[u8], b: &[u8]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(x.abs_diff(*y)))
            .sum::<f64>()
            / a.len() as f64
    }

    #[test]
    fn static_noise_is_steadied_in_every_format() {
        let (w, h) = (97, 61);
        let pic = crate::temporal::measure::texture(w, h, 0.0, 0.0);
        let base = |x: usize, y: usize| pic[(y * w + x) * 3];
        for format in PixelFormat::ALL {
            let (mut d, mut m) = (Deflicker::default(), MotionEstimator::default());
            let (mut raw, mut smooth) = (0.0, 0.0);
            let mut last: Option<(Vec<u8>, Vec<u8>)> = None;
            for t in 0..12 {
                let rgb = noisy(w, h, t, base);
                let mut f = OwnedFrame::from_rgb(format, w, h, &rgb, 3);
                let input = f.to_rgb();
                let (motion, luma) = m.next(&f.view(), MotionMode::Dense);
                let luma = luma.clone();
                d.apply(&mut f.view(), &luma, &motion, 0.8, 12.0);
                let out = f.to_rgb();
                if let Some((pi, po)) = &last {
                    if t > 4 {
                        raw += mean_abs(&input, pi);
                        smooth += mean_abs(&out, po);
                    }
                }
                last = Some((input, out));
            }
            assert!(
                smooth < raw * 0.4,
                "{format:?}: flicker {smooth} vs raw {raw}"
            );
        }
    }

    #[test]
    fn real_change_passes_through() {
        let (w, h) = (64, 48);
        let mut d = Deflicker::default();
        let mut m = MotionEstimator::default();
        let grey = vec![60u8; w * h * 3];
        let white = vec![230u8; w * h * 3];
        let mut a = OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, &grey, 0);
        let (mo, l) = m.next(&a.view(), MotionMode::Dense);
        let l = l.clone();
        d.apply(&mut a.view(), &l, &mo, 1.0, 12.0);
        let mut b = OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, &white, 0);
        let before = b.planes[0].clone();
        let (mo, l) = m.next(&b.view(), MotionMode::Dense);
        let l = l.clone();
        d.apply(&mut b.view(), &l, &mo, 1.0, 12.0);
        assert_eq!(b.planes[0], before, "a cut to a new picture was blended");
    }

    /// The blend against a plain per-pixel version: every pixel from the previous output at
    /// its block's whole-pixel shift (clamped at the borders), with its cell's weight.
    #[test]
    fn shifted_blocks_blend_like_the_plain_formula_up_to_the_borders() {
        let (w, h) = (150, 90);
        for format in PixelFormat::ALL {
            for v in [[5.0f32, -3.0], [-7.4, 2.6], [0.0, 0.0], [200.0, 0.0]] {
                let a = noisy(w, h, 1, |x, y| ((x * 3 + y * 5) % 256) as u8);
                let b = noisy(w, h, 2, |x, y| ((x * 3 + y * 5 + 2) % 256) as u8);
                let mut fa = OwnedFrame::from_rgb(format, w, h, &a, 5);
                let mut fb = OwnedFrame::from_rgb(format, w, h, &b, 5);
                let la = LowLuma::new(&fa.view(), 4);
                let lb = LowLuma::new(&fb.view(), 4);
                let mut field = MotionField::still(w, h);
                field.vectors.fill(v);
                let mut d = Deflicker::default();
                d.apply(&mut fa.view(), &la, &field, 0.8, 40.0);
                let (prev, cur) = (fa.clone(), fb.clone());
                let weights = cell_weights(&la, &lb, &field, 0.8, 40.0);
                d.apply(&mut fb.view(), &lb, &field, 0.8, 40.0);
                for p in 0..format.plane_count() {
                    let (bpp, sub) = plane_geometry(format, p);
                    let (bytes, rows) = format.plane_size(p, w, h);
                    let pw = bytes / bpp;
                    let (dx, dy) = (round_int(v[0] / sub as f32), round_int(v[1] / sub as f32));
                    for y in 0..rows {
                        let wy = ((y * sub).min(h - 1) / 4).min(lb.height - 1);
                        for x in 0..pw {
                            let wgt = weights[wy * lb.width + ((x * sub) / 4).min(lb.width - 1)];
                            let sx = (x as isize - dx).clamp(0, pw as isize - 1) as usize;
                            let sy = (y as isize - dy).clamp(0, rows as isize - 1) as usize;
                            for k in 0..bpp {
                                let want = mix(
                                    cur.planes[p][y * cur.strides[p] + x * bpp + k],
                                    prev.planes[p][sy * prev.strides[p] + sx * bpp + k],
                                    wgt,
                                );
                                let got = fb.planes[p][y * fb.strides[p] + x * bpp + k];
                                assert_eq!(got, want, "{format:?} {v:?} plane {p} ({x}, {y})");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn mix_is_exact_at_the_ends() {
        assert_eq!(mix(10, 200, 0), 10);
        assert_eq!(mix(10, 10, 255), 10);
        assert!(mix(0, 255, 255) >= 254);
    }
}
