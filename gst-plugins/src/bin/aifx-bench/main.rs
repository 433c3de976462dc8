//! `aifx-bench segment`: ms/frame and fps of the `segment` element at 720p and 1080p, RGBA
//! and NV12, for effect=none/blur/replace, beside MediaPipe's SelfieSegmentation on the same
//! frames in the same run (when a MediaPipe Python is given). `aifx-bench pose`: the same for
//! `pose` beside MediaPipe Pose. `aifx-bench temporal`: flicker, lag and speed of the
//! temporal filters (see `temporal.rs`).
//!
//! ```text
//! aifx-bench segment|pose|temporal|stylize|budget [--frames N] [--threads N] [--device D] [--mediapipe-python PATH]
//! aifx-bench temporal-strip --out DIR    (temporal-masks.png and temporal-pixels.png)
//! ```

mod budget;
mod paired;
mod stylize;
mod temporal;

use std::path::{Path, PathBuf};
use std::time::Instant;

use aifx::frame::{OwnedFrame, PixelFormat};
use gstaifx::video::buffer_from_frame;

const PHOTO: &str = "/usr/share/doc/opencv-doc/examples/data/messi5.jpg";
const BACKGROUND: &str = "/usr/share/doc/opencv-doc/examples/data/starry_night.jpg";

struct Args {
    what: String,
    frames: usize,
    threads: u32,
    /// The elements' `device` (default `auto`).
    device: String,
    mediapipe: Option<PathBuf>,
    out: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let what = match args.next().as_deref() {
        Some(w @ ("segment" | "pose" | "temporal" | "temporal-strip" | "stylize" | "budget")) => w.to_string(),
        other => return Err(format!("usage: aifx-bench segment|pose|temporal|stylize|budget [--frames N] [--threads N] [--device D] [--mediapipe-python PATH] (got {other:?})")),
    };
    let mut a = Args {
        what,
        frames: 60,
        threads: 2,
        device: "auto".into(),
        mediapipe: None,
        out: None,
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--frames" => a.frames = value.parse().map_err(|e| format!("--frames: {e}"))?,
            "--threads" => a.threads = value.parse().map_err(|e| format!("--threads: {e}"))?,
            "--device" => a.device = value,
            "--mediapipe-python" => a.mediapipe = Some(PathBuf::from(value)),
            "--out" => a.out = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

impl Args {
    /// The `threads` and `device` properties every model element gets.
    fn runtime(&self) -> String {
        format!("threads={} device={}", self.threads, self.device)
    }
}

/// Frames pushed before timing starts: `device=auto` runs its first 12 inferences as a trial
/// of the providers, and the first frames pay for lazy allocations.
pub const WARMUP: usize = 15;

pub fn frame_rgb(w: u32, h: u32) -> Vec<u8> {
    let img = image::open(PHOTO)
        .expect("opencv-doc's messi5.jpg (make demo installs it)")
        .to_rgb8();
    image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle).into_raw()
}

/// Average ms per frame of an element described by `desc`, through a harness (see
/// [`paired::ElementTimer`]), after the warm-up.
fn time_element(desc: &str, buf: &gst::Buffer, info: &gst_video::VideoInfo, frames: usize) -> f64 {
    let mut timer = paired::ElementTimer::new(desc, buf, info);
    timer.time(WARMUP);
    timer.time(frames)
}

/// The bench photo at `w`×`h` as an RGBA buffer (what the paired rounds push).
fn rgba_buffer(w: u32, h: u32) -> (gst::Buffer, gst_video::VideoInfo) {
    let rgb = frame_rgb(w, h);
    buffer_from_frame(&OwnedFrame::from_rgb(
        PixelFormat::Rgba,
        w as usize,
        h as usize,
        &rgb,
        0,
    ))
}

/// Average ms per frame of `segment` with these properties, through a harness.
fn time_segment(rgb: &[u8], w: u32, h: u32, format: PixelFormat, effect: &str, a: &Args) -> f64 {
    let (buf, info) = buffer_from_frame(&OwnedFrame::from_rgb(
        format, w as usize, h as usize, rgb, 0,
    ));
    let (effect, asynchronous) = match effect.strip_suffix("+async") {
        Some(e) => (e, true),
        None => (effect, false),
    };
    let mut desc = format!(
        "segment effect={effect} {} async={asynchronous}",
        a.runtime()
    );
    if effect == "replace" {
        desc += &format!(" background={BACKGROUND}");
    }
    time_element(&desc, &buf, &info, a.frames)
}

/// Runs a reference script of `tests/reference` (`python SCRIPT [ARGS…] DIR FRAMES`) on
/// messi5 frames of each size written into DIR as `WxH.rgb`; returns the JSON it prints last.
pub fn run_reference_bench(
    python: &Path,
    script: &str,
    args: &[&str],
    sizes: &[(u32, u32)],
    frames: usize,
) -> Result<serde_json::Value, String> {
    let dir = std::env::temp_dir().join(format!("aifx-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    for &(w, h) in sizes {
        std::fs::write(dir.join(format!("{w}x{h}.rgb")), frame_rgb(w, h))
            .map_err(|e| e.to_string())?;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/reference")
        .join(script);
    let out = std::process::Command::new(python)
        .arg(&script)
        .args(args)
        .arg(&dir)
        .arg(frames.to_string())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| format!("MediaPipe bench printed `{line}` ({e})"))
}

/// ms of each frame of `desc` on deep copies of `buf` (pixels and metas), through a harness,
/// after the warm-up.
pub fn frame_costs(
    desc: &str,
    buf: &gst::Buffer,
    info: &gst_video::VideoInfo,
    frames: usize,
) -> Vec<f64> {
    frame_costs_paced(desc, buf, info, frames, None)
}

/// [`frame_costs`] with frames pushed `interval` apart (a live source) instead of back to
/// back; each frame's cost is still the time its push took.
pub fn frame_costs_paced(
    desc: &str,
    buf: &gst::Buffer,
    info: &gst_video::VideoInfo,
    frames: usize,
    interval: Option<std::time::Duration>,
) -> Vec<f64> {
    let start = std::time::Instant::now();
    let mut hns = gst_check::Harness::new_parse(desc);
    hns.set_src_caps(info.to_caps().unwrap());
    let mut costs = Vec::with_capacity(frames);
    let mut pulled = None;
    for n in 0..frames + WARMUP {
        // A deep copy, made before the clock starts: a plain copy shares the memory, and the
        // in-place element would then copy the frame itself, inside the timed push.
        let mut b = buf.copy_deep().expect("deep copy");
        b.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(33 * n as u64));
        if let Some(interval) = interval {
            let due = start + interval * n as u32;
            std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
        }
        let t = std::time::Instant::now();
        let out = hns.push_and_pull(b).expect("frame");
        if n >= WARMUP {
            costs.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        // Freed after the clock stops, and only after the next frame: a pipeline's buffers go
        // back to a pool, and freeing a whole frame's memory is the harness's cost, not the
        // element's (`temporalsmooth pixels=…` holds the last buffer until the next one).
        pulled = Some(out);
    }
    drop(pulled);
    costs
}

/// ms/frame (mean) of an element on copies of `buf` (pixels and metas), through a harness.
pub fn time_with_metas(
    desc: &str,
    buf: &gst::Buffer,
    info: &gst_video::VideoInfo,
    frames: usize,
) -> f64 {
    frame_costs(desc, buf, info, frames).iter().sum::<f64>() / frames as f64
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("aifx-bench: {e}");
            std::process::exit(2);
        }
    };
    gst::init().expect("GStreamer");
    gstaifx::plugin_register_static().expect("aifx plugin");
    let sizes = [(1280u32, 720u32), (1920, 1080)];
    if a.what == "pose" {
        return bench_pose(&a, &sizes);
    }
    if a.what == "stylize" {
        return stylize::bench_stylize(a.frames, &a.runtime(), a.mediapipe.as_deref());
    }
    if a.what == "budget" {
        return budget::bench_budget(a.frames, &a.runtime());
    }
    if a.what == "temporal" {
        return temporal::bench_temporal(a.frames, &a.runtime());
    }
    if a.what == "temporal-strip" {
        let out = a.out.clone().unwrap_or_else(|| PathBuf::from("."));
        if let Err(e) = temporal::write_strips(&out) {
            eprintln!("aifx-bench: {e}");
            std::process::exit(1);
        }
        return;
    }
    println!(
        "segment, {} frames per row after 15 warm-up frames, {}, smoothing/edge-refine at defaults",
        a.frames,
        a.runtime()
    );
    println!(
        "{:10} {:6} {:8} {:>10} {:>8}",
        "size", "format", "effect", "ms/frame", "fps"
    );
    let mut ours = std::collections::BTreeMap::new();
    for &(w, h) in &sizes {
        let rgb = frame_rgb(w, h);
        for format in [PixelFormat::Rgba, PixelFormat::Nv12] {
            for effect in ["none", "blur", "replace", "blur+async"] {
                // AIFX_BENCH_ONLY=WxH/FORMAT/effect[,…] restricts the run (for profiling rows).
                let key = format!("{w}x{h}/{format:?}/{effect}");
                if std::env::var("AIFX_BENCH_ONLY")
                    .is_ok_and(|only| !only.split(',').any(|o| key.eq_ignore_ascii_case(o)))
                {
                    continue;
                }
                let ms = time_segment(&rgb, w, h, format, effect, &a);
                println!(
                    "{:10} {:6} {:8} {:>10.2} {:>8.1}",
                    format!("{w}x{h}"),
                    format!("{format:?}").to_uppercase(),
                    effect,
                    ms,
                    1000.0 / ms
                );
                ours.insert((w, h, format!("{format:?}"), effect), ms);
            }
        }
    }
    let Some(python) = &a.mediapipe else {
        return;
    };
    if let Err(e) = paired_segment(python, &sizes, &a) {
        eprintln!("MediaPipe peer skipped: {e}");
    }
}

/// Rounds of 720p/1080p RGBA `segment effect=blur` alternating with MediaPipe's
/// SelfieSegmentation `process()` alone and with a cv2 blur composite.
fn paired_segment(python: &Path, sizes: &[(u32, u32)], a: &Args) -> Result<(), String> {
    let mut peer = paired::Peer::start(python, "mediapipe_bench.py", sizes)?;
    println!(
        "\nsegment effect=blur (RGBA) and MediaPipe 0.10.14 SelfieSegmentation (model_selection=0, RGB in), \
         {PAIRED_ROUNDS} alternating rounds of {} frames each:",
        a.frames
    );
    println!("{}", paired::Rounds::header(42));
    for &(w, h) in sizes {
        let (buf, info) = rgba_buffer(w, h);
        // async=true: inference on its own thread while the streaming thread composites
        // with the newest mask (one frame behind), what `budget-ms` tries first.
        for (props, what, label) in [
            ("", "process", "vs process() alone"),
            ("", "process_blur", "vs process() + cv2 blur composite"),
            ("async=true", "process", "async vs process() alone"),
        ] {
            let mut ours = paired::ElementTimer::new(
                &format!("segment effect=blur {props} {}", a.runtime()),
                &buf,
                &info,
            );
            let r =
                paired::Rounds::run(&mut ours, &mut peer, what, (w, h), PAIRED_ROUNDS, a.frames)?;
            println!("{:42} {}", format!("{w}x{h} {label}"), r.summary());
        }
    }
    Ok(())
}

/// Rounds each side runs in the paired comparisons with MediaPipe.
const PAIRED_ROUNDS: usize = 5;

/// Average ms per frame of the pose pipeline: the element (tracking, draw on/off) and the
/// shared tracker with the detector forced on every frame.
fn bench_pose(a: &Args, sizes: &[(u32, u32)]) {
    use aifx::pose::pipeline::PoseModels;
    use aifx::pose::tracker::{PoseTracker, TrackerSettings};
    println!(
        "pose, {} frames per row after 15 warm-up frames, {}",
        a.frames,
        a.runtime()
    );
    println!(
        "{:10} {:6} {:28} {:>10} {:>8}",
        "size", "format", "mode", "ms/frame", "fps"
    );
    let mut tracking = std::collections::BTreeMap::new();
    for &(w, h) in sizes {
        let rgb = frame_rgb(w, h);
        for format in [PixelFormat::Rgba, PixelFormat::Nv12] {
            let frame = OwnedFrame::from_rgb(format, w as usize, h as usize, &rgb, 0);
            let (buf, info) = buffer_from_frame(&frame);
            for (settings, mode) in [
                ("draw=true", "element, tracking, draw"),
                ("draw=false", "element, tracking, no draw"),
                (
                    "draw=false max-persons=16 min-detection-confidence=0",
                    "16 persons, confidence 0",
                ),
            ] {
                let draw = settings == "draw=true";
                let ms = time_element(
                    &format!("pose {settings} {}", a.runtime()),
                    &buf,
                    &info,
                    a.frames,
                );
                println!(
                    "{:10} {:6} {:28} {:>10.2} {:>8.1}",
                    format!("{w}x{h}"),
                    format!("{format:?}").to_uppercase(),
                    mode,
                    ms,
                    1000.0 / ms
                );
                if draw && format == PixelFormat::Rgba {
                    tracking.insert((w, h), ms);
                }
            }
            let opts = aifx::session::SessionOptions {
                threads: a.threads as usize,
                device: a.device.parse().expect("--device"),
                ..Default::default()
            };
            let mut tracker =
                PoseTracker::new(PoseModels::load_for(&opts, false).expect("pose models"));
            let mut f = frame.clone();
            let s = TrackerSettings::default();
            for n in 0..WARMUP {
                tracker
                    .process(&f.view(), n as f64 / 30.0, &s, true)
                    .expect("pose");
            }
            let t = Instant::now();
            for n in 0..a.frames {
                tracker
                    .process(&f.view(), (n + WARMUP) as f64 / 30.0, &s, true)
                    .expect("pose");
            }
            let ms = t.elapsed().as_secs_f64() * 1000.0 / a.frames as f64;
            println!(
                "{:10} {:6} {:28} {:>10.2} {:>8.1}",
                format!("{w}x{h}"),
                format!("{format:?}").to_uppercase(),
                "detection every frame",
                ms,
                1000.0 / ms
            );
        }
    }
    let Some(python) = &a.mediapipe else {
        return;
    };
    let paired = || -> Result<(), String> {
        let mut peer = paired::Peer::start(python, "mediapipe_pose_bench.py", sizes)?;
        println!(
            "\npose (RGBA, tracking, draw) and MediaPipe 0.10.14 Pose(model_complexity=1) tracking \
             (RGB in), {PAIRED_ROUNDS} alternating rounds of {} frames each:",
            a.frames
        );
        println!("{}", paired::Rounds::header(10));
        for &(w, h) in sizes {
            let (buf, info) = rgba_buffer(w, h);
            let mut ours =
                paired::ElementTimer::new(&format!("pose draw=true {}", a.runtime()), &buf, &info);
            let r = paired::Rounds::run(
                &mut ours,
                &mut peer,
                "tracking",
                (w, h),
                PAIRED_ROUNDS,
                a.frames,
            )?;
            println!("{:10} {}", format!("{w}x{h}"), r.summary());
        }
        Ok(())
    };
    if let Err(e) = paired() {
        eprintln!("MediaPipe peer skipped: {e}");
    }
}
