//! # aifx GStreamer plugin
//!
//! Real-time AI video effects as GStreamer elements, built on the `aifx` inference crate.
//! Elements arrive one module each (`mod.rs` registers, `imp.rs` implements); this crate
//! also carries the custom metas that carry masks and keypoints between them.

use gst::glib;

pub mod budget;
pub mod meta;
pub mod pose;
pub mod props;
pub mod segment;
pub mod stylize;
pub mod temporalsmooth;
pub mod video;

/// The `aifx` crate logs through the `log` crate; unless the application has its own logger,
/// that goes to GStreamer's debug log (category `aifx`), so its warnings show with GStreamer's.
fn forward_crate_log() {
    let cat = gst::DebugCategory::new(
        "aifx",
        gst::DebugColorFlags::empty(),
        Some("aifx inference core (model loading, runtime, sessions)"),
    );
    if log::set_boxed_logger(Box::new(gst::DebugCategoryLogger::new(cat))).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
}

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    forward_crate_log();
    meta::register();
    segment::register(plugin)?;
    pose::register(plugin)?;
    stylize::register(plugin)?;
    temporalsmooth::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    aifx,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
