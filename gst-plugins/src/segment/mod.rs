//! `segment`: person segmentation with background blur, replace, colour, transparency or matte.

use gst::glib;
use gst::prelude::*;

mod imp;
mod settings;

pub use crate::video::DeviceKind;
pub use settings::EffectKind;

glib::wrapper! {
    pub struct Segment(ObjectSubclass<imp::Segment>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "segment",
        gst::Rank::NONE,
        Segment::static_type(),
    )
}
