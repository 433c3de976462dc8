//! Person detections from the BlazePose detector: decoding against the anchors, weighted
//! non-maximum suppression, and undoing the letterbox.

use super::anchors::Anchor;

/// Number of keypoints per detection (mid-hip, full-body size/rotation, mid-shoulder, upper body).
pub const KEYPOINTS: usize = 4;
/// Values per anchor in the box tensor: box (4) + keypoints (2 each).
pub const VALUES: usize = 4 + 2 * KEYPOINTS;

/// A detection in normalised coordinates of the (letterboxed or original) image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub score: f32,
    /// Box as xmin, ymin, xmax, ymax (the face box for BlazePose).
    pub bbox: [f32; 4],
    pub keypoints: [[f32; 2]; KEYPOINTS],
}

/// Decodes raw detector outputs: `boxes` is anchors × 12, `logits` one per anchor. Keeps
/// detections scoring at least `min_score` (after the sigmoid).
pub fn decode(
    boxes: &[f32],
    logits: &[f32],
    anchors: &[Anchor],
    input_size: f32,
    min_score: f32,
) -> Vec<Detection> {
    let mut out = Vec::new();
    for (i, a) in anchors.iter().enumerate() {
        let (Some(raw), Some(&logit)) = (boxes.get(i * VALUES..(i + 1) * VALUES), logits.get(i))
        else {
            break;
        };
        let score = 1.0 / (1.0 + (-logit.clamp(-100.0, 100.0)).exp());
        if score < min_score {
            continue;
        }
        let cx = raw[0] / input_size + a.x;
        let cy = raw[1] / input_size + a.y;
        let (w, h) = (raw[2] / input_size, raw[3] / input_size);
        if !(w > 0.0 && h > 0.0) {
            continue;
        }
        let mut keypoints = [[0.0; 2]; KEYPOINTS];
        for (k, kp) in keypoints.iter_mut().enumerate() {
            *kp = [
                raw[4 + 2 * k] / input_size + a.x,
                raw[5 + 2 * k] / input_size + a.y,
            ];
        }
        out.push(Detection {
            score,
            bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
            keypoints,
        });
    }
    out
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// MediaPipe's weighted NMS: take the best remaining detection, average it with every remaining
/// detection overlapping it by more than `iou_threshold` (weighted by score; the best one's
/// score is kept), drop those, repeat.
pub fn weighted_nms(mut dets: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while let Some(best) = dets.first().copied() {
        let (cluster, rest): (Vec<Detection>, Vec<Detection>) = dets
            .into_iter()
            .partition(|d| iou(&best.bbox, &d.bbox) > iou_threshold || *d == best);
        let total: f32 = cluster.iter().map(|d| d.score).sum();
        let mut merged = best;
        if total > 0.0 {
            merged.bbox = [0.0; 4];
            merged.keypoints = [[0.0; 2]; KEYPOINTS];
            for d in &cluster {
                let w = d.score / total;
                for (m, v) in merged.bbox.iter_mut().zip(d.bbox) {
                    *m += v * w;
                }
                for (m, v) in merged.keypoints.iter_mut().zip(d.keypoints) {
                    m[0] += v[0] * w;
                    m[1] += v[1] * w;
                }
            }
        }
        out.push(merged);
        dets = rest;
    }
    out
}

/// Padding fractions [left, top, right, bottom] of a letterbox that fits `w`×`h` into a square.
pub fn letterbox_padding(w: usize, h: usize) -> [f32; 4] {
    let side = w.max(h) as f32;
    let px = (side - w as f32) / side / 2.0;
    let py = (side - h as f32) / side / 2.0;
    [px, py, px, py]
}

/// Maps a detection from letterboxed coordinates back to the original image's.
pub fn remove_letterbox(d: &Detection, pad: [f32; 4]) -> Detection {
    let (sx, sy) = (1.0 - pad[0] - pad[2], 1.0 - pad[1] - pad[3]);
    let fx = |x: f32| (x - pad[0]) / sx;
    let fy = |y: f32| (y - pad[1]) / sy;
    let mut o = *d;
    o.bbox = [fx(d.bbox[0]), fy(d.bbox[1]), fx(d.bbox[2]), fy(d.bbox[3])];
    for (k, kp) in o.keypoints.iter_mut().enumerate() {
        *kp = [fx(d.keypoints[k][0]), fy(d.keypoints[k][1])];
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(score: f32, x: f32) -> Detection {
        Detection {
            score,
            bbox: [x, 0.0, x + 1.0, 1.0],
            keypoints: [[x, 0.5]; KEYPOINTS],
        }
    }

    #[test]
    fn nms_merges_overlaps_by_score_weight() {
        // Two overlapping (IoU 0.82) and one apart.
        let out = weighted_nms(vec![det(0.6, 0.1), det(0.9, 0.0), det(0.8, 5.0)], 0.3);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        let x = (0.9 * 0.0 + 0.6 * 0.1) / 1.5;
        assert!((out[0].bbox[0] - x).abs() < 1e-6);
        assert!((out[0].keypoints[2][0] - x).abs() < 1e-6);
        assert_eq!(out[1], det(0.8, 5.0));
    }

    #[test]
    fn decode_applies_anchor_offsets_and_threshold() {
        let anchors = [Anchor { x: 0.5, y: 0.25 }, Anchor { x: 0.1, y: 0.1 }];
        let mut boxes = vec![0.0; 2 * VALUES];
        boxes[..4].copy_from_slice(&[22.4, -22.4, 44.8, 22.4]);
        boxes[4] = 11.2;
        let d = decode(&boxes, &[2.0, -3.0], &anchors, 224.0, 0.5);
        assert_eq!(d.len(), 1, "the second anchor scores sigmoid(-3) < 0.5");
        assert!((d[0].score - 0.880_797).abs() < 1e-5);
        let [x0, y0, x1, y1] = d[0].bbox;
        assert!((x0 - 0.5).abs() < 1e-6 && (x1 - 0.7).abs() < 1e-6);
        assert!((y0 - 0.1).abs() < 1e-6 && (y1 - 0.2).abs() < 1e-6);
        assert!((d[0].keypoints[0][0] - 0.55).abs() < 1e-6);
    }

    #[test]
    fn letterbox_round_trip() {
        let pad = letterbox_padding(640, 480);
        assert!((pad[1] - 0.125).abs() < 1e-6 && pad[0] == 0.0);
        let d = Detection {
            score: 1.0,
            bbox: [0.0, 0.125, 1.0, 0.875],
            keypoints: [[0.5, 0.5]; KEYPOINTS],
        };
        let o = remove_letterbox(&d, pad);
        assert!((o.bbox[1]).abs() < 1e-6 && (o.bbox[3] - 1.0).abs() < 1e-6);
        assert!((o.keypoints[0][1] - 0.5).abs() < 1e-6);
    }
}
