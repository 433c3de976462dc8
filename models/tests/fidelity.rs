//! Converted models against the real thing. Needs the set-up's files (`make test` runs it):
//! the converted models, ONNX Runtime, and the reference tensors under
//! `${XDG_CACHE_HOME:-~/.cache}/aifx/reference`.

use aifx::session::{session, SessionOptions};
use aifx::tensor::{resize_plane, rgb_to_tensor, InputRange, Sampling};
use aifx_models::catalog::{Catalog, Check, BUILTIN};
use aifx_models::reference::{read_f32, Reference};
use aifx_models::store::Store;

fn store() -> Store {
    Store::new(aifx::paths::default_model_dir())
}

#[test]
fn every_output_of_every_model_matches_litert() {
    let catalog = Catalog::parse(BUILTIN).unwrap();
    let reference = Reference::load(&aifx::paths::reference_dir())
        .expect("run `make test` to create the references");
    // Every provider the installed runtime has (the set-up's has cpu and openvino).
    let mut rows = Vec::new();
    for device in aifx::session::available_devices() {
        if device == aifx::Device::Auto {
            continue;
        }
        // fp32: the TFLite tolerances are fp32's (bf16 is checked against MediaPipe's
        // masks and landmarks instead).
        let opts = SessionOptions {
            device,
            precision: aifx::Precision::Fp32,
            ..SessionOptions::default()
        };
        let found = aifx_models::verify::verify(&catalog, &store(), &reference, &opts).unwrap();
        println!("{device}: {} outputs compared", found.len());
        rows.extend(found);
    }
    let models: std::collections::BTreeSet<_> = rows.iter().map(|r| r.model.clone()).collect();
    assert!(models.len() >= 6, "only {models:?} compared");
    for r in &rows {
        println!(
            "{} {} {}: max {:.2e} mean {:.2e} ({})",
            r.model, r.case, r.output, r.diff.max_abs, r.diff.mean_abs, r.tolerance
        );
    }
    let failed: Vec<_> = rows.iter().filter(|r| !r.passed).collect();
    assert!(failed.is_empty(), "outside tolerance: {failed:#?}");
}

/// The set-up wrote OpenVINO's forms (`NAME-openvino.onnx`) for the models whose catalog entry
/// asks for them, and they compute the model's function: run by ONNX Runtime's own CPU code
/// beside the reference graph on the same photo, every output within the tolerance it is held
/// to against TFLite.
/// (Under OpenVINO they are what the test above checks against TFLite.)
#[test]
fn openvino_forms_compute_the_same_function() {
    let catalog = Catalog::parse(BUILTIN).unwrap();
    let store = store();
    let photo = image::open("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
        .expect("messi5.jpg (package opencv-doc)")
        .to_rgb8();
    let mut checked = 0;
    for entry in &catalog.models {
        let forms = aifx::variants::openvino_path(&store.onnx(entry));
        assert_eq!(
            forms.is_file(),
            entry.openvino_forms,
            "{}: run `make test` to convert the models",
            forms.display()
        );
        if !entry.openvino_forms {
            continue;
        }
        let [_, th, tw, _] = entry.input_shape[..] else {
            panic!("{}: NHWC input", entry.name)
        };
        let (w, h) = photo.dimensions();
        let input = rgb_to_tensor(
            photo.as_raw(),
            w as usize,
            h as usize,
            w as usize * 3,
            tw,
            th,
            InputRange::UNIT,
            Sampling::Asymmetric,
        );
        let run = |file: &std::path::Path| {
            let cpu = SessionOptions {
                device: aifx::Device::Cpu,
                ..SessionOptions::FP32
            };
            session(file, &cpu)
                .unwrap()
                .run(&entry.input_shape, &input)
                .unwrap()
        };
        let (reference, rewritten) = (run(&store.onnx(entry)), run(&forms));
        for (a, b) in reference.iter().zip(&rewritten) {
            assert_eq!(a.shape, b.shape);
            // An output with a tolerance of its own against TFLite is held to it (float
            // summation order: pose outputs reach hundreds of pixels, segmentation logits
            // -1700, and relu6 is a clip in one graph and a rescaled HardSigmoid in the
            // other); any other to 1e-4.
            let check = entry.check.get(&a.name).cloned().unwrap_or(Check {
                abs: 1e-4,
                ..Check::default()
            });
            let diff = check.compare(&b.data, &a.data).unwrap();
            println!("{} {}: {diff:?}", entry.name, a.name);
            assert!(check.passes(&diff), "{} {}: {diff:?}", entry.name, a.name);
        }
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} models have OpenVINO forms");
}

#[derive(serde::Deserialize)]
struct MpManifest {
    selfie: std::collections::BTreeMap<String, MpPhoto>,
}

#[derive(serde::Deserialize)]
struct MpPhoto {
    width: usize,
    height: usize,
    rgb: String,
    masks: std::collections::BTreeMap<String, String>,
}

fn iou(a: &[f32], b: &[f32]) -> f64 {
    let (mut inter, mut union) = (0u64, 0u64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x > 0.5, y > 0.5);
        inter += u64::from(x && y);
        union += u64::from(x || y);
    }
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

#[test]
fn selfie_masks_match_mediapipe() {
    selfie_masks_against_mediapipe(&SessionOptions::FP32, None);
}

/// OpenVINO in bf16 (what `precision=auto` picks there): within the bar, IoU ≥ 0.98.
#[test]
fn selfie_masks_in_bf16_keep_the_quality_bar() {
    let Some(opts) = SessionOptions::openvino_bf16() else {
        println!("no OpenVINO in this ONNX Runtime");
        return;
    };
    selfie_masks_against_mediapipe(&opts, Some(0.98));
}

/// Each photo × model against MediaPipe's mask: IoU at 0.5 above `bar`, or (None) above the
/// exact pipeline's measured value.
fn selfie_masks_against_mediapipe(opts: &SessionOptions, bar: Option<f64>) {
    let dir = aifx::paths::reference_dir().join("mediapipe");
    let text = std::fs::read_to_string(dir.join("manifest.json"))
        .expect("run `make test` to create the MediaPipe references");
    let manifest: MpManifest = serde_json::from_str(&text).unwrap();
    assert!(manifest.selfie.len() >= 2);
    let catalog = Catalog::parse(BUILTIN).unwrap();
    for (photo, p) in &manifest.selfie {
        let rgb = std::fs::read(dir.join(&p.rgb)).unwrap();
        assert_eq!(rgb.len(), p.width * p.height * 3);
        for (model, mask_file) in &p.masks {
            let entry = catalog.find(model).unwrap();
            let [_, th, tw, _] = entry.input_shape[..] else {
                panic!()
            };
            let s = session(&store().onnx(entry), opts).unwrap();
            assert!(s.notice.is_none(), "{:?}", s.notice);
            let input = rgb_to_tensor(
                &rgb,
                p.width,
                p.height,
                p.width * 3,
                tw,
                th,
                InputRange::UNIT,
                Sampling::Asymmetric,
            );
            let out = s.run(&entry.input_shape, &input).unwrap();
            let ours = resize_plane(&out[0].data, tw, th, p.width, p.height);
            let theirs = read_f32(&dir.join(mask_file)).unwrap();
            let v = iou(&ours, &theirs);
            let diff = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs());
            let (max, sum) = diff.fold((0f32, 0f64), |(m, s), d| (m.max(d), s + f64::from(d)));
            println!(
                "{photo} {model}: IoU at 0.5 vs MediaPipe = {v:.5}, max |diff| {max:.3}, mean {:.5}",
                sum / ours.len() as f64
            );
            // Measured per case; the bound allows 1.5× the shortfall from 1, plus 0.0005.
            let measured = match (photo.as_str(), model.as_str()) {
                ("astronaut", "selfie") => 1.0,
                ("astronaut", "selfie-landscape") => 0.99927,
                ("messi5", "selfie") => 0.99830,
                ("messi5", "selfie-landscape") => 0.99812,
                // Other aspect ratios: MediaPipe stretches every frame to the model's input.
                ("astronaut-3x4", "selfie") => 0.99956,
                ("astronaut-3x4", "selfie-landscape") => 0.99980,
                ("astronaut-4x3", "selfie") => 0.99989,
                ("astronaut-4x3", "selfie-landscape") => 0.99970,
                ("messi5-3x4", "selfie") => 0.99927,
                ("messi5-3x4", "selfie-landscape") => 0.99885,
                other => panic!("no measured IoU for {other:?}: add it"),
            };
            let bound = bar.unwrap_or(1.0 - 1.5 * (1.0 - measured) - 0.0005);
            assert!(v >= bound, "{photo} {model}: IoU {v:.5} < {bound:.5}");
        }
    }
}
