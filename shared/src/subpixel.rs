//! Outputs a model leaves as sub-pixel planes, and the shuffle that makes them whole.
//!
//! The selfie models' OpenVINO forms end at the kh·kw planes of their last transposed
//! convolution rather than at the mask: OpenVINO ran the pixel shuffle as a slow 6-D transpose
//! (`aifx-models`' `subpixel` pass). Their metadata says so per output, as
//! `aifx.subpixel.<output> = "kh,kw;d0,d1,…"` (the block, then the output's declared shape),
//! and sessions shuffle such outputs back, so every caller sees the declared output.

/// Metadata key prefix, followed by the output's name.
pub const KEY: &str = "aifx.subpixel.";

/// The largest block side a layout may declare (the converter writes none larger).
pub const MAX_BLOCK: usize = 16;

/// One output left as N×(kh·kw)×H×W planes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subpixel {
    pub kh: usize,
    pub kw: usize,
    /// The output's declared shape (N×(H·kh)×(W·kw) values, in that order, any dims).
    pub dims: Vec<usize>,
}

impl Subpixel {
    /// Parses a metadata value, `"kh,kw;d0,d1,…"`; `None` where it is malformed.
    pub fn parse(value: &str) -> Option<Self> {
        let (block, dims) = value.split_once(';')?;
        let (kh, kw) = block.split_once(',')?;
        let (kh, kw) = (kh.trim().parse().ok()?, kw.trim().parse().ok()?);
        let dims: Vec<usize> = (dims.split(','))
            .map(|d| d.trim().parse().ok())
            .collect::<Option<_>>()?;
        let sane = (1..=MAX_BLOCK).contains(&kh)
            && (1..=MAX_BLOCK).contains(&kw)
            && !dims.is_empty()
            && !dims.contains(&0);
        sane.then_some(Self { kh, kw, dims })
    }

    /// The metadata value [`Subpixel::parse`] reads.
    pub fn value(&self) -> String {
        let dims: Vec<String> = self.dims.iter().map(usize::to_string).collect();
        format!("{},{};{}", self.kh, self.kw, dims.join(","))
    }

    /// The declared output from planes of shape `shape` (N×(kh·kw)×H×W): value (i, j) of
    /// pixel (y, x)'s block is plane i·kw + j at (y, x). `None` where the planes do not fit
    /// the declared shape (a model file is untrusted input).
    pub fn unshuffle(&self, shape: &[usize], planes: &[f32]) -> Option<Vec<f32>> {
        let &[n, taps, h, w] = shape else {
            return None;
        };
        let (kh, kw) = (self.kh, self.kw);
        let total = n.checked_mul(taps)?.checked_mul(h)?.checked_mul(w)?;
        let declared = (self.dims.iter()).try_fold(1usize, |a, &d| a.checked_mul(d))?;
        if taps != kh * kw || planes.len() != total || declared != total || total == 0 {
            return None;
        }
        let (plane, row) = (h * w, w * kw);
        let mut out = vec![0.0f32; total];
        for (image, src) in out
            .chunks_exact_mut(taps * plane)
            .zip(planes.chunks_exact(taps * plane))
        {
            for (y, rows) in image.chunks_exact_mut(kh * row).enumerate() {
                for (i, dst) in rows.chunks_exact_mut(row).enumerate() {
                    for j in 0..kw {
                        let from = &src[(i * kw + j) * plane + y * w..][..w];
                        for (x, &v) in from.iter().enumerate() {
                            dst[x * kw + j] = v;
                        }
                    }
                }
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_block_and_the_declared_shape() {
        let s = Subpixel::parse("2,2;1,256,256,1").unwrap();
        assert_eq!(s.value(), "2,2;1,256,256,1");
        assert_eq!((s.kh, s.kw, s.dims), (2, 2, vec![1, 256, 256, 1]));
        for bad in [
            "",
            "2,2",
            "2;1,4",
            "0,2;1,4",
            "2,x;1",
            "2,2;",
            "99,2;1",
            "2,2;1,0,4,1",
        ] {
            assert_eq!(Subpixel::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn planes_shuffle_into_blocks() {
        // Two images, 2×3 blocks over 2×2 pixels: plane p holds 100·p + pixel.
        let (kh, kw, h, w) = (2, 3, 2, 2);
        let s = Subpixel {
            kh,
            kw,
            dims: vec![2, h * kh, w * kw, 1],
        };
        let planes: Vec<f32> = (0..2 * kh * kw * h * w)
            .map(|k| {
                let (image, p, px) = (k / (kh * kw * h * w), k / (h * w) % (kh * kw), k % (h * w));
                (1000 * image + 100 * p + px) as f32
            })
            .collect();
        let out = s.unshuffle(&[2, kh * kw, h, w], &planes).unwrap();
        for image in 0..2 {
            for oy in 0..h * kh {
                for ox in 0..w * kw {
                    let (y, i, x, j) = (oy / kh, oy % kh, ox / kw, ox % kw);
                    let want = 1000 * image + 100 * (i * kw + j) + y * w + x;
                    assert_eq!(out[(image * h * kh + oy) * w * kw + ox], want as f32);
                }
            }
        }
        // Planes that do not fit the declared shape.
        assert_eq!(s.unshuffle(&[2, 5, h, w], &planes[..40]), None);
        assert_eq!(s.unshuffle(&[1, kh * kw, h, w], &planes[..24]), None);
        // Empty planes (a crafted file) are refused, not divided into chunks of none.
        let empty = Subpixel {
            kh,
            kw,
            dims: vec![0],
        };
        assert_eq!(empty.unshuffle(&[1, kh * kw, 0, w], &[]), None);
    }
}
