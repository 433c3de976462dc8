//! The rungs `budget-ms` moves along for pose, the user's settings first. Each rung keeps what
//! the one before it changed. What goes first is the search for more people; then the models
//! leave the streaming thread (a landmark run per frame is more than a tight budget holds),
//! then half the frames.

use crate::session::SessionOptions;

/// What each level changes, for the bus message and the log.
pub const LEVELS: [&str; 4] = [
    "the element's own settings",
    "one person (no detector runs looking for more)",
    "the models off the streaming thread on one inference thread (async: landmarks a frame or two late)",
    "async, on every 2nd frame",
];

/// The part of pose's settings the ladder changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoseWork {
    pub max_persons: usize,
    pub interval: u32,
    pub asynchronous: bool,
    /// Inference threads (0 = one per core).
    pub threads: usize,
}

/// The work to do at `level`.
pub fn at_level(w: PoseWork, level: usize) -> PoseWork {
    let mut w = w;
    if level >= 1 {
        w.max_persons = w.max_persons.min(1);
    }
    if level >= 2 {
        // The worker's inference threads spin while they run: one leaves a core to the
        // streaming thread's copying and drawing.
        w.asynchronous = true;
        w.threads = 1;
    }
    if level >= 3 {
        w.interval = w.interval.max(2);
    }
    w
}

/// Every rung's work, level 0 first.
pub fn rungs(own: PoseWork) -> Vec<PoseWork> {
    (0..LEVELS.len()).map(|l| at_level(own, l)).collect()
}

/// The session options of the models a stream at `level` keeps loaded (the user's `opts`,
/// each rung's threads), the most urgent first.
pub fn sessions_wanted(
    rungs: &[PoseWork],
    level: usize,
    opts: &SessionOptions,
) -> Vec<SessionOptions> {
    let order = crate::governor::load_order(level, rungs.len());
    order
        .into_iter()
        .map(|l| SessionOptions {
            threads: rungs[l].threads,
            ..opts.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs() {
        let w = PoseWork {
            max_persons: 4,
            interval: 1,
            asynchronous: false,
            threads: 0,
        };
        assert_eq!(at_level(w, 0), w);
        assert_eq!(at_level(w, 1).max_persons, 1);
        assert!(!at_level(w, 1).asynchronous && at_level(w, 2).asynchronous);
        assert_eq!(
            at_level(w, 3),
            PoseWork {
                max_persons: 1,
                interval: 2,
                asynchronous: true,
                threads: 1
            }
        );
    }
}
