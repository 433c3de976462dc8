//! Filter "AI Pose Overlay": MediaPipe's pose tracker on a worker; the graphics thread draws
//! the input, optionally tints people with the landmark model's mask, and draws the
//! skeleton as GPU triangles at full resolution (no CPU pass over the picture).

use std::sync::Mutex;

use aifx::frame::{OwnedFrame, PixelFormat};
use aifx::pose::draw::{bone_rgba, joint_rgba, tint_people};
use aifx::pose::landmarks::Landmark;
use aifx::pose::pipeline::PoseModels;
use aifx::pose::tracker::{PoseTracker, TrackerSettings};
use aifx::pose::CONNECTIONS;
use aifx::session::SessionOptions;
use aifx::Device;

use crate::capture::{Picture, ANALYSIS_LONG_SIDE};
use crate::ffi::{text, video_time_ns, AsyncFrame, Filter, FilterSource, Props, Settings};
use crate::gfx::{draw_triangles, Upload};
use crate::runner::Runner;
use crate::{common, lock};

/// Side of the landmark model's segmentation (ROI space).
const MASK_SIDE: usize = 256;
/// Joints and bones below this visibility are not drawn.
const MIN_VISIBILITY: f32 = 0.5;

#[derive(Clone)]
pub struct PoseJob {
    tracker: TrackerSettings,
    max_persons: usize,
    draw_mask: bool,
    device: Device,
    threads: usize,
    /// Seconds, for the one-euro filters.
    time: f64,
}

struct Config {
    job: PoseJob,
    line_width: f32,
    point_size: f32,
    interval: u32,
    wait: bool,
    error: Option<String>,
}

/// People found in one analysis frame (landmarks in its pixels) and, when asked, their mask.
pub struct PoseImage {
    width: u32,
    height: u32,
    people: Vec<Vec<Landmark>>,
    mask: Option<Vec<u8>>,
}

type TrackerKey = (Device, usize, bool);

fn analyse(
    tracker: &Mutex<Option<(TrackerKey, PoseTracker)>>,
    picture: Picture,
    job: &PoseJob,
) -> Result<PoseImage, String> {
    let mut frame = picture.into_analysis(ANALYSIS_LONG_SIDE);
    let key = (job.device, job.threads, job.draw_mask);
    let mut slot = lock(tracker);
    if slot.as_ref().is_none_or(|(k, _)| *k != key) {
        let opts = SessionOptions {
            device: job.device,
            threads: job.threads,
            ..SessionOptions::default()
        };
        let models = PoseModels::load_for(&opts, job.draw_mask).map_err(|e| e.to_string())?;
        match slot.as_mut() {
            Some((k, t)) => {
                drop(t.set_models(models));
                *k = key;
            }
            None => *slot = Some((key, PoseTracker::new(models))),
        }
    }
    let (_, tracker) = slot.as_mut().expect("loaded above");
    let people = {
        let view = frame.view();
        tracker
            .process_all(&view, job.time, &job.tracker, job.max_persons, false)
            .map_err(|e| e.to_string())?
    };
    let (w, h) = (frame.width, frame.height);
    let mask = job.draw_mask.then(|| {
        // The people's probability, drawn white on black by the element's own tint.
        let mut canvas = OwnedFrame::new(PixelFormat::Rgba, w, h, 0);
        let rois: Vec<_> = people
            .iter()
            .map(|(_, p)| (&p.roi, p.mask.as_slice()))
            .collect();
        tint_people(&mut canvas.view(), &rois, MASK_SIDE, [255, 255, 255], 1.0);
        canvas.planes[0].chunks_exact(4).map(|p| p[0]).collect()
    });
    Ok(PoseImage {
        width: w as u32,
        height: h as u32,
        people: people.into_iter().map(|(_, p)| p.landmarks).collect(),
        mask,
    })
}

fn read_config(s: &Settings) -> Config {
    let (device, threads) = common::device_settings(s);
    let draw_mask = s.bool("draw_mask");
    let opts = SessionOptions {
        device,
        threads,
        ..SessionOptions::default()
    };
    let error = PoseModels::load_for(&opts, draw_mask)
        .err()
        .map(|e| format!("{}: {e}", text("Error.Model")));
    Config {
        job: PoseJob {
            tracker: TrackerSettings {
                min_detection_confidence: s.f64("min_detection").clamp(0.0, 1.0) as f32,
                min_tracking_confidence: s.f64("min_tracking").clamp(0.0, 1.0) as f32,
                smoothing: s.bool("smoothing"),
            },
            max_persons: s.i64("max_persons").clamp(1, 8) as usize,
            draw_mask,
            device,
            threads,
            time: 0.0,
        },
        line_width: s.f64("line_width").clamp(0.5, 40.0) as f32,
        point_size: s.f64("point_size").clamp(0.0, 40.0) as f32,
        interval: s.i64("interval").clamp(1, 30) as u32,
        wait: s.bool("wait"),
        error,
    }
}

#[derive(Default)]
struct Gpu {
    frame: common::FrameGpu,
    mask: Option<Upload>,
    pose: Option<PoseImage>,
}

pub struct PoseOverlay {
    core: common::Core<Config, PoseJob, PoseImage>,
    gpu: Mutex<Gpu>,
}

impl common::FilterConfig for Config {
    fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
    fn timing(&self) -> (u32, bool) {
        (self.interval, self.wait)
    }
}

impl PoseOverlay {
    fn job(cfg: &Config) -> PoseJob {
        PoseJob {
            time: video_time_ns() as f64 / 1e9,
            ..cfg.job.clone()
        }
    }
}

/// A thick line from `a` to `b` as two triangles.
fn bone(out: &mut Vec<[f32; 2]>, a: [f32; 2], b: [f32; 2], width: f32) {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len = (dx * dx + dy * dy).sqrt().max(1e-3);
    let (nx, ny) = (-dy / len * width / 2.0, dx / len * width / 2.0);
    let p = [
        [a[0] + nx, a[1] + ny],
        [a[0] - nx, a[1] - ny],
        [b[0] + nx, b[1] + ny],
        [b[0] - nx, b[1] - ny],
    ];
    out.extend_from_slice(&[p[0], p[1], p[2], p[2], p[1], p[3]]);
}

/// A filled disc of `radius` around `c` (a 12-sided fan).
fn disc(out: &mut Vec<[f32; 2]>, c: [f32; 2], radius: f32) {
    const SIDES: usize = 12;
    for i in 0..SIDES {
        let a0 = i as f32 / SIDES as f32 * std::f32::consts::TAU;
        let a1 = (i + 1) as f32 / SIDES as f32 * std::f32::consts::TAU;
        out.extend_from_slice(&[
            c,
            [c[0] + radius * a0.cos(), c[1] + radius * a0.sin()],
            [c[0] + radius * a1.cos(), c[1] + radius * a1.sin()],
        ]);
    }
}

/// Draws the skeletons of `pose` scaled to a `w`×`h` picture.
fn draw_skeletons(pose: &PoseImage, w: u32, h: u32, line_width: f32, point_size: f32) {
    let (sx, sy) = (w as f32 / pose.width as f32, h as f32 / pose.height as f32);
    let at = |l: &Landmark| [l.x * sx, l.y * sy];
    let mut by_colour: Vec<([u8; 4], Vec<[f32; 2]>)> = Vec::new();
    for people in &pose.people {
        for &(a, b) in CONNECTIONS.iter() {
            let (Some(la), Some(lb)) = (people.get(a), people.get(b)) else {
                continue;
            };
            if la.visibility < MIN_VISIBILITY || lb.visibility < MIN_VISIBILITY {
                continue;
            }
            let c = bone_rgba(a, b);
            let slot = match by_colour.iter().position(|(k, _)| *k == c) {
                Some(i) => i,
                None => {
                    by_colour.push((c, Vec::new()));
                    by_colour.len() - 1
                }
            };
            bone(&mut by_colour[slot].1, at(la), at(lb), line_width);
        }
    }
    for (c, tris) in &by_colour {
        draw_triangles(tris, c.map(|v| v as f32 / 255.0));
    }
    if point_size > 0.0 {
        for people in &pose.people {
            for l in people.iter().filter(|l| l.visibility >= MIN_VISIBILITY) {
                let mut tris = Vec::new();
                disc(&mut tris, at(l), point_size);
                draw_triangles(&tris, joint_rgba(l.visibility));
            }
        }
    }
}

impl Filter for PoseOverlay {
    const ID: &'static std::ffi::CStr = c"aifx_pose";
    const NAME_KEY: &'static str = "Pose.Name";

    fn create(source: FilterSource, settings: &Settings) -> Self {
        let tracker = Mutex::new(None);
        let runner = Runner::new(
            "aifx-obs-pose",
            move |p, job| analyse(&tracker, p, job),
            || Err("the pose worker panicked".into()),
        );
        Self {
            core: common::Core::new(source, read_config(settings), runner),
            gpu: Mutex::new(Gpu::default()),
        }
    }

    fn defaults(s: &Settings) {
        s.default_i64("max_persons", 1);
        s.default_f64("line_width", 4.0);
        s.default_f64("point_size", 5.0);
        s.default_f64("min_detection", 0.5);
        s.default_f64("min_tracking", 0.5);
        s.default_bool("smoothing", true);
        s.default_bool("draw_mask", false);
        s.default_i64("interval", 1);
        s.default_bool("wait", false);
        common::device_defaults(s);
    }

    fn properties(filter: Option<&Self>) -> Props {
        let p = Props::new();
        if let Some(f) = filter {
            f.core.status.show(&p);
        }
        p.int("max_persons", &text("Pose.MaxPersons"), 1, 8, 1)
            .tooltip(&text("Pose.MaxPersons.Tip"));
        p.float("line_width", &text("Pose.LineWidth"), 0.5, 40.0, 0.5)
            .tooltip(&text("Pose.LineWidth.Tip"));
        p.float("point_size", &text("Pose.PointSize"), 0.0, 40.0, 0.5)
            .tooltip(&text("Pose.PointSize.Tip"));
        p.float("min_detection", &text("Pose.Detection"), 0.0, 1.0, 0.05)
            .tooltip(&text("Pose.Detection.Tip"));
        p.float("min_tracking", &text("Pose.Tracking"), 0.0, 1.0, 0.05)
            .tooltip(&text("Pose.Tracking.Tip"));
        p.bool("smoothing", &text("Pose.Smoothing"))
            .tooltip(&text("Pose.Smoothing.Tip"));
        p.bool("draw_mask", &text("Pose.DrawMask"))
            .tooltip(&text("Pose.DrawMask.Tip"));
        common::timing_properties(&p);
        common::device_properties(&p);
        p
    }

    fn update(&self, s: &Settings) {
        self.core.set_config(read_config(s));
    }

    fn async_frame(&self, frame: &AsyncFrame<'_>) {
        self.core.async_frame(frame, Self::job);
    }

    fn shown(&self, showing: bool) {
        self.core.runner.set_showing(showing);
    }

    fn render(&self) {
        let mut guard = lock(&self.gpu);
        let gpu = &mut *guard;
        let Some((cfg, w, h)) = self.core.begin(&mut gpu.frame, Self::job) else {
            return;
        };
        if let Some(pose) = self.core.take_result() {
            if let Some(m) = &pose.mask {
                gpu.mask
                    .get_or_insert_with(Upload::new)
                    .set(pose.width, pose.height, 1, m);
            }
            gpu.pose = Some(pose);
        }
        let tint = cfg.job.draw_mask
            && gpu.pose.as_ref().is_some_and(|p| p.mask.is_some())
            && gpu.mask.as_ref().is_some_and(|m| !m.is_empty());
        let Some((effect, input)) = gpu.frame.parts() else {
            return;
        };
        if tint {
            effect.set_texture("image", input.texture());
            effect.set_texture(
                "mask",
                gpu.mask
                    .as_ref()
                    .map_or(std::ptr::null_mut(), |m| m.texture()),
            );
            effect.set_vec4("color", [0.2, 0.6, 1.0, 1.0]);
            effect.set_float("strength", 0.45);
            effect.draw("Tint", w, h);
        } else {
            gpu.frame.draw_input(w, h);
        }
        if let Some(pose) = &gpu.pose {
            draw_skeletons(pose, w, h, cfg.line_width, cfg.point_size);
        }
    }
}
