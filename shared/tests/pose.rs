//! The BlazePose pipeline against MediaPipe's own `Pose(static_image_mode=True,
//! model_complexity=1)` on packaged photos (references from `make test`'s set-up).

use std::collections::BTreeMap;
use std::path::PathBuf;

use aifx::frame::{OwnedFrame, PixelFormat};
use aifx::pose::pipeline::{estimate_static, PoseModels};
use aifx::session::SessionOptions;

#[derive(serde::Deserialize)]
struct Manifest {
    pose: BTreeMap<String, Photo>,
}

#[derive(serde::Deserialize)]
struct Photo {
    width: usize,
    height: usize,
    rgb: String,
    landmarks: Option<Vec<[f32; 5]>>,
}

fn reference_dir() -> PathBuf {
    std::env::var_os("AIFX_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/aifx/reference"))
        .join("mediapipe")
}

#[test]
fn static_landmarks_match_mediapipe() {
    let dir = reference_dir();
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("run `make test` to create the references");
    let manifest: Manifest = serde_json::from_str(&text).unwrap();
    assert!(manifest.pose.len() >= 3);
    let models = PoseModels::load(&SessionOptions::default()).expect("run `make test` to install the models");
    for (name, p) in &manifest.pose {
        let rgb = std::fs::read(dir.join(&p.rgb)).unwrap();
        for format in [PixelFormat::Rgba, PixelFormat::Nv12] {
            let mut frame = OwnedFrame::from_rgb(format, p.width, p.height, &rgb, 0);
            let ours = estimate_static(&models, &frame.view(), 0.5, 0.5).unwrap();
            match (&p.landmarks, ours) {
                (None, None) => println!("{name} {format:?}: no person, as MediaPipe"),
                (Some(theirs), Some(ours)) => {
                    let (xs, ys): (Vec<f32>, Vec<f32>) = theirs.iter().map(|l| (l[0], l[1])).unzip();
                    let span = |v: &[f32]| v.iter().cloned().fold(f32::MIN, f32::max) - v.iter().cloned().fold(f32::MAX, f32::min);
                    let diag = (span(&xs).powi(2) + span(&ys).powi(2)).sqrt();
                    let (mut sum, mut n) = (0.0, 0);
                    for (o, t) in ours.landmarks.iter().zip(theirs) {
                        if t[3] > 0.5 {
                            sum += ((o.x - t[0]).powi(2) + (o.y - t[1]).powi(2)).sqrt();
                            n += 1;
                        }
                    }
                    let err = sum / n.max(1) as f32 / diag * 100.0;
                    println!("{name} {format:?}: mean landmark error {err:.3} % of the person box diagonal over {n} visible landmarks");
                    let limit = if format.is_yuv() { 3.0 } else { 1.5 };
                    assert!(n >= 10 && err <= limit, "{name} {format:?}: {err}%");
                }
                (t, o) => panic!("{name} {format:?}: presence differs (MediaPipe {}, ours {})", t.is_some(), o.is_some()),
            }
        }
    }
}
