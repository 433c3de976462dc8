//! `pose`: BlazePose 33-keypoint tracking with a skeleton overlay, metadata and messages.

use gst::glib;
use gst::prelude::*;

mod imp;
mod settings;

glib::wrapper! {
    pub struct Pose(ObjectSubclass<imp::Pose>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "pose", gst::Rank::NONE, Pose::static_type())
}
