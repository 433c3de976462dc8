//! The `async` segmenter's worker under stress with the real model: streams start and stop
//! (and reset) thousands of times from several threads while inference is in flight. A lost
//! wake-up in the worker hand-off would hang a stop for ever; the watchdog turns that into a
//! failure instead of a hung test run.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use aifx::frame::{OwnedFrame, PixelFormat};
use aifx::segment::{Effect, SegmentSettings, Segmenter};

#[test]
fn async_streams_start_and_stop_thousands_of_times() {
    const THREADS: usize = 3;
    const CYCLES: usize = 700;
    let settings = SegmentSettings {
        threads: 1,
        composite: aifx::segment::CompositeParams {
            effect: Effect::Color,
            ..Default::default()
        },
        ..SegmentSettings::default()
    };
    // Fail early and clearly when the set-up has not run.
    Segmenter::new()
        .prepare(&settings)
        .expect("run `make test` to install the models");
    let (done_tx, done_rx) = mpsc::channel();
    for t in 0..THREADS {
        let done = done_tx.clone();
        let settings = settings.clone();
        std::thread::spawn(move || {
            let rgb: Vec<u8> = (0..33 * 17 * 3).map(|i| (i * 7 % 251) as u8).collect();
            let mut frame = OwnedFrame::from_rgb(PixelFormat::Nv12, 33, 17, &rgb, 0);
            let mut masks = 0;
            for i in 0..CYCLES {
                let mut s = Segmenter::new();
                // Start the worker and hand it a frame; then stop mid-inference, right
                // after it, or after a reset, depending on the cycle.
                let r = s.process(&mut frame.view(), &settings, true).unwrap();
                masks += usize::from(r.mask.is_some());
                match i % 4 {
                    0 => {}
                    1 => s.reset(),
                    2 => std::thread::sleep(Duration::from_micros(200)),
                    _ => {
                        let r = s.process(&mut frame.view(), &settings, true).unwrap();
                        masks += usize::from(r.mask.is_some());
                    }
                }
                drop(s);
            }
            let _ = done.send((t, masks));
        });
    }
    drop(done_tx);
    let deadline = Instant::now() + Duration::from_secs(240);
    for _ in 0..THREADS {
        let left = deadline.saturating_duration_since(Instant::now());
        let (t, masks) = done_rx
            .recv_timeout(left)
            .expect("a stream's stop hung (lost wake-up in the inference worker)");
        println!("thread {t}: {CYCLES} start/stop cycles, {masks} frames had a mask");
    }
}

/// The two catalog models on one inference thread each (different sessions to build).
fn selfie_and_landscape() -> (SegmentSettings, SegmentSettings) {
    let selfie = SegmentSettings {
        threads: 1,
        ..SegmentSettings::default()
    };
    let landscape = SegmentSettings {
        model: "selfie-landscape".into(),
        ..selfie.clone()
    };
    (selfie, landscape)
}

/// `load_ahead` builds another model off the calling thread; until it is ready, `prepare`
/// for those settings keeps the current model (no frame waits on a session build), then
/// switches to it. A segmenter dropped while a load is in flight waits for it.
#[test]
fn a_model_loaded_ahead_is_taken_when_ready() {
    let (selfie, landscape) = selfie_and_landscape();
    let rgb: Vec<u8> = (0..64 * 48 * 3).map(|i| (i * 7 % 251) as u8).collect();
    let mut frame = OwnedFrame::from_rgb(PixelFormat::Rgba, 64, 48, &rgb, 0);
    let mut s = Segmenter::new();
    s.prepare(&selfie)
        .expect("run `make test` to install the models");
    s.load_ahead(std::slice::from_ref(&landscape));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        s.prepare(&landscape).unwrap();
        s.process(&mut frame.view(), &landscape, false).unwrap();
        match s.model_name() {
            Some("selfie-landscape") => break,
            Some("selfie") => {}
            other => panic!("model in use: {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "the model loaded ahead never arrived"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Asked for what is loaded: nothing to do. Dropped mid-load: waits, no crash.
    s.load_ahead(std::slice::from_ref(&landscape));
    s.load_ahead(&[landscape.clone(), selfie.clone()]);
    drop(s);
}

/// A photo-like test frame: a bright blob (the "person") on a gradient, odd size and padded.
fn test_frame(w: usize, h: usize) -> OwnedFrame {
    let rgb: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            let inside =
                (x as f32 - w as f32 / 2.0).hypot(y as f32 - h as f32 / 2.0) < h as f32 / 3.0;
            let v = if inside { 220 } else { (x * 255 / w) as u8 / 2 };
            [v, (y * 255 / h) as u8, v / 2]
        })
        .collect();
    OwnedFrame::from_rgb(PixelFormat::Rgba, w, h, &rgb, 3)
}

/// `one_thread` (the governor's rung: the frame's own work on the calling thread) changes
/// where the work runs, never what it produces: same pixels as across the cores, for each
/// effect, edge refinement on and off.
#[test]
fn the_frame_on_one_thread_is_the_same_frame() {
    for effect in [Effect::Blur, Effect::Color, Effect::Transparent] {
        for refine in [true, false] {
            let spread = SegmentSettings {
                threads: 1,
                refine,
                composite: aifx::segment::CompositeParams {
                    effect,
                    ..Default::default()
                },
                ..SegmentSettings::default()
            };
            let one = SegmentSettings {
                one_thread: true,
                ..spread.clone()
            };
            let mut outputs = Vec::new();
            for s in [&spread, &one] {
                let mut frame = test_frame(321, 179);
                Segmenter::new()
                    .process(&mut frame.view(), s, false)
                    .expect("run `make test` to install the models");
                outputs.push(frame.to_rgb());
            }
            assert!(
                outputs[0] == outputs[1],
                "{effect:?} refine={refine}: one thread differs"
            );
        }
    }
}

/// While models are loaded ahead, `prepare` never builds one on the calling thread: a step to
/// a model nobody loaded yet keeps the current one until its build (on a thread of its own)
/// is done; the replaced model stays loaded, so stepping back is immediate; and an
/// asynchronous stream keeps its last mask across the change instead of frames without the
/// effect.
#[test]
fn looking_ahead_no_step_waits_for_a_build_and_steps_back_at_once() {
    let (selfie, landscape) = selfie_and_landscape();
    let mut frame = test_frame(64, 48);
    let mut s = Segmenter::new();
    s.prepare(&selfie)
        .expect("run `make test` to install the models");
    // The first mask of the asynchronous stream.
    let deadline = Instant::now() + Duration::from_secs(60);
    while s
        .process(&mut frame.view(), &selfie, true)
        .unwrap()
        .mask
        .is_none()
    {
        assert!(Instant::now() < deadline, "no first mask");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Looking ahead at the current model only; then a step nobody foresaw.
    s.load_ahead(std::slice::from_ref(&selfie));
    let t = Instant::now();
    s.prepare(&landscape).unwrap();
    assert_eq!(s.model_name(), Some("selfie"), "kept while the build runs");
    assert!(t.elapsed() < Duration::from_millis(50), "{:?}", t.elapsed());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        s.load_ahead(&[landscape.clone(), selfie.clone()]);
        let m = s.process(&mut frame.view(), &landscape, true).unwrap();
        assert!(m.mask.is_some(), "a frame without a mask after the change");
        if s.model_name() == Some("selfie-landscape") {
            break;
        }
        assert!(Instant::now() < deadline, "the build never arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The selfie model was kept: stepping back takes it at once.
    s.prepare(&selfie).unwrap();
    assert_eq!(s.model_name(), Some("selfie"));
    // Turned off: nothing more is kept or built; dropping waits for nothing.
    s.load_ahead(&[]);
    drop(s);
}
