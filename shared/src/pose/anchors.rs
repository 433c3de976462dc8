//! SSD anchors of MediaPipe's BlazePose detector (its SsdAnchorsCalculator options).

/// One anchor centre in normalised input coordinates (anchor size is fixed at 1×1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    pub x: f32,
    pub y: f32,
}

/// Options of the anchor generator, as in the pose detection graph.
#[derive(Debug, Clone, PartialEq)]
pub struct AnchorOptions {
    pub input_size: usize,
    pub strides: Vec<usize>,
    pub min_scale: f32,
    pub max_scale: f32,
    pub offset: f32,
    /// Anchors per location of each layer: aspect ratio 1 plus the interpolated scale.
    pub anchors_per_layer_location: usize,
}

impl AnchorOptions {
    /// BlazePose detector: 224×224, strides 8, 16, 32, 32, 32.
    pub fn pose_detection() -> Self {
        Self {
            input_size: 224,
            strides: vec![8, 16, 32, 32, 32],
            min_scale: 0.148_437_5,
            max_scale: 0.75,
            offset: 0.5,
            anchors_per_layer_location: 2,
        }
    }
}

/// Generates the anchors in the detector's output order: layer group, y, x, anchor.
/// Consecutive layers with the same stride share one feature map (their anchors interleave
/// per location), which is how 5 layers give 28²·2 + 14²·2 + 7²·6 = 2254 anchors.
pub fn generate(o: &AnchorOptions) -> Vec<Anchor> {
    let mut anchors = Vec::new();
    let mut layer = 0;
    while layer < o.strides.len() {
        let stride = o.strides[layer];
        let mut last = layer;
        while last < o.strides.len() && o.strides[last] == stride {
            last += 1;
        }
        let per_location = (last - layer) * o.anchors_per_layer_location;
        let fm = o.input_size.div_ceil(stride);
        for y in 0..fm {
            for x in 0..fm {
                let a = Anchor {
                    x: (x as f32 + o.offset) / fm as f32,
                    y: (y as f32 + o.offset) / fm as f32,
                };
                anchors.extend(std::iter::repeat_n(a, per_location));
            }
        }
        layer = last;
    }
    anchors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blazepose_has_2254_anchors() {
        let a = generate(&AnchorOptions::pose_detection());
        assert_eq!(a.len(), 2254);
        let first = a[0];
        assert!((first.x - 0.5 / 28.0).abs() < 1e-6 && (first.y - 0.5 / 28.0).abs() < 1e-6);
        assert_eq!(a[1], first, "two anchors per location in the first layer");
        let last = *a.last().unwrap();
        assert!((last.x - 6.5 / 7.0).abs() < 1e-6 && (last.y - 6.5 / 7.0).abs() < 1e-6);
        // The 7×7 map carries 6 anchors per location (three layers of stride 32).
        let tail = &a[2254 - 6..];
        assert!(tail.iter().all(|t| *t == last));
        assert_eq!(
            a[28 * 28 * 2],
            Anchor {
                x: 0.5 / 14.0,
                y: 0.5 / 14.0
            }
        );
    }
}
