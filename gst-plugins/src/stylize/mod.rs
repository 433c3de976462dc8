//! `stylize`: neural stylization with built-in or user-supplied ONNX style models.

use gst::glib;
use gst::prelude::*;

mod imp;
mod settings;

pub use settings::{InputRangeKind, RegionKind};

glib::wrapper! {
    pub struct Stylize(ObjectSubclass<imp::Stylize>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "stylize",
        gst::Rank::NONE,
        Stylize::static_type(),
    )
}
