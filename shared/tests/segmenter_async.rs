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

/// `load_ahead` builds another model off the calling thread; until it is ready, `prepare`
/// for those settings keeps the current model (no frame waits on a session build), then
/// switches to it. A segmenter dropped while a load is in flight waits for it.
#[test]
fn a_model_loaded_ahead_is_taken_when_ready() {
    let selfie = SegmentSettings {
        threads: 1,
        ..SegmentSettings::default()
    };
    let landscape = SegmentSettings {
        model: "selfie-landscape".into(),
        ..selfie.clone()
    };
    let rgb: Vec<u8> = (0..64 * 48 * 3).map(|i| (i * 7 % 251) as u8).collect();
    let mut frame = OwnedFrame::from_rgb(PixelFormat::Rgba, 64, 48, &rgb, 0);
    let mut s = Segmenter::new();
    s.prepare(&selfie)
        .expect("run `make test` to install the models");
    s.load_ahead(&landscape);
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
    s.load_ahead(&landscape);
    s.load_ahead(&selfie);
    drop(s);
}
