//! Times each stage of the segmentation path on a 720p frame (development aid):
//! `cargo run --release -p aifx --example stages`.
use std::time::Instant;

use aifx::composite::{CompositeParams, Compositor, Effect};
use aifx::frame::{OwnedFrame, PixelFormat};
use aifx::mask::Mask;
use aifx::refine::{alpha_plane, guided_coefficients};
use aifx::sample::frame_to_tensor;
use aifx::segmenter::{infer, load_model, SegmentSettings};
use aifx::tensor::{InputRange, Sampling};

fn main() {
    let (w, h) = (1280, 720);
    let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 255) as u8).collect();
    let threads = std::env::var("T")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let settings = SegmentSettings {
        threads,
        ..Default::default()
    };
    let model = load_model(&settings).unwrap();
    for format in [PixelFormat::Rgba, PixelFormat::Nv12] {
        let mut f = OwnedFrame::from_rgb(format, w, h, &rgb, 0);
        let mut comp = Compositor::new();
        let mut alpha = Vec::new();
        let mut sc = aifx::refine::AlphaScratch::default();
        for round in 0..3 {
            let mut view = f.view();
            let t = Instant::now();
            let (tensor, luma) =
                frame_to_tensor(&view, 256, 256, InputRange::UNIT, Sampling::Corners);
            let t1 = t.elapsed();
            let m: Mask = infer(&model, &tensor).unwrap();
            let t2 = t.elapsed();
            let c = guided_coefficients(&m, &luma, 1, 1e-3);
            let t3 = t.elapsed();
            alpha_plane(&view, &m, Some(&c), &mut alpha, &mut sc);
            let t4 = t.elapsed();
            comp.apply(
                &mut view,
                &alpha,
                &CompositeParams {
                    effect: Effect::Color,
                    ..Default::default()
                },
            )
            .unwrap();
            let t5 = t.elapsed();
            comp.apply(
                &mut view,
                &alpha,
                &CompositeParams {
                    effect: Effect::Blur,
                    ..Default::default()
                },
            )
            .unwrap();
            let t6 = t.elapsed();
            if round == 2 {
                let ms =
                    |a: std::time::Duration, b: std::time::Duration| (b - a).as_secs_f64() * 1000.0;
                let z = std::time::Duration::ZERO;
                println!(
                    "{format:?}: sample {:.2} infer {:.2} guided {:.2} alpha {:.2} color {:.2} blur {:.2} ms",
                    ms(z, t1), ms(t1, t2), ms(t2, t3), ms(t3, t4), ms(t4, t5), ms(t5, t6)
                );
            }
        }
    }
}
