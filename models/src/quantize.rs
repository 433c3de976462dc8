//! int8 variants of the converted models (`aifx-models quantize`, run by the set-up).
//!
//! Calibration inputs come from packaged photos that no test compares on; ONNX Runtime's own
//! quantization tools (models/quantize.py, in the reference venv) write `NAME-int8.onnx`.
//! Each variant is then judged against its fp32 model on the reference inputs (the catalog's
//! `int8` checks: mask IoU, landmark error, detection scores) and timed beside it on every
//! provider, in alternating rounds. `int8.txt` records the figures and where `precision=auto`
//! uses the variant: only where it keeps the quality bar and runs at least 10 % faster than
//! the model does there by default.

use std::path::Path;
use std::time::Instant;

use aifx::session::{session, Output, SessionOptions};
use aifx::{Device, Precision};

use crate::catalog::{sigmoid, transform, Entry, Int8Check};
use crate::reference::{read_f32, Reference};
use crate::store::Store;

/// Photos for calibration (Debian `opencv-doc`): people (basketball, Megamind's cast is a
/// video, so not here), faces, indoor and outdoor scenes. None of them is a test image.
pub const CALIBRATION_PHOTOS: &[&str] = &[
    "basketball1.png",
    "basketball2.png",
    "HappyFish.jpg",
    "home.jpg",
    "fruits.jpg",
    "baboon.jpg",
    "butterfly.jpg",
    "squirrel_cls.jpg",
    "building.jpg",
    "aero1.jpg",
];
const PHOTO_DIR: &str = "/usr/share/doc/opencv-doc/examples/data";

/// Part of each variant's stamp: changing how calibration inputs are made remakes them.
pub const CALIBRATION_VERSION: &str = "2: photo views, person crops for pose landmarks";

/// The int8 variant must be this much faster than the model's default to be used by `auto`.
const FASTER_BY: f64 = 0.9;

/// Calibration inputs for `m` (NHWC, in its input range): each photo whole, its centre
/// square and its left and right thirds-of-two (people off centre), stretched to the input.
/// A pose landmark model also gets what it sees in use: the person crops our own pipeline
/// makes of these photos (and of their mirror images), detected with the store's models.
pub fn calibration_inputs(m: &Entry, store: &Store) -> Result<(usize, Vec<f32>), String> {
    let (mut n, mut data) = photo_views(m)?;
    if m.name.starts_with("pose-landmark") {
        let (k, crops) = person_crops(store)?;
        n += k;
        data.extend(crops);
    }
    Ok((n, data))
}

/// The pose pipeline's landmark-model inputs for the people it finds in the photos.
fn person_crops(store: &Store) -> Result<(usize, Vec<f32>), String> {
    use aifx::frame::{OwnedFrame, PixelFormat};
    use aifx::pose::pipeline::PoseModels;
    use aifx::pose::tracker::{PoseTracker, TrackerSettings};
    let file = |name: &str| store.dir.join(format!("{name}.onnx"));
    let models = PoseModels::from_files(
        &file("pose-detection"),
        &file("pose-landmark-full-nomask"),
        &SessionOptions::FP32,
    )
    .map_err(|e| e.to_string())?;
    let mut tracker = PoseTracker::new(models);
    let (mut n, mut data) = (0, Vec::new());
    for name in CALIBRATION_PHOTOS {
        let path = Path::new(PHOTO_DIR).join(name);
        let img = image::open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .to_rgb8();
        for mirrored in [false, true] {
            let img = if mirrored {
                image::imageops::flip_horizontal(&img)
            } else {
                img.clone()
            };
            let (w, h) = (img.width() as usize, img.height() as usize);
            let mut frame = OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, img.as_raw(), 0);
            tracker.reset();
            let people = tracker
                .process_all(&frame.view(), 0.0, &TrackerSettings::default(), 4, true)
                .map_err(|e| e.to_string())?;
            for (_, p) in people {
                data.extend(aifx::pose::landmarks::crop(&frame.view(), &p.roi));
                n += 1;
            }
        }
    }
    Ok((n, data))
}

/// Each photo whole, its centre square and its left and right two thirds.
fn photo_views(m: &Entry) -> Result<(usize, Vec<f32>), String> {
    let (h, w) = (m.input_shape[1] as u32, m.input_shape[2] as u32);
    let [lo, hi] = m.input_range;
    let mut data = Vec::new();
    let mut n = 0;
    for name in CALIBRATION_PHOTOS {
        let path = Path::new(PHOTO_DIR).join(name);
        let img = image::open(&path)
            .map_err(|e| format!("{}: {e} (the set-up installs opencv-doc)", path.display()))?
            .to_rgb8();
        let (iw, ih) = img.dimensions();
        let side = iw.min(ih);
        let views = [
            (0, 0, iw, ih),
            ((iw - side) / 2, (ih - side) / 2, side, side),
            (0, 0, iw * 2 / 3, ih),
            (iw / 3, 0, iw - iw / 3, ih),
        ];
        for (x, y, vw, vh) in views {
            let view = image::imageops::crop_imm(&img, x, y, vw, vh).to_image();
            let small = image::imageops::resize(&view, w, h, image::imageops::FilterType::Triangle);
            data.extend(
                small
                    .as_raw()
                    .iter()
                    .map(|&v| lo + (hi - lo) * f32::from(v) / 255.0),
            );
            n += 1;
        }
    }
    Ok((n, data))
}

/// How far the variant's output is from the fp32 one under `check`: the figure and whether
/// it keeps the bar.
pub fn judge(
    check: &Int8Check,
    fp32: &[f32],
    int8: &[f32],
    input_side: f32,
) -> Result<(f64, bool), String> {
    if fp32.len() != int8.len() {
        return Err(format!(
            "{}: {} values against {}",
            check.output,
            int8.len(),
            fp32.len()
        ));
    }
    let f = transform(check.apply.as_deref())?;
    match check.kind.as_str() {
        "mask" => {
            let (mut both, mut either) = (0usize, 0usize);
            for (&a, &b) in fp32.iter().zip(int8) {
                let (a, b) = (f(a) > 0.5, f(b) > 0.5);
                both += usize::from(a && b);
                either += usize::from(a || b);
            }
            let iou = if either == 0 {
                1.0
            } else {
                both as f64 / either as f64
            };
            Ok((iou, iou >= 0.98))
        }
        "landmarks" => {
            let (stride, count) = (check.stride.max(2), check.count);
            if count == 0 || fp32.len() < stride * count {
                return Err(format!("{}: fewer than {count} landmarks", check.output));
            }
            let point = |v: &[f32], i: usize| (v[i * stride], v[i * stride + 1]);
            let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
            for i in 0..count {
                let (x, y) = point(fp32, i);
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
            // A degenerate box (nothing found) is judged against the input's side instead.
            let diagonal = f64::from(((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt())
                .max(f64::from(input_side) * 0.1);
            let mean = (0..count)
                .map(|i| {
                    let ((ax, ay), (bx, by)) = (point(fp32, i), point(int8, i));
                    f64::from(((ax - bx).powi(2) + (ay - by).powi(2)).sqrt())
                })
                .sum::<f64>()
                / count as f64;
            let error = mean / diagonal;
            Ok((error, error <= 0.015))
        }
        "scores" => {
            let worst = fp32
                .iter()
                .zip(int8)
                .map(|(&a, &b)| (sigmoid(a), sigmoid(b)))
                .filter(|&(a, b)| a > 0.5 || b > 0.5)
                .map(|(a, b)| f64::from((a - b).abs()))
                .fold(0.0, f64::max);
            Ok((worst, worst <= 0.1))
        }
        other => Err(format!("unknown int8 check `{other}`")),
    }
}

/// The worst figure of each check over the reference inputs, and whether all kept the bar.
pub fn quality(
    m: &Entry,
    fp32_model: &Path,
    int8_model: &Path,
    reference: &Reference,
) -> Result<(String, bool), String> {
    let opts = SessionOptions::FP32;
    let a = session(fp32_model, &opts).map_err(|e| e.to_string())?;
    let b = session(int8_model, &opts).map_err(|e| e.to_string())?;
    let cases = reference
        .manifest
        .models
        .get(&m.name)
        .ok_or_else(|| format!("reference has no input for `{}`", m.name))?;
    let side = m.input_shape[1].max(m.input_shape[2]) as f32;
    let mut worst: Vec<Option<f64>> = vec![None; m.int8.len()];
    let mut pass = true;
    for (case_name, case) in &cases.cases {
        let input = read_f32(&reference.file(&m.name, case_name, &case.input_file))?;
        let run = |s: &aifx::session::SharedSession| -> Result<Vec<Output>, String> {
            s.run(&case.input_shape, &input).map_err(|e| e.to_string())
        };
        let (oa, ob) = (run(&a)?, run(&b)?);
        for (k, check) in m.int8.iter().enumerate() {
            let find = |o: &[Output]| {
                o.iter()
                    .find(|t| t.name == check.output)
                    .map(|t| t.data.clone())
                    .ok_or_else(|| format!("{}: no output `{}`", m.name, check.output))
            };
            let (figure, ok) = judge(check, &find(&oa)?, &find(&ob)?, side)?;
            pass &= ok;
            // IoU: the lowest is the worst; errors and score gaps: the highest.
            let worse = |old: f64| {
                if check.kind == "mask" {
                    figure.min(old)
                } else {
                    figure.max(old)
                }
            };
            worst[k] = Some(worst[k].map_or(figure, worse));
        }
    }
    let words: Vec<String> = m
        .int8
        .iter()
        .zip(&worst)
        .map(|(c, w)| {
            let name = match c.kind.as_str() {
                "mask" => "iou",
                "landmarks" => "error",
                _ => "score-gap",
            };
            format!("{}:{name}={:.4}", c.output, w.unwrap_or(f64::NAN))
        })
        .collect();
    Ok((words.join(","), pass))
}

/// Median ms per run of the model and of its variant on `device`, timed in alternating
/// rounds (the machine's speed drifts; both sides see the same drift). The model runs at
/// the precision `auto` gives it there; the variant at int8.
pub fn timing(
    fp32_model: &Path,
    int8_model: &Path,
    device: Device,
    input_shape: &[usize],
    input: &[f32],
    threads: usize,
) -> Result<(f64, f64), String> {
    let opts = |precision| SessionOptions {
        device,
        precision,
        threads,
        library: None,
    };
    // What `auto` runs without the variant: OpenVINO's bf16 hint, fp32 elsewhere (asked for
    // by name: `auto` itself would pick the variant once the record offers it).
    let default = if device == Device::OpenVino {
        Precision::Bf16
    } else {
        Precision::Fp32
    };
    let a = session(fp32_model, &opts(default)).map_err(|e| e.to_string())?;
    let b = session(int8_model, &opts(Precision::Auto)).map_err(|e| e.to_string())?;
    if a.device() != device || b.device() != device {
        return Err(format!("{device} is not available"));
    }
    let time = |s: &aifx::session::SharedSession, n: usize| -> Result<f64, String> {
        let t = Instant::now();
        for _ in 0..n {
            s.run(input_shape, input).map_err(|e| e.to_string())?;
        }
        Ok(t.elapsed().as_secs_f64() * 1000.0 / n as f64)
    };
    time(&a, 5)?;
    time(&b, 5)?;
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        ta.push(time(&a, 10)?);
        tb.push(time(&b, 10)?);
    }
    Ok((aifx::timing::median(ta), aifx::timing::median(tb)))
}

/// Whether `auto` should use the variant: it kept the bar and ran enough faster.
pub fn offered(pass: bool, default_ms: f64, int8_ms: f64) -> bool {
    pass && int8_ms < default_ms * FASTER_BY
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: &str) -> Int8Check {
        Int8Check {
            output: "o".into(),
            kind: kind.into(),
            apply: None,
            stride: 2,
            count: 2,
        }
    }

    #[test]
    fn masks_are_judged_by_iou() {
        let a = [0.9, 0.9, 0.1, 0.1];
        assert_eq!(judge(&check("mask"), &a, &a, 4.0).unwrap(), (1.0, true));
        let b = [0.9, 0.1, 0.1, 0.1];
        assert_eq!(judge(&check("mask"), &a, &b, 4.0).unwrap(), (0.5, false));
    }

    #[test]
    fn landmarks_are_judged_against_their_box() {
        // Two points 100 px apart along x: diagonal 100; each moved 1 px → 1 %.
        let a = [0.0, 0.0, 100.0, 0.0];
        let b = [1.0, 0.0, 101.0, 0.0];
        let (e, ok) = judge(&check("landmarks"), &a, &b, 256.0).unwrap();
        assert!((e - 0.01).abs() < 1e-6 && ok, "{e}");
        let c = [2.0, 0.0, 102.0, 0.0];
        assert!(!judge(&check("landmarks"), &a, &c, 256.0).unwrap().1);
    }

    #[test]
    fn scores_only_count_where_something_was_found() {
        // Logits: the first anchor is a detection in both, the second in neither.
        let a = [3.0, -8.0];
        let b = [2.5, -2.0];
        let (gap, ok) = judge(&check("scores"), &a, &b, 128.0).unwrap();
        assert!(gap < 0.05 && ok, "{gap}");
        assert!(!judge(&check("scores"), &a, &[-3.0, -8.0], 128.0).unwrap().1);
    }

    #[test]
    fn auto_wants_quality_and_speed() {
        assert!(offered(true, 3.0, 2.0));
        assert!(!offered(true, 3.0, 2.9));
        assert!(!offered(false, 3.0, 1.0));
    }
}
