//! Tracking one person across frames, as MediaPipe's pose graph does: the detector runs only
//! when there is no ROI; otherwise the ROI comes from the previous frame's (smoothed)
//! auxiliary landmarks. Landmarks are smoothed with one-euro filters driven by timestamps.

use super::filter::{LowPass, OneEuro, OneEuroParams};
use super::landmarks::{Landmark, POSE_LANDMARKS};
use super::pipeline::{
    detect, landmarks_in_roi, roi_from_aux, roi_from_detection, Person, PoseModels,
};
use super::roi::Roi;
use crate::frame::FrameMut;
use crate::Result;

/// Tracker options (the `pose` element's properties).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerSettings {
    pub min_detection_confidence: f32,
    pub min_tracking_confidence: f32,
    pub smoothing: bool,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        Self {
            min_detection_confidence: 0.5,
            min_tracking_confidence: 0.5,
            smoothing: true,
        }
    }
}

/// One-euro filters for x, y, z of a set of landmarks.
#[derive(Default)]
struct PointFilters {
    f: Vec<[OneEuro; 3]>,
    visibility: Vec<LowPass>,
}

impl PointFilters {
    fn apply(&mut self, lms: &mut [Landmark], time: f64, scale: f32, p: OneEuroParams) {
        if self.f.len() != lms.len() {
            self.f = (0..lms.len()).map(|_| Default::default()).collect();
            self.visibility = vec![LowPass::default(); lms.len()];
        }
        for ((l, f), v) in lms.iter_mut().zip(&mut self.f).zip(&mut self.visibility) {
            l.x = f[0].apply(l.x, time, scale, p);
            l.y = f[1].apply(l.y, time, scale, p);
            l.z = f[2].apply(l.z, time, scale, p);
            l.visibility = v.apply(l.visibility, 0.1);
        }
    }
}

/// Tracking state for one stream.
pub struct PoseTracker {
    models: PoseModels,
    roi: Option<Roi>,
    landmarks: PointFilters,
    aux: PointFilters,
    world: Vec<[OneEuro; 3]>,
    detections: u64,
}

impl PoseTracker {
    pub fn new(models: PoseModels) -> Self {
        Self {
            models,
            roi: None,
            landmarks: PointFilters::default(),
            aux: PointFilters::default(),
            world: Vec::new(),
            detections: 0,
        }
    }

    /// How many frames needed the detector.
    pub fn detections(&self) -> u64 {
        self.detections
    }

    /// Forgets the track and the filters (flush, seek, a gap in the stream).
    pub fn reset(&mut self) {
        self.roi = None;
        self.landmarks = PointFilters::default();
        self.aux = PointFilters::default();
        self.world.clear();
    }

    /// Processes one frame at `time` seconds; `force_detection` runs the detector even while
    /// tracking.
    pub fn process(
        &mut self,
        f: &FrameMut<'_>,
        time: f64,
        s: &TrackerSettings,
        force_detection: bool,
    ) -> Result<Option<Person>> {
        let roi = match self.roi {
            Some(r) if !force_detection => r,
            _ => {
                self.detections += 1;
                let dets = detect(&self.models, f, s.min_detection_confidence)?;
                match dets.first() {
                    Some(d) => roi_from_detection(d, f.width, f.height),
                    None => {
                        self.reset();
                        return Ok(None);
                    }
                }
            }
        };
        let Some(mut person) = landmarks_in_roi(&self.models, f, &roi, s.min_tracking_confidence)?
        else {
            // Lost: the next frame runs the detector (MediaPipe's behaviour).
            self.reset();
            return Ok(None);
        };
        if s.smoothing {
            // Scale the derivative by the person's size (the unenlarged aux ROI side).
            let (a, b) = (person.aux[0], person.aux[1]);
            let side = 2.0 * ((b.x - a.x).powi(2) + (b.y - a.y).powi(2)).sqrt();
            let scale = 1.0 / side.max(1.0);
            self.landmarks
                .apply(&mut person.landmarks, time, scale, OneEuroParams::POSE);
            self.aux
                .apply(&mut person.aux, time, scale, OneEuroParams::AUX);
            if self.world.len() != person.world.len() {
                self.world = (0..person.world.len())
                    .map(|_| Default::default())
                    .collect();
            }
            for (w, f) in person.world.iter_mut().zip(&mut self.world) {
                for k in 0..3 {
                    w[k] = f[k].apply(w[k], time, 1.0, OneEuroParams::WORLD);
                }
            }
        }
        debug_assert_eq!(person.landmarks.len(), POSE_LANDMARKS);
        self.roi = Some(roi_from_aux(&person));
        Ok(Some(person))
    }
}
