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

use aifx::segment::{budget, CompositeParams, Effect, SegmentSettings, Segmenter};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::subclass::prelude::*;

use crate::budget::{budget_property, qos_proportion, Budget};
use crate::meta::MaskMeta;
use crate::props::{assign, lock, log_set, unknown};
use crate::video::{
    check_format, pad_templates, runtime_properties, with_alpha_only, with_frame_mut, DeviceKind,
    DeviceNotice, MotionKind, PrecisionKind, DEFAULT_THREADS,
};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "segment",
        gst::DebugColorFlags::empty(),
        Some("aifx person segmentation"),
    )
});

const DEFAULT_MODEL: &str = "selfie";
const DEFAULT_THRESHOLD: f64 = 0.0;
const DEFAULT_FEATHER: u32 = 0;
const DEFAULT_MIN_REGION: f64 = 0.0;
const DEFAULT_BLUR_RADIUS: u32 = 24;
const DEFAULT_BACKGROUND_COLOR: u32 = 0xff00_b140;
const DEFAULT_INTERVAL: u32 = 1;
const DEFAULT_SMOOTHING: f64 = 0.7;
const DEFAULT_EDGE_REFINE: bool = true;
const DEFAULT_ASYNC: bool = false;

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

#[derive(Debug, Clone)]
struct Settings {
    model: String,
    effect: EffectKind,
    threshold: f64,
    feather: u32,
    min_region: f64,
    blur_radius: u32,
    background: Option<String>,
    background_color: u32,
    interval: u32,
    smoothing: f64,
    smoothing_motion: MotionKind,
    edge_refine: bool,
    asynchronous: bool,
    device: DeviceKind,
    precision: PrecisionKind,
    threads: u32,
    budget_ms: f64,
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
            device: DeviceKind::default(),
            precision: PrecisionKind::default(),
            threads: DEFAULT_THREADS,
            budget_ms: 0.0,
        }
    }
}

impl Settings {
    fn to_shared(&self) -> SegmentSettings {
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
            device: self.device.into(),
            precision: self.precision.into(),
            threads: self.threads as usize,
        }
    }
}

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
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
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
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        let name = pspec.name();
        let mut renegotiate = false;
        let applied = match name {
            "model" => {
                let mut model: Option<String> = None;
                let ok = assign(&mut model, value);
                s.model = model.unwrap_or_else(|| DEFAULT_MODEL.into());
                ok
            }
            "effect" => {
                let was = s.effect;
                let ok = assign(&mut s.effect, value);
                if (was == EffectKind::Transparent) != (s.effect == EffectKind::Transparent) {
                    // Formats with alpha are asked of upstream only for "transparent".
                    renegotiate = true;
                }
                ok
            }
            "threshold" => assign(&mut s.threshold, value),
            "feather" => assign(&mut s.feather, value),
            "min-region" => assign(&mut s.min_region, value),
            "blur-radius" => assign(&mut s.blur_radius, value),
            "background" => assign(&mut s.background, value),
            "background-color" => assign(&mut s.background_color, value),
            "interval" => assign(&mut s.interval, value),
            "smoothing" => assign(&mut s.smoothing, value),
            "smoothing-motion" => assign(&mut s.smoothing_motion, value),
            "edge-refine" => assign(&mut s.edge_refine, value),
            "async" => assign(&mut s.asynchronous, value),
            "device" => assign(&mut s.device, value),
            "precision" => assign(&mut s.precision, value),
            "threads" => assign(&mut s.threads, value),
            "budget-ms" => assign(&mut s.budget_ms, value),
            _ => false,
        };
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
        match pspec.name() {
            "model" => s.model.to_value(),
            "effect" => s.effect.to_value(),
            "threshold" => s.threshold.to_value(),
            "feather" => s.feather.to_value(),
            "min-region" => s.min_region.to_value(),
            "blur-radius" => s.blur_radius.to_value(),
            "background" => s.background.to_value(),
            "background-color" => s.background_color.to_value(),
            "interval" => s.interval.to_value(),
            "smoothing" => s.smoothing.to_value(),
            "smoothing-motion" => s.smoothing_motion.to_value(),
            "edge-refine" => s.edge_refine.to_value(),
            "async" => s.asynchronous.to_value(),
            "device" => s.device.to_value(),
            "precision" => s.precision.to_value(),
            "threads" => s.threads.to_value(),
            "budget-ms" => s.budget_ms.to_value(),
            _ => unknown(pspec),
        }
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
        let settings = lock(&self.settings).to_shared();
        let mut state = lock(&self.state);
        state.segmenter = Segmenter::new();
        state
            .segmenter
            .prepare(&settings)
            .map_err(|e| gst::error_msg!(gst::LibraryError::Init, ("segment: {}", e)))?;
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
        let level = state.budget.begin(settings_raw.budget_ms, &budget::LEVELS);
        let (mut settings, asynchronous) =
            budget::at_level(&settings_raw.to_shared(), settings_raw.asynchronous, level);
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
