//! Times pose's per-frame work outside the models (development aid, for profilers too):
//! `cargo run --release -p aifx --example pose_stages [WxH] [FORMAT] [FRAMES]`.
//! Prints ms/frame of the landmark crop (a person-sized rotated ROI) and of drawing a skeleton.
use std::time::Instant;

use aifx::frame::{OwnedFrame, PixelFormat};
use aifx::pose::draw::{draw_skeletons, DrawStyle};
use aifx::pose::landmarks::{crop, Landmark};
use aifx::pose::roi::Roi;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_string());
    let (w, h): (usize, usize) = arg(0, "1280x720")
        .split_once('x')
        .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap()))
        .expect("WxH");
    let format = PixelFormat::ALL
        .into_iter()
        .find(|f| format!("{f:?}").eq_ignore_ascii_case(&arg(1, "rgba")))
        .expect("format");
    let frames: usize = arg(2, "200").parse().unwrap();
    let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
    let mut frame = OwnedFrame::from_rgb(format, w, h, &rgb, 0);
    // A standing person filling most of the frame's height, slightly tilted.
    let roi = Roi {
        cx: w as f32 * 0.5,
        cy: h as f32 * 0.5,
        width: h as f32 * 0.9,
        height: h as f32 * 0.9,
        rotation: std::env::var("ROT").map_or(0.1, |r| r.parse().unwrap()),
    };
    let people: Vec<Landmark> = (0..33)
        .map(|i| {
            let [x, y] = roi.to_frame(
                0.35 + 0.3 * (i % 2) as f32 + 0.02 * (i % 5) as f32,
                0.1 + 0.8 * i as f32 / 32.0,
            );
            Landmark {
                x,
                y,
                z: 0.0,
                visibility: 0.9,
                presence: 0.9,
            }
        })
        .collect();
    let time = |label: &str, f: &mut dyn FnMut()| {
        for _ in 0..10 {
            f();
        }
        let ms: Vec<f64> = (0..frames)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        println!(
            "{w}x{h} {format:?} {label:10} {:.3} ms (median of {frames})",
            aifx::timing::median(ms.iter().copied())
        );
    };
    time("crop", &mut || {
        std::hint::black_box(crop(&frame.view(), &roi));
    });
    // As in a pipeline: each frame is new memory, just written by whatever made it.
    time("copy", &mut || {
        std::hint::black_box(frame.clone());
    });
    time("copy+crop", &mut || {
        let mut fresh = frame.clone();
        std::hint::black_box(crop(&fresh.view(), &roi));
    });
    let style = DrawStyle::default();
    time("draw", &mut || {
        draw_skeletons(&mut frame.view(), &[&people], &style)
    });
}
