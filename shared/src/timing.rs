//! How long the steps of one frame took, for the elements' `DEBUG` log lines.

use std::time::{Duration, Instant};

/// Time per step of the last frame (inference is zero when a result was reused or came
/// from a worker).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    pub sample: Duration,
    pub inference: Duration,
    pub compositing: Duration,
}

impl std::fmt::Display for StageTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "sampling {:.2} ms, inference {:.2} ms, compositing {:.2} ms",
            ms(self.sample),
            ms(self.inference),
            ms(self.compositing)
        )
    }
}

/// Runs `f` and adds its time to `into`.
pub fn timed<R>(into: &mut Duration, f: impl FnOnce() -> R) -> R {
    let start = Instant::now();
    let r = f();
    *into += start.elapsed();
    r
}
