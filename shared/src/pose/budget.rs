//! The rungs `budget-ms` moves along for pose, the user's settings first. Each rung keeps what
//! the one before it changed. One landmark run per tracked person is the floor: what goes
//! first is the search for more people, then the frames the models run on.

/// What each level changes, for the bus message and the log.
pub const LEVELS: [&str; 4] = [
    "the element's own settings",
    "one person (no detector runs looking for more)",
    "the models on every 2nd frame (the last landmarks are drawn in between)",
    "the models on every 3rd frame",
];

/// The part of pose's settings the ladder changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoseWork {
    pub max_persons: usize,
    pub interval: u32,
}

/// The work to do at `level`.
pub fn at_level(w: PoseWork, level: usize) -> PoseWork {
    let mut w = w;
    if level >= 1 {
        w.max_persons = w.max_persons.min(1);
    }
    if level >= 2 {
        w.interval = w.interval.max(2);
    }
    if level >= 3 {
        w.interval = w.interval.max(3);
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs() {
        let w = PoseWork {
            max_persons: 4,
            interval: 1,
        };
        assert_eq!(at_level(w, 0), w);
        assert_eq!(at_level(w, 1).max_persons, 1);
        assert_eq!(
            at_level(w, 3),
            PoseWork {
                max_persons: 1,
                interval: 3
            }
        );
    }
}
