//! The on-disk model store: extracted TFLite files, converted ONNX files, conversion stamps
//! and the last verification results, all under one folder (by default
//! `${XDG_DATA_HOME:-~/.local/share}/aifx/models`).

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::catalog::{Catalog, Entry};

pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

pub struct Store {
    pub dir: PathBuf,
}

impl Store {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn tflite(&self, m: &Entry) -> PathBuf {
        self.dir.join("tflite").join(format!("{}.tflite", m.name))
    }

    pub fn onnx(&self, m: &Entry) -> PathBuf {
        self.dir.join(format!("{}.onnx", m.name))
    }

    fn stamp(&self, m: &Entry) -> PathBuf {
        self.dir.join(".stamps").join(format!("{}.convert", m.name))
    }

    pub fn verify_report(&self) -> PathBuf {
        self.dir.join("verify.json")
    }

    /// True when the TFLite file is present with the catalog's sha256.
    pub fn has_tflite(&self, m: &Entry) -> bool {
        sha256_file(&self.tflite(m)).is_ok_and(|h| h == m.tflite_sha256)
    }

    /// Extracts every catalog model from the wheel, checking the wheel's and each file's hash.
    /// Models already present with the right hash are left alone.
    pub fn fetch(&self, catalog: &Catalog, wheel: &Path) -> Result<usize, String> {
        let missing: Vec<&Entry> = catalog
            .models
            .iter()
            .filter(|m| !self.has_tflite(m))
            .collect();
        if missing.is_empty() {
            return Ok(0);
        }
        let hash =
            sha256_file(wheel).map_err(|e| format!("cannot read {}: {e}", wheel.display()))?;
        if hash != catalog.wheel.sha256 {
            return Err(format!(
                "{} has sha256 {hash}, expected {} ({})",
                wheel.display(),
                catalog.wheel.sha256,
                catalog.wheel.requirement
            ));
        }
        let file = std::fs::File::open(wheel).map_err(|e| e.to_string())?;
        let mut zip =
            zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", wheel.display()))?;
        std::fs::create_dir_all(self.dir.join("tflite")).map_err(|e| e.to_string())?;
        for m in &missing {
            let mut entry = zip
                .by_name(&m.source)
                .map_err(|e| format!("{} is not in {}: {e}", m.source, wheel.display()))?;
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
            let h = sha256_hex(&bytes);
            if h != m.tflite_sha256 {
                return Err(format!(
                    "{} has sha256 {h}, expected {}",
                    m.source, m.tflite_sha256
                ));
            }
            write_atomic(&self.tflite(m), &bytes)?;
        }
        Ok(missing.len())
    }

    /// The stamp a conversion leaves: source hash plus the converter binary's own hash, so a
    /// rebuilt converter reconverts and an unchanged one does nothing.
    pub fn wanted_stamp(&self, m: &Entry, converter_hash: &str) -> String {
        format!("{}\n{converter_hash}\n", m.tflite_sha256)
    }

    pub fn is_converted(&self, m: &Entry, converter_hash: &str) -> bool {
        self.onnx(m).is_file()
            && std::fs::read_to_string(self.stamp(m))
                .is_ok_and(|s| s == self.wanted_stamp(m, converter_hash))
    }

    pub fn mark_converted(&self, m: &Entry, converter_hash: &str) -> Result<(), String> {
        write_atomic(
            &self.stamp(m),
            self.wanted_stamp(m, converter_hash).as_bytes(),
        )
    }
}

/// Writes through a temporary file and a rename, so readers never see half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}
