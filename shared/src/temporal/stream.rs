//! One stream's temporal smoothing, as the `temporalsmooth` element runs it: the motion is
//! estimated once per frame (only when a filter needs it) and shared by the mask smoothing
//! and the pixel deflicker; keypoints are smoothed per person id on buffer timestamps.

use std::collections::HashMap;

use super::deflicker::Deflicker;
use super::mask::{MaskFilter, MaskSmoother};
use super::motion::{MotionEstimator, MotionMode};
use super::one_euro::{OneEuroParams, PointSmoother};
use crate::frame::{FrameMut, FrameRef};

/// What to smooth, and how strongly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TemporalSettings {
    /// Mask blend ratio: how much of the previous (motion-compensated) mask is kept (0 = off).
    pub masks: f32,
    pub mask_filter: MaskFilter,
    /// One-euro filtering of keypoints.
    pub keypoints: bool,
    pub min_cutoff: f32,
    pub beta: f32,
    /// Deflicker strength (0 = off, 1 = hold static content completely).
    pub pixels: f32,
    pub motion: MotionMode,
    /// Luma difference (levels) below which a change counts as flicker.
    pub motion_threshold: f32,
}

impl Default for TemporalSettings {
    fn default() -> Self {
        Self {
            masks: 0.7,
            mask_filter: MaskFilter::Ema,
            keypoints: true,
            min_cutoff: OneEuroParams::POSE.min_cutoff,
            beta: OneEuroParams::POSE.beta,
            pixels: 0.0,
            motion: MotionMode::Dense,
            motion_threshold: 12.0,
        }
    }
}

impl TemporalSettings {
    /// Whether a frame (with a mask or not) needs the motion estimated: the deflicker always
    /// does, mask smoothing when it is motion-compensated.
    fn needs_motion(&self, has_mask: bool) -> bool {
        self.pixels > 0.0 || (self.masks > 0.0 && has_mask && self.motion != MotionMode::None)
    }
}

/// Where the pixel deflicker finds the previous output.
#[derive(Clone, Copy)]
pub enum PreviousOutput<'a> {
    /// The smoother keeps a copy of each output.
    Copied,
    /// The caller keeps the previous output and lends it (None: there is none to use).
    Lent(Option<&'a FrameRef<'a>>),
}

/// A mask to smooth in place: `width`×`height` probabilities in [0, 1].
pub struct MaskIn<'a> {
    pub width: usize,
    pub height: usize,
    pub data: &'a mut [f32],
}

/// One person's keypoints, `[x, y, z, visibility, presence]` in frame pixels.
pub struct PersonIn<'a> {
    pub id: u64,
    /// The person's size in frame pixels as `pose` tracks it ([`crate::pose::pipeline::Person::size`]),
    /// or 0 when not known (the landmarks' bounding box stands in).
    pub size: f32,
    pub landmarks: &'a mut [[f32; 5]],
}

/// Smoothing state for one stream.
#[derive(Debug, Default)]
pub struct TemporalSmoother {
    motion: MotionEstimator,
    masks: MaskSmoother,
    people: HashMap<u64, PointSmoother>,
    deflicker: Deflicker,
}

/// MediaPipe's object scale for landmark smoothing when no tracking region is known (its
/// landmarks smoothing calculator without a ROI): 1 / the mean side of their bounding box.
/// Its pose graph scales by the tracking square instead ([`person_scale`]), which is larger
/// (the whole body and a margin), so it smooths more.
pub fn object_scale(landmarks: &[[f32; 5]]) -> f32 {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for l in landmarks {
        (x0, y0, x1, y1) = (x0.min(l[0]), y0.min(l[1]), x1.max(l[0]), y1.max(l[1]));
    }
    let side = ((x1 - x0) + (y1 - y0)) / 2.0;
    if side.is_finite() && side > 1.0 {
        1.0 / side
    } else {
        1.0
    }
}

/// The object scale of a person: MediaPipe pose's (1 / the tracking square's side) when
/// `size` is known (> 1 pixel), else the bounding box's.
pub fn person_scale(size: f32, landmarks: &[[f32; 5]]) -> f32 {
    if size.is_finite() && size > 1.0 {
        1.0 / size
    } else {
        object_scale(landmarks)
    }
}

impl TemporalSmoother {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every frame before this one (flush, seek, caps change, discontinuity).
    pub fn reset(&mut self) {
        self.motion.reset();
        self.masks.reset();
        self.people.clear();
        self.deflicker.reset();
    }

    /// Smooths what this frame carries: its mask and keypoints (metadata, in place) and,
    /// with `pixels` > 0, its pixels, blended with `previous`. `time` is the buffer's
    /// timestamp in seconds.
    pub fn process(
        &mut self,
        frame: &mut FrameMut<'_>,
        previous: PreviousOutput<'_>,
        time: f64,
        mask: Option<MaskIn<'_>>,
        people: &mut [PersonIn<'_>],
        s: &TemporalSettings,
    ) {
        // One hand-off to the pool for the frame's parallel loops (see `crate::parallel`);
        // metadata alone has none and stays on this thread.
        if s.needs_motion(mask.is_some()) {
            crate::parallel::on_pool(|| self.process_here(frame, previous, time, mask, people, s))
        } else {
            self.process_here(frame, previous, time, mask, people, s)
        }
    }

    fn process_here(
        &mut self,
        frame: &mut FrameMut<'_>,
        previous: PreviousOutput<'_>,
        time: f64,
        mask: Option<MaskIn<'_>>,
        people: &mut [PersonIn<'_>],
        s: &TemporalSettings,
    ) {
        let (fw, fh) = (frame.width, frame.height);
        let motion = if s.needs_motion(mask.is_some()) {
            let (field, luma) = self.motion.next(frame, s.motion);
            Some((field, luma.clone()))
        } else {
            self.motion.reset();
            None
        };
        match mask {
            Some(m) if s.masks > 0.0 => {
                let warp = motion
                    .as_ref()
                    .filter(|_| s.motion != MotionMode::None)
                    .map(|(field, _)| (field, fw, fh));
                self.masks.apply(
                    m.data,
                    m.width,
                    m.height,
                    s.mask_filter.with_ratio(s.masks),
                    warp,
                );
            }
            // Off: the next mask after it is turned on again starts afresh.
            _ if s.masks <= 0.0 => self.masks.reset(),
            _ => {}
        }
        if s.keypoints {
            let params = OneEuroParams {
                min_cutoff: s.min_cutoff,
                beta: s.beta,
                derivate_cutoff: 1.0,
            };
            for p in people.iter_mut() {
                let scale = person_scale(p.size, p.landmarks);
                self.people
                    .entry(p.id)
                    .or_default()
                    .apply(p.landmarks, time, scale, params);
            }
            // People no longer in the picture take their filters with them.
            self.people
                .retain(|id, _| people.iter().any(|p| p.id == *id));
        } else {
            self.people.clear();
        }
        match motion {
            Some((field, luma)) if s.pixels > 0.0 => match previous {
                PreviousOutput::Copied => {
                    self.deflicker
                        .apply(frame, &luma, &field, s.pixels, s.motion_threshold)
                }
                PreviousOutput::Lent(prev) => self.deflicker.apply_after(
                    frame,
                    prev,
                    &luma,
                    &field,
                    s.pixels,
                    s.motion_threshold,
                ),
            },
            _ => self.deflicker.reset(),
        }
    }
}
