//! Adaptive quality (`budget-ms`): keeps an element's cost per frame within a budget by moving
//! along a ladder of settings, from the user's own (level 0) to cheaper ones.
//!
//! Each element defines its ladder (what level N changes, e.g. a smaller model, inference off
//! the streaming thread, a lower resolution); the governor only picks the level from measured
//! costs. Steps down are quick (a frame over budget is a dropped frame on a live pipeline);
//! steps up are slow and only taken when the level above is expected to fit, so the level
//! does not oscillate: hysteresis in time (frames at a level before the next move) and in
//! cost (room to spare before going up, and the cost last measured at the level above).

use std::collections::VecDeque;

/// Frames kept per level for the decisions.
const WINDOW: usize = 15;
/// Frames at a new level before it may step down again (its first frames pay for the switch).
const SETTLE_DOWN: u32 = 3;
/// Frames at a level before it may step up.
const SETTLE_UP: u32 = 60;
/// Going up needs the current level's slowest recent frame under this share of the budget.
const UP_ROOM: f64 = 0.6;
/// A level's measured cost is trusted this many frames (load on the machine changes).
const COST_MEMORY: u64 = 600;
/// Frames at a level whose overruns are counted, and how many of them step down even when no
/// two come together: a level that lets more than one frame in twenty over the budget does
/// not hold it (measured: `pose` back to back under load, its own settings over in 5.3 % of
/// frames, never two of three, so it never stepped down).
const TAIL_WINDOW: usize = 40;
const TAIL_OVERS: usize = 3;

/// The levels whose models a stream keeps loaded ahead of a step, the most urgent first:
/// `level` itself (the step just taken may still wait for its model), the next two down (a
/// frame over budget is a dropped frame; two: the governor's far step), one up, then the rest.
pub fn load_order(level: usize, levels: usize) -> Vec<usize> {
    let mut order: Vec<usize> = [level, level + 1, level + 2, level.wrapping_sub(1)]
        .into_iter()
        .chain(0..levels)
        .filter(|&l| l < levels)
        .collect();
    let mut seen = vec![false; levels];
    order.retain(|&l| !std::mem::replace(&mut seen[l], true));
    order
}

/// Picks the ladder level from measured frame costs and downstream QoS.
#[derive(Debug, Clone)]
pub struct Governor {
    budget_ms: f64,
    levels: usize,
    level: usize,
    recent: VecDeque<f64>,
    /// Per frame at this level (up to [`TAIL_WINDOW`]): whether it was over budget.
    tail: VecDeque<bool>,
    at_level: u32,
    frame: u64,
    /// Per level: the median cost measured there and the frame it was measured at.
    known: Vec<Option<(f64, u64)>>,
    /// Per level: it runs exactly what the level above runs (for these settings), so a move
    /// there would change nothing and is skipped.
    same_as_above: Vec<bool>,
}

/// A move of the governor, for the element to announce.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub from: usize,
    pub to: usize,
    /// The median cost per frame that led to it (ms).
    pub cost_ms: f64,
}

impl Governor {
    /// A governor over `levels` rungs (level 0 = the user's settings); off until a budget is set.
    pub fn new(levels: usize) -> Self {
        Self {
            budget_ms: 0.0,
            levels: levels.max(1),
            level: 0,
            recent: VecDeque::with_capacity(WINDOW),
            tail: VecDeque::with_capacity(TAIL_WINDOW),
            at_level: 0,
            frame: 0,
            known: vec![None; levels.max(1)],
            same_as_above: vec![false; levels.max(1)],
        }
    }

    /// Says which levels run exactly what the level above them runs, for the element's
    /// current settings (`same(l)` for l ≥ 1): moves skip those. Without it, a rung that
    /// changes nothing (one person when only one is tracked; the landscape model when it is
    /// the user's) costs a few frames over budget on the way down, for nothing.
    pub fn set_same_as_above(&mut self, same: impl Fn(usize) -> bool) {
        for l in 1..self.levels {
            self.same_as_above[l] = same(l);
        }
    }

    /// The first level below `from` that runs something else; `from` if none does.
    fn next_down(&self, from: usize) -> usize {
        (from + 1..self.levels)
            .find(|&l| !self.same_as_above[l])
            .unwrap_or(from)
    }

    /// The level above `from`, past those running the same as the one above them.
    fn next_up(&self, from: usize) -> usize {
        let mut to = from.saturating_sub(1);
        while to > 0 && self.same_as_above[to] {
            to -= 1;
        }
        to
    }

    /// Sets the budget (ms per frame); 0 turns the governor off and returns to level 0.
    pub fn set_budget(&mut self, ms: f64) {
        let ms = if ms.is_finite() && ms > 0.0 { ms } else { 0.0 };
        if ms != self.budget_ms {
            self.budget_ms = ms;
            self.recent.clear();
            self.at_level = 0;
            if ms == 0.0 {
                self.level = 0;
            }
        }
    }

    pub fn budget_ms(&self) -> f64 {
        self.budget_ms
    }

    /// The level to run the next frame at.
    pub fn level(&self) -> usize {
        self.level
    }

    /// Forgets the measurements (new stream, caps change): the level is kept.
    pub fn reset(&mut self) {
        self.recent.clear();
        self.tail.clear();
        self.at_level = 0;
        self.known.iter_mut().for_each(|k| *k = None);
    }

    fn median(&self) -> f64 {
        crate::timing::median(self.recent.iter().copied())
    }

    fn move_to(&mut self, to: usize) -> Change {
        let cost_ms = self.median();
        self.known[self.level] = Some((cost_ms, self.frame));
        let change = Change {
            from: self.level,
            to,
            cost_ms,
        };
        self.level = to;
        self.recent.clear();
        self.tail.clear();
        self.at_level = 0;
        change
    }

    /// Records the cost of one frame at the current level; returns the move it causes.
    pub fn record(&mut self, cost_ms: f64) -> Option<Change> {
        self.frame += 1;
        if self.budget_ms == 0.0 || !cost_ms.is_finite() {
            return None;
        }
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(cost_ms);
        self.at_level = self.at_level.saturating_add(1);
        let over = |c: &f64| *c > self.budget_ms;
        // Down: two of the last three frames over budget (one slow frame is noise); two rungs
        // at once when they took over twice the budget (fewer frames lost on the way down).
        let last3_over = self.recent.iter().rev().take(3).filter(|c| over(c)).count();
        let down = self.next_down(self.level);
        if down > self.level && self.at_level >= SETTLE_DOWN && last3_over >= 2 {
            let far = self.median() > 2.0 * self.budget_ms;
            let to = if far { self.next_down(down) } else { down };
            return Some(self.move_to(to));
        }
        // Down on a tail of single overruns (a level's first frames pay for the switch and
        // are not counted). The level is then known not to hold the budget, whatever its
        // median: no step back up to it for COST_MEMORY frames.
        if self.tail.len() == TAIL_WINDOW {
            self.tail.pop_front();
        }
        self.tail
            .push_back(self.at_level > SETTLE_DOWN && over(&cost_ms));
        if down > self.level && self.tail.iter().filter(|&&o| o).count() >= TAIL_OVERS {
            let change = self.move_to(down);
            self.known[change.from] = Some((self.budget_ms, self.frame));
            return Some(change);
        }
        // Up: a long calm stretch with room to spare, and the level above not known to be
        // too slow (recently).
        if self.level > 0 && self.at_level >= SETTLE_UP {
            let up = self.next_up(self.level);
            let slowest = self.recent.iter().copied().fold(0.0, f64::max);
            let above_fits = match self.known[up] {
                Some((c, at)) if self.frame - at < COST_MEMORY => c < self.budget_ms * 0.9,
                _ => true,
            };
            if slowest < self.budget_ms * UP_ROOM && above_fits {
                return Some(self.move_to(up));
            }
        }
        None
    }

    /// Downstream QoS: `proportion` > 1 means frames reach the sink late. Late frames count
    /// as over budget, whatever this element's own cost was (the machine is too busy).
    pub fn qos(&mut self, proportion: f64) -> Option<Change> {
        // NaN counts as "not late".
        let late = proportion.is_finite() && proportion > 1.05;
        let down = self.next_down(self.level);
        if self.budget_ms == 0.0 || !late || down == self.level {
            return None;
        }
        if self.at_level >= SETTLE_DOWN * 3 {
            return Some(self.move_to(down));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_of_single_overruns_steps_down_and_stays() {
        let mut g = Governor::new(3);
        g.set_budget(10.0);
        // One frame in ten over budget, never two together: down after the third.
        let mut moves = Vec::new();
        for i in 0..400 {
            let cost = if i % 10 == 9 { 12.0 } else { 5.0 };
            if let Some(c) = g.record(if g.level() == 0 { cost } else { 2.0 }) {
                moves.push((i, c.from, c.to));
            }
        }
        assert_eq!(moves.first().map(|m| (m.1, m.2)), Some((0, 1)), "{moves:?}");
        assert!(moves.iter().all(|m| m.2 != 0), "not back up: {moves:?}");
        // One in fifty is within the bar: no move.
        let mut g = Governor::new(3);
        g.set_budget(10.0);
        for i in 0..400 {
            let cost = if i % 50 == 49 { 12.0 } else { 5.0 };
            assert!(g.record(cost).is_none(), "frame {i}");
        }
    }

    #[test]
    fn load_order_is_this_level_then_down_then_up() {
        assert_eq!(load_order(2, 6), [2, 3, 4, 1, 0, 5]);
        assert_eq!(load_order(0, 3), [0, 1, 2]);
        assert_eq!(load_order(4, 5), [4, 3, 0, 1, 2]);
    }

    #[test]
    fn off_without_a_budget() {
        let mut g = Governor::new(4);
        for _ in 0..100 {
            assert_eq!(g.record(1000.0), None);
        }
        assert_eq!(g.level(), 0);
    }

    #[test]
    fn steps_down_while_over_budget_and_holds() {
        let mut g = Governor::new(4);
        g.set_budget(10.0);
        // Level costs: 18, 14, 8, 5 ms (under twice the budget: one rung at a time).
        let cost = [18.0, 14.0, 8.0, 5.0];
        let mut changes = Vec::new();
        for _ in 0..200 {
            if let Some(c) = g.record(cost[g.level()]) {
                changes.push(c);
            }
        }
        assert_eq!(g.level(), 2, "{changes:?}");
        // Straight down, once per level: no oscillation (8 ms is not under 60 % of 10 ms).
        let moves: Vec<(usize, usize)> = changes.iter().map(|c| (c.from, c.to)).collect();
        assert_eq!(moves, [(0, 1), (1, 2)]);
        assert_eq!(changes[0].cost_ms, 18.0);
        // Far over budget: two rungs at once.
        let mut g = Governor::new(4);
        g.set_budget(10.0);
        let mut first = None;
        for _ in 0..10 {
            first = first.or(g.record(30.0));
        }
        assert_eq!(first.map(|c| (c.from, c.to)), Some((0, 2)));
    }

    #[test]
    fn rungs_that_change_nothing_are_skipped_both_ways() {
        let mut g = Governor::new(5);
        g.set_budget(10.0);
        // Levels 1 and 3 run what the level above runs.
        g.set_same_as_above(|l| l == 1 || l == 3);
        let cost = [18.0, 18.0, 14.0, 14.0, 5.0];
        let mut moves = Vec::new();
        for _ in 0..100 {
            if let Some(c) = g.record(cost[g.level()]) {
                moves.push((c.from, c.to));
            }
        }
        assert_eq!(moves, [(0, 2), (2, 4)]);
        // Back up when the load goes: 4 → 2 → 0, never landing on 3 or 1.
        for _ in 0..2 * COST_MEMORY {
            if let Some(c) = g.record(2.0) {
                moves.push((c.from, c.to));
            }
        }
        assert_eq!(moves[2..], [(4, 2), (2, 0)]);
        // Nothing left to change below: no move at all.
        let mut g = Governor::new(3);
        g.set_budget(10.0);
        g.set_same_as_above(|_| true);
        for _ in 0..50 {
            assert_eq!(g.record(50.0), None);
        }
        assert_eq!(g.qos(2.0), None);
    }

    #[test]
    fn one_slow_frame_is_not_a_reason() {
        // Now and then (one in thirty: within the one in twenty a budget allows).
        let mut g = Governor::new(3);
        g.set_budget(10.0);
        for i in 0..300 {
            g.record(if i % 30 == 0 { 30.0 } else { 5.0 });
        }
        assert_eq!(g.level(), 0);
    }

    #[test]
    fn steps_back_up_when_the_load_goes_but_not_into_a_known_overload() {
        let mut g = Governor::new(3);
        g.set_budget(10.0);
        // Loaded: level 0 costs 18, level 1 costs 9.
        for _ in 0..50 {
            g.record([18.0, 9.0, 4.0][g.level()]);
        }
        assert_eq!(g.level(), 1);
        // Level 1 gets cheap, but level 0 was measured at 18 ms just now: stay.
        for _ in 0..100 {
            g.record([18.0, 3.0, 2.0][g.level()]);
        }
        assert_eq!(g.level(), 1);
        // After the memory of that cost expires, try again; level 0 now fits.
        for _ in 0..COST_MEMORY {
            g.record([6.0, 3.0, 2.0][g.level()]);
        }
        assert_eq!(g.level(), 0);
    }

    #[test]
    fn late_frames_downstream_step_down_and_zero_budget_resets() {
        let mut g = Governor::new(3);
        g.set_budget(10.0);
        for _ in 0..20 {
            g.record(2.0);
        }
        assert_eq!(g.qos(0.9), None);
        assert_eq!(g.qos(1.5).map(|c| c.to), Some(1));
        // Rate-limited: not again right away.
        assert_eq!(g.qos(1.5), None);
        g.set_budget(0.0);
        assert_eq!(g.level(), 0);
    }
}
