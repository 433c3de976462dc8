//! Times the temporal steps at 1080p on messi5.jpg (development aid, for profilers too):
//! `cargo run --release -p aifx --example temporal_stages [FORMAT] [FRAMES]`.
use std::time::Instant;

use aifx::frame::{OwnedFrame, PixelFormat};
use aifx::temporal::deflicker::Deflicker;
use aifx::temporal::motion::{estimate, factor_for, LowLuma, MotionMode};

const PHOTO: &str = "/usr/share/doc/opencv-doc/examples/data/messi5.jpg";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let format = match args.get(1).map(String::as_str) {
        Some("nv12") => PixelFormat::Nv12,
        _ => PixelFormat::Rgba,
    };
    let n: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(50);
    let (w, h) = (1920usize, 1080usize);
    let img = image::open(PHOTO).expect("messi5.jpg").to_rgb8();
    let frames: Vec<OwnedFrame> = (0..2)
        .map(|t| {
            let crop =
                image::imageops::crop_imm(&img, 3 * t, 0, img.width() - 6, img.height()).to_image();
            let big = image::imageops::resize(
                &crop,
                w as u32,
                h as u32,
                image::imageops::FilterType::Triangle,
            );
            OwnedFrame::from_rgb(format, w, h, big.as_raw(), 0)
        })
        .collect();
    let time = |name: &str, f: &mut dyn FnMut()| {
        f();
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        println!(
            "{name:28} {:7.3} ms",
            t.elapsed().as_secs_f64() * 1000.0 / n as f64
        );
    };
    let factor = factor_for(w, h);
    let mut a = frames[0].clone();
    let mut b = frames[1].clone();
    let la = LowLuma::new(&a.view(), factor);
    let lb = LowLuma::new(&b.view(), factor);
    time("low-res luma", &mut || {
        std::hint::black_box(LowLuma::new(&b.view(), factor));
    });
    let mut fresh = b.clone();
    time("copy + low-res luma", &mut || {
        fresh.planes.clone_from(&b.planes);
        std::hint::black_box(LowLuma::new(&fresh.view(), factor));
    });
    time("copy (subtract)", &mut || {
        fresh.planes.clone_from(&b.planes);
        std::hint::black_box(&fresh);
    });
    time("motion global", &mut || {
        std::hint::black_box(estimate(&la, &lb, MotionMode::Global));
    });
    time("motion dense", &mut || {
        std::hint::black_box(estimate(&la, &lb, MotionMode::Dense));
    });
    let field = estimate(&la, &lb, MotionMode::Dense);
    let prev_mask: Vec<f32> = (0..256 * 256).map(|i| (i % 256) as f32 / 255.0).collect();
    time("mask warp 256x256", &mut || {
        std::hint::black_box(aifx::temporal::mask::warp(
            &prev_mask, 256, 256, w, h, &field,
        ));
    });
    println!("global {:?}", field.global);
    let same = estimate(&lb, &lb, MotionMode::Dense);
    let max = same
        .vectors
        .iter()
        .fold(0.0f32, |m, v| m.max(v[0].abs()).max(v[1].abs()));
    println!("identical frames: largest dense vector {max} px");
    let mut d = Deflicker::default();
    d.apply(&mut a.view(), &la, &field, 0.8, 12.0);
    time("deflicker (dense field)", &mut || {
        let mut f = b.clone();
        d.apply(&mut f.view(), &lb, &field, 0.8, 12.0);
    });
    time("frame clone (subtract)", &mut || {
        std::hint::black_box(b.clone());
    });
}
