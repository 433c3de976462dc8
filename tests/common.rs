//! Where the release artifacts are.

use std::path::PathBuf;

#[allow(dead_code)]
pub fn release_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("release")
}

#[allow(dead_code)]
pub fn artifact(name: &str) -> PathBuf {
    let p = release_dir().join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `make test` (it builds in release first)",
        p.display()
    );
    p
}

/// Reference outputs computed by the set-up (`make test`).
#[allow(dead_code)]
pub fn reference_dir() -> PathBuf {
    std::env::var_os("AIFX_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache")
                })
                .join("aifx/reference")
        })
}
