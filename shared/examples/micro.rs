use aifx::composite::{CompositeParams, Compositor, Effect};
use aifx::frame::{OwnedFrame, PixelFormat};
use std::time::Instant;
fn main() {
    let (w, h) = (1280, 720);
    let mut f = OwnedFrame::new(PixelFormat::Rgba, w, h, 0);
    let alpha: Vec<u8> = (0..w * h).map(|i| (i % 256) as u8).collect();
    let mut c = Compositor::new();
    let params = CompositeParams {
        effect: Effect::Color,
        ..Default::default()
    };
    for _ in 0..3 {
        c.apply(&mut f.view(), &alpha, &params).unwrap();
    }
    let t = Instant::now();
    for _ in 0..50 {
        c.apply(&mut f.view(), &alpha, &params).unwrap();
    }
    println!(
        "color 720p: {:.3} ms",
        t.elapsed().as_secs_f64() * 1000.0 / 50.0
    );
    let params = CompositeParams {
        effect: Effect::Blur,
        ..Default::default()
    };
    let t = Instant::now();
    for _ in 0..50 {
        c.apply(&mut f.view(), &alpha, &params).unwrap();
    }
    println!(
        "blur 720p: {:.3} ms",
        t.elapsed().as_secs_f64() * 1000.0 / 50.0
    );
    let m = aifx::mask::Mask::new(256, 256, vec![0.5; 65536]);
    let g = vec![0.3f32; 65536];
    let co = aifx::refine::guided_coefficients(&m, &g, 1, 1e-3);
    let mut a = Vec::new();
    let mut sc = aifx::refine::AlphaScratch::default();
    let t = Instant::now();
    for _ in 0..50 {
        aifx::refine::alpha_plane(&f.view(), &m, Some(&co), &mut a, &mut sc);
    }
    println!(
        "alpha 720p: {:.3} ms",
        t.elapsed().as_secs_f64() * 1000.0 / 50.0
    );
}
