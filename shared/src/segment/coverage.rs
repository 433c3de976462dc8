//! Where a row's person alpha comes from, and how much of each span of a row it covers.
//!
//! The compositor reads alpha through [`AlphaRows`] one row at a time, so the alpha never
//! exists as a whole plane; the refinement step and the blur implement or consume it.

/// How much of a span of pixels the person covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Alpha 0 throughout.
    Background,
    /// Alpha 255 throughout.
    Person,
    /// Anything else: alpha is computed pixel by pixel.
    Mixed,
}

impl Coverage {
    pub fn merge(self, other: Self) -> Self {
        if self == other {
            self
        } else {
            Coverage::Mixed
        }
    }
}

/// A value in 0–255 to its byte, rounded to nearest (ties to even), clamped (NaN to 0): the
/// conversion of the alpha sources and the blurred background. Bit work instead of `as`,
/// whose saturating conversion compiled to a scalar convert and two compares per lane in
/// their hot loops: adding 2²³ to a number in 0–255 rounds it to a whole number, which the
/// float then holds in its low byte (no SSE4.1 `floor` needed either).
#[allow(clippy::manual_clamp)] // max().min() vectorises; clamp's NaN handling does not
#[inline(always)]
pub fn byte_of(v: f32) -> u8 {
    (v.max(0.0).min(255.0) + 8_388_608.0).to_bits() as u8
}

/// Pixels per coverage span. Spans inside the person cost nothing and background spans
/// only their background: per-pixel alpha is computed along the silhouette alone.
pub const SPAN: usize = 32;

/// Where the person alpha of each frame row comes from.
pub trait AlphaRows: Sync {
    /// Alpha of pixels `x0..x0 + out.len()` of row `y`. `plane0` is the whole row's visible
    /// bytes of plane 0 (packed pixels or Y) before compositing, for edge-aware sources.
    fn span(&self, y: usize, x0: usize, plane0: &[u8], out: &mut [u8]);

    /// A cheaper approximation of the alpha of pixels `xs` of row `y` (no edge refinement),
    /// for the blur's weights.
    fn coarse_at(&self, y: usize, xs: &[usize], out: &mut [u8]);

    /// Coverage of each `SPAN`-pixel span of row `y` (`out.len()` = width / `SPAN`, rounded
    /// up). `Person` and `Background` must be exact: their alpha is never computed.
    fn coverage(&self, _y: usize, out: &mut [Coverage]) {
        out.fill(Coverage::Mixed);
    }

    /// Alpha of all of row `y`: constant spans filled, the others computed in runs.
    fn row(&self, y: usize, plane0: &[u8], cover: &[Coverage], out: &mut [u8]) {
        let n = out.len();
        let mut s = 0;
        while s < cover.len() {
            let kind = cover[s];
            let mut e = s + 1;
            while e < cover.len() && cover[e] == kind {
                e += 1;
            }
            let (x0, x1) = (s * SPAN, (e * SPAN).min(n));
            match kind {
                Coverage::Person => out[x0..x1].fill(255),
                Coverage::Background => out[x0..x1].fill(0),
                Coverage::Mixed => self.span(y, x0, plane0, &mut out[x0..x1]),
            }
            s = e;
        }
    }
}

/// A precomputed full-resolution alpha plane.
pub struct PlaneAlpha<'a> {
    pub alpha: &'a [u8],
    pub width: usize,
}

impl AlphaRows for PlaneAlpha<'_> {
    fn span(&self, y: usize, x0: usize, _plane0: &[u8], out: &mut [u8]) {
        let start = y * self.width + x0;
        out.copy_from_slice(&self.alpha[start..start + out.len()]);
    }

    fn coarse_at(&self, y: usize, xs: &[usize], out: &mut [u8]) {
        let row = &self.alpha[y * self.width..(y + 1) * self.width];
        for (o, &x) in out.iter_mut().zip(xs) {
            *o = row[x];
        }
    }

    fn coverage(&self, y: usize, out: &mut [Coverage]) {
        let row = &self.alpha[y * self.width..(y + 1) * self.width];
        for (c, span) in out.iter_mut().zip(row.chunks(SPAN)) {
            *c = if span.iter().all(|&a| a == 255) {
                Coverage::Person
            } else if span.iter().all(|&a| a == 0) {
                Coverage::Background
            } else {
                Coverage::Mixed
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_to_nearest_and_clamp() {
        for k in -1000..=27_000 {
            let v = k as f32 / 100.0;
            let tie = (v + 0.5).fract() == 0.0;
            assert!(
                tie || byte_of(v) == (v + 0.5).clamp(0.0, 255.0) as u8,
                "{v}"
            );
        }
        assert_eq!(
            [byte_of(-3.0), byte_of(300.0), byte_of(2.5), byte_of(3.5)],
            [0, 255, 2, 4]
        );
        assert_eq!(byte_of(f32::NAN), 0);
    }
}
