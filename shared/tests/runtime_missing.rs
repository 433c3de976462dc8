//! With no usable ONNX Runtime, loading is a clear error that says what to run — never a panic.
//! (Its own test binary: the runtime is loaded once per process.)

use aifx::runtime::runtime;
use aifx::session::{session, SessionOptions};

#[test]
fn missing_and_broken_libraries_are_errors_that_name_the_fix() {
    let dir = std::env::temp_dir().join(format!("aifx-noruntime-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // An explicit path that does not exist.
    let e = runtime(Some(&dir.join("libonnxruntime.so.9.9.9")))
        .err()
        .expect("error")
        .to_string();
    assert!(
        e.contains("does not exist") && e.contains("make demo"),
        "{e}"
    );

    // A file that is not a shared library at all.
    let fake = dir.join("libonnxruntime.so");
    std::fs::write(&fake, b"definitely not an ELF file").unwrap();
    let e = runtime(Some(&fake)).err().expect("error").to_string();
    assert!(
        e.contains(fake.to_str().unwrap()) && e.contains("make demo"),
        "{e}"
    );

    // A library that exists but is not ONNX Runtime (no OrtGetApiBase).
    let e = runtime(Some(std::path::Path::new(
        "/lib/x86_64-linux-gnu/libz.so.1",
    )))
    .err()
    .expect("error")
    .to_string();
    assert!(e.contains("OrtGetApiBase"), "{e}");

    // Sessions report the same error instead of crashing.
    let model = dir.join("m.onnx");
    std::fs::write(&model, b"x").unwrap();
    let opts = SessionOptions {
        library: Some(fake.clone()),
        ..SessionOptions::default()
    };
    let e = session(&model, &opts).expect_err("error").to_string();
    assert!(e.contains("make demo"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
