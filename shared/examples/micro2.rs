use aifx::frame::{OwnedFrame, PixelFormat};
use aifx::sample::frame_to_tensor;
use aifx::segmenter::{infer, load_model, SegmentSettings};
use aifx::tensor::{InputRange, Sampling};
use std::time::Instant;
fn main() {
    let img = image::open("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
        .unwrap()
        .to_rgb8();
    let img = image::imageops::resize(&img, 1280, 720, image::imageops::FilterType::Triangle);
    let (w, h) = (1280, 720);
    let mut f = OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, img.as_raw(), 0);
    let model = load_model(&SegmentSettings::default()).unwrap();
    let (tensor, luma) = frame_to_tensor(&f.view(), 256, 256, InputRange::UNIT, Sampling::Corners);
    let m = infer(&model, &tensor).unwrap();
    let co = aifx::refine::guided_coefficients(&m, &luma, 1, 1e-3);
    let flat = co.a.data.iter().filter(|a| a.abs() < 1e-3).count();
    println!(
        "flat coefficients: {:.1}%",
        flat as f64 * 100.0 / co.a.data.len() as f64
    );
    let mut a = Vec::new();
    let mut sc = aifx::refine::AlphaScratch::default();
    let t = Instant::now();
    for _ in 0..200 {
        aifx::refine::alpha_plane(&f.view(), &m, Some(&co), &mut a, &mut sc);
    }
    println!(
        "alpha 720p: {:.3} ms",
        t.elapsed().as_secs_f64() * 1000.0 / 200.0
    );
}
