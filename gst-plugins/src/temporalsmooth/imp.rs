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
//! With `pixels` above 0 the element holds the last buffer it pushed (the next frame blends
//! with it; no copy is made): an element after it that writes in place gets a copy of that
//! buffer, as GStreamer does for any buffer still referenced elsewhere.
//!
//! ```text
//! gst-launch-1.0 v4l2src ! videoconvert ! segment effect=none smoothing=0 ! temporalsmooth masks=0.7 ! appsink
//! gst-launch-1.0 v4l2src ! videoconvert ! pose smoothing=false ! temporalsmooth keypoints=true ! appsink
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! temporalsmooth pixels=0.8 ! videoconvert ! autovideosink
//! ```

use std::sync::{LazyLock, Mutex};

use aifx::temporal::stream::{MaskIn, PersonIn, PreviousOutput};
use aifx::temporal::TemporalSmoother;
use gst::glib;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::subclass::prelude::*;

use super::settings::{properties, Settings};
use crate::meta::{MaskMeta, PoseMeta};
use crate::props::{lock, log_set, unknown};
use crate::video::{check_format, frame_ref, pad_templates, with_frame_mut};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "temporalsmooth",
        gst::DebugColorFlags::empty(),
        Some("aifx temporal smoothing"),
    )
});

#[derive(Default)]
struct State {
    info: Option<gst_video::VideoInfo>,
    smoother: TemporalSmoother,
    frames: u64,
    /// The last buffer pushed, while pixels are deflickered: the next frame blends with it.
    /// A reference, not a copy (a quarter of the memory traffic at 1080p RGBA); downstream
    /// elements that write in place copy it instead, as GStreamer has them do with any buffer
    /// still referenced elsewhere.
    output: Option<gst::Buffer>,
    /// Whether the buffer being made is kept as `output`.
    keep_output: bool,
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
        lock(&self.settings)
            .get(pspec.name())
            .unwrap_or_else(|| unknown(pspec))
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
        state.output = None;
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

    fn generate_output(
        &self,
    ) -> Result<gst_base::subclass::base_transform::GenerateOutputSuccess, gst::FlowError> {
        let out = self.parent_generate_output()?;
        if let gst_base::subclass::base_transform::GenerateOutputSuccess::Buffer(b) = &out {
            let mut state = lock(&self.state);
            if state.keep_output {
                state.output = Some(b.clone());
            }
        }
        Ok(out)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = lock(&self.settings).to_shared();
        if buf.flags().contains(gst::BufferFlags::DISCONT) {
            self.reset("discontinuity");
        }
        // Metas are read (and rewritten) only for the filters that are on: with `masks=0` a
        // buffer's mask goes through as it came, without being copied twice.
        let mut mask = (settings.masks > 0.0).then(|| MaskMeta::get(buf)).flatten();
        let mut pose = settings.keypoints.then(|| PoseMeta::get(buf)).flatten();
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
        let previous = state.output.take();
        state.keep_output = false;
        let previous = previous
            .as_ref()
            .and_then(|b| gst_video::VideoFrameRef::from_buffer_ref_readable(b, &info).ok());
        let previous = previous.as_ref().and_then(frame_ref);
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
                                size: p.size,
                                landmarks: &mut p.landmarks[..],
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                state.smoother.process(
                    &mut view,
                    PreviousOutput::Lent(previous.as_ref()),
                    time,
                    mask_in,
                    &mut people,
                    &settings,
                );
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
        state.keep_output = settings.pixels > 0.0;
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
