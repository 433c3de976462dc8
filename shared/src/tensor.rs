//! Turning pictures into model input tensors.

/// The float range a model expects for pixel values 0..=255, e.g. `[0, 1]` or `[-1, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputRange {
    pub lo: f32,
    pub hi: f32,
}

impl InputRange {
    pub const UNIT: InputRange = InputRange { lo: 0.0, hi: 1.0 };
    pub const SIGNED: InputRange = InputRange { lo: -1.0, hi: 1.0 };

    /// Scale and offset so that `value = pixel * scale + offset`.
    pub fn scale_offset(self) -> (f32, f32) {
        ((self.hi - self.lo) / 255.0, self.lo)
    }
}

/// Packs interleaved RGB bytes (already at model resolution) into an NHWC float tensor.
pub fn rgb_to_nhwc(rgb: &[u8], range: InputRange) -> Vec<f32> {
    let (scale, offset) = range.scale_offset();
    rgb.iter().map(|&p| f32::from(p) * scale + offset).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_map_the_ends() {
        let t = rgb_to_nhwc(&[0, 255, 0], InputRange::SIGNED);
        assert_eq!(t, vec![-1.0, 1.0, -1.0]);
        let t = rgb_to_nhwc(&[0, 255], InputRange::UNIT);
        assert_eq!(t, vec![0.0, 1.0]);
    }
}

/// How tensor pixels map onto the source picture when resampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// Tensor pixel `x` reads source `x·W/Wt`: what ONNX's `Resize` calls "asymmetric"
    /// (MediaPipe's CPU image-to-tensor).
    Asymmetric,
    /// Tensor pixel `x` reads source `(x + 0.5)·W/Wt − 0.5` (pixel centres aligned).
    HalfPixel,
}

/// Bilinear taps (i0, i1, weight of i1) for each destination coordinate.
pub(crate) fn taps(src: usize, dst: usize, sampling: Sampling) -> Vec<(usize, usize, f32)> {
    let scale = src as f32 / dst as f32;
    (0..dst)
        .map(|x| {
            let s = match sampling {
                Sampling::Asymmetric => x as f32 * scale,
                Sampling::HalfPixel => (x as f32 + 0.5) * scale - 0.5,
            }
            .clamp(0.0, (src - 1) as f32);
            let i = s.floor() as usize;
            (i, (i + 1).min(src - 1), s - i as f32)
        })
        .collect()
}

/// Resamples an RGB picture (3 bytes per pixel, rows `stride` bytes apart) bilinearly to
/// `tw`×`th` and packs it as an NHWC float tensor in `range`.
#[allow(clippy::too_many_arguments)]
pub fn rgb_to_tensor(
    rgb: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    tw: usize,
    th: usize,
    range: InputRange,
    sampling: Sampling,
) -> Vec<f32> {
    assert!(width > 0 && height > 0 && stride >= width * 3);
    assert!(rgb.len() >= stride * (height - 1) + width * 3);
    let (scale, offset) = range.scale_offset();
    let xs = taps(width, tw, sampling);
    let ys = taps(height, th, sampling);
    let mut out = Vec::with_capacity(tw * th * 3);
    for &(y0, y1, fy) in &ys {
        let r0 = &rgb[y0 * stride..];
        let r1 = &rgb[y1 * stride..];
        for &(x0, x1, fx) in &xs {
            for c in 0..3 {
                let p = |r: &[u8], x: usize| f32::from(r[x * 3 + c]);
                let top = p(r0, x0) + (p(r0, x1) - p(r0, x0)) * fx;
                let bottom = p(r1, x0) + (p(r1, x1) - p(r1, x0)) * fx;
                out.push((top + (bottom - top) * fy) * scale + offset);
            }
        }
    }
    out
}

/// Bilinear resize of a one-channel float picture with pixel centres aligned.
pub fn resize_plane(src: &[f32], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<f32> {
    assert_eq!(src.len(), sw * sh);
    let xs = taps(sw, dw, Sampling::HalfPixel);
    let ys = taps(sh, dh, Sampling::HalfPixel);
    let mut out = Vec::with_capacity(dw * dh);
    for &(y0, y1, fy) in &ys {
        for &(x0, x1, fx) in &xs {
            let p = |y: usize, x: usize| src[y * sw + x];
            let top = p(y0, x0) + (p(y0, x1) - p(y0, x0)) * fx;
            let bottom = p(y1, x0) + (p(y1, x1) - p(y1, x0)) * fx;
            out.push(top + (bottom - top) * fy);
        }
    }
    out
}

#[cfg(test)]
mod resample_tests {
    use super::*;

    #[test]
    fn identity_size_is_a_copy() {
        let rgb: Vec<u8> = (0..2 * 2 * 3).map(|v| v as u8 * 10).collect();
        for s in [Sampling::Asymmetric, Sampling::HalfPixel] {
            let t = rgb_to_tensor(&rgb, 2, 2, 6, 2, 2, InputRange { lo: 0.0, hi: 255.0 }, s);
            let back: Vec<u8> = t.iter().map(|&v| v.round() as u8).collect();
            assert_eq!(back, rgb);
        }
    }

    #[test]
    fn padded_stride_is_respected() {
        // 1×2 picture in rows of 8 bytes: the padding (0xFF) must never be read.
        let rgb = [10, 20, 30, 40, 50, 60, 255, 255, 1, 2, 3, 4, 5, 6, 255, 255];
        let t = rgb_to_tensor(
            &rgb,
            2,
            2,
            8,
            1,
            1,
            InputRange { lo: 0.0, hi: 255.0 },
            Sampling::Asymmetric,
        );
        assert_eq!(t, vec![10.0, 20.0, 30.0]);
    }

    #[test]
    fn plane_upsample_keeps_constant() {
        let p = resize_plane(&[0.5; 4], 2, 2, 5, 3);
        assert!(p.iter().all(|&v| (v - 0.5).abs() < 1e-6));
    }
}
