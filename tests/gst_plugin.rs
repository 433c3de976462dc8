//! The plugin as GStreamer itself sees it: `gst-inspect-1.0` on the release build.

mod common;

use std::process::Command;

#[test]
fn gst_inspect_loads_the_plugin() {
    let lib = common::artifact("libgstaifx.so");
    let registry = std::env::temp_dir().join(format!("aifx-registry-{}.bin", std::process::id()));
    let out = Command::new("gst-inspect-1.0")
        .arg(&lib)
        .env("GST_REGISTRY", &registry)
        .output()
        .expect("gst-inspect-1.0 runs (package gstreamer1.0-tools)");
    let _ = std::fs::remove_file(&registry);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "gst-inspect-1.0 failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("aifx"), "{text}");
    assert!(text.contains("gst-plugin-aifx"), "{text}");
    // gst-inspect lists a plugin's features as "  NAME: LONG-NAME"; both elements must be
    // there, or a user gets "no element" however well the plugin loaded.
    for (element, long_name) in [("segment", "Person segmentation"), ("pose", "Body pose")] {
        assert!(
            text.lines().any(|l| l
                .trim_start()
                .starts_with(&format!("{element}: {long_name}"))),
            "element `{element}` not registered:\n{text}"
        );
    }
}
