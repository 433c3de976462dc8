//! Where the set-up puts runtime files, and how model names resolve to files.

use std::env;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// `${XDG_DATA_HOME:-~/.local/share}/aifx`: the set-up's copy of ONNX Runtime and the models.
pub fn data_dir() -> PathBuf {
    let base = env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("aifx")
}

/// `${XDG_CACHE_HOME:-~/.cache}/aifx`: what the set-up keeps for tests and benches only
/// (reference venvs and tensors), and `device=auto`'s kept decisions (a cache: without it
/// the providers are only timed again).
pub fn cache_dir() -> PathBuf {
    let base = env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("aifx")
}

/// The reference outputs the set-up computes (ai-edge-litert tensors; MediaPipe results under
/// `mediapipe/`): `AIFX_REFERENCE_DIR`, else `reference` in [`cache_dir`]. One helper for
/// every test crate and `aifx-models`.
pub fn reference_dir() -> PathBuf {
    env::var_os("AIFX_REFERENCE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("reference"))
}

/// The folder the set-up installs converted models into.
pub fn default_model_dir() -> PathBuf {
    data_dir().join("models")
}

/// The folder the set-up installs `libonnxruntime.so.*` into.
pub fn library_dir() -> PathBuf {
    data_dir().join("lib")
}

/// Model directories in lookup order: `AIFX_MODEL_DIR` (may hold several, `:`-separated),
/// then the set-up's folder.
pub fn model_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = env::var_os("AIFX_MODEL_DIR")
        .map(|v| {
            env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    dirs.push(default_model_dir());
    dirs
}

/// True for a file in one of the model folders (one the set-up installed, or the user put
/// there), false for a path given directly.
pub fn is_installed(path: &Path) -> bool {
    model_dirs().iter().any(|d| path.starts_with(d))
}

/// Resolves a model given as a path or as a catalog name (`selfie` → `selfie.onnx`).
///
/// Anything with a path separator or an `.onnx` suffix is taken as a path.
pub fn resolve_model(name: &str) -> Result<PathBuf> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::BadInput("empty model name".into()));
    }
    let as_path = Path::new(name);
    if as_path.is_absolute() || name.contains('/') || name.ends_with(".onnx") {
        if as_path.is_dir() {
            return Err(Error::ModelInvalid {
                path: as_path.to_path_buf(),
                reason: "it is a folder; give the path of an .onnx file".into(),
            });
        }
        return if as_path.is_file() {
            Ok(as_path.to_path_buf())
        } else {
            Err(Error::ModelNotFound {
                name: name.to_string(),
                looked: as_path.display().to_string(),
                installed: installed_names(&model_dirs()),
            })
        };
    }
    let dirs = model_dirs();
    for d in &dirs {
        let p = d.join(format!("{name}.onnx"));
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::ModelNotFound {
        name: name.to_string(),
        looked: dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        installed: installed_names(&dirs),
    })
}

/// The catalog names (`.onnx` files) in `dirs`, sorted, or "none".
fn installed_names(dirs: &[PathBuf]) -> String {
    let mut names: Vec<String> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "onnx").then(|| p.file_stem()?.to_str().map(str::to_owned))?
        })
        // Variants (int8, OpenVINO's forms) are ways to run their model, not models of
        // their own.
        .filter(|n| !n.ends_with("-int8") && !n.ends_with("-openvino"))
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_names_say_where_they_looked() {
        let e = resolve_model("no-such-model-xyz").unwrap_err().to_string();
        assert!(e.contains("no-such-model-xyz"), "{e}");
        assert!(e.contains("make demo"), "{e}");
        let e = resolve_model("/nonexistent/x.onnx")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/x.onnx"), "{e}");
    }
}
