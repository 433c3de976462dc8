//! `segment` in real GStreamer: harnesses and pipelines around the element, the real model
//! under ONNX Runtime, and MediaPipe's own masks as the truth (from `make test`'s set-up).

mod common;

use common::{flush, from_buffer, init, messi, to_buffer};

use std::path::PathBuf;

use aifx::frame::{OwnedFrame, PixelFormat};
use gst::prelude::*;
use gstaifx::meta::MaskMeta;

fn harness(props: &[(&str, &str)], info: &gst_video::VideoInfo) -> gst_check::Harness {
    common::harness("segment", props, info)
}

fn run_once(props: &[(&str, &str)], frame: &OwnedFrame) -> (OwnedFrame, MaskMeta) {
    let (buf, info) = to_buffer(frame);
    let mut h = harness(props, &info);
    let out = h.push_and_pull(buf).expect("segment returns the frame");
    let meta = MaskMeta::get(&out).expect("mask meta on the buffer");
    (from_buffer(&out, &info, frame.format), meta)
}

#[test]
fn every_format_matches_rgba() {
    init();
    let (rgb, w, h) = messi();
    let props = [("effect", "blur"), ("smoothing", "0")];
    let (mut reference, ref_meta) = run_once(
        &props,
        &OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, &rgb, 0),
    );
    let want = reference.to_rgb();
    for format in PixelFormat::ALL {
        let (mut out, meta) = run_once(&props, &OwnedFrame::from_rgb(format, w, h, &rgb, 0));
        let got = out.to_rgb();
        let mean = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs() as f64)
            .sum::<f64>()
            / want.len() as f64;
        let mask_diff = meta
            .data
            .iter()
            .zip(&ref_meta.data)
            .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs() as f64)
            .sum::<f64>()
            / meta.data.len() as f64;
        println!(
            "{format:?}: mean |RGB - RGBA path| = {mean:.2}, mean mask diff {mask_diff:.2}/255"
        );
        // YUV round-trips through 4:2:0 chroma and 8-bit YUV, so the model sees slightly
        // different pixels (measured: 1.04 levels, mask 0.89/255; bounds 1.5× that);
        // packed formats must agree exactly.
        let (tol, mask_tol) = if format.is_yuv() {
            (1.6, 1.35)
        } else {
            (0.01, 0.0)
        };
        assert!(mean <= tol, "{format:?}: mean diff {mean}");
        assert!(mask_diff <= mask_tol, "{format:?}: mask diff {mask_diff}");
    }
}

#[test]
fn odd_tiny_padded_and_4k_frames_work() {
    init();
    for format in PixelFormat::ALL {
        for (w, h) in [(1, 1), (3, 3), (7, 5), (33, 17)] {
            let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
            for effect in ["blur", "color", "matte", "transparent", "none"] {
                let (out, meta) = run_once(
                    &[("effect", effect)],
                    &OwnedFrame::from_rgb(format, w, h, &rgb, 0),
                );
                assert_eq!((out.width, out.height), (w, h));
                assert_eq!((meta.frame_width, meta.frame_height), (w as u32, h as u32));
            }
        }
    }
    // 4K, the largest common size, in the two native layouts.
    for format in [PixelFormat::Nv12, PixelFormat::Rgba] {
        let (w, h) = (3840, 2160);
        let frame = OwnedFrame::new(format, w, h, 0);
        let (out, meta) = run_once(&[("effect", "blur")], &frame);
        assert_eq!(out.width, w);
        assert!(meta.inferred);
    }
}

#[test]
fn explicitly_padded_strides_are_respected() {
    init();
    let (rgb, w, h) = messi();
    let frame = OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, &rgb, 0);
    let (want, _) = run_once(&[("effect", "color"), ("smoothing", "0")], &frame);
    // Same picture in rows of 4·w + 64 bytes, described by a VideoMeta.
    let stride = w * 4 + 64;
    let mut data = vec![0xABu8; stride * h];
    for y in 0..h {
        data[y * stride..y * stride + w * 4]
            .copy_from_slice(&frame.planes[0][y * w * 4..(y + 1) * w * 4]);
    }
    let mut buf = gst::Buffer::from_mut_slice(data);
    gst_video::VideoMeta::add_full(
        buf.get_mut().unwrap(),
        gst_video::VideoFrameFlags::empty(),
        gst_video::VideoFormat::Rgba,
        w as u32,
        h as u32,
        &[0],
        &[stride as i32],
    )
    .unwrap();
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgba, w as u32, h as u32)
        .build()
        .unwrap();
    let mut hns = harness(&[("effect", "color"), ("smoothing", "0")], &info);
    let out = hns.push_and_pull(buf).unwrap();
    let map = out.map_readable().unwrap();
    for y in 0..h {
        let row = &map[y * stride..y * stride + w * 4];
        assert_eq!(row, &want.planes[0][y * w * 4..(y + 1) * w * 4], "row {y}");
        assert!(
            map[y * stride + w * 4..(y + 1) * stride]
                .iter()
                .all(|&b| b == 0xAB),
            "padding of row {y} was written"
        );
    }
}

#[derive(serde::Deserialize)]
struct MpManifest {
    selfie: std::collections::BTreeMap<String, MpPhoto>,
}

#[derive(serde::Deserialize)]
struct MpPhoto {
    width: usize,
    height: usize,
    rgb: String,
    masks: std::collections::BTreeMap<String, String>,
}

fn mediapipe_dir() -> PathBuf {
    common::reference_dir().join("mediapipe")
}

fn read_f32(p: &std::path::Path) -> Vec<f32> {
    std::fs::read(p)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn matte_matches_mediapipe_at_full_resolution() {
    init();
    let dir = mediapipe_dir();
    let manifest: MpManifest = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json")).expect("run `make test`"),
    )
    .unwrap();
    for (photo, p) in &manifest.selfie {
        let rgb = std::fs::read(dir.join(&p.rgb)).unwrap();
        for (model, file) in &p.masks {
            let theirs = read_f32(&dir.join(file));
            for refine in ["false", "true"] {
                let props = [
                    ("effect", "matte"),
                    ("smoothing", "0"),
                    ("edge-refine", refine),
                    ("model", model.as_str()),
                ];
                let (out, _) = run_once(
                    &props,
                    &OwnedFrame::from_rgb(PixelFormat::Rgba, p.width, p.height, &rgb, 0),
                );
                let (mut inter, mut union) = (0u64, 0u64);
                for (i, &t) in theirs.iter().enumerate() {
                    let ours = out.planes[0][i * 4] >= 128;
                    let t = t > 0.5;
                    inter += u64::from(ours && t);
                    union += u64::from(ours || t);
                }
                let iou = inter as f64 / union.max(1) as f64;
                println!(
                    "{photo} {model} edge-refine={refine}: IoU at 0.5 vs MediaPipe = {iou:.4}"
                );
                // What each case measured (2026-11, AMD Zen 5 and earlier runs alike);
                // the bound allows 1.5× its shortfall from 1, plus 0.0005 for rounding.
                let measured = match (photo.as_str(), model.as_str(), refine) {
                    ("astronaut", "selfie", "false") => 1.0000,
                    ("astronaut", "selfie", _) => 0.9953,
                    ("astronaut", "selfie-landscape", "false") => 0.9993,
                    ("astronaut", "selfie-landscape", _) => 0.9914,
                    ("messi5", "selfie", "false") => 0.9983,
                    ("messi5", "selfie", _) => 0.9805,
                    ("messi5", "selfie-landscape", "false") => 0.9981,
                    ("messi5", "selfie-landscape", _) => 0.9679,
                    // Other aspect ratios (centre crops to 4:3 and 3:4).
                    ("astronaut-3x4", "selfie", "false") => 0.9996,
                    ("astronaut-3x4", "selfie", _) => 0.9952,
                    ("astronaut-3x4", "selfie-landscape", "false") => 0.9998,
                    ("astronaut-3x4", "selfie-landscape", _) => 0.9930,
                    ("astronaut-4x3", "selfie", "false") => 0.9999,
                    ("astronaut-4x3", "selfie", _) => 0.9952,
                    ("astronaut-4x3", "selfie-landscape", "false") => 0.9997,
                    ("astronaut-4x3", "selfie-landscape", _) => 0.9925,
                    ("messi5-3x4", "selfie", "false") => 0.9993,
                    ("messi5-3x4", "selfie", _) => 0.9841,
                    ("messi5-3x4", "selfie-landscape", "false") => 0.9989,
                    ("messi5-3x4", "selfie-landscape", _) => 0.9734,
                    other => panic!("no measured IoU for {other:?}: add it"),
                };
                let bound = 1.0 - 1.5 * (1.0 - measured) - 0.0005;
                assert!(
                    iou >= bound,
                    "{photo} {model} edge-refine={refine}: IoU {iou:.4} < {bound:.4}"
                );
            }
        }
    }
}

#[test]
fn blur_keeps_people_and_smooths_the_background() {
    init();
    let (rgb, w, h) = messi();
    let frame = OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, &rgb, 0);
    let (out, meta) = run_once(
        &[
            ("effect", "blur"),
            ("smoothing", "0"),
            ("edge-refine", "false"),
        ],
        &frame,
    );
    let (mut person, mut changed) = (0, 0);
    let (mut bg_before, mut bg_after) = (Vec::new(), Vec::new());
    for y in 0..h {
        for x in 0..w {
            let p = meta.at_frame(x as u32, y as u32);
            let i = (y * w + x) * 4;
            // Deep inside the person (all mask neighbours confident).
            // The alpha there is 255 (bilinear from the mask, as with edge-refine off).
            let inside = meta.sample(x as u32, y as u32) >= 254.5 / 255.0;
            if inside && p > 0.99 {
                person += 1;
                if (0..3).any(|c| {
                    (i32::from(out.planes[0][i + c]) - i32::from(frame.planes[0][i + c])).abs() > 2
                }) {
                    changed += 1;
                }
            } else if p < 0.005 && x > 0 && x + 1 < w {
                // Local contrast: difference to the right neighbour.
                let d = |img: &[u8]| (i32::from(img[i]) - i32::from(img[i + 4])).abs() as f64;
                bg_before.push(d(&frame.planes[0]));
                bg_after.push(d(&out.planes[0]));
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "person pixels {person}, changed {changed}; background local contrast {:.2} → {:.2}",
        mean(&bg_before),
        mean(&bg_after)
    );
    assert!(person > 10_000);
    assert_eq!(changed, 0);
    assert!(mean(&bg_after) < mean(&bg_before) * 0.5);
}

#[test]
fn replace_color_and_transparent_follow_the_mask() {
    init();
    let (rgb, w, h) = messi();
    let frame = OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, &rgb, 0);
    let bg_path = std::env::temp_dir().join(format!("aifx-bg-{}.png", std::process::id()));
    image::RgbImage::from_pixel(64, 48, image::Rgb([10, 20, 250]))
        .save(&bg_path)
        .unwrap();
    let bg = bg_path.to_str().unwrap();
    let common = [("smoothing", "0"), ("edge-refine", "false")];
    type Case<'a> = (&'a [(&'a str, &'a str)], [u8; 3]);
    let cases: [Case; 2] = [
        (&[("effect", "replace"), ("background", bg)], [10, 20, 250]),
        (
            &[("effect", "color"), ("background-color", "0xffff0000")],
            [255, 0, 0],
        ),
    ];
    for (props, colour) in cases {
        let all: Vec<_> = props.iter().chain(common.iter()).copied().collect();
        let (out, meta) = run_once(&all, &frame);
        let (mut checked, mut wrong) = (0, 0);
        for y in 0..h {
            for x in 0..w {
                let p = meta.at_frame(x as u32, y as u32);
                let i = (y * w + x) * 4;
                let px = &out.planes[0][i..i + 3];
                if p < 0.002 {
                    checked += 1;
                    wrong += usize::from(
                        (0..3).any(|c| (i32::from(px[c]) - i32::from(colour[c])).abs() > 3),
                    );
                }
            }
        }
        println!("{props:?}: {checked} background pixels, {wrong} not the background");
        assert!(
            checked > 50_000 && wrong * 100 < checked,
            "{wrong} of {checked}"
        );
    }
    let (out, meta) = run_once(
        &[
            ("effect", "transparent"),
            ("smoothing", "0"),
            ("edge-refine", "false"),
        ],
        &frame,
    );
    let mut max_err = 0i32;
    for y in 0..h {
        for x in 0..w {
            let a = i32::from(out.planes[0][(y * w + x) * 4 + 3]);
            let p = meta.sample(x as u32, y as u32);
            max_err = max_err.max((a - (p * 255.0).round() as i32).abs());
        }
    }
    // The meta holds the mask in 8 bits, the element used floats.
    assert!(max_err <= 2, "alpha off by {max_err}");
    let _ = std::fs::remove_file(&bg_path);
}

#[test]
fn property_changes_apply_from_the_next_frame_and_interval_skips_inference() {
    init();
    let (rgb, w, h) = messi();
    let frame = OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, &rgb, 0);
    let (buf, info) = to_buffer(&frame);
    let mut hns = harness(&[("effect", "none"), ("interval", "3")], &info);
    let mut inferred = Vec::new();
    for i in 0..9 {
        if i == 5 {
            hns.element()
                .unwrap()
                .set_property_from_str("effect", "color");
        }
        let out = hns.push_and_pull(buf.copy()).unwrap();
        inferred.push(MaskMeta::get(&out).unwrap().inferred);
        let changed =
            out.map_readable().unwrap().as_slice() != buf.map_readable().unwrap().as_slice();
        assert_eq!(
            changed,
            i >= 5,
            "frame {i}: effect change must apply from the next frame"
        );
    }
    assert_eq!(
        inferred,
        vec![true, false, false, true, false, false, true, false, false]
    );
}

/// Frames pushed back to back come back at once with whatever mask is finished: the first
/// one before any mask exists (no meta, picture untouched), then masks as the worker delivers
/// them.
#[test]
fn async_mode_never_waits_for_the_model_and_catches_up() {
    init();
    let (rgb, w, h) = messi();
    let frame = OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, &rgb, 0);
    let (buf, info) = to_buffer(&frame);
    let mut hns = harness(&[("effect", "color"), ("async", "true")], &info);
    let first = hns.push_and_pull(buf.copy()).unwrap();
    assert!(
        MaskMeta::get(&first).is_none(),
        "the first frame waited for the model (it carries a mask)"
    );
    assert_eq!(
        first.map_readable().unwrap().as_slice(),
        buf.map_readable().unwrap().as_slice(),
        "with no mask yet the frame passes through untouched"
    );
    let (mut fresh, mut reused, mut pushed) = (0, 0, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while fresh < 3 {
        assert!(std::time::Instant::now() < deadline, "no masks arrive");
        let out = hns.push_and_pull(buf.copy()).unwrap();
        pushed += 1;
        match MaskMeta::get(&out) {
            Some(m) if m.inferred => fresh += 1,
            Some(_) => reused += 1,
            None => {}
        }
    }
    // How many frames reused a mask depends on the machine's load: printed, not asserted
    // (the first frame above is the proof that frames do not wait).
    println!("async: {pushed} frames pushed back to back, {fresh} fresh masks, {reused} reused");

    // A flush drops the mask in flight: pushed right before the flush, finished after it, it
    // must not land on the new stream's first frame.
    let _ = hns.push_and_pull(buf.copy()).unwrap();
    flush(&mut hns, &info);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let after = hns.push_and_pull(buf.copy()).unwrap();
    assert!(
        MaskMeta::get(&after).is_none(),
        "a mask computed before the flush landed after it"
    );
}

fn start_error(desc: &str) -> String {
    let pipeline = match gst::parse::launch(desc) {
        Ok(p) => p,
        // Caps that cannot link are refused while the pipeline is built.
        Err(e) => return e.to_string(),
    };
    let bus = pipeline.bus().unwrap();
    let r = pipeline.set_state(gst::State::Paused);
    let msg = bus.timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Error]);
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(r.is_err() || msg.is_some(), "{desc} started");
    match msg.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Error(e)) => {
            format!("{} {}", e.error(), e.debug().unwrap_or_default())
        }
        _ => String::new(),
    }
}

#[test]
fn bad_models_fail_the_state_change_with_a_clear_message() {
    init();
    let e = start_error(
        "videotestsrc num-buffers=1 ! segment model=/nonexistent/person.onnx ! fakesink",
    );
    assert!(
        e.contains("/nonexistent/person.onnx") && e.contains("make demo"),
        "{e}"
    );

    let corrupt = std::env::temp_dir().join(format!("aifx-corrupt-{}.onnx", std::process::id()));
    std::fs::write(&corrupt, b"not a model at all").unwrap();
    let e = start_error(&format!(
        "videotestsrc num-buffers=1 ! segment model={} ! fakesink",
        corrupt.display()
    ));
    assert!(
        e.contains(corrupt.to_str().unwrap())
            && e.contains("not a valid ONNX model")
            && !e.contains("make demo"),
        "{e}"
    );
    let _ = std::fs::remove_file(&corrupt);

    // A folder given as the model says so.
    let e = start_error("videotestsrc num-buffers=1 ! segment model=/tmp/ ! fakesink");
    assert!(e.contains("is a folder"), "{e}");

    // An unknown catalog name lists what is installed.
    let e = start_error("videotestsrc num-buffers=1 ! segment model=selfie-xl ! fakesink");
    assert!(
        e.contains("selfie-xl")
            && e.contains("installed models:")
            && e.contains("selfie-landscape"),
        "{e}"
    );

    // A real ONNX model with the wrong interface: the pose detector's outputs are not a mask.
    let e = start_error("videotestsrc num-buffers=1 ! segment model=pose-detection ! fakesink");
    assert!(e.contains("one-channel mask"), "{e}");
}

#[test]
fn a_missing_background_is_an_error_on_the_bus() {
    init();
    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=3 ! video/x-raw,width=64,height=48 ! segment effect=replace background=/nonexistent/bg.jpg ! fakesink",
    )
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(20),
            &[gst::MessageType::Error, gst::MessageType::Eos],
        )
        .unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    match msg.view() {
        gst::MessageView::Error(e) => assert!(
            e.error().to_string().contains("/nonexistent/bg.jpg"),
            "{}",
            e.error()
        ),
        // (A crash would have ended the test process instead.)
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The alpha bytes of the next buffer at `sink` (empty for a format without alpha).
fn next_alpha(sink: &gst_app::AppSink) -> Vec<u8> {
    let sample = sink
        .try_pull_sample(gst::ClockTime::from_seconds(20))
        .expect("a frame");
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    let buf = sample.buffer().unwrap().map_readable().unwrap();
    if info.format_info().has_alpha() {
        buf.chunks_exact(4).map(|p| p[3]).collect()
    } else {
        Vec::new()
    }
}

/// `videoconvert ! segment effect=transparent ! videoconvert` gives a picture with alpha (the
/// element asks upstream for RGBA/BGRA), also after switching to it while playing; where
/// upstream cannot give alpha, a warning on the bus says so.
#[test]
fn transparent_negotiates_alpha_and_warns_where_upstream_has_none() {
    init();
    let desc = "videotestsrc pattern=ball is-live=false ! video/x-raw,format=I420,width=160,height=120 ! videoconvert ! segment name=s effect=blur ! videoconvert ! video/x-raw,format=RGBA ! appsink name=out sync=false max-buffers=1";
    let (pipeline, sink) = common::pipeline_with_sink(desc);
    let segment = pipeline.by_name("s").unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let alpha = next_alpha(&sink);
    assert!(alpha.iter().all(|&a| a == 255), "blur is opaque");
    segment.set_property_from_str("effect", "transparent");
    // A few frames for upstream to renegotiate, then the background (all of a test
    // pattern with no person in it) is transparent.
    let mut clear = 0.0;
    for _ in 0..30 {
        let alpha = next_alpha(&sink);
        clear = alpha.iter().filter(|&&a| a == 0).count() as f64 / alpha.len() as f64;
        if clear > 0.9 {
            break;
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(
        clear > 0.9,
        "after switching to transparent, {clear:.3} of the picture is clear"
    );

    // Upstream fixed to I420 (no converter): still plays, with a warning that says why.
    let warnings = common::bus_warnings(
        "videotestsrc num-buffers=3 ! video/x-raw,format=I420,width=64,height=48 ! segment effect=transparent ! fakesink",
    );
    let warning = warnings.last().expect("a warning on the bus");
    assert!(
        warning.contains("RGBA") && warning.contains("I420"),
        "{warning}"
    );
}

/// A device the installed ONNX Runtime lacks: the pipeline plays on the CPU, with a warning
/// on the bus naming the provider and what to install.
#[test]
fn a_missing_device_warns_on_the_bus_and_runs_on_the_cpu() {
    init();
    let available = aifx::session::available_devices();
    let Some(device) = [
        aifx::Device::Cuda,
        aifx::Device::OpenVino,
        aifx::Device::TensorRt,
    ]
    .into_iter()
    .find(|d| !available.contains(d)) else {
        println!("every provider is installed here; nothing to fall back from");
        return;
    };
    let warnings = common::bus_warnings(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,width=64,height=48 ! segment device={device} ! fakesink"
    ));
    assert_eq!(warnings.len(), 1, "one warning: {warnings:?}");
    assert!(
        warnings[0].contains(&format!("`{device}`"))
            && warnings[0].contains("running on cpu")
            && warnings[0].contains("ORT_DYLIB_PATH"),
        "{}",
        warnings[0]
    );
}

/// `precision=int8` runs the set-up's int8 variant and, when the set-up measured it below the
/// quality bar (its record, `int8.txt`), says so on the bus; with the fp32 model there is no
/// such warning.
#[test]
fn int8_warns_on_the_bus_when_its_variant_missed_the_bar() {
    init();
    let model =
        aifx::paths::resolve_model("selfie").expect("run `make test` to install the models");
    let record = std::fs::read_to_string(model.with_file_name(aifx::variants::RECORD))
        .expect("int8.txt (the set-up writes it)");
    let missed = aifx::variants::missed_bar(&record, "selfie").is_some();
    let warnings = common::bus_warnings(
        "videotestsrc num-buffers=3 ! video/x-raw,width=64,height=48 ! segment device=cpu precision=int8 ! fakesink",
    );
    let said = warnings
        .iter()
        .any(|w| w.contains("int8") && w.contains("quality bar"));
    assert_eq!(
        said, missed,
        "record says missed={missed}; warnings {warnings:?}"
    );
    let warnings = common::bus_warnings(
        "videotestsrc num-buffers=3 ! video/x-raw,width=64,height=48 ! segment device=cpu precision=fp32 ! fakesink",
    );
    assert!(warnings.is_empty(), "{warnings:?}");
}

/// `device-in-use` says where the model runs: empty before a model is loaded, what was asked
/// for `cpu`, and for `auto` (the default) one of the providers the runtime has, settled
/// after the first frames.
#[test]
fn device_in_use_reports_the_provider() {
    init();
    let available = aifx::session::available_devices();
    for (device, frames) in [("cpu", 2), ("auto", 20)] {
        let (pipeline, sink) = common::pipeline_with_sink(&format!(
            "videotestsrc num-buffers={frames} ! video/x-raw,width=160,height=120 ! segment name=s device={device} ! appsink name=out sync=false"
        ));
        let segment = pipeline.by_name("s").unwrap();
        assert_eq!(segment.property::<String>("device-in-use"), "");
        pipeline.set_state(gst::State::Playing).unwrap();
        while sink.pull_sample().is_ok() {}
        let in_use = segment.property::<String>("device-in-use");
        pipeline.set_state(gst::State::Null).unwrap();
        let parsed: aifx::Device = in_use.parse().unwrap();
        assert!(
            available.contains(&parsed) && parsed != aifx::Device::Auto,
            "{device}: {in_use}"
        );
        if device == "cpu" {
            assert_eq!(in_use, "cpu");
        }
    }
}

/// `budget-ms` far below what any setting costs: the element steps down its ladder to the last
/// rung, says so in `aifx-budget` messages (level, what it changed, the cost), and keeps
/// producing frames with masks. 0 (the default) never posts one.
#[test]
fn an_impossible_budget_steps_down_the_ladder_with_messages() {
    init();
    for (element, budget) in [
        ("segment effect=blur", "0.001"),
        ("pose", "0.001"),
        ("stylize", "0.001"),
        ("segment effect=blur", "0"),
    ] {
        let (pipeline, sink) = common::pipeline_with_sink(&format!(
            "videotestsrc num-buffers=40 ! video/x-raw,width=160,height=120 ! {element} budget-ms={budget} ! appsink name=out sync=false"
        ));
        let bus = pipeline.bus().unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let mut frames = 0;
        while sink.pull_sample().is_ok() {
            frames += 1;
        }
        // Read before NULL: the bus drops its messages on the way there.
        let mut levels = Vec::new();
        let mut bottom = 0;
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Element]) {
            let s = msg.structure().unwrap();
            if s.name() == "aifx-budget" {
                let level = s.get::<u32>("level").unwrap();
                let levels_total = s.get::<u32>("levels").unwrap();
                assert!(level < levels_total);
                bottom = levels_total - 1;
                assert!(!s.get::<String>("settings").unwrap().is_empty());
                assert!(s.get::<f64>("cost-ms").unwrap() > 0.0);
                levels.push(level);
            }
        }
        pipeline.set_state(gst::State::Null).unwrap();
        assert_eq!(frames, 40, "{element}: every frame comes out");
        if budget == "0" {
            assert!(
                levels.is_empty(),
                "{element}: no budget, no moves: {levels:?}"
            );
        } else {
            // Down to the last rung (in one move or several: rungs that change nothing for
            // these settings, such as pose's one person when one is tracked, are skipped).
            assert_eq!(levels.last(), Some(&bottom), "{element}: {levels:?}");
            assert!(
                levels.windows(2).all(|w| w[1] > w[0]),
                "{element}: only down: {levels:?}"
            );
        }
    }
}

/// More threads than cores: clamped to the cores, with a warning on the bus.
#[test]
fn too_many_threads_are_clamped_with_a_warning() {
    let warnings = common::bus_warnings(
        "videotestsrc num-buffers=3 ! video/x-raw,width=64,height=48 ! segment threads=256 ! fakesink",
    );
    let warning = warnings.last().expect("a warning");
    assert!(
        warning.contains("threads=256") && warning.contains("cores"),
        "{warning}"
    );
}

#[test]
fn unsupported_caps_fail_negotiation() {
    init();
    let e =
        start_error("videotestsrc num-buffers=1 ! video/x-raw,format=GRAY8 ! segment ! fakesink");
    assert!(
        e.to_lowercase().contains("negotiat") || e.contains("can't handle caps"),
        "{e}"
    );
}

#[test]
fn flush_and_a_new_stream_after_eos_reset_temporal_state() {
    init();
    let (rgb, w, h) = messi();
    let frame = OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, &rgb, 0);
    let dark = OwnedFrame::new(PixelFormat::Rgba, w, h, 0);
    let (buf, info) = to_buffer(&frame);
    let (dark_buf, _) = to_buffer(&dark);
    let mut hns = harness(&[("effect", "none"), ("smoothing", "0.9")], &info);
    let first = MaskMeta::get(&hns.push_and_pull(buf.copy()).unwrap()).unwrap();
    // An empty frame in between drags the smoothed mask toward it...
    let drag = |hns: &mut gst_check::Harness| {
        let _ = hns.push_and_pull(dark_buf.copy()).unwrap();
        let smoothed = MaskMeta::get(&hns.push_and_pull(buf.copy()).unwrap()).unwrap();
        assert_ne!(
            smoothed.data, first.data,
            "smoothing carries state between frames"
        );
    };
    drag(&mut hns);
    // ...until a flush resets it: the next frame is as if it were the first.
    flush(&mut hns, &info);
    let after = MaskMeta::get(&hns.push_and_pull(buf.copy()).unwrap()).unwrap();
    assert_eq!(after.data, first.data, "state survived a flush");

    // The same across the end of a stream: EOS, then a new stream on the same element.
    drag(&mut hns);
    assert!(hns.push_event(gst::event::Eos::new()));
    assert!(hns.push_event(gst::event::StreamStart::new("second")));
    hns.push_event(gst::event::Caps::new(&info.to_caps().unwrap()));
    hns.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    let after = MaskMeta::get(&hns.push_and_pull(buf.copy()).unwrap()).unwrap();
    assert_eq!(
        after.data, first.data,
        "state survived the end of the stream"
    );
}

/// A model that does not load, set while playing: a warning on the bus names the file, the
/// stream goes on with the last good model, and the property says which model is in use.
#[test]
fn a_bad_model_set_while_playing_warns_and_keeps_the_last_good_one() {
    init();
    let (rgb, w, h) = messi();
    let frame = OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, &rgb, 0);
    let (buf, info) = to_buffer(&frame);
    let mut hns = harness(&[("effect", "none"), ("smoothing", "0")], &info);
    let bus = gst::Bus::new();
    let element = hns.element().unwrap();
    element.set_bus(Some(&bus));
    let good = MaskMeta::get(&hns.push_and_pull(buf.copy()).unwrap()).unwrap();
    element.set_property("model", "/nonexistent/other.onnx");
    let out = hns.push_and_pull(buf.copy()).expect("the stream goes on");
    let meta = MaskMeta::get(&out).unwrap();
    assert_eq!(meta.data, good.data, "the last good model made this mask");
    assert_eq!(element.property::<String>("model"), "selfie");
    let msg = bus
        .pop_filtered(&[gst::MessageType::Warning, gst::MessageType::Error])
        .expect("a warning on the bus");
    match msg.view() {
        gst::MessageView::Warning(w) => assert!(
            w.error().to_string().contains("/nonexistent/other.onnx"),
            "{}",
            w.error()
        ),
        other => panic!("expected a warning, got {other:?}"),
    }
}

/// A corrupt model file and a missing or non-image background set while playing: a warning
/// naming the file each time, and the stream goes on with the last good ones.
#[test]
fn bad_files_set_while_playing_warn_and_keep_the_last_good_ones() {
    init();
    let (rgb, w, h) = messi();
    let frame = OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, &rgb, 0);
    let (buf, info) = to_buffer(&frame);
    let background = std::env::temp_dir().join(format!("aifx-bg-{}.png", std::process::id()));
    image::RgbImage::from_pixel(8, 8, image::Rgb([0, 0, 255]))
        .save(&background)
        .unwrap();
    let not_image = std::env::temp_dir().join(format!("aifx-bg-{}.txt", std::process::id()));
    std::fs::write(&not_image, b"not a picture").unwrap();
    let corrupt = std::env::temp_dir().join(format!("aifx-corrupt-{}.onnx", std::process::id()));
    std::fs::write(&corrupt, b"not an onnx model").unwrap();
    let mut hns = harness(
        &[
            ("effect", "replace"),
            ("background", background.to_str().unwrap()),
            ("smoothing", "0"),
        ],
        &info,
    );
    let bus = gst::Bus::new();
    let element = hns.element().unwrap();
    element.set_bus(Some(&bus));
    let good = hns.push_and_pull(buf.copy()).unwrap();
    let good = good.map_readable().unwrap().to_vec();
    for (property, file) in [
        ("background", "/nonexistent/beach.jpg"),
        ("background", not_image.to_str().unwrap()),
        ("model", corrupt.to_str().unwrap()),
    ] {
        element.set_property(property, file);
        let out = hns.push_and_pull(buf.copy()).expect("the stream goes on");
        assert_eq!(
            out.map_readable().unwrap().as_slice(),
            &good[..],
            "{property}={file}: the last good settings made this frame"
        );
        let msg = bus
            .pop_filtered(&[gst::MessageType::Warning, gst::MessageType::Error])
            .expect("a warning on the bus");
        match msg.view() {
            gst::MessageView::Warning(w) => {
                assert!(w.error().to_string().contains(file), "{}", w.error())
            }
            other => panic!("{property}={file}: expected a warning, got {other:?}"),
        }
    }
    assert_eq!(
        element.property::<Option<String>>("background").as_deref(),
        background.to_str()
    );
    for f in [background, not_image, corrupt] {
        let _ = std::fs::remove_file(f);
    }
}

/// `smoothing-motion`: on a panning picture, the smoothed mask stays nearer the unsmoothed one
/// when the previous mask is warped along the motion first (measured by `aifx-bench temporal`
/// for MediaPipe's blend: 0.53 % from the raw mask against 0.99 % without).
#[test]
fn motion_compensated_smoothing_follows_a_pan() {
    use aifx::temporal::evaluate::Sequence;
    init();
    let (rgb, w, h) = messi();
    let seq = Sequence::moving(&rgb, w, h, 448, 280, 16);
    let masks = |props: &[(&str, &str)]| -> Vec<Vec<u8>> {
        let (_, info) = to_buffer(&OwnedFrame::from_rgb(
            PixelFormat::Rgba,
            448,
            280,
            &seq.frames[0],
            0,
        ));
        let mut hns = harness(props, &info);
        seq.frames
            .iter()
            .map(|f| {
                let (buf, _) = to_buffer(&OwnedFrame::from_rgb(PixelFormat::Rgba, 448, 280, f, 0));
                MaskMeta::get(&hns.push_and_pull(buf).unwrap())
                    .unwrap()
                    .data
            })
            .collect()
    };
    let raw = masks(&[("effect", "none"), ("smoothing", "0")]);
    let distance = |m: &[Vec<u8>]| -> f64 {
        m.iter()
            .zip(&raw)
            .skip(4)
            .map(|(a, b)| {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| f64::from(x.abs_diff(*y)))
                    .sum::<f64>()
                    / a.len() as f64
            })
            .sum::<f64>()
    };
    let plain = distance(&masks(&[
        ("effect", "none"),
        ("smoothing", "0.7"),
        ("smoothing-motion", "none"),
    ]));
    let warped = distance(&masks(&[
        ("effect", "none"),
        ("smoothing", "0.7"),
        ("smoothing-motion", "dense"),
    ]));
    println!(
        "distance from the unsmoothed masks: plain {plain:.2}, motion-compensated {warped:.2}"
    );
    assert!(warped < 0.8 * plain, "{warped} vs {plain}");
}
