//! SECTION:element-pose
//!
//! Body pose (MediaPipe BlazePose, 33 landmarks) on video, in place, in RGBA/BGRA/RGBx/BGRx/
//! I420/NV12. Draws the skeleton, attaches an `AifxPoseMeta` to every buffer and, with
//! `post-messages=true`, posts an `aifx-pose` element message per frame.
//!
//! ```text
//! gst-launch-1.0 -m v4l2src ! videoconvert ! pose post-messages=true ! videoconvert ! autovideosink
//! ```

use std::sync::{Arc, LazyLock, Mutex};

use aifx::ahead::LoadAhead;
use aifx::pose::asynchronous::{AsyncPose, SharedTracker};
use aifx::pose::budget::{self, PoseWork};
use aifx::pose::draw::{draw_skeletons, tint_people, DrawStyle};
use aifx::pose::pipeline::PoseModels;
use aifx::pose::tracker::{PoseTracker, TrackerSettings};
use aifx::session::SessionOptions;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::subclass::prelude::*;

use super::settings::{properties, Settings};
use crate::budget::{qos_proportion, Budget};
use crate::meta::{PoseMeta, PosePerson};
use crate::props::{lock, log_set, unknown};
use crate::video::{check_format, pad_templates, with_frame_mut, DeviceNotice};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "pose",
        gst::DebugColorFlags::empty(),
        Some("aifx body pose"),
    )
});

/// What the pose models were loaded for: the session options and `draw-mask`.
type ModelsKey = (SessionOptions, bool);

/// `budget-ms`'s rungs for these settings.
fn rungs(s: &Settings) -> Vec<PoseWork> {
    budget::rungs(PoseWork {
        max_persons: s.max_persons as usize,
        interval: s.interval,
        asynchronous: false,
        threads: s.runtime.threads as usize,
    })
}

/// The models a stream at `level` keeps loaded, the most urgent first (none without a budget).
fn models_wanted(s: &Settings, rungs: &[PoseWork], level: usize) -> Vec<ModelsKey> {
    if s.runtime.budget_ms <= 0.0 {
        return Vec::new();
    }
    let opts = budget::sessions_wanted(rungs, level, &s.runtime.session_options());
    opts.into_iter().map(|o| (o, s.draw_mask)).collect()
}

/// Loads the models for `key` (and runs each once: the first run is slow).
fn load(key: &ModelsKey) -> impl FnOnce() -> aifx::Result<PoseModels> + Send + 'static {
    let (opts, mask) = key.clone();
    move || PoseModels::load_warm(&opts, mask)
}

#[derive(Default)]
struct State {
    info: Option<gst_video::VideoInfo>,
    tracker: Option<SharedTracker>,
    /// The worker of `budget-ms`'s asynchronous rung.
    async_pose: AsyncPose,
    models_key: Option<ModelsKey>,
    /// `budget-ms`'s rungs' models (and the ones a step replaced), built ahead of a step.
    ahead: LoadAhead<ModelsKey, PoseModels>,
    frames: u64,
    last: Vec<(u64, aifx::pose::pipeline::Person)>,
    device_notice: DeviceNotice,
    budget: Budget,
}

#[derive(Default)]
pub struct Pose {
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for Pose {
    const NAME: &'static str = "GstAifxPose";
    type Type = super::Pose;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for Pose {
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

impl GstObjectImpl for Pose {}

impl ElementImpl for Pose {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Body pose",
                "Filter/Effect/Video/Analyzer",
                "Tracks people's 33 body landmarks (MediaPipe BlazePose on ONNX Runtime), draws the skeleton, \
                 attaches AifxPoseMeta and optionally posts aifx-pose messages",
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

impl Pose {
    /// Loads the models (or reuses them) for the current device/threads.
    /// The landmark model has a segmentation branch as costly as the rest of it; it is loaded
    /// only while `draw-mask` needs it. While `budget-ms` loads its rungs' models ahead, a
    /// step to models not built yet keeps running the ones in use until they are.
    fn ensure_models(&self, state: &mut State, s: &Settings) -> Result<(), gst::ErrorMessage> {
        let key = (s.runtime.session_options(), s.draw_mask);
        if state.tracker.is_some() && state.models_key.as_ref() == Some(&key) {
            return Ok(());
        }
        let next = (state.ahead)
            .model_for(&key, state.tracker.is_some(), load(&key))
            .map_err(|e| gst::error_msg!(gst::LibraryError::Init, ("pose: {}", e)))?;
        let Some(models) = next else {
            return Ok(());
        };
        state
            .device_notice
            .check(self.obj().upcast_ref(), &models.detector);
        match state.tracker.as_ref() {
            Some(t) => {
                let old = lock(t).set_models(models);
                if let Some(k) = state.models_key.take() {
                    state.ahead.keep(k, old);
                }
            }
            None => state.tracker = Some(Arc::new(Mutex::new(PoseTracker::new(models)))),
        }
        state.models_key = Some(key);
        Ok(())
    }
}

impl BaseTransformImpl for Pose {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = lock(&self.settings).clone();
        let mut state = lock(&self.state);
        *state = State::default();
        self.ensure_models(&mut state, &s)?;
        // The rungs' models too, before frames flow (a build beside them slows them).
        let in_use = state.models_key.clone();
        let wanted = models_wanted(&s, &rungs(&s), 0);
        state.ahead.load_now(&wanted, in_use.as_ref(), load);
        gst::info!(CAT, imp = self, "models loaded on {:?}", s.runtime.device);
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
            gst::debug!(CAT, imp = self, "resetting tracking on {:?}", event.type_());
            let mut state = lock(&self.state);
            state.async_pose.reset();
            if let Some(t) = state.tracker.as_ref() {
                lock(t).reset();
            }
            state.last.clear();
            state.frames = 0;
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
        let s = lock(&self.settings).clone();
        let mut state = lock(&self.state);
        let Some(info) = state.info.clone() else {
            return Err(gst::FlowError::NotNegotiated);
        };
        let rungs = rungs(&s);
        let level = state
            .budget
            .begin(s.runtime.budget_ms, &budget::LEVELS, &rungs);
        let work = rungs[level];
        let mut s = s;
        let in_use = state.models_key.clone();
        (state.ahead).want(&models_wanted(&s, &rungs, level), in_use.as_ref(), load);
        s.runtime.threads = work.threads as u32;
        if let Err(e) = self.ensure_models(&mut state, &s) {
            self.post_error_message(e);
            return Err(gst::FlowError::Error);
        }
        let pts = buf.pts();
        // Buffer timestamps drive the smoothing; without them assume 30 fps.
        let time = pts.map_or(state.frames as f64 / 30.0, |t| t.nseconds() as f64 / 1e9);
        let due = state.frames.is_multiple_of(u64::from(work.interval.max(1)));
        state.frames += 1;
        let tracker_settings = TrackerSettings {
            min_detection_confidence: s.min_detection as f32,
            min_tracking_confidence: s.min_tracking as f32,
            smoothing: s.smoothing,
        };
        let style = DrawStyle {
            line_width: s.line_width as f32,
            point_radius: s.point_radius as f32,
            ..DrawStyle::default()
        };
        let state = &mut *state;
        let (mut models_time, mut drawing_time) = Default::default();
        let result = with_frame_mut(buf, &info, |mut view| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> aifx::Result<()> {
                let start = std::time::Instant::now();
                let tracker = state.tracker.as_ref().expect("models loaded above");
                if due && work.asynchronous {
                    let newest = state.async_pose.process(
                        tracker,
                        &view,
                        time,
                        &tracker_settings,
                        work.max_persons,
                    )?;
                    if let Some(people) = newest {
                        state.last = people;
                    }
                } else if due {
                    state.async_pose.stop();
                    state.last = lock(tracker).process_all(
                        &view,
                        time,
                        &tracker_settings,
                        work.max_persons,
                        false,
                    )?;
                }
                models_time = start.elapsed();
                let start = std::time::Instant::now();
                if s.draw_mask {
                    let people: Vec<(&aifx::pose::roi::Roi, &[f32])> = state
                        .last
                        .iter()
                        .map(|(_, p)| (&p.roi, &p.mask[..]))
                        .collect();
                    tint_people(
                        &mut view,
                        &people,
                        aifx::pose::landmarks::INPUT,
                        [0, 200, 160],
                        0.5,
                    );
                }
                if s.draw {
                    let people: Vec<&[aifx::pose::landmarks::Landmark]> =
                        state.last.iter().map(|(_, p)| &p.landmarks[..]).collect();
                    draw_skeletons(&mut view, &people, &style);
                }
                drawing_time = start.elapsed();
                Ok(())
            }))
        })
        .map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ("{}", e));
            gst::FlowError::Error
        })?;
        state.budget.end(self.obj().upcast_ref());
        match result {
            Ok(Ok(())) => gst::debug!(
                CAT,
                imp = self,
                "frame: detection + landmarks {:.2} ms (models ran: {due}), drawing {:.2} ms",
                models_time.as_secs_f64() * 1e3,
                drawing_time.as_secs_f64() * 1e3
            ),
            Ok(Err(e)) => {
                gst::element_imp_error!(self, gst::StreamError::Failed, ("pose: {}", e));
                return Err(gst::FlowError::Error);
            }
            Err(_) => {
                // Never let a panic cross into GStreamer. The panic may have come halfway
                // through drawing, so the frame can be partly drawn on: say so.
                gst::error!(
                    CAT,
                    imp = self,
                    "internal error in pose; this frame may be partly drawn on, tracking reset"
                );
                if let Some(t) = state.tracker.as_ref() {
                    lock(t).reset();
                }
                state.last.clear();
                return Ok(gst::FlowSuccess::Ok);
            }
        }
        let meta = PoseMeta {
            persons: state
                .last
                .iter()
                .map(|(id, p)| PosePerson {
                    id: *id,
                    score: p.score,
                    size: p.size(),
                    landmarks: p
                        .landmarks
                        .iter()
                        .map(|l| [l.x, l.y, l.z, l.visibility, l.presence])
                        .collect(),
                    world: p.world.clone(),
                })
                .collect(),
            inferred: due,
            frame_width: info.width(),
            frame_height: info.height(),
        };
        if let Err(e) = meta.add(buf) {
            gst::warning!(CAT, imp = self, "cannot attach the pose meta: {e}");
        }
        if s.post_messages {
            let running_time = pts.and_then(|t| {
                self.obj()
                    .segment()
                    .downcast_ref::<gst::ClockTime>()?
                    .to_running_time(t)
            });
            let msg = gst::message::Element::builder(meta.to_structure(pts, running_time))
                .src(&*self.obj())
                .build();
            let _ = self.obj().post_message(msg);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

impl VideoFilterImpl for Pose {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        outcaps: &gst::Caps,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        check_format(*CAT, in_info)?;
        lock(&self.state).info = Some(in_info.clone());
        self.parent_set_info(incaps, in_info, outcaps, out_info)
    }
}
