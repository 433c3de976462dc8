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
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/aifx/reference")
        })
        .join("mediapipe")
}

#[test]
fn static_landmarks_match_mediapipe() {
    let dir = reference_dir();
    let text = std::fs::read_to_string(dir.join("manifest.json"))
        .expect("run `make test` to create the references");
    let manifest: Manifest = serde_json::from_str(&text).unwrap();
    assert!(manifest.pose.len() >= 3);
    let models = PoseModels::load(&SessionOptions::default())
        .expect("run `make test` to install the models");
    for (name, p) in &manifest.pose {
        let rgb = std::fs::read(dir.join(&p.rgb)).unwrap();
        for format in [PixelFormat::Rgba, PixelFormat::Nv12] {
            let mut frame = OwnedFrame::from_rgb(format, p.width, p.height, &rgb, 0);
            let ours = estimate_static(&models, &frame.view(), 0.5, 0.5).unwrap();
            match (&p.landmarks, ours) {
                (None, None) => println!("{name} {format:?}: no person, as MediaPipe"),
                (Some(theirs), Some(ours)) => {
                    let (xs, ys): (Vec<f32>, Vec<f32>) =
                        theirs.iter().map(|l| (l[0], l[1])).unzip();
                    let span = |v: &[f32]| {
                        v.iter().cloned().fold(f32::MIN, f32::max)
                            - v.iter().cloned().fold(f32::MAX, f32::min)
                    };
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
                (t, o) => panic!(
                    "{name} {format:?}: presence differs (MediaPipe {}, ours {})",
                    t.is_some(),
                    o.is_some()
                ),
            }
        }
    }
}

/// A packaged photo panned and zoomed over 60 frames (33 ms apart): the tracker must keep
/// the person without re-detecting, and agree with per-frame static estimates.
#[test]
fn tracking_follows_a_moving_person_without_redetecting() {
    use aifx::pose::tracker::{PoseTracker, TrackerSettings};
    let dir = reference_dir();
    let manifest: Manifest = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json")).expect("run `make test`"),
    )
    .unwrap();
    // messi5: the whole body is in the picture (astronaut's hips are far out of frame, where
    // the model's guesses move with the ROI).
    let p = &manifest.pose["messi5"];
    let rgb = std::fs::read(dir.join(&p.rgb)).unwrap();
    let models = PoseModels::load(&SessionOptions::default()).unwrap();
    for smoothing in [false, true] {
        let mut tracker = PoseTracker::new(models.clone());
        let settings = TrackerSettings {
            smoothing,
            ..TrackerSettings::default()
        };
        let (w, h) = (320usize, 200usize);
        let mut worst: f32 = 0.0;
        for n in 0..60 {
            // Crop a window that pans right and zooms in a little, resized to 320×320.
            let t = n as f32 / 59.0;
            let side = 480.0 - 80.0 * t;
            let (ox, oy) = (8.0 + 24.0 * t, 16.0 * t);
            let mut frame_rgb = Vec::with_capacity(w * h * 3);
            for y in 0..h {
                for x in 0..w {
                    let sx = (ox + x as f32 * side / w as f32) as usize;
                    let sy = (oy + y as f32 * side / w as f32) as usize;
                    let i = (sy.min(p.height - 1) * p.width + sx.min(p.width - 1)) * 3;
                    frame_rgb.extend_from_slice(&rgb[i..i + 3]);
                }
            }
            let mut frame = OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, &frame_rgb, 0);
            let tracked = tracker
                .process(&frame.view(), n as f64 * 0.033_333, &settings, false)
                .unwrap()
                .expect("the person stays in view");
            let still = estimate_static(&models, &frame.view(), 0.5, 0.5)
                .unwrap()
                .unwrap();
            let (xs, ys): (Vec<f32>, Vec<f32>) = still.landmarks.iter().map(|l| (l.x, l.y)).unzip();
            let span = |v: &[f32]| {
                v.iter().cloned().fold(f32::MIN, f32::max)
                    - v.iter().cloned().fold(f32::MAX, f32::min)
            };
            let diag = (span(&xs).powi(2) + span(&ys).powi(2)).sqrt();
            let (mut sum, mut k) = (0.0, 0);
            for (a, b) in tracked.landmarks.iter().zip(&still.landmarks) {
                if b.visibility > 0.5 {
                    sum += ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt();
                    k += 1;
                }
            }
            let e = sum / k.max(1) as f32 / diag * 100.0;
            worst = worst.max(e);
        }
        println!(
        "60 tracked frames, smoothing {smoothing}: {} detector runs, worst mean distance to per-frame static estimates {worst:.2} % of the box diagonal",
        tracker.detections()
    );
        assert_eq!(
            tracker.detections(),
            1,
            "no re-detection while the person stays in view"
        );
        // A sanity bound, not the fidelity target: the tracking ROI (from the auxiliary
        // landmarks) settles about 25 % larger than the detector's, so tracked and static
        // landmarks legitimately differ by several percent on a moving picture. The 1.5 %
        // bound against MediaPipe's own tracking mode is issue 4's next step (it needs a
        // MediaPipe video-mode reference).
        assert!(worst <= 15.0, "{worst}%");
    }
}
