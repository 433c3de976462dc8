//! Person masks at model resolution and the clean-ups applied to them before they are
//! upsampled: hard threshold, feathering and small-blob removal (temporal smoothing is
//! `crate::temporal::mask`).

/// A one-channel probability map (1.0 = person), row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Mask {
    pub fn new(width: usize, height: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), width * height);
        Self {
            width,
            height,
            data,
        }
    }
}

/// `threshold` > 0: a hard cut (1 at or above, 0 below).
pub fn threshold(mask: &mut Mask, threshold: f32) {
    if threshold <= 0.0 {
        return;
    }
    for v in &mut mask.data {
        *v = if *v >= threshold { 1.0 } else { 0.0 };
    }
}

/// Running-sum box filter of radius `r` over one line, edges clamped.
#[allow(clippy::needless_range_loop)] // three index ranges over two slices read best as loops
#[inline(always)]
fn blur_line(src: &[f32], dst: &mut [f32], r: usize) {
    let n = src.len();
    let at = |i: isize| src[i.clamp(0, n as isize - 1) as usize];
    let ri = r as isize;
    let mut sum: f32 = (-ri..=ri).map(at).sum();
    let norm = 1.0 / (2 * r + 1) as f32;
    // Clamped reads only near the ends; the interior indexes directly.
    let (lo, hi) = (r.min(n), n.saturating_sub(r + 1).max(r.min(n)));
    for i in 0..lo {
        dst[i] = sum * norm;
        sum += at((i + r + 1) as isize) - at(i as isize - ri);
    }
    for i in lo..hi {
        dst[i] = sum * norm;
        sum += src[i + r + 1] - src[i - r];
    }
    for i in hi..n {
        dst[i] = sum * norm;
        sum += at((i + r + 1) as isize) - at(i as isize - ri);
    }
}

/// Box filter of a small radius over one line, edges clamped: 2r + 1 shifted adds, which
/// vectorise (a running sum is one long dependency chain; measured 4× slower at r = 1).
#[inline(always)]
fn blur_line_small(src: &[f32], dst: &mut [f32], r: usize) {
    let n = src.len();
    let norm = 1.0 / (2 * r + 1) as f32;
    if n <= 2 * r {
        return blur_line(src, dst, r);
    }
    let at = |i: isize| src[i.clamp(0, n as isize - 1) as usize];
    for i in (0..r).chain(n - r..n) {
        let i = i as isize;
        dst[i as usize] = (i - r as isize..=i + r as isize).map(at).sum::<f32>() * norm;
    }
    let inner = &mut dst[r..n - r];
    inner.copy_from_slice(&src[..n - 2 * r]);
    for k in 1..=2 * r {
        for (d, &v) in inner.iter_mut().zip(&src[k..]) {
            *d += v;
        }
    }
    for d in inner {
        *d *= norm;
    }
}

/// Box blur of radius `r` (edges clamped): each row into a scratch plane, then a running
/// sum of whole rows back into `data` for the vertical pass (streams and vectorises; compiled
/// for AVX2 too: the guided filter's six blurs of 256×256 went 0.23–0.33 → 0.20–0.23 ms).
#[multiversion::multiversion(targets("x86_64+avx+avx2+fma"))]
pub fn box_blur(data: &mut [f32], width: usize, height: usize, r: usize) {
    if r == 0 || data.is_empty() {
        return;
    }
    // The horizontal pass's plane is kept per thread: a fresh one per call was zeroed first
    // (the guided filter's six blurs of 256×256 zeroed 1.5 MB a frame: memset and page
    // faults showed in profiles).
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut src = SCRATCH.with_borrow_mut(std::mem::take);
    src.resize(data.len(), 0.0);
    for (row, out) in data.chunks_exact(width).zip(src.chunks_exact_mut(width)) {
        if r <= 4 {
            blur_line_small(row, out, r);
        } else {
            blur_line(row, out, r);
        }
    }
    let row = |y: isize| {
        let y = y.clamp(0, height as isize - 1) as usize;
        &src[y * width..(y + 1) * width]
    };
    let r = r as isize;
    let mut acc = vec![0.0f32; width];
    for k in -r..=r {
        for (a, &v) in acc.iter_mut().zip(row(k)) {
            *a += v;
        }
    }
    let norm = 1.0 / (2 * r + 1) as f32;
    for (y, out) in data.chunks_exact_mut(width).enumerate() {
        let y = y as isize;
        for (o, &a) in out.iter_mut().zip(&acc) {
            *o = a * norm;
        }
        let (add, sub) = (row(y + r + 1), row(y - r));
        for ((a, &p), &m) in acc.iter_mut().zip(add).zip(sub) {
            *a += p - m;
        }
    }
    SCRATCH.with_borrow_mut(|s| *s = src);
}

/// Softens the mask edge: two box passes of radius `r` mask pixels.
pub fn feather(mask: &mut Mask, r: usize) {
    let (w, h) = (mask.width, mask.height);
    box_blur(&mut mask.data, w, h, r);
    box_blur(&mut mask.data, w, h, r);
}

/// Clears person blobs (4-connected, probability > 0.5) smaller than `min_fraction` of the
/// mask area — stray detections, like obs-backgroundremoval's contour filter.
pub fn remove_small_regions(mask: &mut Mask, min_fraction: f32) {
    if min_fraction <= 0.0 {
        return;
    }
    let (w, h) = (mask.width, mask.height);
    let min_area = (min_fraction * (w * h) as f32).ceil() as usize;
    let mut label = vec![u32::MAX; w * h];
    let mut stack = Vec::new();
    let mut blob = Vec::new();
    for start in 0..w * h {
        if label[start] != u32::MAX || mask.data[start] <= 0.5 {
            continue;
        }
        blob.clear();
        stack.push(start);
        label[start] = 0;
        while let Some(i) = stack.pop() {
            blob.push(i);
            let (x, y) = (i % w, i / w);
            let mut visit = |j: usize| {
                if label[j] == u32::MAX && mask.data[j] > 0.5 {
                    label[j] = 0;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        if blob.len() < min_area {
            for &i in &blob {
                mask.data[i] = 0.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_blobs_go_big_ones_stay() {
        // 10×10: a 3×3 blob (9 %) and a single pixel (1 %).
        let mut m = Mask::new(10, 10, vec![0.0; 100]);
        for y in 1..4 {
            for x in 1..4 {
                m.data[y * 10 + x] = 0.9;
            }
        }
        m.data[88] = 0.9;
        remove_small_regions(&mut m, 0.05);
        assert_eq!(m.data[88], 0.0);
        assert_eq!(m.data[22], 0.9);
    }

    #[test]
    fn threshold_and_box_blur() {
        let mut m = Mask::new(4, 1, vec![0.2, 0.6, 0.4, 0.9]);
        threshold(&mut m, 0.5);
        assert_eq!(m.data, vec![0.0, 1.0, 0.0, 1.0]);
        let mut d = vec![0.0, 0.0, 3.0, 0.0, 0.0];
        box_blur(&mut d, 5, 1, 1);
        assert_eq!(d, vec![0.0, 1.0, 1.0, 1.0, 0.0]);
        // Small radii (shifted adds) agree with the running sum, edges included.
        let src: Vec<f32> = (0..23).map(|i| ((i * 7) % 11) as f32).collect();
        for r in 1..=4 {
            let (mut a, mut b) = (vec![0.0; 23], vec![0.0; 23]);
            blur_line(&src, &mut a, r);
            blur_line_small(&src, &mut b, r);
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-4, "r {r}: {a:?} {b:?}");
            }
        }
    }
}
