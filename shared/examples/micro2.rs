use aifx::frame::{OwnedFrame, PixelFormat};
use std::time::Instant;
fn main() {
    let (w, h) = (1280, 720);
    let f = OwnedFrame::new(PixelFormat::Rgba, w, h, 0);
    let mut f = f;
    let m = aifx::mask::Mask::new(256, 256, vec![0.5; 65536]);
    let g = vec![0.3f32; 65536];
    let co = aifx::refine::guided_coefficients(&m, &g, 1, 1e-3);
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
