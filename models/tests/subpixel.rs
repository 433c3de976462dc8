//! Sub-pixel outputs end to end: a model file whose metadata leaves an output as planes,
//! run by `aifx`'s session on the real ONNX Runtime (the set-up's; `make test` installs it).

use aifx::session::{session, SessionOptions};
use aifx_models::onnx::{encode, Graph, ModelInfo, ValueInfo, FLOAT};

/// `y = Identity(x)`, x of shape 1×4×2×2, with `metadata`.
fn planes_model(
    dir: &std::path::Path,
    name: &str,
    metadata: &[(String, String)],
) -> std::path::PathBuf {
    let mut g = Graph::new("planes");
    g.inputs.push(ValueInfo {
        name: "x".into(),
        elem_type: FLOAT,
        dims: vec![1, 4, 2, 2],
    });
    g.op_into("Identity", &["x"], "y", vec![]);
    g.outputs.push(ValueInfo {
        name: "y".into(),
        elem_type: FLOAT,
        dims: vec![1, 4, 2, 2],
    });
    let bytes = encode(
        &g,
        &ModelInfo {
            opset: 17,
            producer: "test",
            producer_version: "0",
            doc: "",
            metadata,
        },
    );
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A fresh folder for one test's model files.
fn scratch(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("aifx-subpixel-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn cpu() -> SessionOptions {
    SessionOptions {
        device: aifx::Device::Cpu,
        ..SessionOptions::FP32
    }
}

#[test]
fn planes_come_out_in_the_declared_shape() {
    let dir = scratch("declared");
    let meta = [("aifx.subpixel.y".to_string(), "2,2;1,4,4,1".to_string())];
    let s = session(&planes_model(&dir, "m.onnx", &meta), &cpu()).unwrap();
    assert_eq!(s.outputs[0].shape, [Some(1), Some(4), Some(4), Some(1)]);
    // Plane p holds 10·p + pixel; output pixel (2y + i, 2x + j) is plane 2i + j at (y, x).
    let input: Vec<f32> = (0..16).map(|k| (10 * (k / 4) + k % 4) as f32).collect();
    let out = s.run(&[1, 4, 2, 2], &input).unwrap();
    assert_eq!(out[0].shape, [1, 4, 4, 1]);
    #[rustfmt::skip]
    let want = [
        0.0, 10.0, 1.0, 11.0,
        20.0, 30.0, 21.0, 31.0,
        2.0, 12.0, 3.0, 13.0,
        22.0, 32.0, 23.0, 33.0,
    ];
    assert_eq!(out[0].data, want);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn malformed_or_mismatched_planes_are_clear_errors() {
    let dir = scratch("errors");
    // Malformed metadata: the load fails, naming the file.
    let meta = [("aifx.subpixel.y".to_string(), "two by two".to_string())];
    let path = planes_model(&dir, "bad.onnx", &meta);
    let e = session(&path, &cpu()).expect_err("a malformed layout fails the load");
    assert!(e.to_string().contains("bad.onnx"), "{e}");
    // A declared shape the planes cannot make: the run fails, saying why.
    let meta = [("aifx.subpixel.y".to_string(), "2,2;1,8,8,1".to_string())];
    let s = session(&planes_model(&dir, "big.onnx", &meta), &cpu()).unwrap();
    let e = s.run(&[1, 4, 2, 2], &[0.0; 16]).unwrap_err();
    assert!(e.to_string().contains("declared"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
