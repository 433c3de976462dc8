//! `temporalsmooth`: steadies masks, keypoints and pixels from frame to frame.

use gst::glib;
use gst::prelude::*;

mod imp;
mod settings;

pub use crate::video::MotionKind;

glib::wrapper! {
    pub struct TemporalSmooth(ObjectSubclass<imp::TemporalSmooth>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "temporalsmooth",
        gst::Rank::NONE,
        TemporalSmooth::static_type(),
    )
}
