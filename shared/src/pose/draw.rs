//! The skeleton overlay: antialiased lines and joints drawn with tiny-skia into a small
//! overlay around the people, then blended onto the frame in its own format (YUV frames get
//! the overlay converted per pixel; nothing converts the whole frame).

use tiny_skia::{Color, FillRule, Paint, PathBuilder, Pixmap, Stroke, Transform};

use super::landmarks::Landmark;
use super::CONNECTIONS;
use crate::frame::{FrameMut, PixelFormat};

/// Drawing options (the `pose` element's properties).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrawStyle {
    pub line_width: f32,
    pub point_radius: f32,
    /// Landmarks below this visibility are not drawn.
    pub min_visibility: f32,
}

impl Default for DrawStyle {
    fn default() -> Self {
        Self {
            line_width: 3.0,
            point_radius: 4.0,
            min_visibility: 0.5,
        }
    }
}

/// MediaPipe numbers left-side landmarks odd and right-side even (1–32); 0 is the nose.
/// The colour (RGBA) of the bone from landmark `a` to `b`: orange left, blue right.
pub fn bone_rgba(a: usize, b: usize) -> [u8; 4] {
    let side = |i: usize| {
        if i == 0 {
            0
        } else if i % 2 == 1 {
            1
        } else {
            2
        }
    };
    match (side(a), side(b)) {
        (1, 1) | (0, 1) | (1, 0) => [255, 138, 0, 255],
        (2, 2) | (0, 2) | (2, 0) => [0, 200, 255, 255],
        _ => [235, 235, 235, 255],
    }
}

/// Joint colour (RGBA in 0..1) by visibility: red (barely visible) to green (clearly visible).
pub fn joint_rgba(visibility: f32) -> [f32; 4] {
    let v = visibility.clamp(0.0, 1.0);
    [1.0 - v, 0.2 + 0.8 * v, 0.2, 1.0]
}

fn side_colour(a: usize, b: usize) -> Color {
    let [r, g, b, a] = bone_rgba(a, b);
    Color::from_rgba8(r, g, b, a)
}

fn joint_colour(visibility: f32) -> Color {
    let [r, g, b, a] = joint_rgba(visibility);
    Color::from_rgba(r, g, b, a).unwrap_or(Color::WHITE)
}

/// Draws the skeletons of `people` (33 landmarks each, frame pixels) onto the frame.
pub fn draw_skeletons(frame: &mut FrameMut<'_>, people: &[&[Landmark]], style: &DrawStyle) {
    let pad = (style.line_width + style.point_radius + 2.0).ceil();
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for l in people
        .iter()
        .flat_map(|p| p.iter())
        .filter(|l| l.visibility >= style.min_visibility)
    {
        x0 = x0.min(l.x);
        y0 = y0.min(l.y);
        x1 = x1.max(l.x);
        y1 = y1.max(l.y);
    }
    if x0 > x1 {
        return;
    }
    let clampx = |v: f32| v.clamp(0.0, frame.width as f32) as usize;
    let clampy = |v: f32| v.clamp(0.0, frame.height as f32) as usize;
    let (bx0, by0, bx1, by1) = (
        clampx(x0 - pad),
        clampy(y0 - pad),
        clampx(x1 + pad + 1.0),
        clampy(y1 + pad + 1.0),
    );
    if bx1 <= bx0 || by1 <= by0 {
        return;
    }
    let (bw, bh) = (bx1 - bx0, by1 - by0);
    let Some(mut pm) = Pixmap::new(bw as u32, bh as u32) else {
        return;
    };
    let shift = Transform::from_translate(-(bx0 as f32), -(by0 as f32));
    let mut paint = Paint {
        anti_alias: true,
        ..Paint::default()
    };
    // Every line ends on a joint disc; round caps only show when the disc is thinner than
    // the line (and cost arcs on every stroke otherwise).
    let stroke = Stroke {
        width: style.line_width,
        line_cap: if style.point_radius * 2.0 >= style.line_width {
            tiny_skia::LineCap::Butt
        } else {
            tiny_skia::LineCap::Round
        },
        ..Stroke::default()
    };
    for lms in people {
        for &(a, b) in CONNECTIONS.iter() {
            let (la, lb) = (lms[a], lms[b]);
            if la.visibility < style.min_visibility || lb.visibility < style.min_visibility {
                continue;
            }
            let mut pb = PathBuilder::new();
            pb.move_to(la.x, la.y);
            pb.line_to(lb.x, lb.y);
            if let Some(path) = pb.finish() {
                paint.set_color(side_colour(a, b));
                pm.stroke_path(&path, &paint, &stroke, shift, None);
            }
        }
        for l in lms.iter().filter(|l| l.visibility >= style.min_visibility) {
            if let Some(c) = PathBuilder::from_circle(l.x, l.y, style.point_radius) {
                paint.set_color(joint_colour(l.visibility));
                pm.fill_path(&c, &paint, FillRule::Winding, shift, None);
            }
        }
    }
    blend_overlay(frame, &pm, bx0, by0);
}

/// Tints each person with the landmark model's own segmentation (`mask`, `side`² in ROI
/// space): colour `rgb` at `strength` × probability. Rendered as an overlay, so it works in
/// every format like the skeleton.
pub fn tint_people(
    frame: &mut FrameMut<'_>,
    people: &[(&super::roi::Roi, &[f32])],
    side: usize,
    rgb: [u8; 3],
    strength: f32,
) {
    for (roi, mask) in people {
        if mask.len() != side * side {
            continue;
        }
        // Bounding box of the rotated ROI, clipped to the frame.
        let corners = [
            roi.to_frame(0.0, 0.0),
            roi.to_frame(1.0, 0.0),
            roi.to_frame(0.0, 1.0),
            roi.to_frame(1.0, 1.0),
        ];
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for c in corners {
            x0 = x0.min(c[0]);
            y0 = y0.min(c[1]);
            x1 = x1.max(c[0]);
            y1 = y1.max(c[1]);
        }
        let bx0 = x0.floor().clamp(0.0, frame.width as f32) as usize;
        let by0 = y0.floor().clamp(0.0, frame.height as f32) as usize;
        let bx1 = x1.ceil().clamp(0.0, frame.width as f32) as usize;
        let by1 = y1.ceil().clamp(0.0, frame.height as f32) as usize;
        if bx1 <= bx0 || by1 <= by0 {
            continue;
        }
        let Some(mut pm) = Pixmap::new((bx1 - bx0) as u32, (by1 - by0) as u32) else {
            continue;
        };
        let bw = bx1 - bx0;
        let data = pm.data_mut();
        for y in by0..by1 {
            for x in bx0..bx1 {
                let [u, v] = roi.from_frame(x as f32 + 0.5, y as f32 + 0.5);
                if !(0.0..1.0).contains(&u) || !(0.0..1.0).contains(&v) {
                    continue;
                }
                let p = mask[(v * side as f32) as usize * side + (u * side as f32) as usize];
                let a = (p * strength).clamp(0.0, 1.0);
                let i = ((y - by0) * bw + (x - bx0)) * 4;
                // Premultiplied RGBA.
                data[i] = (f32::from(rgb[0]) * a) as u8;
                data[i + 1] = (f32::from(rgb[1]) * a) as u8;
                data[i + 2] = (f32::from(rgb[2]) * a) as u8;
                data[i + 3] = (255.0 * a) as u8;
            }
        }
        blend_overlay(frame, &pm, bx0, by0);
    }
}

/// Blends a premultiplied RGBA overlay placed at (`ox`, `oy`) onto the frame.
fn blend_overlay(frame: &mut FrameMut<'_>, pm: &Pixmap, ox: usize, oy: usize) {
    let (bw, bh) = (pm.width() as usize, pm.height() as usize);
    let data = pm.data();
    let px = |x: usize, y: usize| -> [u8; 4] {
        let i = (y * bw + x) * 4;
        [data[i], data[i + 1], data[i + 2], data[i + 3]]
    };
    // out = src_premultiplied + dst · (1 − a)
    let over = |dst: u8, src: u8, a: u8| -> u8 {
        (u32::from(src) + u32::from(dst) * (255 - u32::from(a)) / 255).min(255) as u8
    };
    // The overlay is mostly empty (thin strokes across the person's box): runs of 16
    // transparent pixels are skipped with one vectorised test.
    const RUN: usize = 16;
    let drawn = |x0: usize, x1: usize, y: usize| -> bool {
        // OR of whole words, no early exit: this vectorises, a byte-wise `any` did not.
        let bytes = &data[(y * bw + x0) * 4..(y * bw + x1) * 4];
        let words = bytes.chunks_exact(8);
        let tail = words.remainder().iter().fold(0u8, |a, &b| a | b);
        words
            .map(|w| u64::from_ne_bytes(w.try_into().expect("8 bytes")))
            .fold(u64::from(tail), |a, b| a | b)
            != 0
    };
    let runs = |y: usize| {
        (0..bw)
            .step_by(RUN)
            .filter(move |&x0| drawn(x0, (x0 + RUN).min(bw), y))
            .flat_map(move |x0| x0..(x0 + RUN).min(bw))
    };
    if let Some(o) = frame.format.rgb_offsets() {
        let has_alpha = frame.format.alpha_offset().is_some();
        for y in 0..bh {
            let row = frame.row_mut(0, oy + y);
            for x in runs(y) {
                let s = px(x, y);
                if s[3] == 0 {
                    continue;
                }
                let p = &mut row[(ox + x) * 4..(ox + x) * 4 + 4];
                for c in 0..3 {
                    p[o[c]] = over(p[o[c]], s[c], s[3]);
                }
                if has_alpha {
                    p[3] = over(p[3], s[3], s[3]);
                }
            }
        }
        return;
    }
    let m = frame.matrix;
    // Y at full resolution.
    for y in 0..bh {
        for x in runs(y) {
            let s = px(x, y);
            if s[3] == 0 {
                continue;
            }
            let a = f32::from(s[3]) / 255.0;
            let rgb = [s[0], s[1], s[2]].map(|c| (f32::from(c) / a).round().min(255.0) as u8);
            let yv = m.from_rgb(rgb)[0];
            let row = frame.row_mut(0, oy + y);
            let d = &mut row[ox + x];
            *d = (f32::from(*d) * (1.0 - a) + f32::from(yv) * a).round() as u8;
        }
    }
    // Chroma from the mean overlay colour of each 2×2 block.
    let (cx0, cy0, cx1, cy1) = (ox / 2, oy / 2, (ox + bw).div_ceil(2), (oy + bh).div_ceil(2));
    for cy in cy0..cy1 {
        // Chroma columns whose 2×2 block may hold overlay pixels (runs of either luma row).
        let rows = (2 * cy).max(oy) - oy..((2 * cy + 2).min(oy + bh) - oy);
        let mut wanted = vec![false; cx1 - cx0];
        for y in rows {
            for x0 in (0..bw).step_by(RUN) {
                let x1 = (x0 + RUN).min(bw);
                if drawn(x0, x1, y) {
                    for c in (ox + x0) / 2..(ox + x1).div_ceil(2) {
                        wanted[c - cx0] = true;
                    }
                }
            }
        }
        for cx in (cx0..cx1).filter(|&c| wanted[c - cx0]) {
            let (mut acc, mut n) = ([0u32; 4], 0u32);
            for y in (2 * cy).max(oy)..(2 * cy + 2).min(oy + bh) {
                for x in (2 * cx).max(ox)..(2 * cx + 2).min(ox + bw) {
                    let s = px(x - ox, y - oy);
                    for k in 0..4 {
                        acc[k] += u32::from(s[k]);
                    }
                    n += 1;
                }
            }
            if n == 0 || acc[3] == 0 {
                continue;
            }
            let a = acc[3] as f32 / n as f32 / 255.0;
            let rgb = [acc[0], acc[1], acc[2]]
                .map(|c| ((c as f32 / n as f32) / a).round().min(255.0) as u8);
            let [_, u, v] = m.from_rgb(rgb);
            let mix = |d: &mut u8, s: u8| {
                *d = (f32::from(*d) * (1.0 - a) + f32::from(s) * a).round() as u8
            };
            match frame.format {
                PixelFormat::I420 => {
                    mix(&mut frame.row_mut(1, cy)[cx], u);
                    mix(&mut frame.row_mut(2, cy)[cx], v);
                }
                _ => {
                    let r = frame.row_mut(1, cy);
                    mix(&mut r[cx * 2], u);
                    mix(&mut r[cx * 2 + 1], v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::OwnedFrame;

    fn upright(w: f32, h: f32) -> Vec<Landmark> {
        (0..33)
            .map(|i| Landmark {
                x: w * (0.3 + 0.4 * ((i % 2) as f32)),
                y: h * (0.1 + 0.8 * i as f32 / 32.0),
                z: 0.0,
                visibility: 0.9,
                presence: 0.9,
            })
            .collect()
    }

    #[test]
    fn draws_in_every_format_and_clips_at_edges() {
        for format in PixelFormat::ALL {
            for (w, h) in [(64usize, 48usize), (7, 5), (1, 1)] {
                let mut f = OwnedFrame::from_rgb(format, w, h, &vec![10u8; w * h * 3], 2);
                let before = f.planes.clone();
                let lms = upright(w as f32, h as f32);
                draw_skeletons(&mut f.view(), &[&lms], &DrawStyle::default());
                assert_ne!(f.planes, before, "{format:?} {w}x{h}: nothing drawn");
                // Landmarks far outside the frame are clipped, not a panic.
                let far: Vec<Landmark> = lms
                    .iter()
                    .map(|l| Landmark {
                        x: l.x - 5000.0,
                        ..*l
                    })
                    .collect();
                draw_skeletons(&mut f.view(), &[&far], &DrawStyle::default());
            }
        }
    }
}
