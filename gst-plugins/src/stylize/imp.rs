//! SECTION:element-stylize
//!
//! Neural stylization, in place, in RGBA/BGRA/RGBx/BGRx/I420/NV12. `model` is a built-in
//! style (`toon`, `pencil`, `oil`: small networks distilled in this project from slow
//! OpenCV teachers, see `models/styles/`) or a path to any ONNX model that maps one RGB
//! picture to one RGB picture (NCHW `[1,3,H,W]` or NHWC `[1,H,W,3]`, fixed or dynamic size,
//! values 0..1 unless its metadata says `aifx.input_range` or `input-range` overrides). The
//! model runs at `resolution` (short side) and its picture is upsampled to the frame;
//! `region` limits the style to the person or the background using the `AifxMaskMeta` of an
//! upstream `segment`.
//!
//! ```text
//! gst-launch-1.0 v4l2src ! videoconvert ! stylize model=toon ! videoconvert ! autovideosink
//! gst-launch-1.0 v4l2src ! videoconvert ! segment effect=none ! stylize model=oil region=background ! videoconvert ! autovideosink
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! stylize model=/path/to/mosaic-9.onnx input-range=byte ! temporalsmooth pixels=0.8 ! videoconvert ! autovideosink
//! ```

use std::sync::{LazyLock, Mutex};

use aifx::stylize::{budget, MaskRef, Region, Stylizer};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::subclass::prelude::*;

use super::settings::{properties, Settings};
use crate::budget::{qos_proportion, Budget};
use crate::meta::MaskMeta;
use crate::props::{lock, log_set, unknown};
use crate::video::{check_format, pad_templates, with_frame_mut, DeviceNotice};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "stylize",
        gst::DebugColorFlags::empty(),
        Some("aifx neural stylization"),
    )
});

#[derive(Default)]
struct State {
    info: Option<gst_video::VideoInfo>,
    stylizer: Stylizer,
    warned_no_mask: bool,
    device_notice: DeviceNotice,
    budget: Budget,
}

#[derive(Default)]
pub struct Stylize {
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for Stylize {
    const NAME: &'static str = "GstAifxStylize";
    type Type = super::Stylize;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for Stylize {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(properties);
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        let name = pspec.name();
        let applied = s.set(name, value);
        drop(s);
        log_set(*CAT, &*self.obj(), name, value, applied);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if pspec.name() == "device-in-use" {
            // Not under the settings lock: the streaming thread takes state, then settings.
            return crate::video::device_in_use(&lock(&self.state).device_notice);
        }
        let s = lock(&self.settings);
        s.get(pspec.name()).unwrap_or_else(|| unknown(pspec))
    }
}

impl GstObjectImpl for Stylize {}

impl ElementImpl for Stylize {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Neural stylization",
                "Filter/Effect/Video",
                "Restyles video with a small ONNX network (built-in styles distilled from OpenCV teachers, or your own \
                 model), on the whole frame, the person or the background",
                "aifx developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(pad_templates);
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for Stylize {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = lock(&self.settings).to_shared();
        let mut state = lock(&self.state);
        *state = State::default();
        state
            .stylizer
            .prepare(&settings)
            .map_err(|e| gst::error_msg!(gst::LibraryError::Init, ("stylize: {}", e)))?;
        gst::info!(CAT, imp = self, "style model {} loaded", settings.model);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *lock(&self.state) = State::default();
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if matches!(
            event.view(),
            gst::EventView::FlushStop(_) | gst::EventView::StreamStart(_)
        ) {
            let mut state = lock(&self.state);
            state.stylizer.reset();
            state.budget.reset();
        }
        self.parent_sink_event(event)
    }

    fn src_event(&self, event: gst::Event) -> bool {
        if let Some(late) = qos_proportion(&event) {
            lock(&self.state).budget.qos(self.obj().upcast_ref(), late);
        }
        self.parent_src_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let raw = lock(&self.settings).clone();
        let mut state = lock(&self.state);
        let mut rungs = budget::rungs(&raw.to_shared());
        let level = state
            .budget
            .begin(raw.runtime.budget_ms, &budget::LEVELS, &rungs);
        let mut settings = rungs.swap_remove(level);
        let Some(info) = state.info.clone() else {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ("no caps before the first buffer")
            );
            return Err(gst::FlowError::NotNegotiated);
        };
        // A model set while playing that does not load: warn and keep the last good one.
        if let Err(e) = state.stylizer.prepare(&settings) {
            let Some(good) = state.stylizer.model_name().map(str::to_owned) else {
                gst::element_imp_error!(self, gst::LibraryError::Init, ("stylize: {}", e));
                return Err(gst::FlowError::Error);
            };
            gst::element_imp_warning!(
                self,
                gst::LibraryError::Settings,
                ("stylize: {}; keeping model `{}`", e, good)
            );
            let mut s = lock(&self.settings);
            if s.model == settings.model {
                s.model = good.clone();
            }
            settings.model = good;
        }
        if let Some(session) = state.stylizer.session().cloned() {
            state.device_notice.check(self.obj().upcast_ref(), &session);
        }
        let meta = MaskMeta::get(buf);
        if settings.region != Region::All && meta.is_none() && !state.warned_no_mask {
            state.warned_no_mask = true;
            gst::element_imp_warning!(
                self,
                gst::StreamError::Format,
                ("stylize: region needs the AifxMaskMeta of an upstream segment; styling the whole frame")
            );
        }
        let state = &mut *state;
        let result = with_frame_mut(buf, &info, |mut view| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mask = meta.as_ref().map(|m| MaskRef {
                    width: m.width as usize,
                    height: m.height as usize,
                    data: &m.data,
                });
                state.stylizer.process(&mut view, &settings, mask)
            }))
        })
        .map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("{}", e));
            gst::FlowError::Error
        })?;
        state.budget.end(self.obj().upcast_ref());
        match result {
            Ok(Ok(inferred)) => {
                gst::debug!(
                    CAT,
                    imp = self,
                    "frame: {} (model ran: {inferred})",
                    state.stylizer.last_times()
                );
                Ok(gst::FlowSuccess::Ok)
            }
            Ok(Err(e)) => {
                gst::element_imp_error!(self, gst::StreamError::Failed, ("stylize: {}", e));
                Err(gst::FlowError::Error)
            }
            Err(_) => {
                // Never let a panic cross into GStreamer; the frame may be partly blended.
                gst::error!(
                    CAT,
                    imp = self,
                    "internal error while stylizing; this frame may be partly blended"
                );
                state.stylizer.reset();
                Ok(gst::FlowSuccess::Ok)
            }
        }
    }
}

impl VideoFilterImpl for Stylize {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        outcaps: &gst::Caps,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        check_format(*CAT, in_info)?;
        gst::debug!(CAT, imp = self, "caps {incaps}");
        let mut state = lock(&self.state);
        state.info = Some(in_info.clone());
        state.stylizer.reset();
        drop(state);
        self.parent_set_info(incaps, in_info, outcaps, out_info)
    }
}
