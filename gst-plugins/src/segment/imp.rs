//! SECTION:element-segment
//!
//! Person segmentation on video, in place, in RGBA/BGRA/RGBx/BGRx/I420/NV12 (YUV frames are
//! processed in their own planes). Attaches the mask to every buffer as an `AifxMaskMeta`.
//!
//! ```text
//! gst-launch-1.0 v4l2src ! videoconvert ! segment effect=blur ! videoconvert ! autovideosink
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! segment effect=replace background=beach.jpg ! autovideosink
//! ```

use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};

use aifx::segment::{budget, Effect, SegmentSettings, Segmenter};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::subclass::prelude::*;

use super::settings::{properties, EffectKind, Settings};
use crate::budget::{qos_proportion, Budget};
use crate::meta::MaskMeta;
use crate::props::{lock, log_set, unknown};
use crate::video::{check_format, pad_templates, with_alpha_only, with_frame_mut, DeviceNotice};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "segment",
        gst::DebugColorFlags::empty(),
        Some("aifx person segmentation"),
    )
});

#[derive(Default)]
struct State {
    info: Option<gst_video::VideoInfo>,
    segmenter: Segmenter,
    /// Said that `effect=transparent` got a format without alpha (once per caps).
    warned_no_alpha: bool,
    device_notice: DeviceNotice,
    /// The last `background` picture that loaded (checked once per setting).
    good_background: Option<PathBuf>,
    budget: Budget,
}

#[derive(Default)]
pub struct Segment {
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for Segment {
    const NAME: &'static str = "GstAifxSegment";
    type Type = super::Segment;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for Segment {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(properties);
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        let name = pspec.name();
        let mut renegotiate = false;
        let applied = s.set(name, value, &mut renegotiate);
        drop(s);
        log_set(*CAT, &*self.obj(), name, value, applied);
        if renegotiate {
            self.obj().reconfigure_sink();
        }
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

impl GstObjectImpl for Segment {}

impl ElementImpl for Segment {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Person segmentation",
                "Filter/Effect/Video",
                "Separates people from the background (MediaPipe selfie segmentation on ONNX Runtime) and blurs, \
                 replaces, colours or removes the background; attaches the mask as AifxMaskMeta",
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

impl BaseTransformImpl for Segment {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    /// In place, so the same caps on both sides; with `effect=transparent` upstream is offered
    /// only the formats with alpha when it can give one (a converter upstream otherwise keeps
    /// its own YUV and the picture stays opaque).
    fn transform_caps(
        &self,
        direction: gst::PadDirection,
        caps: &gst::Caps,
        filter: Option<&gst::Caps>,
    ) -> Option<gst::Caps> {
        let mut out = self.parent_transform_caps(direction, caps, None)?;
        if direction == gst::PadDirection::Src
            && lock(&self.settings).effect == EffectKind::Transparent
        {
            // (Not while linking: the peer is not known yet, and every format must link.)
            let alpha = with_alpha_only(&out);
            let upstream = self.obj().sink_pad().peer().map(|p| p.query_caps(None));
            if !alpha.is_empty() && upstream.is_some_and(|u| u.can_intersect(&alpha)) {
                out = alpha;
            }
        }
        Some(match filter {
            Some(f) => f.intersect_with_mode(&out, gst::CapsIntersectMode::First),
            None => out,
        })
    }

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let raw = lock(&self.settings).clone();
        let settings = raw.to_shared();
        let mut state = lock(&self.state);
        state.segmenter = Segmenter::new();
        state
            .segmenter
            .prepare(&settings)
            .map_err(|e| gst::error_msg!(gst::LibraryError::Init, ("segment: {}", e)))?;
        if raw.runtime.budget_ms > 0.0 {
            // The rungs' models too, before frames flow (a build beside them slows them).
            let rungs = budget::rungs(&settings, raw.asynchronous);
            state.segmenter.load_now(&budget::models_wanted(&rungs, 0));
        }
        let State {
            segmenter,
            device_notice,
            ..
        } = &mut *state;
        if let Some(m) = segmenter.model() {
            device_notice.check(self.obj().upcast_ref(), &m.session);
            gst::info!(
                CAT,
                imp = self,
                "model {} ({}x{}, {}) on {}",
                m.spec.path.display(),
                m.spec.width,
                m.spec.height,
                if m.spec.nchw { "NCHW" } else { "NHWC" },
                m.session.device()
            );
        }
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *lock(&self.state) = State::default();
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if matches!(
            event.view(),
            gst::EventView::FlushStop(_) | gst::EventView::Eos(_) | gst::EventView::StreamStart(_)
        ) {
            gst::debug!(
                CAT,
                imp = self,
                "resetting temporal state on {:?}",
                event.type_()
            );
            let mut state = lock(&self.state);
            state.segmenter.reset();
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
        let settings_raw = lock(&self.settings).clone();
        let mut state = lock(&self.state);
        let rungs = budget::rungs(&settings_raw.to_shared(), settings_raw.asynchronous);
        let level = state
            .budget
            .begin(settings_raw.runtime.budget_ms, &budget::LEVELS, &rungs);
        let (mut settings, asynchronous) = rungs[level].clone();
        if settings_raw.runtime.budget_ms > 0.0 {
            // Every rung's model is kept loaded (two or three sessions), each built once, on
            // a thread of its own, so that no step stalls a frame on a session build.
            let wanted = budget::models_wanted(&rungs, level);
            state.segmenter.load_ahead(&wanted);
        } else {
            state.segmenter.load_ahead(&[]);
        }
        // A model set while playing that does not load: warn and keep the last good one
        // (a failed first load fails the state change in `start`).
        if let Err(e) = state.segmenter.prepare(&settings) {
            let Some(good) = state.segmenter.model_name().map(str::to_owned) else {
                gst::element_imp_error!(self, gst::LibraryError::Init, ("segment: {}", e));
                return Err(gst::FlowError::Error);
            };
            gst::element_imp_warning!(
                self,
                gst::LibraryError::Settings,
                ("segment: {}; keeping model `{}`", e, good)
            );
            let mut s = lock(&self.settings);
            if s.model == settings.model {
                s.model = good.clone();
            }
            settings.model = good;
        }
        if let Err(e) = self.check_background(&mut state, &mut settings) {
            gst::element_imp_error!(self, gst::ResourceError::OpenRead, ("segment: {}", e));
            return Err(gst::FlowError::Error);
        }
        if let Some(session) = state.segmenter.model().map(|m| m.session.clone()) {
            state.device_notice.check(self.obj().upcast_ref(), &session);
        }
        let Some(info) = state.info.clone() else {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ("no caps before the first buffer")
            );
            return Err(gst::FlowError::NotNegotiated);
        };
        if settings_raw.effect == EffectKind::Transparent
            && !info.format_info().has_alpha()
            && !state.warned_no_alpha
        {
            state.warned_no_alpha = true;
            gst::element_imp_warning!(
                self,
                gst::CoreError::Negotiation,
                (
                    "segment: effect=transparent needs RGBA or BGRA, but upstream gives {:?}: \
                     the background becomes background-color. Put videoconvert before segment.",
                    info.format()
                )
            );
        }
        let segmenter = &mut state.segmenter;
        let result = with_frame_mut(buf, &info, |mut view| {
            let (w, h) = (view.width, view.height);
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                segmenter
                    .process(&mut view, &settings, asynchronous)
                    .map(|m| (m, w, h))
            }))
        })
        .map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("{}", e));
            gst::FlowError::Error
        })?;
        state.budget.end(self.obj().upcast_ref());
        match result {
            Ok(Ok((m, w, h))) => {
                // No mask yet (asynchronous start-up): the frame is untouched and carries no
                // meta, rather than one that claims the whole frame is a person.
                let Some(mask) = m.mask else {
                    gst::debug!(CAT, imp = self, "no mask yet; frame passed through");
                    return Ok(gst::FlowSuccess::Ok);
                };
                let meta = MaskMeta {
                    width: mask.width as u32,
                    height: mask.height as u32,
                    data: mask
                        .data
                        .iter()
                        .map(|&v| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8)
                        .collect(),
                    frame_width: w as u32,
                    frame_height: h as u32,
                    inferred: m.inferred,
                };
                if let Err(e) = meta.add(buf) {
                    gst::warning!(CAT, imp = self, "cannot attach the mask meta: {e}");
                }
                gst::debug!(
                    CAT,
                    imp = self,
                    "frame: {} (model ran: {})",
                    state.segmenter.last_times(),
                    m.inferred
                );
                Ok(gst::FlowSuccess::Ok)
            }
            Ok(Err(e)) => {
                gst::element_imp_error!(self, gst::StreamError::Failed, ("segment: {}", e));
                Err(gst::FlowError::Error)
            }
            Err(_) => {
                // Never let a panic cross into GStreamer. The panic may have come halfway
                // through compositing, so the frame can be partly processed: say so.
                gst::error!(
                    CAT,
                    imp = self,
                    "internal error while segmenting; this frame may be partly composited, \
                     temporal state reset"
                );
                state.segmenter.reset();
                Ok(gst::FlowSuccess::Ok)
            }
        }
    }
}

impl Segment {
    /// With `effect=replace`, a `background` set while playing that does not load is a
    /// warning, and the last good picture stays (in the settings too); with no good picture
    /// yet (the first frame) it is an error.
    fn check_background(
        &self,
        state: &mut State,
        settings: &mut SegmentSettings,
    ) -> aifx::Result<()> {
        let p = &mut settings.composite;
        if p.effect != Effect::Replace {
            return Ok(());
        }
        let Some(path) = p.background.clone() else {
            return Ok(());
        };
        if state.good_background.as_ref() == Some(&path) {
            return Ok(());
        }
        match aifx::segment::composite::load_cover(&path, 2, 2) {
            Ok(_) => {
                state.good_background = Some(path);
                Ok(())
            }
            Err(e) => {
                let Some(good) = state.good_background.clone() else {
                    return Err(e);
                };
                gst::element_imp_warning!(
                    self,
                    gst::ResourceError::OpenRead,
                    ("segment: {}; keeping background {}", e, good.display())
                );
                let mut s = lock(&self.settings);
                if s.background.as_deref().map(std::path::Path::new) == Some(path.as_path()) {
                    s.background = Some(good.display().to_string());
                }
                p.background = Some(good);
                Ok(())
            }
        }
    }
}

impl VideoFilterImpl for Segment {
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
        state.warned_no_alpha = false;
        drop(state);
        self.parent_set_info(incaps, in_info, outcaps, out_info)
    }
}
