//! `pose`'s properties: their specs (with `gst-inspect` docs), defaults, and the settings
//! they make, kept apart from the adapter in `imp.rs`.

use gst::glib;
use gst::prelude::*;

use crate::budget::budget_property;
use crate::props::assign;
use crate::video::{runtime_properties, RuntimeSettings};

pub(super) const DEFAULT_MAX_PERSONS: u32 = 1;
pub(super) const DEFAULT_MIN_DETECTION: f64 = 0.5;
pub(super) const DEFAULT_MIN_TRACKING: f64 = 0.5;
pub(super) const DEFAULT_SMOOTHING: bool = true;
pub(super) const DEFAULT_DRAW: bool = true;
pub(super) const DEFAULT_DRAW_MASK: bool = false;
pub(super) const DEFAULT_LINE_WIDTH: f64 = 3.0;
pub(super) const DEFAULT_POINT_RADIUS: f64 = 4.0;
pub(super) const DEFAULT_POST_MESSAGES: bool = false;
pub(super) const DEFAULT_INTERVAL: u32 = 1;

/// The element's properties, as set.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) max_persons: u32,
    pub(super) min_detection: f64,
    pub(super) min_tracking: f64,
    pub(super) smoothing: bool,
    pub(super) draw: bool,
    pub(super) draw_mask: bool,
    pub(super) line_width: f64,
    pub(super) point_radius: f64,
    pub(super) post_messages: bool,
    pub(super) interval: u32,
    /// `device`, `precision`, `threads`, `budget-ms`.
    pub(super) runtime: RuntimeSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_persons: DEFAULT_MAX_PERSONS,
            min_detection: DEFAULT_MIN_DETECTION,
            min_tracking: DEFAULT_MIN_TRACKING,
            smoothing: DEFAULT_SMOOTHING,
            draw: DEFAULT_DRAW,
            draw_mask: DEFAULT_DRAW_MASK,
            line_width: DEFAULT_LINE_WIDTH,
            point_radius: DEFAULT_POINT_RADIUS,
            post_messages: DEFAULT_POST_MESSAGES,
            interval: DEFAULT_INTERVAL,
            runtime: RuntimeSettings::default(),
        }
    }
}

impl Settings {
    /// Sets property `name`; false when the value was not taken.
    pub(super) fn set(&mut self, name: &str, value: &glib::Value) -> bool {
        if let Some(taken) = self.runtime.set(name, value) {
            return taken;
        }
        match name {
            "max-persons" => assign(&mut self.max_persons, value),
            "min-detection-confidence" => assign(&mut self.min_detection, value),
            "min-tracking-confidence" => assign(&mut self.min_tracking, value),
            "smoothing" => assign(&mut self.smoothing, value),
            "draw" => assign(&mut self.draw, value),
            "draw-mask" => assign(&mut self.draw_mask, value),
            "line-width" => assign(&mut self.line_width, value),
            "point-radius" => assign(&mut self.point_radius, value),
            "post-messages" => assign(&mut self.post_messages, value),
            "interval" => assign(&mut self.interval, value),
            _ => false,
        }
    }

    /// The value of property `name`, if it is one of these settings (or `landmark-names`).
    pub(super) fn get(&self, name: &str) -> Option<glib::Value> {
        if let Some(v) = self.runtime.get(name) {
            return Some(v);
        }
        Some(match name {
            "max-persons" => self.max_persons.to_value(),
            "min-detection-confidence" => self.min_detection.to_value(),
            "min-tracking-confidence" => self.min_tracking.to_value(),
            "smoothing" => self.smoothing.to_value(),
            "draw" => self.draw.to_value(),
            "draw-mask" => self.draw_mask.to_value(),
            "line-width" => self.line_width.to_value(),
            "point-radius" => self.point_radius.to_value(),
            "post-messages" => self.post_messages.to_value(),
            "landmark-names" => glib::StrV::from(&aifx::pose::NAMES[..]).to_value(),
            "interval" => self.interval.to_value(),
            _ => return None,
        })
    }
}

/// Every property of the element: its own, the runtime's (`device`, `precision`, `threads`,
/// `device-in-use`) and `budget-ms`.
pub(super) fn properties() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecUInt::builder("max-persons")
            .nick("Maximum persons")
            .blurb("How many people to track at once; each keeps an id while tracked")
            .minimum(1)
            .maximum(16)
            .default_value(DEFAULT_MAX_PERSONS)
            .mutable_playing()
            .build(),
        glib::ParamSpecDouble::builder("min-detection-confidence")
            .nick("Minimum detection confidence")
            .blurb("Person detector score needed to start tracking someone (below 0.1 acts as 0.1: the detector's junk scores under 0.3)")
            .minimum(0.0)
            .maximum(1.0)
            .default_value(DEFAULT_MIN_DETECTION)
            .mutable_playing()
            .build(),
        glib::ParamSpecDouble::builder("min-tracking-confidence")
            .nick("Minimum tracking confidence")
            .blurb("Landmark model presence needed to keep tracking (below it the detector runs again)")
            .minimum(0.0)
            .maximum(1.0)
            .default_value(DEFAULT_MIN_TRACKING)
            .mutable_playing()
            .build(),
        glib::ParamSpecBoolean::builder("smoothing")
            .nick("Smoothing")
            .blurb("One-euro smoothing of the landmarks over buffer timestamps (MediaPipe's parameters)")
            .default_value(DEFAULT_SMOOTHING)
            .mutable_playing()
            .build(),
        glib::ParamSpecBoolean::builder("draw")
            .nick("Draw")
            .blurb("Draw the skeleton on the video")
            .default_value(DEFAULT_DRAW)
            .mutable_playing()
            .build(),
        glib::ParamSpecBoolean::builder("draw-mask")
            .nick("Draw mask")
            .blurb(
                "Tint each person with the landmark model's own segmentation output \
                 (runs the model's segmentation branch: about twice the landmark cost)",
            )
            .default_value(DEFAULT_DRAW_MASK)
            .mutable_playing()
            .build(),
        glib::ParamSpecDouble::builder("line-width")
            .nick("Line width")
            .blurb("Skeleton line width in pixels")
            .minimum(0.5)
            .maximum(64.0)
            .default_value(DEFAULT_LINE_WIDTH)
            .mutable_playing()
            .build(),
        glib::ParamSpecDouble::builder("point-radius")
            .nick("Point radius")
            .blurb("Joint radius in pixels")
            .minimum(0.0)
            .maximum(64.0)
            .default_value(DEFAULT_POINT_RADIUS)
            .mutable_playing()
            .build(),
        glib::ParamSpecBoolean::builder("post-messages")
            .nick("Post messages")
            .blurb(
                "Post an `aifx-pose` element message per frame: timestamp, running-time, \
                 frame-width/height, persons, and per person K: person-K-id, -score, \
                 -size (tracking square side, frame pixels), -landmarks (33 x [x, y, z, \
                 visibility, presence], frame pixels), -world (33 x [x, y, z], metres) and -data (all of it as little-endian f32 bytes: \
                 score, landmarks, world)",
            )
            .default_value(DEFAULT_POST_MESSAGES)
            .mutable_playing()
            .build(),
        glib::ParamSpecBoxed::builder::<glib::StrV>("landmark-names")
            .nick("Landmark names")
            .blurb("The 33 landmarks in order (MediaPipe's pose topology)")
            .read_only()
            .build(),
        glib::ParamSpecUInt::builder("interval")
            .nick("Interval")
            .blurb("Run the models on one frame in N and reuse the landmarks in between")
            .minimum(1)
            .maximum(1000)
            .default_value(DEFAULT_INTERVAL)
            .mutable_playing()
            .build(),
    ]
    .into_iter()
    .chain(runtime_properties())
    .chain([budget_property()])
    .collect()
}
