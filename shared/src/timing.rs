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

/// The median of `values` (the upper one of an even count; 0 for none). NaN sorts last.
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Runs `f` and adds its time to `into`.
pub fn timed<R>(into: &mut Duration, f: impl FnOnce() -> R) -> R {
    let start = Instant::now();
    let r = f();
    *into += start.elapsed();
    r
}

/// How our time compares with a peer's, as a reader says it: "1.9× faster", "1.2× slower".
pub fn relative_speed(ours_ms: f64, theirs_ms: f64) -> String {
    if !(ours_ms > 0.0 && theirs_ms > 0.0) {
        return "-".into();
    }
    if theirs_ms >= ours_ms {
        format!("{:.1}× faster", theirs_ms / ours_ms)
    } else {
        format!("{:.1}× slower", ours_ms / theirs_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_read_naturally() {
        assert_eq!(relative_speed(1.0, 1.9), "1.9× faster");
        assert_eq!(relative_speed(1.9, 1.0), "1.9× slower");
        assert_eq!(relative_speed(0.0, 1.0), "-");
    }
}
