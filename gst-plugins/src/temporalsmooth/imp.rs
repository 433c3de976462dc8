//! SECTION:element-temporalsmooth
//!
//! Steadies what upstream elements produce, in place, in RGBA/BGRA/RGBx/BGRx/I420/NV12:
//! the person mask of `segment` (`AifxMaskMeta`, MediaPipe's uncertainty-weighted blend with
//! the previous mask warped along the frame's motion), the keypoints of `pose`
//! (`AifxPoseMeta`, one-euro filters per person on buffer timestamps) and, when asked, the
//! pixels themselves (motion-compensated deflicker for stylized or generated video).
//!
//! Metadata is rewritten, not redrawn: an element that composites from the mask must come
//! after this one (`segment effect=none ! temporalsmooth ! …` for applications that read the
//! mask). State resets on flushes, seeks, new streams, caps changes, gaps and
//! discontinuities.
//!
//! ```text
//! gst-launch-1.0 v4l2src ! videoconvert ! segment effect=none smoothing=0 ! temporalsmooth masks=0.7 ! appsink
//! gst-launch-1.0 v4l2src ! videoconvert ! pose smoothing=false ! temporalsmooth keypoints=true ! appsink
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! temporalsmooth pixels=0.8 ! videoconvert ! autovideosink
//! ```

use std::sync::{LazyLock, Mutex};

use aifx::temporal::stream::{MaskIn, PersonIn};
use aifx::temporal::{TemporalSettings, TemporalSmoother};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::subclass::prelude::*;

use crate::meta::{MaskMeta, PoseMeta};
use crate::props::{assign, lock, log_set, unknown};
use crate::video::{check_format, pad_templates, with_frame_mut, MaskFilterKind, MotionKind};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "temporalsmooth",
        gst::DebugColorFlags::empty(),
        Some("aifx temporal smoothing"),
    )
});

const DEFAULT_MASKS: f64 = 0.7;
const DEFAULT_KEYPOINTS: bool = true;
const DEFAULT_MIN_CUTOFF: f64 = 0.05;
const DEFAULT_BETA: f64 = 80.0;
const DEFAULT_PIXELS: f64 = 0.0;
const DEFAULT_MOTION_THRESHOLD: f64 = 12.0;

#[derive(Debug, Clone)]
struct Settings {
    masks: f64,
    mask_filter: MaskFilterKind,
    keypoints: bool,
    min_cutoff: f64,
    beta: f64,
    pixels: f64,
    motion: MotionKind,
    motion_threshold: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            masks: DEFAULT_MASKS,
            mask_filter: MaskFilterKind::default(),
            keypoints: DEFAULT_KEYPOINTS,
            min_cutoff: DEFAULT_MIN_CUTOFF,
            beta: DEFAULT_BETA,
            pixels: DEFAULT_PIXELS,
            motion: MotionKind::default(),
            motion_threshold: DEFAULT_MOTION_THRESHOLD,
        }
    }
}

impl Settings {
    fn to_shared(&self) -> TemporalSettings {
        TemporalSettings {
            masks: self.masks as f32,
            mask_filter: self.mask_filter.into(),
            keypoints: self.keypoints,
            min_cutoff: self.min_cutoff as f32,
            beta: self.beta as f32,
            pixels: self.pixels as f32,
            motion: self.motion.into(),
            motion_threshold: self.motion_threshold as f32,
        }
    }
}

#[derive(Default)]
struct State {
    info: Option<gst_video::VideoInfo>,
    smoother: TemporalSmoother,
    frames: u64,
}

#[derive(Default)]
pub struct TemporalSmooth {
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for TemporalSmooth {
    const NAME: &'static str = "GstAifxTemporalSmooth";
    type Type = super::TemporalSmooth;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for TemporalSmooth {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecDouble::builder("masks")
                    .nick("Mask smoothing")
                    .blurb("How much of the previous (motion-compensated) mask each AifxMaskMeta keeps (0 = off)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_MASKS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("mask-filter", MaskFilterKind::default())
                    .nick("Mask filter")
                    .blurb("How masks are blended: a moving average, or MediaPipe's uncertainty-weighted blend")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("keypoints")
                    .nick("Keypoint smoothing")
                    .blurb("One-euro filtering of each person's AifxPoseMeta landmarks on buffer timestamps")
                    .default_value(DEFAULT_KEYPOINTS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("min-cutoff")
                    .nick("Minimum cutoff")
                    .blurb("One-euro minimum cutoff frequency in Hz: lower is steadier when still (MediaPipe's pose: 0.05)")
                    .minimum(0.001)
                    .maximum(100.0)
                    .default_value(DEFAULT_MIN_CUTOFF)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("beta")
                    .nick("Speed coefficient")
                    .blurb("One-euro speed coefficient: higher follows fast motion more closely (MediaPipe's pose: 80)")
                    .minimum(0.0)
                    .maximum(10000.0)
                    .default_value(DEFAULT_BETA)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("pixels")
                    .nick("Pixel deflicker")
                    .blurb("Blend weight of the motion-compensated previous output where the picture only flickers (0 = off)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_PIXELS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("motion", MotionKind::default())
                    .nick("Motion compensation")
                    .blurb("How the previous mask and output are moved along the picture before blending")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("motion-threshold")
                    .nick("Change threshold")
                    .blurb("Luma change (levels) below which the deflicker treats a change as flicker; twice this passes through untouched")
                    .minimum(1.0)
                    .maximum(255.0)
                    .default_value(DEFAULT_MOTION_THRESHOLD)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        let name = pspec.name();
        let applied = match name {
            "masks" => assign(&mut s.masks, value),
            "mask-filter" => assign(&mut s.mask_filter, value),
            "keypoints" => assign(&mut s.keypoints, value),
            "min-cutoff" => assign(&mut s.min_cutoff, value),
            "beta" => assign(&mut s.beta, value),
            "pixels" => assign(&mut s.pixels, value),
            "motion" => assign(&mut s.motion, value),
            "motion-threshold" => assign(&mut s.motion_threshold, value),
            _ => false,
        };
        drop(s);
        log_set(*CAT, &*self.obj(), name, value, applied);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "masks" => s.masks.to_value(),
            "mask-filter" => s.mask_filter.to_value(),
            "keypoints" => s.keypoints.to_value(),
            "min-cutoff" => s.min_cutoff.to_value(),
            "beta" => s.beta.to_value(),
            "pixels" => s.pixels.to_value(),
            "motion" => s.motion.to_value(),
            "motion-threshold" => s.motion_threshold.to_value(),
            _ => unknown(pspec),
        }
    }
}

impl GstObjectImpl for TemporalSmooth {}

impl ElementImpl for TemporalSmooth {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Temporal smoothing",
                "Filter/Effect/Video",
                "Steadies segment's masks and pose's keypoints (rewriting their metadata) and deflickers pixels, \
                 motion-compensated",
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

impl TemporalSmooth {
    fn reset(&self, why: &str) {
        gst::debug!(CAT, imp = self, "resetting temporal state ({why})");
        let mut state = lock(&self.state);
        state.smoother.reset();
        state.frames = 0;
    }
}

impl BaseTransformImpl for TemporalSmooth {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *lock(&self.state) = State::default();
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *lock(&self.state) = State::default();
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStop(_)
            | gst::EventView::Eos(_)
            | gst::EventView::StreamStart(_)
            | gst::EventView::Gap(_)
            | gst::EventView::Segment(_) => self.reset(&format!("{:?}", event.type_())),
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = lock(&self.settings).to_shared();
        if buf.flags().contains(gst::BufferFlags::DISCONT) {
            self.reset("discontinuity");
        }
        let mut mask = MaskMeta::get(buf);
        let mut pose = PoseMeta::get(buf);
        let mut state = lock(&self.state);
        let Some(info) = state.info.clone() else {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ("no caps before the first buffer")
            );
            return Err(gst::FlowError::NotNegotiated);
        };
        // Buffer timestamps drive the keypoint filters; without them assume 30 fps.
        let time = buf
            .pts()
            .map_or(state.frames as f64 / 30.0, |t| t.nseconds() as f64 / 1e9);
        state.frames += 1;
        let mut values: Vec<f32> = mask
            .as_ref()
            .map(|m| m.data.iter().map(|&v| f32::from(v) / 255.0).collect())
            .unwrap_or_default();
        let state = &mut *state;
        let result = with_frame_mut(buf, &info, |mut view| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mask_in = mask.as_ref().map(|m| MaskIn {
                    width: m.width as usize,
                    height: m.height as usize,
                    data: &mut values[..],
                });
                let mut people: Vec<PersonIn<'_>> = pose
                    .as_mut()
                    .map(|p| {
                        p.persons
                            .iter_mut()
                            .map(|p| PersonIn {
                                id: p.id,
                                landmarks: &mut p.landmarks[..],
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                state
                    .smoother
                    .process(&mut view, time, mask_in, &mut people, &settings);
            }))
        })
        .map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("{}", e));
            gst::FlowError::Error
        })?;
        if result.is_err() {
            // Never let a panic cross into GStreamer. The deflicker may have stopped halfway
            // through the frame: say so, and start afresh.
            gst::error!(
                CAT,
                imp = self,
                "internal error while smoothing; this frame may be partly blended, state reset"
            );
            state.smoother.reset();
            return Ok(gst::FlowSuccess::Ok);
        }
        if let Some(m) = mask.as_mut() {
            for (d, v) in m.data.iter_mut().zip(&values) {
                *d = (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
            }
            if let Err(e) = m.add(buf) {
                gst::warning!(CAT, imp = self, "cannot rewrite the mask meta: {e}");
            }
        }
        if let Some(p) = pose {
            if let Err(e) = p.add(buf) {
                gst::warning!(CAT, imp = self, "cannot rewrite the pose meta: {e}");
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

impl VideoFilterImpl for TemporalSmooth {
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
        // New caps, new picture geometry: nothing from before applies.
        state.smoother.reset();
        state.frames = 0;
        drop(state);
        self.parent_set_info(incaps, in_info, outcaps, out_info)
    }
}
