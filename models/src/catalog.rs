//! The model catalog (`models/catalog.toml`): where each default model comes from, how to feed
//! it, and how closely its conversion must match the original.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The catalog as shipped, built into the binary so the CLI works from any folder.
pub const BUILTIN: &str = include_str!("../catalog.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Catalog {
    pub wheel: Wheel,
    #[serde(rename = "model")]
    pub models: Vec<Entry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Wheel {
    pub requirement: String,
    pub file: String,
    pub sha256: String,
    pub license: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    pub name: String,
    pub source: String,
    pub tflite_sha256: String,
    pub input_shape: Vec<usize>,
    pub layout: String,
    pub color: String,
    pub input_range: [f32; 2],
    pub outputs: Vec<String>,
    #[serde(default)]
    pub check: BTreeMap<String, Check>,
    /// How an int8 variant of this model is judged against the fp32 one (`aifx-models
    /// quantize`); empty: no int8 variant is made.
    #[serde(default)]
    pub int8: Vec<Int8Check>,
    /// Whether `aifx-models convert` also writes `NAME-openvino.onnx`, the graph in the forms
    /// OpenVINO runs faster (`convert::Forms::OpenVino`): only where it measured faster.
    #[serde(default)]
    pub openvino_forms: bool,
    pub description: String,
    pub license: String,
}

/// How one output is compared with the reference: pass when every element has
/// `|ours - ref| <= abs + rel * |ref|`, after `apply` (if any) on both.
#[derive(Debug, Clone, Deserialize)]
pub struct Check {
    #[serde(default = "default_abs")]
    pub abs: f32,
    #[serde(default)]
    pub rel: f32,
    #[serde(default)]
    pub apply: Option<String>,
    pub reason: String,
}

/// One output's quality bar for an int8 variant, against the fp32 model on the same input.
#[derive(Debug, Clone, Deserialize)]
pub struct Int8Check {
    pub output: String,
    /// `mask`: IoU of the > 0.5 regions ≥ 0.98 (after `apply`). `landmarks`: mean distance
    /// of the first `count` points (x, y every `stride` values, input pixels) ≤ 1.5 % of
    /// their box's diagonal. `scores`: sigmoid scores within 0.1 wherever either is > 0.5.
    pub kind: String,
    #[serde(default)]
    pub apply: Option<String>,
    #[serde(default)]
    pub stride: usize,
    #[serde(default)]
    pub count: usize,
}

fn default_abs() -> f32 {
    1e-3
}

impl Default for Check {
    fn default() -> Self {
        Self {
            abs: default_abs(),
            rel: 0.0,
            apply: None,
            reason: String::new(),
        }
    }
}

impl Catalog {
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| format!("bad catalog: {e}"))
    }

    pub fn load(path: Option<&Path>) -> Result<Self, String> {
        match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read catalog {}: {e}", p.display()))?;
                Self::parse(&text)
            }
            None => Self::parse(BUILTIN),
        }
    }

    pub fn find(&self, name: &str) -> Option<&Entry> {
        self.models.iter().find(|m| m.name == name)
    }
}

impl Entry {
    pub fn check(&self, output: &str) -> Check {
        self.check.get(output).cloned().unwrap_or_default()
    }
}

/// Result of comparing one output tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diff {
    pub max_abs: f32,
    pub mean_abs: f32,
    /// Largest `|d| - rel*|ref|`, the quantity held to `abs`.
    pub worst: f32,
    /// Positions where either side is NaN: any fails the check (`max` would skip them).
    pub nan: usize,
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The transform an output's `apply` names (`sigmoid`), applied to both sides before a
/// comparison; identity when none.
pub fn transform(apply: Option<&str>) -> Result<fn(f32) -> f32, String> {
    match apply {
        None => Ok(|x| x),
        Some("sigmoid") => Ok(sigmoid),
        Some(other) => Err(format!("unknown transform `{other}`")),
    }
}

impl Check {
    pub fn compare(&self, ours: &[f32], reference: &[f32]) -> Result<Diff, String> {
        if ours.len() != reference.len() {
            return Err(format!(
                "{} values against {} in the reference",
                ours.len(),
                reference.len()
            ));
        }
        let f = transform(self.apply.as_deref())?;
        let (mut max_abs, mut sum, mut worst, mut nan) = (0.0f32, 0.0f64, f32::MIN, 0);
        for (&a, &b) in ours.iter().zip(reference) {
            let (a, b) = (f(a), f(b));
            if a.is_nan() || b.is_nan() {
                nan += 1;
                continue;
            }
            // Infinities: equal ones match, anything else is an infinite difference.
            let d = if a == b { 0.0 } else { (a - b).abs() };
            let d = if d.is_nan() { f32::INFINITY } else { d };
            max_abs = max_abs.max(d);
            sum += f64::from(d);
            worst = worst.max(d - self.rel * b.abs());
        }
        Ok(Diff {
            max_abs,
            mean_abs: (sum / ours.len().max(1) as f64) as f32,
            worst: worst.max(0.0),
            nan,
        })
    }

    pub fn passes(&self, d: &Diff) -> bool {
        d.nan == 0 && d.worst <= self.abs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_lists_six_models() {
        let c = Catalog::parse(BUILTIN).unwrap();
        assert!(c.models.len() >= 6);
        for m in &c.models {
            assert_eq!(m.tflite_sha256.len(), 64, "{}", m.name);
            assert_eq!(m.input_shape.len(), 4, "{}", m.name);
            assert_eq!(m.license, "Apache-2.0");
        }
        let pl = c.find("pose-landmark-full").unwrap();
        assert_eq!(pl.check("Identity_2").apply.as_deref(), Some("sigmoid"));
        assert_eq!(pl.check("Identity_1").abs, 1e-3);
    }

    #[test]
    fn a_nan_on_either_side_fails() {
        let c = Check {
            abs: 1.0,
            ..Check::default()
        };
        for (ours, theirs) in [
            ([0.5, f32::NAN], [0.5, 0.5]),
            ([0.5, 0.5], [0.5, f32::NAN]),
            ([f32::NAN, 0.5], [f32::NAN, 0.5]),
        ] {
            let d = c.compare(&ours, &theirs).unwrap();
            assert_eq!(d.nan, 1, "{ours:?} {theirs:?}");
            assert!(!c.passes(&d), "{ours:?} vs {theirs:?} passed: {d:?}");
        }
        let d = c.compare(&[0.5, 0.6], &[0.5, 0.5]).unwrap();
        assert!(c.passes(&d), "{d:?}");
        let d = c.compare(&[f32::INFINITY], &[0.0]).unwrap();
        assert!(!c.passes(&d), "{d:?}");
    }

    #[test]
    fn relative_tolerance_scales_with_the_reference() {
        let c = Check {
            rel: 1e-5,
            ..Check::default()
        };
        let d = c.compare(&[700.004], &[700.0]).unwrap();
        assert!(c.passes(&d), "{d:?}");
        let d = c.compare(&[0.01], &[0.0]).unwrap();
        assert!(!c.passes(&d));
        let d = c.compare(&[f32::NAN], &[0.0]).unwrap();
        assert!(!c.passes(&d));
    }
}
