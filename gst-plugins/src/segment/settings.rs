//! `segment`'s properties: their specs (with `gst-inspect` docs), defaults, and the
//! settings they make, kept apart from the adapter in `imp.rs`.

use std::path::PathBuf;

use aifx::segment::{CompositeParams, Effect, SegmentSettings};
use gst::glib;
use gst::prelude::*;

use crate::budget::budget_property;
use crate::props::assign;
use crate::video::{runtime_properties, MotionKind, RuntimeSettings};

pub(super) const DEFAULT_MODEL: &str = "selfie";
pub(super) const DEFAULT_THRESHOLD: f64 = 0.0;
pub(super) const DEFAULT_FEATHER: u32 = 0;
pub(super) const DEFAULT_MIN_REGION: f64 = 0.0;
pub(super) const DEFAULT_BLUR_RADIUS: u32 = 24;
pub(super) const DEFAULT_BACKGROUND_COLOR: u32 = 0xff00_b140;
pub(super) const DEFAULT_INTERVAL: u32 = 1;
pub(super) const DEFAULT_SMOOTHING: f64 = 0.7;
pub(super) const DEFAULT_EDGE_REFINE: bool = true;
pub(super) const DEFAULT_ASYNC: bool = false;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAifxSegmentEffect")]
pub enum EffectKind {
    #[default]
    #[enum_value(name = "Blur the background", nick = "blur")]
    Blur,
    #[enum_value(
        name = "Replace the background with the `background` image",
        nick = "replace"
    )]
    Replace,
    #[enum_value(name = "Fill the background with `background-color`", nick = "color")]
    Color,
    #[enum_value(
        name = "Background transparent via the alpha channel (RGBA/BGRA; other formats get `background-color`)",
        nick = "transparent"
    )]
    Transparent,
    #[enum_value(name = "Output the mask as a grey picture", nick = "matte")]
    Matte,
    #[enum_value(
        name = "Leave the picture untouched (mask metadata only)",
        nick = "none"
    )]
    None,
}

impl From<EffectKind> for Effect {
    fn from(e: EffectKind) -> Self {
        match e {
            EffectKind::Blur => Effect::Blur,
            EffectKind::Replace => Effect::Replace,
            EffectKind::Color => Effect::Color,
            EffectKind::Transparent => Effect::Transparent,
            EffectKind::Matte => Effect::Matte,
            EffectKind::None => Effect::None,
        }
    }
}

/// The element's properties, as set.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) model: String,
    pub(super) effect: EffectKind,
    pub(super) threshold: f64,
    pub(super) feather: u32,
    pub(super) min_region: f64,
    pub(super) blur_radius: u32,
    pub(super) background: Option<String>,
    pub(super) background_color: u32,
    pub(super) interval: u32,
    pub(super) smoothing: f64,
    pub(super) smoothing_motion: MotionKind,
    pub(super) edge_refine: bool,
    pub(super) asynchronous: bool,
    /// `device`, `precision`, `threads`, `budget-ms`.
    pub(super) runtime: RuntimeSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: DEFAULT_MODEL.into(),
            effect: EffectKind::default(),
            threshold: DEFAULT_THRESHOLD,
            feather: DEFAULT_FEATHER,
            min_region: DEFAULT_MIN_REGION,
            blur_radius: DEFAULT_BLUR_RADIUS,
            background: None,
            background_color: DEFAULT_BACKGROUND_COLOR,
            interval: DEFAULT_INTERVAL,
            smoothing: DEFAULT_SMOOTHING,
            smoothing_motion: MotionKind::None,
            edge_refine: DEFAULT_EDGE_REFINE,
            asynchronous: DEFAULT_ASYNC,
            runtime: RuntimeSettings::default(),
        }
    }
}

impl Settings {
    /// What the shared segmenter is given.
    pub(super) fn to_shared(&self) -> SegmentSettings {
        let c = self.background_color;
        SegmentSettings {
            model: self.model.clone(),
            composite: CompositeParams {
                effect: self.effect.into(),
                blur_radius: self.blur_radius as usize,
                color: [(c >> 16) as u8, (c >> 8) as u8, c as u8],
                background: self.background.as_ref().map(PathBuf::from),
            },
            threshold: self.threshold as f32,
            feather: self.feather as usize,
            min_region: self.min_region as f32,
            interval: self.interval,
            smoothing: self.smoothing as f32,
            smoothing_motion: self.smoothing_motion.into(),
            refine: self.edge_refine,
            device: self.runtime.device.into(),
            precision: self.runtime.precision.into(),
            threads: self.runtime.threads as usize,
            one_thread: false,
        }
    }
}

impl Settings {
    /// Sets property `name`; false when the value was not taken. `renegotiate` is set when
    /// upstream must be asked for other formats.
    pub(super) fn set(&mut self, name: &str, value: &glib::Value, renegotiate: &mut bool) -> bool {
        if let Some(taken) = self.runtime.set(name, value) {
            return taken;
        }
        match name {
            "model" => {
                let mut model: Option<String> = None;
                let ok = assign(&mut model, value);
                self.model = model.unwrap_or_else(|| DEFAULT_MODEL.into());
                ok
            }
            "effect" => {
                let was = self.effect;
                let ok = assign(&mut self.effect, value);
                if (was == EffectKind::Transparent) != (self.effect == EffectKind::Transparent) {
                    // Formats with alpha are asked of upstream only for "transparent".
                    *renegotiate = true;
                }
                ok
            }
            "threshold" => assign(&mut self.threshold, value),
            "feather" => assign(&mut self.feather, value),
            "min-region" => assign(&mut self.min_region, value),
            "blur-radius" => assign(&mut self.blur_radius, value),
            "background" => assign(&mut self.background, value),
            "background-color" => assign(&mut self.background_color, value),
            "interval" => assign(&mut self.interval, value),
            "smoothing" => assign(&mut self.smoothing, value),
            "smoothing-motion" => assign(&mut self.smoothing_motion, value),
            "edge-refine" => assign(&mut self.edge_refine, value),
            "async" => assign(&mut self.asynchronous, value),
            _ => false,
        }
    }

    /// The value of property `name`, if it is one of these settings.
    pub(super) fn get(&self, name: &str) -> Option<glib::Value> {
        if let Some(v) = self.runtime.get(name) {
            return Some(v);
        }
        Some(match name {
            "model" => self.model.to_value(),
            "effect" => self.effect.to_value(),
            "threshold" => self.threshold.to_value(),
            "feather" => self.feather.to_value(),
            "min-region" => self.min_region.to_value(),
            "blur-radius" => self.blur_radius.to_value(),
            "background" => self.background.to_value(),
            "background-color" => self.background_color.to_value(),
            "interval" => self.interval.to_value(),
            "smoothing" => self.smoothing.to_value(),
            "smoothing-motion" => self.smoothing_motion.to_value(),
            "edge-refine" => self.edge_refine.to_value(),
            "async" => self.asynchronous.to_value(),
            _ => return None,
        })
    }
}

/// Every property of the element: its own, the runtime's (`device`, `precision`, `threads`,
/// `device-in-use`) and `budget-ms`.
pub(super) fn properties() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecString::builder("model")
            .nick("Model")
            .blurb(
                "Segmentation model: `selfie` (square, general), `selfie-landscape` (16:9), or a path to an \
                 .onnx file with one RGB input (NHWC [1,H,W,3] or NCHW [1,3,H,W], values 0..1 unless its \
                 metadata says aifx.input_range) and a one-channel person-probability output",
            )
            .default_value(Some(DEFAULT_MODEL))
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("effect", EffectKind::default())
            .nick("Effect")
            .blurb("What happens to the background")
            .mutable_playing()
            .build(),
        glib::ParamSpecDouble::builder("threshold")
            .nick("Threshold")
            .blurb("0 keeps the soft matte; above 0, a hard cut at this person probability")
            .minimum(0.0)
            .maximum(1.0)
            .default_value(DEFAULT_THRESHOLD)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("feather")
            .nick("Feather")
            .blurb("Width of the soft mask edge in frame pixels (0 = off)")
            .maximum(500)
            .default_value(DEFAULT_FEATHER)
            .mutable_playing()
            .build(),
        glib::ParamSpecDouble::builder("min-region")
            .nick("Minimum region")
            .blurb("Drop person blobs smaller than this fraction of the frame (0 = keep all)")
            .minimum(0.0)
            .maximum(1.0)
            .default_value(DEFAULT_MIN_REGION)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("blur-radius")
            .nick("Blur radius")
            .blurb("Background blur radius in frame pixels (effect=blur)")
            .minimum(1)
            .maximum(400)
            .default_value(DEFAULT_BLUR_RADIUS)
            .mutable_playing()
            .build(),
        glib::ParamSpecString::builder("background")
            .nick("Background image")
            .blurb("Image file (PNG, JPEG) scaled to cover the frame (effect=replace)")
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("background-color")
            .nick("Background colour")
            .blurb("Background colour as 0xAARRGGBB (effect=color, and transparent on formats without alpha)")
            .default_value(DEFAULT_BACKGROUND_COLOR)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("interval")
            .nick("Interval")
            .blurb("Run the model on one frame in N and reuse the mask in between")
            .minimum(1)
            .maximum(1000)
            .default_value(DEFAULT_INTERVAL)
            .mutable_playing()
            .build(),
        glib::ParamSpecDouble::builder("smoothing")
            .nick("Temporal smoothing")
            .blurb("Uncertainty-weighted blend with the previous mask (MediaPipe's; 0 = off)")
            .minimum(0.0)
            .maximum(1.0)
            .default_value(DEFAULT_SMOOTHING)
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("smoothing-motion", MotionKind::None)
            .nick("Smoothing motion compensation")
            .blurb("Warp the previous mask along the picture's motion before the smoothing blend, so moving edges do not lag (not with async)")
            .mutable_playing()
            .build(),
        glib::ParamSpecBoolean::builder("edge-refine")
            .nick("Edge refinement")
            .blurb("Upsample the mask with a guided filter so edges follow the picture (off: plain bilinear)")
            .default_value(DEFAULT_EDGE_REFINE)
            .mutable_playing()
            .build(),
        glib::ParamSpecBoolean::builder("async")
            .nick("Asynchronous")
            .blurb("Run inference on a worker thread on the newest frame; frames never wait and use the latest mask")
            .default_value(DEFAULT_ASYNC)
            .mutable_playing()
            .build(),
    ]
    .into_iter()
    .chain(runtime_properties())
    .chain([budget_property()])
    .collect()
}
