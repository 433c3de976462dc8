//! The rungs `budget-ms` moves along for segmentation, the user's settings first. Each rung
//! keeps what the one before it changed.

use super::SegmentSettings;
use crate::temporal::MotionMode;

/// What each level changes, for the bus message and the log.
pub const LEVELS: [&str; 6] = [
    "the element's own settings",
    "inference off the streaming thread, on one thread; the compositing on the streaming thread alone (async: the mask is a frame late)",
    "the landscape model (144×256, about half the work)",
    "inference on every 2nd frame",
    "inference on every 4th frame",
    "plain mask edges (no edge refinement: the compositing's own cost down)",
];

/// The settings and async mode to run `level` with.
pub fn at_level(s: &SegmentSettings, asynchronous: bool, level: usize) -> (SegmentSettings, bool) {
    let mut s = s.clone();
    let mut asynchronous = asynchronous;
    // Async first: it takes inference off the streaming thread altogether, for a mask one
    // frame late; the smaller model costs mask detail.
    if level >= 1 {
        asynchronous = true;
        // A core each for the inference worker and the frame's own work (on the streaming
        // thread), which keeps the frames steady when something else takes a core too:
        // split across both cores, a frame waits for its part on the busy one (measured with
        // one core spinning, at the last rung: 99th percentile 15–18 ms split, 3.4–7.8 ms on
        // one thread, same median). The worker's inference threads spin while they run, so
        // it gets one as well.
        s.threads = 1;
        s.one_thread = true;
        // Motion compensation is for synchronous masks only.
        s.smoothing_motion = MotionMode::None;
    }
    if level >= 2 && s.model == "selfie" {
        s.model = "selfie-landscape".into();
    }
    if level >= 3 {
        s.interval = s.interval.max(2);
    }
    if level >= 4 {
        s.interval = s.interval.max(4);
    }
    // The rungs above take work off the streaming thread's inference; under a load the
    // compositing is most of what is left there (measured: 5.4 ms fixed, 5.7 at rung 4, with
    // one core busy). Edge refinement is its per-pixel part along the silhouette.
    if level >= 5 {
        s.refine = false;
    }
    (s, asynchronous)
}

/// Every rung's settings and async mode, level 0 first.
pub fn rungs(s: &SegmentSettings, asynchronous: bool) -> Vec<(SegmentSettings, bool)> {
    (0..LEVELS.len())
        .map(|l| at_level(s, asynchronous, l))
        .collect()
}

/// The settings whose models a stream at `level` keeps loaded, the most urgent first.
pub fn models_wanted(rungs: &[(SegmentSettings, bool)], level: usize) -> Vec<SegmentSettings> {
    crate::governor::load_order(level, rungs.len())
        .into_iter()
        .map(|l| rungs[l].0.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rung_is_cheaper_and_keeps_the_last() {
        let s = SegmentSettings::default();
        assert_eq!(at_level(&s, false, 0), (s.clone(), false));
        let (one, a1) = at_level(&s, false, 1);
        assert_eq!(
            (one.model.as_str(), a1, one.threads, one.one_thread),
            ("selfie", true, 1, true)
        );
        let (two, a2) = at_level(&s, false, 2);
        assert_eq!((two.model.as_str(), a2), ("selfie-landscape", true));
        let (four, a4) = at_level(&s, false, 4);
        assert_eq!(
            (four.model.as_str(), four.interval, a4),
            ("selfie-landscape", 4, true)
        );
        let (five, _) = at_level(&s, false, 5);
        assert_eq!((five.interval, five.refine, four.refine), (4, false, true));
        // A user's own model is left alone; a longer interval is not shortened.
        let custom = SegmentSettings {
            model: "/models/mine.onnx".into(),
            interval: 6,
            ..SegmentSettings::default()
        };
        let (c, _) = at_level(&custom, false, 4);
        assert_eq!((c.model.as_str(), c.interval), ("/models/mine.onnx", 6));
    }
}
