//! The blurred background of `effect=blur`: a normalised convolution at reduced resolution.
//!
//! Colours are averaged over d×d cells weighted by how much background each pixel is
//! (255 − alpha), blurred on the cell grid, and divided by the blurred weights, so the person
//! never bleeds into the background (no halo around the silhouette). All planes of a frame
//! share one sample lattice in frame coordinates: the weights are worked out once, and a YUV
//! frame's chroma is read at the same points as its luma. Each plane then gets its blurred
//! rows resampled to the plane's width, so an output row is one vertical lerp.

use multiversion::multiversion;
use rayon::prelude::*;

use super::coverage::{byte_of, AlphaRows, Coverage, SPAN};
use crate::frame::{FrameMut, PixelFormat};
use crate::tensor::taps;
use crate::tensor::Sampling;

/// The blurred background of the current frame, kept (with its buffers) from frame to
/// frame: fresh buffers' page faults showed up in profiles.
#[derive(Default)]
pub struct BlurredBackground {
    acc: Vec<f32>,
    /// The box passes' rows between their horizontal and vertical halves.
    scratch: Vec<f32>,
    rows: [Vec<u8>; 3],
    row_bytes: [usize; 3],
    ys: [Vec<(usize, usize, f32)>; 3],
    /// Frame width, height, format and blur radius the planes were made for.
    made_for: Option<(usize, usize, PixelFormat, usize)>,
}

/// One plane's blurred background: low-resolution rows already at the plane's width, in
/// its byte layout.
pub struct BlurredPlane<'a> {
    row_bytes: usize,
    rows: &'a [u8],
    ys: &'a [(usize, usize, f32)],
}

/// For each byte of a pixel of plane `p`, which of the three accumulated channels it holds
/// (`None`: alpha or padding, left alone).
fn plane_channels(format: PixelFormat, p: usize) -> &'static [Option<usize>] {
    match (format, p) {
        (PixelFormat::I420, 0) | (PixelFormat::Nv12, 0) => &[Some(0)],
        (PixelFormat::I420, 1) => &[Some(1)],
        (PixelFormat::I420, _) => &[Some(2)],
        (PixelFormat::Nv12, _) => &[Some(1), Some(2)],
        _ => &[Some(0), Some(1), Some(2), None],
    }
}

impl BlurredPlane<'_> {
    /// Bytes `range` of background row `y` of the plane (inlined into the compositing's
    /// AVX2 code, as `lerp_rows` is).
    #[inline(always)]
    pub fn row(&self, y: usize, range: std::ops::Range<usize>, out: &mut [u8]) {
        let (y0, y1, fy) = self.ys[y];
        let n = self.row_bytes;
        let (r0, r1) = (
            &self.rows[y0 * n..(y0 + 1) * n][range.clone()],
            &self.rows[y1 * n..(y1 + 1) * n][range],
        );
        lerp_rows(r0, r1, (fy * 256.0) as u16, out);
    }
}

/// `out = (r0·(256 − f) + r1·f) / 256` per byte: every background byte of a blurred frame
/// goes through it (0.5 ms of a 1080p RGBA frame when built for SSE2 only; AVX2 doubles the
/// lanes). Inlined into the compositing's rows, compiled for AVX2 as a whole: called per
/// 32-pixel span, a dispatched call of its own cost more than its work.
#[inline(always)]
fn lerp_rows(r0: &[u8], r1: &[u8], f: u16, out: &mut [u8]) {
    for ((o, &a), &b) in out.iter_mut().zip(r0).zip(r1) {
        *o = ((u16::from(a) * (256 - f) + u16::from(b) * f + 128) >> 8) as u8;
    }
}

impl BlurredBackground {
    /// True when the planes were made for a frame of this geometry and radius.
    pub fn ready_for(&self, frame: &FrameMut<'_>, radius: usize) -> bool {
        self.made_for == Some((frame.width, frame.height, frame.format, radius))
    }

    /// Forgets the planes (the next frame needs new ones).
    pub fn invalidate(&mut self) {
        self.made_for = None;
    }

    /// Views of the planes made by the last `make`.
    pub fn planes(&self, planes: usize) -> Vec<BlurredPlane<'_>> {
        (0..planes)
            .map(|p| BlurredPlane {
                row_bytes: self.row_bytes[p],
                rows: &self.rows[p],
                ys: &self.ys[p],
            })
            .collect()
    }

    /// Makes the blurred background of every plane of `frame` for a blur of `radius` frame
    /// pixels, weighted by `alpha` (read before the frame is written).
    pub fn make(&mut self, frame: &FrameMut<'_>, alpha: &dyn AlphaRows, radius: usize) {
        self.made_for = Some((frame.width, frame.height, frame.format, radius));
        let (w, h) = (frame.width, frame.height);
        let radius = radius.max(1);
        // Cells of d×d frame pixels and a small radius there: three box passes of radius r cells
        // ≈ a Gaussian of σ ≈ radius/2 at full resolution.
        let d = (radius / 2).clamp(1, 64);
        let r = (radius / d).clamp(1, 2);
        let (lw, lh) = (w.div_ceil(d), h.div_ceil(d));
        // Cells are sampled on a sparser lattice (2×2 points in each, centred): the result
        // is blurred far beyond the lattice spacing, so this only drops work.
        let step = (d / 2).max(1);
        let lattice = |n: usize, cells: usize| -> Vec<(usize, usize)> {
            (0..cells)
                .flat_map(|c| {
                    let (start, end) = (c * d, ((c + 1) * d).min(n));
                    (start + (step / 2).min(end - start - 1)..end)
                        .step_by(step)
                        .map(move |x| (c, x))
                })
                .collect()
        };
        let cols = lattice(w, lw);
        let xs: Vec<usize> = cols.iter().map(|&(_, x)| x).collect();
        let format = frame.format;
        let yuv = format.is_yuv();
        let Self {
            acc,
            scratch,
            rows,
            row_bytes: bytes_of,
            ys: ys_of,
            ..
        } = self;
        acc.clear();
        acc.resize(lw * lh * CELL, 0.0);
        let spans = w.div_ceil(SPAN);
        acc.par_chunks_mut(lw * CELL).enumerate().for_each_init(
            || (vec![0u8; xs.len()], vec![Coverage::Mixed; spans]),
            |(a, cover), (ly, out)| {
                for y in (ly * d..((ly + 1) * d).min(h)).step_by(step) {
                    coarse_alpha(alpha, y, &xs, cover, a);
                    let row = frame.row(0, y);
                    let chroma = yuv.then(|| {
                        let cy = y / 2;
                        match format {
                            PixelFormat::Nv12 => (frame.row(1, cy), &frame.row(1, cy)[1..], 2),
                            _ => (frame.row(1, cy), frame.row(2, cy), 1),
                        }
                    });
                    for (&(cx, x), &av) in cols.iter().zip(a.iter()) {
                        let c = &mut out[cx * CELL..(cx + 1) * CELL];
                        // A small floor keeps fully covered cells defined (a plain blur there).
                        let wgt = f32::from(255 - av) + 0.5;
                        let [c0, c1, c2] = match chroma {
                            Some((u, v, bpp)) => {
                                let k = (x / 2) * bpp;
                                [row[x], u[k], v[k]]
                            }
                            None => [row[x * 4], row[x * 4 + 1], row[x * 4 + 2]],
                        };
                        c[0] += wgt;
                        c[1] += wgt * f32::from(c0);
                        c[2] += wgt * f32::from(c1);
                        c[3] += wgt * f32::from(c2);
                    }
                }
            },
        );
        // Three box passes over the interleaved cells, each cell's weight and sums at once
        // (per-plane blurs of these small planes cost a fifth of the blurred background).
        for _ in 0..3 {
            blur_cells(acc, lw, lh, r, scratch);
        }
        let (cells, _) = acc.as_chunks::<CELL>();
        // Normalise once per cell (one division per cell, not per pixel), to bytes.
        // Channels are Y, U, V for YUV, and bytes 0–2 of the pixel for packed formats
        // (whichever colours the layout keeps there).
        for p in 0..format.plane_count() {
            let (pw, ph) = if p == 0 {
                (w, h)
            } else {
                (w.div_ceil(2), h.div_ceil(2))
            };
            let channels = plane_channels(format, p);
            let bpp = channels.len();
            // The cells interleaved as the plane's pixels (alpha/padding bytes 0), so each
            // output pixel reads two runs of `bpp` bytes. Channel by channel over whole
            // planes: an iterator chain per byte here cost a fifth of the blurred background.
            let mut packed = vec![0u8; lw * lh * bpp];
            for (k, ch) in channels.iter().enumerate() {
                let Some(ch) = *ch else { continue };
                for (px, cell) in packed[k..].iter_mut().step_by(bpp).zip(cells.iter()) {
                    *px = byte_of(cell[1 + ch] / cell[0].max(1e-6));
                }
            }
            // Integer taps: 8-bit weights, so each byte is a 16-bit lerp.
            let xs: Vec<(usize, usize, u16)> = taps(lw, pw, Sampling::HalfPixel)
                .into_iter()
                .map(|(i, j, f)| (i, j, (f * 256.0) as u16))
                .collect();
            let row_bytes = pw * bpp;
            let buf = &mut rows[p];
            buf.resize(lh * row_bytes, 0);
            buf.par_chunks_mut(row_bytes)
                .enumerate()
                .for_each(|(ly, o)| {
                    cell_row(&packed[ly * lw * bpp..(ly + 1) * lw * bpp], bpp, &xs, o)
                });
            bytes_of[p] = row_bytes;
            ys_of[p] = taps(lh, ph, Sampling::HalfPixel);
        }
    }
}

/// Per cell of the blurred background: weight, then the weighted sum of the three channels.
const CELL: usize = 4;

/// Box blur of radius `r` over `lw`×`lh` cells (edges clamped), all four numbers of a cell
/// at once: a running sum along each row into `tmp`, then a running sum of whole rows (flat
/// slices, so both vectorise; with clamped indexing throughout it took 0.1 ms).
fn blur_cells(cells: &mut [f32], lw: usize, lh: usize, r: usize, tmp: &mut Vec<f32>) {
    if cells.is_empty() {
        return;
    }
    let norm = 1.0 / (2 * r + 1) as f32;
    let clamp = |i: isize, n: usize| i.clamp(0, n as isize - 1) as usize;
    let ri = r as isize;
    let n = lw * CELL;
    tmp.clear();
    tmp.resize(cells.len(), 0.0);
    // Each row padded with its edge cells, so the running sum reads without clamping.
    let mut padded = vec![0.0f32; (lw + 2 * r + 1) * CELL];
    for (row, out) in cells.chunks_exact(n).zip(tmp.chunks_exact_mut(n)) {
        let (first, last) = (&row[..CELL], &row[n - CELL..]);
        let (left, rest) = padded.split_at_mut(r * CELL);
        let (middle, right) = rest.split_at_mut(n);
        left.chunks_exact_mut(CELL)
            .for_each(|p| p.copy_from_slice(first));
        middle.copy_from_slice(row);
        right
            .chunks_exact_mut(CELL)
            .for_each(|p| p.copy_from_slice(last));
        let mut sum = [0.0f32; CELL];
        for p in padded[..(2 * r + 1) * CELL].chunks_exact(CELL) {
            sum.iter_mut().zip(p).for_each(|(s, v)| *s += v);
        }
        let (pads, _) = padded.as_chunks::<CELL>();
        for ((o, add), sub) in out
            .as_chunks_mut::<CELL>()
            .0
            .iter_mut()
            .zip(&pads[2 * r + 1..])
            .zip(pads)
        {
            *o = sum.map(|v| v * norm);
            sum = std::array::from_fn(|c| sum[c] + (add[c] - sub[c]));
        }
    }
    let row = |y: isize| &tmp[clamp(y, lh) * n..][..n];
    let mut sum = vec![0.0f32; n];
    for k in -ri..=ri {
        sum.iter_mut().zip(row(k)).for_each(|(s, v)| *s += v);
    }
    for (y, out) in cells.chunks_exact_mut(n).enumerate() {
        let y = y as isize;
        for (o, s) in out.iter_mut().zip(&sum) {
            *o = s * norm;
        }
        for ((s, a), b) in sum.iter_mut().zip(row(y + ri + 1)).zip(row(y - ri)) {
            *s += a - b;
        }
    }
}

/// One row of cells (`src`: `bpp` bytes per cell, as the plane's pixels) resampled to a
/// plane row `out`. Pixel by pixel with the byte count known at compile time: a pass per
/// channel with strided byte stores was as costly as the whole blend (720p RGBA profile).
#[multiversion(targets("x86_64+avx+avx2+fma"))]
fn cell_row(src: &[u8], bpp: usize, xs: &[(usize, usize, u16)], out: &mut [u8]) {
    match bpp {
        4 => resample_pixels::<4>(src, xs, out),
        2 => resample_pixels::<2>(src, xs, out),
        _ => resample_pixels::<1>(src, xs, out),
    }
}

#[inline(always)]
fn resample_pixels<const B: usize>(src: &[u8], xs: &[(usize, usize, u16)], out: &mut [u8]) {
    // Eight pixels at a time: their two taps gathered into fixed-size arrays, then one
    // lerp over all their bytes, which vectorises (pixel by pixel it stayed scalar: 0.09 ms
    // of a 720p RGBA frame's blurred background).
    const PIXELS: usize = 8;
    let mut groups = out.chunks_exact_mut(PIXELS * B);
    let mut taps = xs.chunks_exact(PIXELS);
    for (o, t) in (&mut groups).zip(&mut taps) {
        let (mut a, mut b, mut f) = ([[0u8; B]; PIXELS], [[0u8; B]; PIXELS], [[0u16; B]; PIXELS]);
        for (k, &(i, j, w)) in t.iter().enumerate() {
            a[k].copy_from_slice(&src[i * B..i * B + B]);
            b[k].copy_from_slice(&src[j * B..j * B + B]);
            f[k] = [w; B];
        }
        let (a, b, f) = (a.as_flattened(), b.as_flattened(), f.as_flattened());
        for (((o, &a), &b), &f) in o.iter_mut().zip(a).zip(b).zip(f) {
            *o = ((u16::from(a) * (256 - f) + u16::from(b) * f + 128) >> 8) as u8;
        }
    }
    for (px, &(i, j, f)) in groups
        .into_remainder()
        .chunks_exact_mut(B)
        .zip(taps.remainder())
    {
        let (a, b) = (&src[i * B..i * B + B], &src[j * B..j * B + B]);
        for c in 0..B {
            px[c] = ((u16::from(a[c]) * (256 - f) + u16::from(b[c]) * f + 128) >> 8) as u8;
        }
    }
}

/// Coarse alpha of row `y` at columns `xs`: 0 and 255 straight from the coverage spans,
/// the rest from the source's coarse approximation.
fn coarse_alpha(
    alpha: &dyn AlphaRows,
    y: usize,
    xs: &[usize],
    cover: &mut [Coverage],
    out: &mut [u8],
) {
    alpha.coverage(y, cover);
    let mut i = 0;
    while i < xs.len() {
        let kind = cover[xs[i] / SPAN];
        let mut e = i + 1;
        while e < xs.len() && cover[xs[e] / SPAN] == kind {
            e += 1;
        }
        match kind {
            Coverage::Person => out[i..e].fill(255),
            Coverage::Background => out[i..e].fill(0),
            Coverage::Mixed => alpha.coarse_at(y, &xs[i..e], &mut out[i..e]),
        }
        i = e;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_blur_is_a_clamped_box_filter() {
        // Per-number box blur of radius 1 with edges clamped, checked against a direct sum.
        let (lw, lh, r) = (5, 3, 1);
        let cells: Vec<f32> = (0..lw * lh * CELL)
            .map(|i| ((i * 37) % 11) as f32)
            .collect();
        let mut blurred = cells.clone();
        blur_cells(&mut blurred, lw, lh, r, &mut Vec::new());
        let at = |x: isize, y: isize, c: usize| {
            let (x, y) = (
                x.clamp(0, lw as isize - 1) as usize,
                y.clamp(0, lh as isize - 1) as usize,
            );
            cells[(y * lw + x) * CELL + c]
        };
        for y in 0..lh as isize {
            for x in 0..lw as isize {
                for c in 0..CELL {
                    let mut sum = 0.0;
                    for dy in -1..=1 {
                        for dx in -1..=1 {
                            sum += at(x + dx, y + dy, c);
                        }
                    }
                    let got = blurred[(y as usize * lw + x as usize) * CELL + c];
                    assert!((got - sum / 9.0).abs() < 1e-4, "({x}, {y}, {c}): {got}");
                }
            }
        }
        // One cell wide and high: the cell itself.
        let mut one = vec![1.0, 2.0, 3.0, 4.0];
        blur_cells(&mut one, 1, 1, 2, &mut Vec::new());
        assert!(one
            .iter()
            .zip([1.0, 2.0, 3.0, 4.0])
            .all(|(a, b)| (a - b).abs() < 1e-5));
    }
}
