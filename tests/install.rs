//! `make install` into a fresh HOME: `gst-inspect-1.0 segment` finds the plugin without
//! `GST_PLUGIN_PATH`, the OBS module is where OBS looks, and `make uninstall` leaves HOME as
//! empty as it found it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.push(p.clone());
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn script(name: &str, home: &Path) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("bash")
        .arg(root.join("scripts").join(name))
        .env("HOME", home)
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn install_then_uninstall_leaves_nothing_behind() {
    // The scripts install the release build that `make test` made.
    assert!(common::release_dir().join("libgstaifx.so").is_file());
    let home = std::env::temp_dir().join(format!("aifx-home-{}", std::process::id()));
    let registry = std::env::temp_dir().join(format!("aifx-registry-{}.bin", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    println!("{}", script("install.sh", &home));
    let inspect = Command::new("gst-inspect-1.0")
        .arg("segment")
        .env("HOME", &home)
        .env_remove("GST_PLUGIN_PATH")
        .env_remove("XDG_DATA_HOME")
        .env("GST_REGISTRY", &registry)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        inspect.status.success() && text.contains("Person segmentation"),
        "gst-inspect-1.0 segment: {text} {}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    assert!(home
        .join(".config/obs-studio/plugins/aifx/bin/64bit/aifx.so")
        .is_file());
    println!("{}", script("uninstall.sh", &home));
    let left = files_under(&home);
    let _ = std::fs::remove_file(&registry);
    let _ = std::fs::remove_dir_all(&home);
    assert!(left.is_empty(), "left behind: {left:?}");
}
