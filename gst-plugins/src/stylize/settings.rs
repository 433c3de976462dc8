//! `stylize`'s properties: their specs (with `gst-inspect` docs), defaults, and the settings
//! they make, kept apart from the adapter in `imp.rs`.

use aifx::stylize::{RangeChoice, Region, StyleSettings};
use gst::glib;
use gst::prelude::*;

use crate::budget::budget_property;
use crate::props::assign;
use crate::video::{runtime_properties, RuntimeSettings};

pub(super) const DEFAULT_MODEL: &str = "toon";
pub(super) const DEFAULT_STRENGTH: f64 = 1.0;
pub(super) const DEFAULT_RESOLUTION: u32 = 360;
pub(super) const DEFAULT_INTERVAL: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAifxStyleRegion")]
pub enum RegionKind {
    #[default]
    #[enum_value(name = "The whole frame", nick = "all")]
    All,
    #[enum_value(name = "Only the person (needs segment upstream)", nick = "person")]
    Person,
    #[enum_value(
        name = "Only the background (needs segment upstream)",
        nick = "background"
    )]
    Background,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAifxInputRange")]
pub enum InputRangeKind {
    #[default]
    #[enum_value(
        name = "The model's aifx.input_range metadata, else 0..1",
        nick = "auto"
    )]
    Auto,
    #[enum_value(name = "0..1", nick = "unit")]
    Unit,
    #[enum_value(
        name = "0..255 (e.g. the ONNX model zoo's fast-neural-style)",
        nick = "byte"
    )]
    Byte,
    #[enum_value(name = "-1..1", nick = "signed")]
    Signed,
}

/// The element's properties, as set.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) model: String,
    pub(super) input_range: InputRangeKind,
    pub(super) strength: f64,
    pub(super) resolution: u32,
    pub(super) region: RegionKind,
    pub(super) interval: u32,
    /// `device`, `precision`, `threads`, `budget-ms`.
    pub(super) runtime: RuntimeSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: DEFAULT_MODEL.into(),
            input_range: InputRangeKind::default(),
            strength: DEFAULT_STRENGTH,
            resolution: DEFAULT_RESOLUTION,
            region: RegionKind::default(),
            interval: DEFAULT_INTERVAL,
            runtime: RuntimeSettings::default(),
        }
    }
}

impl Settings {
    /// What the shared stylizer is given.
    pub(super) fn to_shared(&self) -> StyleSettings {
        StyleSettings {
            model: self.model.clone(),
            range: match self.input_range {
                InputRangeKind::Auto => RangeChoice::Auto,
                InputRangeKind::Unit => RangeChoice::Unit,
                InputRangeKind::Byte => RangeChoice::Byte,
                InputRangeKind::Signed => RangeChoice::Signed,
            },
            strength: self.strength as f32,
            resolution: self.resolution as usize,
            region: match self.region {
                RegionKind::All => Region::All,
                RegionKind::Person => Region::Person,
                RegionKind::Background => Region::Background,
            },
            interval: self.interval,
            device: self.runtime.device.into(),
            precision: self.runtime.precision.into(),
            threads: self.runtime.threads as usize,
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
            "model" => {
                let mut model: Option<String> = None;
                let ok = assign(&mut model, value);
                self.model = model.unwrap_or_else(|| DEFAULT_MODEL.into());
                ok
            }
            "input-range" => assign(&mut self.input_range, value),
            "strength" => assign(&mut self.strength, value),
            "resolution" => assign(&mut self.resolution, value),
            "region" => assign(&mut self.region, value),
            "interval" => assign(&mut self.interval, value),
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
            "input-range" => self.input_range.to_value(),
            "strength" => self.strength.to_value(),
            "resolution" => self.resolution.to_value(),
            "region" => self.region.to_value(),
            "interval" => self.interval.to_value(),
            _ => return None,
        })
    }
}

/// Every property of the element: its own, the runtime's (`device`, `precision`, `threads`,
/// `device-in-use`) and `budget-ms`.
pub(super) fn properties() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecString::builder("model")
            .nick("Style")
            .blurb("Built-in style (toon, pencil, oil) or a path to an .onnx model mapping one RGB picture to one RGB picture")
            .default_value(Some(DEFAULT_MODEL))
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("input-range", InputRangeKind::default())
            .nick("Input range")
            .blurb("Pixel value range the model takes and gives")
            .mutable_playing()
            .build(),
        glib::ParamSpecDouble::builder("strength")
            .nick("Strength")
            .blurb("0 = the original frame, 1 = the full style")
            .minimum(0.0)
            .maximum(1.0)
            .default_value(DEFAULT_STRENGTH)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("resolution")
            .nick("Resolution")
            .blurb("Short side of the picture the model runs on, upsampled to the frame (0 = the frame's own)")
            .maximum(4320)
            .default_value(DEFAULT_RESOLUTION)
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("region", RegionKind::default())
            .nick("Region")
            .blurb("Where the style applies; person/background use the AifxMaskMeta of an upstream segment")
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("interval")
            .nick("Interval")
            .blurb("Run the model on one frame in N and reuse its picture in between")
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
