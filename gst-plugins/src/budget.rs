//! `budget-ms` on the model elements: the shared governor ([`aifx::governor`]) fed with each
//! frame's cost on the streaming thread and with downstream QoS, and the `aifx-budget` bus
//! message that says each move (level, what it changes, the cost that caused it).

use std::time::Instant;

use aifx::governor::{Change, Governor};
use gst::glib;
use gst::prelude::*;

/// The `budget-ms` property.
pub fn budget_property() -> glib::ParamSpec {
    glib::ParamSpecDouble::builder("budget-ms")
        .nick("Budget (ms per frame)")
        .blurb(
            "Adaptive quality: keep this element's time per frame under this many ms by \
             stepping to cheaper settings (and back when there is room); each step posts an \
             aifx-budget message. Late frames reported by downstream (QoS) count as over. 0 = off",
        )
        .minimum(0.0)
        .maximum(10_000.0)
        .default_value(0.0)
        .mutable_playing()
        .build()
}

/// How late downstream says frames are, if `event` is a QoS event (> 1: late).
pub fn qos_proportion(event: &gst::Event) -> Option<f64> {
    match event.view() {
        gst::EventView::Qos(q) => Some(q.get().1),
        _ => None,
    }
}

/// One element's governor and its ladder's descriptions (the element's `LEVELS`).
#[derive(Debug)]
pub struct Budget {
    governor: Governor,
    levels: &'static [&'static str],
    started: Option<Instant>,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            governor: Governor::new(1),
            levels: &[],
            started: None,
        }
    }
}

impl Budget {
    /// Starts timing a frame; returns the level of `levels` to run it at. `rungs[l]`: what
    /// level `l` runs for the element's settings now; a level that runs what the one above
    /// it runs is skipped.
    pub fn begin<R: PartialEq>(
        &mut self,
        budget_ms: f64,
        levels: &'static [&'static str],
        rungs: &[R],
    ) -> usize {
        debug_assert_eq!(levels.len(), rungs.len());
        if levels.len() != self.levels.len() {
            self.governor = Governor::new(levels.len());
            self.levels = levels;
        }
        self.governor.set_budget(budget_ms);
        if budget_ms > 0.0 {
            self.governor
                .set_same_as_above(|l| rungs.get(l).is_some_and(|r| Some(r) == rungs.get(l - 1)));
        }
        self.started = Some(Instant::now());
        self.governor.level()
    }

    /// Ends the frame begun last: records its cost and announces a move.
    pub fn end(&mut self, element: &gst::Element) {
        let Some(started) = self.started.take() else {
            return;
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if let Some(change) = self.governor.record(ms) {
            self.announce(element, change, "frame cost");
        }
    }

    /// Downstream QoS (`proportion` > 1: frames are late).
    pub fn qos(&mut self, element: &gst::Element, proportion: f64) {
        if let Some(change) = self.governor.qos(proportion) {
            self.announce(element, change, "late frames downstream (QoS)");
        }
    }

    /// Forgets measured costs (new stream); the level stays.
    pub fn reset(&mut self) {
        self.governor.reset();
    }

    fn announce(&self, element: &gst::Element, c: Change, why: &str) {
        let what = self.levels.get(c.to).copied().unwrap_or("");
        // The `log` crate reaches GStreamer's `aifx` category.
        log::info!(
            "{}: budget {:.2} ms, {why} {:.2} ms: level {} → {} ({what})",
            element.name(),
            self.governor.budget_ms(),
            c.cost_ms,
            c.from,
            c.to
        );
        let s = gst::Structure::builder("aifx-budget")
            .field("level", c.to as u32)
            .field("levels", self.levels.len() as u32)
            .field("previous-level", c.from as u32)
            .field("settings", what)
            .field("reason", why)
            .field("cost-ms", c.cost_ms)
            .field("budget-ms", self.governor.budget_ms())
            .build();
        let _ = element.post_message(gst::message::Element::builder(s).src(element).build());
    }
}
