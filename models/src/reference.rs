//! Reference tensors written by `tests/reference/litert_reference.py` (ai-edge-litert running
//! the original TFLite files): raw little-endian f32 files and a `manifest.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub models: BTreeMap<String, ModelCases>,
}

#[derive(Debug, Deserialize)]
pub struct ModelCases {
    pub input: String,
    pub cases: BTreeMap<String, Case>,
}

#[derive(Debug, Deserialize)]
pub struct Case {
    pub input_file: String,
    pub input_shape: Vec<usize>,
    pub outputs: BTreeMap<String, OutputFile>,
}

#[derive(Debug, Deserialize)]
pub struct OutputFile {
    pub file: String,
    pub shape: Vec<usize>,
}

pub fn read_f32(path: &Path) -> Result<Vec<f32>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() % 4 != 0 {
        return Err(format!("{} is not a float32 array", path.display()));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

pub struct Reference {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Reference {
    pub fn load(dir: &Path) -> Result<Self, String> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "no reference tensors at {} ({e}); `make test` creates them with tests/reference/litert_reference.py",
                path.display()
            )
        })?;
        let manifest =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    pub fn file(&self, model: &str, case: &str, file: &str) -> PathBuf {
        self.dir.join(model).join(case).join(file)
    }
}
