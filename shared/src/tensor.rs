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
