//! Model variants beside a converted model: `NAME-openvino.onnx`, the same function in
//! operator forms OpenVINO runs faster (written by `aifx-models convert` where they differ),
//! `NAME-int8.onnx`, made at set-up by `aifx-models quantize`, and `int8.txt`, its record of
//! where the int8 variant kept the quality bar and ran faster than the model itself (what
//! `precision=auto` follows).

use std::path::{Path, PathBuf};

use crate::{Device, Precision};

/// The record `aifx-models quantize` writes beside the models.
pub const RECORD: &str = "int8.txt";

/// `NAME-SUFFIX.onnx` beside `NAME.onnx`.
fn beside(model: &Path, suffix: &str) -> PathBuf {
    let stem = model
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("model");
    model.with_file_name(format!("{stem}-{suffix}.onnx"))
}

/// `NAME-int8.onnx` beside `NAME.onnx`.
pub fn int8_path(model: &Path) -> PathBuf {
    beside(model, "int8")
}

/// `NAME-openvino.onnx` beside `NAME.onnx`.
pub fn openvino_path(model: &Path) -> PathBuf {
    beside(model, "openvino")
}

/// True when `model` is itself a variant (its name ends in `-int8` or `-openvino`).
fn is_variant(model: &Path) -> bool {
    model
        .file_stem()
        .and_then(|s| s.to_str())
        .is_some_and(|s| s.ends_with("-int8") || s.ends_with("-openvino"))
}

/// Whether `record` (the text of `int8.txt`) offers `name`'s int8 variant to `auto` on
/// `device`: a line `NAME DEVICE DEFAULT-MS INT8-MS QUALITY BAR yes`. Lines starting with `#`
/// are comments.
pub fn offered(record: &str, name: &str, device: Device) -> bool {
    record
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .any(|f| {
            f.len() >= 3 && f[0] == name && f[1] == device.as_str() && f.last() == Some(&"yes")
        })
}

/// What the record says of `name`'s int8 variant when it missed the quality bar: its
/// quality figures (`None` when it kept the bar or is not recorded).
pub fn missed_bar(record: &str, name: &str) -> Option<String> {
    record
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && f[0] == name && f[f.len() - 2] == "missed")
        .map(|f| f[4].to_string())
}

/// The file a session of `model` loads for `precision` on `device`: the int8 variant for
/// `int8` (when it exists), and for `auto` where the record offers it on that device;
/// otherwise OpenVINO's forms on `openvino` (when they exist), `model` itself elsewhere.
pub fn resolve(model: &Path, device: Device, precision: Precision) -> PathBuf {
    if is_variant(model) {
        return model.to_path_buf();
    }
    let int8 = int8_path(model);
    let wanted = match precision {
        Precision::Int8 => true,
        Precision::Auto => {
            let name = model.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            std::fs::read_to_string(model.with_file_name(RECORD))
                .is_ok_and(|r| offered(&r, name, device))
        }
        _ => false,
    };
    let openvino = openvino_path(model);
    if wanted && int8.is_file() {
        int8
    } else if device == Device::OpenVino && openvino.is_file() {
        openvino
    } else {
        model.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_offers_per_model_and_device() {
        let r = "# model device ms ms quality offered\n\
                 selfie openvino 1.20 1.70 o:iou=0.991 kept no\n\
                 selfie cpu 3.10 2.00 o:iou=0.991 kept yes\n\
                 pose-detection cpu 5.0 4.9 o:score-gap=0.2 missed no\n";
        assert!(offered(r, "selfie", Device::Cpu));
        assert!(!offered(r, "selfie", Device::OpenVino));
        assert!(!offered(r, "pose-detection", Device::Cpu));
        assert!(!offered(r, "selfie-landscape", Device::Cpu));
        assert_eq!(
            missed_bar(r, "pose-detection").as_deref(),
            Some("o:score-gap=0.2")
        );
        assert_eq!(missed_bar(r, "selfie"), None);
    }

    #[test]
    fn int8_needs_the_file() {
        let dir = std::env::temp_dir().join(format!("aifx-variants-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let model = dir.join("m.onnx");
        assert_eq!(resolve(&model, Device::Cpu, Precision::Int8), model);
        std::fs::write(dir.join("m-int8.onnx"), b"x").unwrap();
        assert_eq!(
            resolve(&model, Device::Cpu, Precision::Int8),
            dir.join("m-int8.onnx")
        );
        // auto only where the record says so.
        assert_eq!(resolve(&model, Device::Cpu, Precision::Auto), model);
        std::fs::write(dir.join(RECORD), "m cpu 2.0 1.0 o:iou=0.99 kept yes\n").unwrap();
        assert_eq!(
            resolve(&model, Device::Cpu, Precision::Auto),
            dir.join("m-int8.onnx")
        );
        assert_eq!(resolve(&model, Device::OpenVino, Precision::Auto), model);
        assert_eq!(resolve(&model, Device::Cpu, Precision::Fp32), model);
        // OpenVINO's forms where they exist, on openvino only.
        std::fs::write(dir.join("m-openvino.onnx"), b"x").unwrap();
        assert_eq!(
            resolve(&model, Device::OpenVino, Precision::Auto),
            dir.join("m-openvino.onnx")
        );
        assert_eq!(
            resolve(&model, Device::Cpu, Precision::Auto),
            dir.join("m-int8.onnx")
        );
        assert_eq!(resolve(&model, Device::Cuda, Precision::Fp32), model);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
