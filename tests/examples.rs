//! The `examples/` that read aifx's metadata from Python (plain PyGObject) and from C print
//! what the Rust API reads from the same pipeline.

mod common;

use std::path::PathBuf;
use std::process::Command;

use gstaifx::meta::{MaskMeta, PoseMeta};

const PHOTO: &str = "/usr/share/doc/opencv-doc/examples/data/messi5.jpg";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What the examples should print, from the metas as the Rust API reads them: the lines
/// both print, and the bus message's lines only the Python one prints.
fn expected() -> (String, String) {
    let sample = common::first_sample(&format!(
        "filesrc location={PHOTO} ! jpegdec ! videoconvert ! segment effect=none ! pose draw=false ! appsink name=out"
    ));
    let buf = sample.buffer().unwrap();
    let mask = MaskMeta::get(buf).expect("a mask meta");
    let pose = PoseMeta::get(buf).expect("a pose meta");
    let share = mask.data.iter().filter(|&&v| v >= 128).count() as f64 / mask.data.len() as f64;
    let mut messages = String::new();
    let mut out = format!(
        "mask {}x{} over frame {}x{}, person share {share:.3}\npose over frame {}x{}: {} person(s)\n",
        mask.width,
        mask.height,
        mask.frame_width,
        mask.frame_height,
        pose.frame_width,
        pose.frame_height,
        pose.persons.len()
    );
    for p in &pose.persons {
        let nose = p.landmarks[0];
        out += &format!(
            "person {} score {:.3} nose {:.2} {:.2} visibility {:.3}\n",
            p.id, p.score, nose[0], nose[1], nose[3]
        );
        messages += &format!(
            "message at running time 0 ns, frame {}x{}: person {} nose {:.2} {:.2}\n",
            pose.frame_width, pose.frame_height, p.id, nose[0], nose[1]
        );
    }
    (out, messages)
}

/// Same words, numbers within 0.1: each process runs `device=auto`, whose first frames go to
/// whichever provider is in its trial turn, and the providers agree to ~0.02 px.
fn assert_close(got: &str, want: &str) {
    let words = |s: &str| -> Vec<String> { s.split_whitespace().map(str::to_owned).collect() };
    let (g, w) = (words(got), words(want));
    let same = g.len() == w.len()
        && g.iter()
            .zip(&w)
            .all(|(a, b)| match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => (x - y).abs() <= 0.1,
                _ => a == b,
            });
    assert!(same, "got:\n{got}\nwant:\n{want}");
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .env("GST_PLUGIN_PATH", common::release_dir())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn python_reads_the_metadata_and_the_messages() {
    let (metas, messages) = expected();
    let want = metas + &messages;
    let got = run(Command::new("/usr/bin/python3").arg(repo().join("examples/read_metadata.py")));
    println!("{got}");
    assert_close(&got, &want);
}

#[test]
fn c_reads_the_metadata() {
    let (want, _) = expected();
    let exe = std::env::temp_dir().join(format!("aifx-read-metadata-{}", std::process::id()));
    let flags = run(Command::new("pkg-config").args([
        "--cflags",
        "--libs",
        "gstreamer-1.0",
        "gstreamer-app-1.0",
    ]));
    run(Command::new("cc")
        .args(["-Wall", "-Werror", "-O2"])
        .arg(repo().join("examples/read_metadata.c"))
        .arg("-o")
        .arg(&exe)
        .args(flags.split_whitespace()));
    let got = run(&mut Command::new(&exe));
    let _ = std::fs::remove_file(&exe);
    println!("{got}");
    assert_close(&got, &want);
}
