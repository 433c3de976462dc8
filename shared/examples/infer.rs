use aifx::segmenter::{infer, load_model, SegmentSettings};
use std::time::Instant;
fn main() {
    let threads = std::env::var("T")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let model = load_model(&SegmentSettings {
        threads,
        ..Default::default()
    })
    .unwrap();
    let x: Vec<f32> = (0..256 * 256 * 3)
        .map(|i| (i % 255) as f32 / 255.0)
        .collect();
    for _ in 0..10 {
        infer(&model, &x).unwrap();
    }
    let t = Instant::now();
    for _ in 0..100 {
        infer(&model, &x).unwrap();
    }
    println!(
        "T={threads} spin={:?}: {:.2} ms",
        std::env::var("AIFX_ORT_SPIN").ok(),
        t.elapsed().as_secs_f64() * 10.0
    );
}
