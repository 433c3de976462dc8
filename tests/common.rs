//! Shared by the integration tests: where the release artifacts and references are, and
//! helpers to move frames in and out of GStreamer buffers.

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
#[allow(unused_imports)]
pub use aifx::paths::reference_dir;

// --- GStreamer helpers shared by the element tests -----------------------------------------

#[allow(dead_code)]
pub fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstaifx::plugin_register_static().expect("register the aifx plugin");
    });
}

#[allow(dead_code)]
pub fn harness(
    element: &str,
    props: &[(&str, &str)],
    info: &gst_video::VideoInfo,
) -> gst_check::Harness {
    use gst::prelude::*;
    let mut h = gst_check::Harness::new(element);
    {
        let e = h.element().unwrap();
        // Tests through a harness compare frames exactly: `device=auto` (the default) runs
        // its first frames on each provider in turn, which agree only to ~1e-5.
        if e.find_property("device").is_some() {
            e.set_property_from_str("device", "cpu");
        }
        for (k, v) in props {
            e.set_property_from_str(k, v);
        }
    }
    h.set_src_caps(info.to_caps().unwrap());
    h
}

#[allow(unused_imports)]
pub use gstaifx::video::{buffer_from_frame as to_buffer, frame_from_buffer as from_buffer};

/// A flush (start and stop) through a harness, then caps and a new segment, as a seek does.
#[allow(dead_code)]
pub fn flush(h: &mut gst_check::Harness, info: &gst_video::VideoInfo) {
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    h.set_src_caps(info.to_caps().unwrap());
    let _ = h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
}

/// opencv-doc's messi5.jpg as interleaved RGB, with its width and height.
#[allow(dead_code)]
pub fn messi() -> (Vec<u8>, usize, usize) {
    let img = image::open("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
        .unwrap()
        .to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    (img.into_raw(), w, h)
}

/// Plays `desc` to its end and returns the warnings posted on the bus (an error fails the
/// test).
#[allow(dead_code)]
pub fn bus_warnings(desc: &str) -> Vec<String> {
    use gst::prelude::*;
    init();
    let pipeline = gst::parse::launch(desc).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let mut warnings = Vec::new();
    let mut ended = false;
    while let Some(msg) = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(30),
        &[
            gst::MessageType::Warning,
            gst::MessageType::Error,
            gst::MessageType::Eos,
        ],
    ) {
        match msg.view() {
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            gst::MessageView::Error(e) => panic!("{desc}: {}", e.error()),
            _ => {
                ended = true;
                break;
            }
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(ended, "{desc}: did not play to the end");
    warnings
}

/// `desc` built (not started) and its `appsink name=out`.
#[allow(dead_code)]
pub fn pipeline_with_sink(desc: &str) -> (gst::Bin, gst_app::AppSink) {
    use gst::prelude::*;
    init();
    let pipeline = gst::parse::launch(desc)
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap();
    let sink = pipeline
        .by_name("out")
        .expect("an appsink named out")
        .downcast::<gst_app::AppSink>()
        .unwrap();
    (pipeline, sink)
}

/// The first buffer `desc` delivers to its `appsink name=out`, with its caps.
#[allow(dead_code)]
pub fn first_sample(desc: &str) -> gst::Sample {
    use gst::prelude::*;
    let (pipeline, sink) = pipeline_with_sink(desc);
    pipeline.set_state(gst::State::Playing).unwrap();
    let sample = sink.pull_sample().unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    sample
}
