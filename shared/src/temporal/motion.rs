//! Motion between consecutive frames, estimated on luma at low resolution by block matching
//! (sum of squared differences over a small search window, sub-pixel by a parabola through
//! the best cost and its neighbours: squared differences are near-quadratic around the
//! minimum, absolute ones are V-shaped and bias the parabola). Hand-written: a few thousand 8×8 blocks a frame, each
//! against ±`SEARCH` offsets, is the whole cost, and no crate offers it without OpenCV.
//!
//! A vector `v` at a point means the content there came from `p − v` in the previous frame
//! (backward warping: `previous_warped(p) = previous(p − v)`). Vectors are in frame pixels.

use multiversion::multiversion;
use rayon::prelude::*;

use crate::frame::{FrameMut, PixelFormat};

/// Low-resolution frames aim at this many rows (1080p → 1/8, 720p → 1/5, small frames 1/1).
const TARGET_ROWS: usize = 135;
/// Block side in low-resolution pixels.
pub const BLOCK: usize = 8;
/// Search range in low-resolution pixels (±8 px at 1080p per 1/8 → ±64 frame pixels/frame).
pub const SEARCH: i32 = 6;

/// What motion the filters compensate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MotionMode {
    /// No compensation: the previous frame is used where it was.
    None,
    /// One translation for the whole frame (camera pan).
    Global,
    /// One translation per block (people moving), falling back to the global one where a
    /// block has no texture to match.
    #[default]
    Dense,
}

/// Frame luma reduced by an integer `factor` (each pixel the mean of 2×2 samples of its
/// `factor`×`factor` cell).
#[derive(Debug, Clone, PartialEq)]
pub struct LowLuma {
    pub width: usize,
    pub height: usize,
    pub factor: usize,
    pub data: Vec<u8>,
}

/// The reduction factor for a frame of `height` rows.
pub fn factor_for(width: usize, height: usize) -> usize {
    (width.min(height) / TARGET_ROWS).max(1)
}

impl LowLuma {
    /// Samples `frame`'s luma (Y plane, or BT.601 luma of packed RGB) at 1/`factor`.
    pub fn new(frame: &FrameMut<'_>, factor: usize) -> Self {
        let f = factor.max(1);
        let (w, h) = (frame.width.div_ceil(f), frame.height.div_ceil(f));
        let offsets = frame.format.rgb_offsets();
        // Two sample columns/rows per cell (a quarter and three quarters in), clamped.
        let at = |i: usize, n: usize, k: usize| (i * f + (f * (2 * k + 1)) / 4).min(n - 1);
        let xs: Vec<[usize; 2]> = (0..w)
            .map(|x| [at(x, frame.width, 0), at(x, frame.width, 1)])
            .collect();
        let mut data = vec![0u8; w * h];
        data.par_chunks_mut(w.max(1))
            .enumerate()
            .for_each(|(y, out)| {
                let rows = [
                    frame.row(0, at(y, frame.height, 0)),
                    frame.row(0, at(y, frame.height, 1)),
                ];
                for (o, x2) in out.iter_mut().zip(&xs) {
                    let mut sum = 0u32;
                    for r in rows {
                        for &x in x2 {
                            sum += match offsets {
                                None => u32::from(r[x]),
                                Some([ro, go, bo]) => {
                                    let p = &r[x * 4..x * 4 + 4];
                                    (77 * u32::from(p[ro])
                                        + 150 * u32::from(p[go])
                                        + 29 * u32::from(p[bo])
                                        + 128)
                                        >> 8
                                }
                            };
                        }
                    }
                    *o = ((sum + 2) / 4) as u8;
                }
            });
        debug_assert!(matches!(
            frame.format,
            PixelFormat::I420
                | PixelFormat::Nv12
                | PixelFormat::Rgba
                | PixelFormat::Bgra
                | PixelFormat::Rgbx
                | PixelFormat::Bgrx
        ));
        Self {
            width: w,
            height: h,
            factor: f,
            data,
        }
    }

    /// The pixel at (`x`, `y`), clamped to the picture.
    #[inline]
    pub fn at(&self, x: i32, y: i32) -> u8 {
        let x = x.clamp(0, self.width as i32 - 1) as usize;
        let y = y.clamp(0, self.height as i32 - 1) as usize;
        self.data[y * self.width + x]
    }

    /// Bilinear sample at a fractional position (clamped at the borders).
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (x0, y0) = (x0 as i32, y0 as i32);
        let p = |dx, dy| f32::from(self.at(x0 + dx, y0 + dy));
        let top = p(0, 0) + (p(1, 0) - p(0, 0)) * fx;
        let bottom = p(0, 1) + (p(1, 1) - p(0, 1)) * fx;
        top + (bottom - top) * fy
    }
}

/// `v` rounded down to an integer, without the `floorf` library call the baseline x86-64
/// target makes of `f32::floor` (per pixel it showed in the profiles of the mask warp and
/// the deflicker).
#[inline(always)]
pub fn floor_int(v: f32) -> isize {
    let i = v as isize;
    i - isize::from((i as f32) > v)
}

/// `v` rounded to the nearest integer (halves up), without a `roundf` call (see `floor_int`).
#[inline(always)]
pub fn round_int(v: f32) -> isize {
    floor_int(v + 0.5)
}

/// Motion vectors on a grid of blocks, in frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionField {
    /// Blocks across and down.
    pub cols: usize,
    pub rows: usize,
    /// Block side in frame pixels.
    pub block: usize,
    /// Per block (row-major), `[dx, dy]` in frame pixels.
    pub vectors: Vec<[f32; 2]>,
    /// The whole frame's translation.
    pub global: [f32; 2],
}

impl MotionField {
    /// No motion anywhere, for a frame of `width`×`height`.
    pub fn still(width: usize, height: usize) -> Self {
        let block = BLOCK;
        let (cols, rows) = (width.div_ceil(block).max(1), height.div_ceil(block).max(1));
        Self {
            cols,
            rows,
            block,
            vectors: vec![[0.0; 2]; cols * rows],
            global: [0.0; 2],
        }
    }

    /// The vector of the block holding frame pixel (`x`, `y`).
    #[inline]
    pub fn block_at(&self, x: usize, y: usize) -> [f32; 2] {
        self.vectors[self.row_of(y) * self.cols + self.col_of(x)]
    }

    /// The block column holding frame column `x` (the last block takes the rest).
    #[inline]
    pub fn col_of(&self, x: usize) -> usize {
        (x / self.block).min(self.cols - 1)
    }

    /// The block row holding frame row `y` (the last block takes the rest).
    #[inline]
    pub fn row_of(&self, y: usize) -> usize {
        (y / self.block).min(self.rows - 1)
    }

    /// The vector at frame position (`x`, `y`), bilinear between block centres.
    pub fn at(&self, x: f32, y: f32) -> [f32; 2] {
        let b = self.block as f32;
        let gx = (x / b - 0.5).clamp(0.0, (self.cols - 1) as f32);
        let gy = (y / b - 0.5).clamp(0.0, (self.rows - 1) as f32);
        let (c0, r0) = (gx.floor() as usize, gy.floor() as usize);
        let (c1, r1) = ((c0 + 1).min(self.cols - 1), (r0 + 1).min(self.rows - 1));
        let (fx, fy) = (gx - c0 as f32, gy - r0 as f32);
        let v = |c: usize, r: usize| self.vectors[r * self.cols + c];
        let mut out = [0.0; 2];
        for (k, o) in out.iter_mut().enumerate() {
            let top = v(c0, r0)[k] + (v(c1, r0)[k] - v(c0, r0)[k]) * fx;
            let bottom = v(c0, r1)[k] + (v(c1, r1)[k] - v(c0, r1)[k]) * fx;
            *o = top + (bottom - top) * fy;
        }
        out
    }
}

/// Sum of squared differences between the `BLOCK`² block of `cur` at (`bx`, `by`) and
/// `prev` displaced by −(`dx`, `dy`). Blocks whose displaced window lies inside `prev` (all
/// but the border ones) read rows as slices, which vectorises.
#[multiversion(targets("x86_64+avx+avx2+fma"))]
fn block_ssd(cur: &LowLuma, prev: &LowLuma, bx: usize, by: usize, dx: i32, dy: i32) -> u32 {
    let (x1, y1) = ((bx + BLOCK).min(cur.width), (by + BLOCK).min(cur.height));
    let inside = bx as i32 - dx >= 0
        && by as i32 - dy >= 0
        && x1 as i32 - dx <= prev.width as i32
        && y1 as i32 - dy <= prev.height as i32;
    if inside && x1 - bx == BLOCK && y1 - by == BLOCK {
        // A whole block inside: eight lanes of squares summed down the rows and added up
        // once (a sum across the lanes per row was a third of the dense search's time).
        let px = (bx as i32 - dx) as usize;
        let mut lanes = [0u32; BLOCK];
        for y in by..y1 {
            let py = (y as i32 - dy) as usize;
            let r: &[u8; BLOCK] = cur.data[y * cur.width + bx..][..BLOCK]
                .try_into()
                .expect("BLOCK bytes");
            let p: &[u8; BLOCK] = prev.data[py * prev.width + px..][..BLOCK]
                .try_into()
                .expect("BLOCK bytes");
            for k in 0..BLOCK {
                let d = i32::from(r[k]) - i32::from(p[k]);
                lanes[k] += (d * d) as u32;
            }
        }
        return lanes.iter().sum();
    }
    let mut ssd = 0u32;
    for y in by..y1 {
        let row = &cur.data[y * cur.width + bx..y * cur.width + x1];
        if inside {
            let py = (y as i32 - dy) as usize;
            let px = (bx as i32 - dx) as usize;
            let prow = &prev.data[py * prev.width + px..][..row.len()];
            // Whole block rows as fixed-size arrays: the compiler then keeps the eight
            // differences in one vector (a slice of unknown length it handled a byte at a
            // time; the dense search is hundreds of these per block).
            if let (Ok(r), Ok(p)) = (
                <&[u8; BLOCK]>::try_from(row),
                <&[u8; BLOCK]>::try_from(prow),
            ) {
                ssd += r
                    .iter()
                    .zip(p)
                    .map(|(&c, &q)| {
                        let d = i32::from(c) - i32::from(q);
                        (d * d) as u32
                    })
                    .sum::<u32>();
                continue;
            }
            for (&c, &p) in row.iter().zip(prow) {
                let d = u32::from(c.abs_diff(p));
                ssd += d * d;
            }
        } else {
            for (i, &c) in row.iter().enumerate() {
                let d = u32::from(c.abs_diff(prev.at((bx + i) as i32 - dx, y as i32 - dy)));
                ssd += d * d;
            }
        }
    }
    ssd
}

/// A block's own texture (sum of |horizontal| and |vertical| differences), for telling flat
/// blocks from matchable ones.
#[inline(always)]
fn texture(cur: &LowLuma, bx: usize, by: usize) -> u32 {
    let mut t = 0u32;
    for y in by..(by + BLOCK).min(cur.height) {
        for x in bx..(bx + BLOCK).min(cur.width) {
            let c = cur.at(x as i32, y as i32);
            t += u32::from(c.abs_diff(cur.at(x as i32 + 1, y as i32)));
            t += u32::from(c.abs_diff(cur.at(x as i32, y as i32 + 1)));
        }
    }
    t
}

/// Offset of the minimum of a parabola through costs at −1, 0, +1 (in [−0.5, 0.5]).
fn parabola(l: f32, c: f32, r: f32) -> f32 {
    let d = l - 2.0 * c + r;
    if d <= 0.0 {
        0.0
    } else {
        (0.5 * (l - r) / d).clamp(-0.5, 0.5)
    }
}

/// Sub-pixel minimum of the quadric `a + bx + cy + dx² + exy + fy²` fitted to the 3×3 costs
/// around the best integer offset (`v[row][col]`, offsets −1..=1). The cross term matters:
/// when the motion is fractional in both axes, the costs along one axis are lopsided and a
/// separate parabola per axis is biased by up to half a pixel.
fn quadric_minimum(v: [[f32; 3]; 3]) -> [f32; 2] {
    let col = |x: usize| (v[0][x] + v[1][x] + v[2][x]) / 3.0;
    let row = |y: usize| (v[y][0] + v[y][1] + v[y][2]) / 3.0;
    let b = (col(2) - col(0)) / 2.0;
    let c = (row(2) - row(0)) / 2.0;
    let d = (col(0) + col(2)) / 2.0 - col(1);
    let f = (row(0) + row(2)) / 2.0 - row(1);
    let e = (v[2][2] - v[0][2] - v[2][0] + v[0][0]) / 4.0;
    let det = 4.0 * d * f - e * e;
    if d > 0.0 && f > 0.0 && det > 0.0 {
        let x = (-2.0 * f * b + e * c) / det;
        let y = (-2.0 * d * c + e * b) / det;
        [x.clamp(-0.5, 0.5), y.clamp(-0.5, 0.5)]
    } else {
        [
            parabola(v[1][0], v[1][1], v[1][2]),
            parabola(v[0][1], v[1][1], v[2][1]),
        ]
    }
}

/// Best offset among `candidates` (within ±`SEARCH`) for a cost function, refined to
/// sub-pixel from the 3×3 costs around it. Zero motion wins ties and near-ties (within
/// `bias`), so noise alone does not make vectors; and where nothing moved (zero wins with a
/// cost within twice `bias`: the difference is noise) the vector stays exactly zero. The
/// sub-pixel fit there read lopsided costs around an exact match as motion: up to 2.2 px
/// vectors between two identical 1080p frames, which shifted a still picture's previous
/// output and mask before blending.
fn best_offset(
    cost: impl Fn(i32, i32) -> u32,
    candidates: impl Iterator<Item = (i32, i32)>,
    bias: u32,
) -> [f32; 2] {
    let still = cost(0, 0);
    let mut best = (0, 0, still.saturating_sub(bias));
    for (dx, dy) in candidates {
        if (dx, dy) == (0, 0) || dx.abs() > SEARCH || dy.abs() > SEARCH {
            continue;
        }
        let c = cost(dx, dy);
        if c < best.2 {
            best = (dx, dy, c);
        }
    }
    let (dx, dy, _) = best;
    if (dx, dy) == (0, 0) && still <= 2 * bias {
        return [0.0; 2];
    }
    if dx.abs() == SEARCH || dy.abs() == SEARCH {
        return [dx as f32, dy as f32];
    }
    let mut v = [[0.0f32; 3]; 3];
    for (j, row) in v.iter_mut().enumerate() {
        for (i, x) in row.iter_mut().enumerate() {
            *x = cost(dx + i as i32 - 1, dy + j as i32 - 1) as f32;
        }
    }
    let [sx, sy] = quadric_minimum(v);
    [dx as f32 + sx, dy as f32 + sy]
}

/// Every offset within ±`r` of (`cx`, `cy`).
fn window(cx: i32, cy: i32, r: i32) -> impl Iterator<Item = (i32, i32)> {
    (-r..=r).flat_map(move |dy| (-r..=r).map(move |dx| (cx + dx, cy + dy)))
}

/// `cost` over every offset within ±`r` of (`cx`, `cy`) and ±`SEARCH` of zero, computed in
/// parallel, as a lookup (offsets outside the window are computed when asked).
fn tabulated(
    cost: impl Fn(i32, i32) -> u32 + Sync,
    cx: i32,
    cy: i32,
    r: i32,
) -> impl Fn(i32, i32) -> u32 {
    let side = 2 * r + 1;
    let offsets: Vec<(i32, i32)> = window(cx, cy, r).collect();
    // Offsets beyond ±SEARCH are never asked for (and may reach outside the pictures).
    let table: Vec<u32> = offsets
        .par_iter()
        .map(|&(dx, dy)| {
            if dx.abs() <= SEARCH && dy.abs() <= SEARCH {
                cost(dx, dy)
            } else {
                u32::MAX
            }
        })
        .collect();
    move |dx, dy| {
        let (i, j) = (dx - cx + r, dy - cy + r);
        if (0..side).contains(&i) && (0..side).contains(&j) {
            table[(j * side + i) as usize]
        } else {
            cost(dx, dy)
        }
    }
}

/// Sum of squared differences of two byte rows of equal length; compiled for AVX2 too (the
/// global search runs it over every 4th row for each of 169 offsets: 0.2 ms at 1080p on
/// SSE2's 8 bytes at a time).
#[multiversion(targets("x86_64+avx+avx2+fma"))]
fn ssd_row(a: &[u8], b: &[u8]) -> u32 {
    a.iter()
        .zip(b)
        .map(|(&c, &p)| {
            let d = i32::from(c) - i32::from(p);
            (d * d) as u32
        })
        .sum()
}

/// The whole frame's translation, coarse to fine: every offset within ±`SEARCH` on every 4th
/// row of the low-resolution luma, then ±1 around the best on every 2nd row, sub-pixel.
fn global_motion(cur: &LowLuma, prev: &LowLuma) -> [f32; 2] {
    let margin = SEARCH as usize;
    if cur.width <= 2 * margin + 2 || cur.height <= 2 * margin + 2 {
        return [0.0; 2];
    }
    // Every `step`-th row, whole: contiguous slices vectorise, where every `step`-th pixel of
    // every `step`-th row (a quarter of the work) did not and cost 4× as much.
    let cost = |step: usize| {
        move |dx: i32, dy: i32| -> u32 {
            let mut ssd = 0u32;
            let (x0, x1) = (margin, cur.width - margin);
            for y in (margin..cur.height - margin).step_by(step) {
                let row = &cur.data[y * cur.width + x0..y * cur.width + x1];
                let py = (y as i32 - dy) as usize * prev.width;
                let px = (x0 as i32 - dx) as usize;
                let prow = &prev.data[py + px..][..row.len()];
                ssd += ssd_row(row, prow);
            }
            ssd
        }
    };
    let samples =
        |step: usize| ((cur.height - 2 * margin).div_ceil(step) * (cur.width - 2 * margin)) as u32;
    // Zero motion wins unless a shift is better by 2 levels (squared) per sample. Each
    // search's costs (the ±1 refinement's included) are computed up front, in parallel:
    // the search alone is sequential and was the largest part of the global estimate.
    let coarse = best_offset(
        tabulated(cost(4), 0, 0, SEARCH),
        window(0, 0, SEARCH),
        samples(4) * 4,
    );
    let (cx, cy) = (coarse[0].round() as i32, coarse[1].round() as i32);
    let v = best_offset(
        tabulated(cost(2), cx, cy, 2),
        window(cx, cy, 1),
        samples(2) * 4,
    );
    let f = cur.factor as f32;
    [v[0] * f, v[1] * f]
}

/// Motion from `prev` to `cur` (same size and factor).
pub fn estimate(prev: &LowLuma, cur: &LowLuma, mode: MotionMode) -> MotionField {
    let (fw, fh) = (cur.width * cur.factor, cur.height * cur.factor);
    let mut field = MotionField::still(fw, fh);
    field.block = BLOCK * cur.factor;
    field.cols = cur.width.div_ceil(BLOCK).max(1);
    field.rows = cur.height.div_ceil(BLOCK).max(1);
    field.vectors = vec![[0.0; 2]; field.cols * field.rows];
    if mode == MotionMode::None || (prev.width, prev.height) != (cur.width, cur.height) {
        return field;
    }
    let global = global_motion(cur, prev);
    field.global = global;
    if mode == MotionMode::Global {
        field.vectors.fill(global);
        return field;
    }
    let cols = field.cols;
    field
        .vectors
        .par_chunks_mut(cols)
        .enumerate()
        .for_each(|(r, row)| block_row_vectors(cur, prev, r, global, row));
    field.vectors = median3(&field.vectors, field.cols, field.rows);
    field
}

/// The vectors of row `r` of blocks (compiled for AVX2 too, like the other per-pixel loops).
#[multiversion(targets("x86_64+avx+avx2+fma"))]
fn block_row_vectors(
    cur: &LowLuma,
    prev: &LowLuma,
    r: usize,
    global: [f32; 2],
    row: &mut [[f32; 2]],
) {
    use std::cell::Cell;
    const SIDE: usize = 2 * SEARCH as usize + 1;
    let f = cur.factor as f32;
    // Each offset's cost, once per block: the sub-pixel step asks again for 8 of the 3×3
    // around the best, which the search has mostly computed already.
    let costs: [Cell<u32>; SIDE * SIDE] = std::array::from_fn(|_| Cell::new(u32::MAX));
    for (c, v) in row.iter_mut().enumerate() {
        let (bx, by) = (c * BLOCK, r * BLOCK);
        let pixels = (BLOCK.min(cur.width - bx) * BLOCK.min(cur.height - by)) as u32;
        // A block with little texture cannot be matched: it moves with the frame.
        if texture(cur, bx, by) < pixels * 4 {
            *v = global;
            continue;
        }
        costs.iter().for_each(|k| k.set(u32::MAX));
        let cost = |dx: i32, dy: i32| {
            if dx.abs() > SEARCH || dy.abs() > SEARCH {
                return block_ssd(cur, prev, bx, by, dx, dy);
            }
            let known = &costs[(dy + SEARCH) as usize * SIDE + (dx + SEARCH) as usize];
            if known.get() == u32::MAX {
                known.set(block_ssd(cur, prev, bx, by, dx, dy));
            }
            known.get()
        };
        // Predictive search: around no motion and around the frame's motion (people move a
        // few pixels against the background between frames).
        let (gx, gy) = (
            (global[0] / f).round() as i32,
            (global[1] / f).round() as i32,
        );
        let near_global = window(gx, gy, 2).filter(|&(x, y)| x.abs() > 2 || y.abs() > 2);
        let best = best_offset(cost, window(0, 0, 2).chain(near_global), pixels * 4);
        *v = [best[0] * f, best[1] * f];
    }
}

/// Component-wise median of each vector's 3×3 neighbourhood: one block matched to a
/// look-alike elsewhere does not survive among neighbours that agree.
fn median3(v: &[[f32; 2]], cols: usize, rows: usize) -> Vec<[f32; 2]> {
    let mut out = v.to_vec();
    for r in 0..rows {
        for c in 0..cols {
            let mut xs = [0.0f32; 9];
            let mut ys = [0.0f32; 9];
            let mut n = 0;
            for rr in r.saturating_sub(1)..(r + 2).min(rows) {
                for cc in c.saturating_sub(1)..(c + 2).min(cols) {
                    let [x, y] = v[rr * cols + cc];
                    (xs[n], ys[n]) = (x, y);
                    n += 1;
                }
            }
            xs[..n].sort_by(f32::total_cmp);
            ys[..n].sort_by(f32::total_cmp);
            out[r * cols + c] = [xs[n / 2], ys[n / 2]];
        }
    }
    out
}

/// Remembers the previous frame's low-resolution luma and estimates the motion to each new
/// frame. Reset on flushes, seeks, caps changes and discontinuities.
#[derive(Debug, Default)]
pub struct MotionEstimator {
    previous: Option<LowLuma>,
}

impl MotionEstimator {
    /// The motion from the previous frame to `frame` (still for the first frame), and this
    /// frame's low-resolution luma, which becomes the previous one.
    pub fn next(&mut self, frame: &FrameMut<'_>, mode: MotionMode) -> (MotionField, &LowLuma) {
        let cur = LowLuma::new(frame, factor_for(frame.width, frame.height));
        let field = match &self.previous {
            Some(prev) => estimate(prev, &cur, mode),
            None => estimate(&cur, &cur, MotionMode::None),
        };
        self.previous = Some(cur);
        (field, self.previous.as_ref().expect("set above"))
    }

    /// The previous frame's luma, if any.
    pub fn previous(&self) -> Option<&LowLuma> {
        self.previous.as_ref()
    }

    pub fn reset(&mut self) {
        self.previous = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::OwnedFrame;

    fn picture(w: usize, h: usize, dx: f32, dy: f32) -> Vec<u8> {
        crate::temporal::measure::texture(w, h, dx, dy)
    }

    fn field_between(
        w: usize,
        h: usize,
        shift: [f32; 2],
        mode: MotionMode,
        format: PixelFormat,
    ) -> MotionField {
        let mut a = OwnedFrame::from_rgb(format, w, h, &picture(w, h, 0.0, 0.0), 0);
        let mut b = OwnedFrame::from_rgb(format, w, h, &picture(w, h, shift[0], shift[1]), 0);
        let mut m = MotionEstimator::default();
        m.next(&a.view(), mode);
        m.next(&b.view(), mode).0
    }

    /// Nothing moved: the same picture again, or with fresh sensor noise (σ = 3 levels), has
    /// no motion anywhere (no fractional vectors read into the costs around an exact match).
    #[test]
    fn a_still_picture_has_no_motion() {
        let (w, h) = (1280, 720);
        let picture = picture(w, h, 0.0, 0.0);
        for format in [PixelFormat::Rgba, PixelFormat::Nv12] {
            for noise in [0.0, 3.0] {
                let mut m = MotionEstimator::default();
                let mut field = None;
                for seed in 1..=2 {
                    let rgb = crate::temporal::measure::with_noise(&picture, noise, seed);
                    let mut f = OwnedFrame::from_rgb(format, w, h, &rgb, 0);
                    field = Some(m.next(&f.view(), MotionMode::Dense).0);
                }
                let field = field.expect("two frames");
                let moving = field
                    .vectors
                    .iter()
                    .filter(|v| v[0] != 0.0 || v[1] != 0.0)
                    .count();
                println!(
                    "{format:?} noise {noise}: {moving} of {} blocks moved",
                    field.vectors.len()
                );
                assert_eq!(field.global, [0.0, 0.0], "{format:?} noise {noise}");
                assert_eq!(moving, 0, "{format:?} noise {noise}");
            }
        }
    }

    #[test]
    fn a_known_shift_is_recovered_within_a_pixel() {
        for format in [PixelFormat::Rgba, PixelFormat::Nv12] {
            for (w, h) in [(160, 120), (640, 480), (1280, 720)] {
                for shift in [[3.0, -2.0], [-5.5, 4.25], [0.0, 0.0]] {
                    for mode in [MotionMode::Global, MotionMode::Dense] {
                        let f = field_between(w, h, shift, mode, format);
                        let g = f.global;
                        assert!(
                            (g[0] - shift[0]).abs() <= 1.0 && (g[1] - shift[1]).abs() <= 1.0,
                            "{format:?} {w}x{h} {mode:?}: global {g:?} for {shift:?}"
                        );
                        // Away from the borders, every block finds it too.
                        let (mut bad, mut n) = (0, 0);
                        for r in 1..f.rows - 1 {
                            for c in 1..f.cols - 1 {
                                let v = f.vectors[r * f.cols + c];
                                n += 1;
                                if (v[0] - shift[0]).abs() > 1.0 || (v[1] - shift[1]).abs() > 1.0 {
                                    bad += 1;
                                }
                            }
                        }
                        assert_eq!(
                            bad, 0,
                            "{format:?} {w}x{h} {mode:?}: {bad} of {n} blocks off for {shift:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn none_is_still_and_tiny_frames_work() {
        let f = field_between(64, 48, [3.0, 1.0], MotionMode::None, PixelFormat::Rgba);
        assert!(f.vectors.iter().all(|v| *v == [0.0, 0.0]));
        for (w, h) in [(1, 1), (3, 5), (17, 9)] {
            let f = field_between(w, h, [1.0, 0.0], MotionMode::Dense, PixelFormat::I420);
            assert!(f
                .vectors
                .iter()
                .all(|v| v[0].is_finite() && v[1].is_finite()));
        }
    }

    #[test]
    fn vectors_interpolate_between_block_centres() {
        let mut f = MotionField::still(32, 16);
        f.vectors = vec![
            [0.0, 0.0],
            [4.0, 0.0],
            [0.0, 0.0],
            [4.0, 0.0],
            [0.0, 8.0],
            [4.0, 8.0],
            [0.0, 8.0],
            [4.0, 8.0],
        ];
        f.cols = 4;
        f.rows = 2;
        assert_eq!(f.at(4.0, 4.0), [0.0, 0.0]);
        assert_eq!(f.at(12.0, 4.0), [4.0, 0.0]);
        let mid = f.at(8.0, 8.0);
        assert!(
            (mid[0] - 2.0).abs() < 1e-5 && (mid[1] - 4.0).abs() < 1e-5,
            "{mid:?}"
        );
    }
}
