//! Where the release artifacts are.

use std::path::PathBuf;

pub fn release_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("release")
}

pub fn artifact(name: &str) -> PathBuf {
    let p = release_dir().join(name);
    assert!(p.is_file(), "{} is missing: run `make test` (it builds in release first)", p.display());
    p
}
