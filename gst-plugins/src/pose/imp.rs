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

use crate::budget::{budget_property, qos_proportion, Budget};
use crate::meta::{PoseMeta, PosePerson};
use crate::props::{assign, lock, log_set, unknown};
use crate::video::{
    check_format, pad_templates, runtime_properties, with_frame_mut, DeviceKind, DeviceNotice,
    PrecisionKind, DEFAULT_THREADS,
};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "pose",
        gst::DebugColorFlags::empty(),
        Some("aifx body pose"),
    )
});

const DEFAULT_MAX_PERSONS: u32 = 1;
const DEFAULT_MIN_DETECTION: f64 = 0.5;
const DEFAULT_MIN_TRACKING: f64 = 0.5;
const DEFAULT_SMOOTHING: bool = true;
const DEFAULT_DRAW: bool = true;
const DEFAULT_DRAW_MASK: bool = false;
const DEFAULT_LINE_WIDTH: f64 = 3.0;
const DEFAULT_POINT_RADIUS: f64 = 4.0;
const DEFAULT_POST_MESSAGES: bool = false;
const DEFAULT_INTERVAL: u32 = 1;

#[derive(Debug, Clone)]
struct Settings {
    max_persons: u32,
    min_detection: f64,
    min_tracking: f64,
    smoothing: bool,
    draw: bool,
    draw_mask: bool,
    line_width: f64,
    point_radius: f64,
    post_messages: bool,
    device: DeviceKind,
    precision: PrecisionKind,
    threads: u32,
    interval: u32,
    budget_ms: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_persons: DEFAULT_MAX_PERSONS,
            min_detection: DEFAULT_MIN_DETECTION,
            min_tracking: DEFAULT_MIN_TRACKING,
            smoothing: DEFAULT_SMOOTHING,
            draw: DEFAULT_DRAW,
            draw_mask: DEFAULT_DRAW_MASK,
            line_width: DEFAULT_LINE_WIDTH,
            point_radius: DEFAULT_POINT_RADIUS,
            post_messages: DEFAULT_POST_MESSAGES,
            device: DeviceKind::default(),
            precision: PrecisionKind::default(),
            threads: DEFAULT_THREADS,
            interval: DEFAULT_INTERVAL,
            budget_ms: 0.0,
        }
    }
}

#[derive(Default)]
struct State {
    info: Option<gst_video::VideoInfo>,
    tracker: Option<SharedTracker>,
    /// The worker of `budget-ms`'s asynchronous rung.
    async_pose: AsyncPose,
    models_key: Option<(DeviceKind, PrecisionKind, u32, bool)>,
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
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("max-persons")
                    .nick("Maximum persons")
                    .blurb("How many people to track at once; each keeps an id while tracked")
                    .minimum(1)
                    .maximum(16)
                    .default_value(DEFAULT_MAX_PERSONS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("min-detection-confidence")
                    .nick("Minimum detection confidence")
                    .blurb("Person detector score needed to start tracking someone (below 0.1 acts as 0.1: the detector's junk scores under 0.3)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_MIN_DETECTION)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("min-tracking-confidence")
                    .nick("Minimum tracking confidence")
                    .blurb("Landmark model presence needed to keep tracking (below it the detector runs again)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_MIN_TRACKING)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("smoothing")
                    .nick("Smoothing")
                    .blurb("One-euro smoothing of the landmarks over buffer timestamps (MediaPipe's parameters)")
                    .default_value(DEFAULT_SMOOTHING)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("draw")
                    .nick("Draw")
                    .blurb("Draw the skeleton on the video")
                    .default_value(DEFAULT_DRAW)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("draw-mask")
                    .nick("Draw mask")
                    .blurb(
                        "Tint each person with the landmark model's own segmentation output \
                         (runs the model's segmentation branch: about twice the landmark cost)",
                    )
                    .default_value(DEFAULT_DRAW_MASK)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("line-width")
                    .nick("Line width")
                    .blurb("Skeleton line width in pixels")
                    .minimum(0.5)
                    .maximum(64.0)
                    .default_value(DEFAULT_LINE_WIDTH)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("point-radius")
                    .nick("Point radius")
                    .blurb("Joint radius in pixels")
                    .minimum(0.0)
                    .maximum(64.0)
                    .default_value(DEFAULT_POINT_RADIUS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb(
                        "Post an `aifx-pose` element message per frame: timestamp, running-time, \
                         frame-width/height, persons, and per person K: person-K-id, -score, \
                         -landmarks (33 x [x, y, z, visibility, presence], frame pixels), -world \
                         (33 x [x, y, z], metres) and -data (all of it as little-endian f32 bytes: \
                         score, landmarks, world)",
                    )
                    .default_value(DEFAULT_POST_MESSAGES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoxed::builder::<glib::StrV>("landmark-names")
                    .nick("Landmark names")
                    .blurb("The 33 landmarks in order (MediaPipe's pose topology)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt::builder("interval")
                    .nick("Interval")
                    .blurb("Run the models on one frame in N and reuse the landmarks in between")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_INTERVAL)
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
        let applied = match name {
            "max-persons" => assign(&mut s.max_persons, value),
            "min-detection-confidence" => assign(&mut s.min_detection, value),
            "min-tracking-confidence" => assign(&mut s.min_tracking, value),
            "smoothing" => assign(&mut s.smoothing, value),
            "draw" => assign(&mut s.draw, value),
            "draw-mask" => assign(&mut s.draw_mask, value),
            "line-width" => assign(&mut s.line_width, value),
            "point-radius" => assign(&mut s.point_radius, value),
            "post-messages" => assign(&mut s.post_messages, value),
            "device" => assign(&mut s.device, value),
            "precision" => assign(&mut s.precision, value),
            "threads" => assign(&mut s.threads, value),
            "interval" => assign(&mut s.interval, value),
            "budget-ms" => assign(&mut s.budget_ms, value),
            _ => false,
        };
        drop(s);
        log_set(*CAT, &*self.obj(), name, value, applied);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if pspec.name() == "device-in-use" {
            // Not under the settings lock: the streaming thread takes state, then settings.
            return crate::video::device_in_use(&lock(&self.state).device_notice);
        }
        let s = lock(&self.settings);
        match pspec.name() {
            "max-persons" => s.max_persons.to_value(),
            "min-detection-confidence" => s.min_detection.to_value(),
            "min-tracking-confidence" => s.min_tracking.to_value(),
            "smoothing" => s.smoothing.to_value(),
            "draw" => s.draw.to_value(),
            "draw-mask" => s.draw_mask.to_value(),
            "line-width" => s.line_width.to_value(),
            "point-radius" => s.point_radius.to_value(),
            "post-messages" => s.post_messages.to_value(),
            "landmark-names" => glib::StrV::from(&aifx::pose::NAMES[..]).to_value(),
            "device" => s.device.to_value(),
            "precision" => s.precision.to_value(),
            "threads" => s.threads.to_value(),
            "interval" => s.interval.to_value(),
            "budget-ms" => s.budget_ms.to_value(),
            _ => unknown(pspec),
        }
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
    /// only while `draw-mask` needs it.
    fn ensure_models(&self, state: &mut State, s: &Settings) -> Result<(), gst::ErrorMessage> {
        let key = (s.device, s.precision, s.threads, s.draw_mask);
        if state.tracker.is_some() && state.models_key == Some(key) {
            return Ok(());
        }
        let opts = SessionOptions {
            device: s.device.into(),
            precision: s.precision.into(),
            threads: s.threads as usize,
            library: None,
        };
        let models = PoseModels::load_for(&opts, s.draw_mask)
            .map_err(|e| gst::error_msg!(gst::LibraryError::Init, ("pose: {}", e)))?;
        state
            .device_notice
            .check(self.obj().upcast_ref(), &models.detector);
        match state.tracker.as_ref() {
            Some(t) => lock(t).set_models(models),
            None => state.tracker = Some(Arc::new(Mutex::new(PoseTracker::new(models)))),
        }
        state.models_key = Some(key);
        Ok(())
    }

    /// The `aifx-pose` message: per person its landmarks as GStreamer arrays (what
    /// `gst-launch-1.0 -m` prints and python3-gst reads) and as bytes in the meta's layout
    /// (`person-K-data`: score, 33 × [x, y, z, visibility, presence], 33 × [x, y, z] world, all
    /// little-endian f32), which plain PyGObject reads (it cannot convert GstValueArray).
    fn message(
        &self,
        meta: &PoseMeta,
        pts: Option<gst::ClockTime>,
        running_time: Option<gst::ClockTime>,
    ) -> gst::Message {
        let mut b = gst::Structure::builder("aifx-pose")
            .field("timestamp", pts.map_or(u64::MAX, |t| t.nseconds()))
            .field(
                "running-time",
                running_time.map_or(u64::MAX, |t| t.nseconds()),
            )
            .field("frame-width", meta.frame_width)
            .field("frame-height", meta.frame_height)
            .field("persons", meta.persons.len() as u32);
        let array = |values: &mut dyn Iterator<Item = f32>| {
            gst::Array::from_values(values.map(|v| f64::from(v).to_send_value()))
        };
        for (k, p) in meta.persons.iter().enumerate() {
            let bytes: Vec<u8> = std::iter::once(p.score)
                .chain(p.landmarks.iter().flatten().copied())
                .chain(p.world.iter().flatten().copied())
                .flat_map(f32::to_le_bytes)
                .collect();
            b = b
                .field(format!("person-{k}-id"), p.id)
                .field(format!("person-{k}-score"), f64::from(p.score))
                .field(
                    format!("person-{k}-landmarks"),
                    array(&mut p.landmarks.iter().flatten().copied()),
                )
                .field(
                    format!("person-{k}-world"),
                    array(&mut p.world.iter().flatten().copied()),
                )
                .field(format!("person-{k}-data"), glib::Bytes::from_owned(bytes));
        }
        gst::message::Element::builder(b.build())
            .src(&*self.obj())
            .build()
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
        gst::info!(CAT, imp = self, "models loaded on {:?}", s.device);
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
        let level = state.budget.begin(s.budget_ms, &budget::LEVELS);
        let work = budget::at_level(
            PoseWork {
                max_persons: s.max_persons as usize,
                interval: s.interval,
                asynchronous: false,
                threads: s.threads as usize,
            },
            level,
        );
        let mut s = s;
        s.threads = work.threads as u32;
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
            let msg = self.message(&meta, pts, running_time);
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
