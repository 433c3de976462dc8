//! The rungs `budget-ms` moves along for stylize, the user's settings first. The model's cost
//! grows with the pixels it runs on, so the resolution goes first, then the frames it runs on.

use super::StyleSettings;

/// What each level changes, for the bus message and the log.
pub const LEVELS: [&str; 4] = [
    "the element's own settings",
    "the model at 3/4 of the resolution (about 56 % of the work)",
    "the model at half the resolution (a quarter of the work)",
    "half the resolution, on every 2nd frame",
];

/// Short side used for the ladder when the resolution is the frame's own (0).
const FRAME_OWN: usize = 720;
/// No rung goes below this short side.
const SMALLEST: usize = 144;

/// The settings to run `level` with.
pub fn at_level(s: &StyleSettings, level: usize) -> StyleSettings {
    let mut s = s.clone();
    let base = if s.resolution == 0 {
        FRAME_OWN
    } else {
        s.resolution
    };
    if level == 1 {
        s.resolution = (base * 3 / 4).max(SMALLEST.min(base));
    }
    if level >= 2 {
        s.resolution = (base / 2).max(SMALLEST.min(base));
    }
    if level >= 3 {
        s.interval = s.interval.max(2);
    }
    s
}

/// Every rung's settings, level 0 first.
pub fn rungs(s: &StyleSettings) -> Vec<StyleSettings> {
    (0..LEVELS.len()).map(|l| at_level(s, l)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs() {
        let s = StyleSettings::default();
        assert_eq!(s.resolution, 360);
        assert_eq!(at_level(&s, 0).resolution, 360);
        assert_eq!(at_level(&s, 1).resolution, 270);
        assert_eq!(at_level(&s, 2).resolution, 180);
        let three = at_level(&s, 3);
        assert_eq!((three.resolution, three.interval), (180, 2));
        let small = StyleSettings {
            resolution: 160,
            ..StyleSettings::default()
        };
        assert_eq!(at_level(&small, 2).resolution, 144);
    }
}
