//! `temporalsmooth`'s properties: their specs (with `gst-inspect` docs), defaults, and the
//! settings they make, kept apart from the adapter in `imp.rs`.

use aifx::temporal::TemporalSettings;
use gst::glib;
use gst::prelude::*;

use crate::props::assign;
use crate::video::{MaskFilterKind, MotionKind};

pub(super) const DEFAULT_MASKS: f64 = 0.7;
pub(super) const DEFAULT_KEYPOINTS: bool = true;
pub(super) const DEFAULT_MIN_CUTOFF: f64 = 0.05;
pub(super) const DEFAULT_BETA: f64 = 80.0;
pub(super) const DEFAULT_PIXELS: f64 = 0.0;
pub(super) const DEFAULT_MOTION_THRESHOLD: f64 = 12.0;

#[derive(Debug, Clone)]
pub(super) struct Settings {
    masks: f64,
    mask_filter: MaskFilterKind,
    keypoints: bool,
    min_cutoff: f64,
    beta: f64,
    pixels: f64,
    motion: MotionKind,
    motion_threshold: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            masks: DEFAULT_MASKS,
            mask_filter: MaskFilterKind::default(),
            keypoints: DEFAULT_KEYPOINTS,
            min_cutoff: DEFAULT_MIN_CUTOFF,
            beta: DEFAULT_BETA,
            pixels: DEFAULT_PIXELS,
            motion: MotionKind::default(),
            motion_threshold: DEFAULT_MOTION_THRESHOLD,
        }
    }
}

impl Settings {
    pub(super) fn to_shared(&self) -> TemporalSettings {
        TemporalSettings {
            masks: self.masks as f32,
            mask_filter: self.mask_filter.into(),
            keypoints: self.keypoints,
            min_cutoff: self.min_cutoff as f32,
            beta: self.beta as f32,
            pixels: self.pixels as f32,
            motion: self.motion.into(),
            motion_threshold: self.motion_threshold as f32,
        }
    }
}

impl Settings {
    /// Applies property `name`; false when the value is not taken.
    pub(super) fn set(&mut self, name: &str, value: &glib::Value) -> bool {
        match name {
            "masks" => assign(&mut self.masks, value),
            "mask-filter" => assign(&mut self.mask_filter, value),
            "keypoints" => assign(&mut self.keypoints, value),
            "min-cutoff" => assign(&mut self.min_cutoff, value),
            "beta" => assign(&mut self.beta, value),
            "pixels" => assign(&mut self.pixels, value),
            "motion" => assign(&mut self.motion, value),
            "motion-threshold" => assign(&mut self.motion_threshold, value),
            _ => false,
        }
    }

    /// The value of property `name` (None: not one of these).
    pub(super) fn get(&self, name: &str) -> Option<glib::Value> {
        Some(match name {
            "masks" => self.masks.to_value(),
            "mask-filter" => self.mask_filter.to_value(),
            "keypoints" => self.keypoints.to_value(),
            "min-cutoff" => self.min_cutoff.to_value(),
            "beta" => self.beta.to_value(),
            "pixels" => self.pixels.to_value(),
            "motion" => self.motion.to_value(),
            "motion-threshold" => self.motion_threshold.to_value(),
            _ => return None,
        })
    }
}

pub(super) fn properties() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecDouble::builder("masks")
            .nick("Mask smoothing")
            .blurb("How much of the previous (motion-compensated) mask each AifxMaskMeta keeps (0 = off)")
            .minimum(0.0)
            .maximum(1.0)
            .default_value(DEFAULT_MASKS)
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("mask-filter", MaskFilterKind::default())
            .nick("Mask filter")
            .blurb("How masks are blended: a moving average, or MediaPipe's uncertainty-weighted blend")
            .mutable_playing()
            .build(),
        glib::ParamSpecBoolean::builder("keypoints")
            .nick("Keypoint smoothing")
            .blurb("One-euro filtering of each person's AifxPoseMeta landmarks on buffer timestamps, scaled by the person's size in the meta (MediaPipe pose's object scale)")
            .default_value(DEFAULT_KEYPOINTS)
            .mutable_playing()
            .build(),
        glib::ParamSpecDouble::builder("min-cutoff")
            .nick("Minimum cutoff")
            .blurb("One-euro minimum cutoff frequency in Hz: lower is steadier when still (MediaPipe's pose: 0.05)")
            .minimum(0.001)
            .maximum(100.0)
            .default_value(DEFAULT_MIN_CUTOFF)
            .mutable_playing()
            .build(),
        glib::ParamSpecDouble::builder("beta")
            .nick("Speed coefficient")
            .blurb("One-euro speed coefficient: higher follows fast motion more closely (MediaPipe's pose: 80)")
            .minimum(0.0)
            .maximum(10000.0)
            .default_value(DEFAULT_BETA)
            .mutable_playing()
            .build(),
        glib::ParamSpecDouble::builder("pixels")
            .nick("Pixel deflicker")
            .blurb("Blend weight of the motion-compensated previous output where the picture only flickers (0 = off)")
            .minimum(0.0)
            .maximum(1.0)
            .default_value(DEFAULT_PIXELS)
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("motion", MotionKind::default())
            .nick("Motion compensation")
            .blurb("How the previous mask and output are moved along the picture before blending")
            .mutable_playing()
            .build(),
        glib::ParamSpecDouble::builder("motion-threshold")
            .nick("Change threshold")
            .blurb("Luma change (levels) below which the deflicker treats a change as flicker; twice this passes through untouched")
            .minimum(1.0)
            .maximum(255.0)
            .default_value(DEFAULT_MOTION_THRESHOLD)
            .mutable_playing()
            .build(),
    ]
}
