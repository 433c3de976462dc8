//! Loading ONNX Runtime at run time (`ort`'s `load-dynamic`): nothing is linked at build time,
//! so a missing or unusable library is an error value, never a crash at start-up.
//!
//! Lookup order: an explicit path → `ORT_DYLIB_PATH` → the set-up's copy under
//! `${XDG_DATA_HOME:-~/.local/share}/aifx/lib` → the system library (`libonnxruntime.so`).

use std::env;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use once_cell::sync::OnceCell;

use crate::paths;
use crate::{Error, Result};

/// The process-wide ONNX Runtime: one library, one environment.
pub struct Runtime {
    pub(crate) env: ort::environment::Environment,
    /// The library file that was loaded.
    pub library: PathBuf,
    /// Its version string, e.g. `1.32.0`.
    pub version: String,
}

static RUNTIME: OnceCell<Runtime> = OnceCell::new();
// Serialises first-time initialisation so candidates are tried by one thread at a time.
static INIT: Mutex<()> = Mutex::new(());

/// Candidate library paths in lookup order.
pub fn candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = explicit {
        c.push(p.to_path_buf());
    }
    if let Some(p) = env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        c.push(PathBuf::from(p));
    }
    let dir = paths::library_dir();
    // The set-up installs `libonnxruntime.so.<version>` plus a `libonnxruntime.so` link.
    c.push(dir.join("libonnxruntime.so"));
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut versioned: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("libonnxruntime.so."))
            })
            .collect();
        versioned.sort();
        c.extend(versioned.into_iter().rev());
    }
    // Bare names: the dynamic loader's own search (ld.so.cache, LD_LIBRARY_PATH).
    c.push(PathBuf::from("libonnxruntime.so"));
    c.push(PathBuf::from("libonnxruntime.so.1"));
    c
}

/// Loads ONNX Runtime once per process and returns it.
///
/// Later calls return the runtime loaded first; an explicit path that differs from it is
/// logged and ignored, since a process can hold only one ONNX Runtime.
pub fn runtime(explicit: Option<&Path>) -> Result<&'static Runtime> {
    if let Some(rt) = RUNTIME.get() {
        if let Some(p) = explicit {
            if p != rt.library {
                log::warn!(
                    "ONNX Runtime is already loaded from {}; ignoring {}",
                    rt.library.display(),
                    p.display()
                );
            }
        }
        return Ok(rt);
    }
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let mut tried = Vec::new();
    for path in candidates(explicit) {
        let named_by_user = explicit == Some(path.as_path())
            || env::var_os("ORT_DYLIB_PATH").is_some_and(|v| Path::new(&v) == path);
        let bare = path.components().count() == 1;
        if !bare && !path.exists() {
            if named_by_user {
                return Err(Error::RuntimeUnusable {
                    path,
                    reason: "the file does not exist".into(),
                });
            }
            tried.push(path.display().to_string());
            continue;
        }
        match ort::init_from(&path) {
            Ok(builder) => {
                let env =
                    builder
                        .with_name("aifx")
                        .build()
                        .map_err(|e| Error::RuntimeUnusable {
                            path: path.clone(),
                            reason: e.to_string(),
                        })?;
                let version = library_version(&path);
                log::info!("loaded ONNX Runtime {version} from {}", path.display());
                return Ok(RUNTIME.get_or_init(|| Runtime {
                    env,
                    library: path,
                    version,
                }));
            }
            Err(e) => {
                let reason = e.to_string();
                // A library that exists but is too old or broken is reported as such, not
                // skipped: silently using another copy would hide the problem.
                if !bare || reason.contains("not compatible") {
                    return Err(Error::RuntimeUnusable { path, reason });
                }
                tried.push(path.display().to_string());
            }
        }
    }
    Err(Error::RuntimeMissing {
        tried: tried.join(", "),
    })
}

/// The loaded library's own version string (`OrtGetApiBase()->GetVersionString()`).
fn library_version(path: &Path) -> String {
    // SAFETY: `path` was just loaded successfully by `ort::init_from`, so opening it again
    // only bumps the loader's reference count and runs no new initialisers.
    let Ok(lib) = (unsafe { libloading::Library::new(path) }) else {
        return "unknown".into();
    };
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: `OrtGetApiBase` has this signature in every ONNX Runtime release.
    let Ok(get_base) = (unsafe { lib.get::<GetApiBase>(b"OrtGetApiBase") }) else {
        return "unknown".into();
    };
    // SAFETY: OrtGetApiBase returns a pointer to a static struct (or null).
    let base = unsafe { get_base() };
    if base.is_null() {
        return "unknown".into();
    }
    // SAFETY: `base` is non-null and static; GetVersionString returns a static C string.
    let s = unsafe { std::ffi::CStr::from_ptr(((*base).GetVersionString)()) };
    s.to_string_lossy().into_owned()
}
