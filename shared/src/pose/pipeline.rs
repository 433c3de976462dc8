//! The two-stage BlazePose pipeline over the converted models: letterboxed detection → ROI →
//! landmarks in the ROI. (Tracking, smoothing and several people build on these steps.)

use super::anchors::{generate, Anchor, AnchorOptions};
use super::detection::{decode, letterbox_padding, remove_letterbox, weighted_nms, Detection};
use super::landmarks::{self, Landmark, INPUT, MODEL_LANDMARKS, POSE_LANDMARKS};
use super::roi::{from_alignment_points, Roi};
use crate::frame::FrameMut;
use crate::paths::resolve_model;
use crate::sample::{affine_to_tensor, Affine};
use crate::session::{session, SessionOptions, SharedSession};
use crate::tensor::InputRange;
use crate::{Error, Result};

const DETECTOR_INPUT: usize = 224;
/// MediaPipe enlarges the alignment-point ROI by this for the landmark model.
const ROI_SCALE: f32 = 1.25;

/// The detector and landmark sessions plus the detector's anchors.
#[derive(Clone)]
pub struct PoseModels {
    pub detector: SharedSession,
    pub landmark: SharedSession,
    anchors: Vec<Anchor>,
}

impl PoseModels {
    /// Both models, the landmark model with its segmentation output (`Person::mask`).
    pub fn load(opts: &SessionOptions) -> Result<Self> {
        Self::load_for(opts, true)
    }

    /// Both models; without `mask`, the landmark model's variant that has no segmentation
    /// branch (half its compute) and `Person::mask` stays empty.
    pub fn load_for(opts: &SessionOptions, mask: bool) -> Result<Self> {
        let landmark = if mask {
            "pose-landmark-full"
        } else {
            "pose-landmark-full-nomask"
        };
        Self::from_files(
            &resolve_model("pose-detection")?,
            &resolve_model(landmark)?,
            opts,
        )
    }

    /// [`load_for`](Self::load_for) and one run of each model (a session's first run is
    /// slow, and would otherwise be a frame's): for models built ahead of a step.
    pub fn load_warm(opts: &SessionOptions, mask: bool) -> Result<Self> {
        let models = Self::load_for(opts, mask)?;
        models.detector.warm_up()?;
        models.landmark.warm_up()?;
        Ok(models)
    }

    /// Both models from these files (a model store other than the default one).
    pub fn from_files(
        detector: &std::path::Path,
        landmark: &std::path::Path,
        opts: &SessionOptions,
    ) -> Result<Self> {
        Ok(Self {
            detector: session(detector, opts)?,
            landmark: session(landmark, opts)?,
            anchors: generate(&AnchorOptions::pose_detection()),
        })
    }
}

/// One person's result: 33 landmarks in frame pixels, world landmarks in metres, the ROI they
/// were found in and the auxiliary landmarks (for the next frame's ROI).
#[derive(Debug, Clone)]
pub struct Person {
    pub score: f32,
    pub landmarks: Vec<Landmark>,
    pub world: Vec<[f32; 3]>,
    pub roi: Roi,
    pub aux: [Landmark; 2],
    /// The landmark model's person segmentation in ROI space (`INPUT`², probabilities);
    /// empty when the models were loaded without it.
    pub mask: std::sync::Arc<Vec<f32>>,
}

/// The whole frame letterboxed into the detector's square input, RGB in [−1, 1] (padding −1).
fn detector_input(f: &FrameMut<'_>) -> Vec<f32> {
    let side = f.width.max(f.height) as f32;
    let scale = side / DETECTOR_INPUT as f32;
    let origin = [
        -(side - f.width as f32) / 2.0,
        -(side - f.height as f32) / 2.0,
    ];
    let map = Affine {
        origin,
        du: [scale, 0.0],
        dv: [0.0, scale],
    };
    // Padding is black (−1 after normalisation).
    affine_to_tensor(
        f,
        DETECTOR_INPUT,
        DETECTOR_INPUT,
        map,
        InputRange::SIGNED,
        Some(0.0),
    )
}

/// Detector scores below this never go on to the landmark model, whatever
/// `min_detection_confidence` says: the detector scores people 0.8–1.0 on the test photos and
/// everything else under 0.3, and with a threshold of 0 every one of its 2254 anchors was a
/// "person" (870 ms per frame, 15–16 people reported in a one-person photo).
pub const MIN_DETECTION_SCORE: f32 = 0.1;

/// At most this many of the best-scoring raw detections are merged by the (quadratic) NMS.
const NMS_CANDIDATES: usize = 100;

/// Runs the detector; detections are in normalised coordinates of the frame, best first, at
/// most `max` of them.
pub fn detect(
    m: &PoseModels,
    f: &FrameMut<'_>,
    min_score: f32,
    max: usize,
) -> Result<Vec<Detection>> {
    let input = detector_input(f);
    let out = m
        .detector
        .run(&[1, DETECTOR_INPUT, DETECTOR_INPUT, 3], &input)?;
    let find = |n: &str| {
        out.iter()
            .find(|o| o.name == n)
            .ok_or_else(|| Error::Inference(format!("detector output `{n}` missing")))
    };
    let (boxes, scores) = (find("Identity")?, find("Identity_1")?);
    let mut dets = decode(
        &boxes.data,
        &scores.data,
        &m.anchors,
        DETECTOR_INPUT as f32,
        min_score.max(MIN_DETECTION_SCORE),
    );
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    dets.truncate(NMS_CANDIDATES);
    let pad = letterbox_padding(f.width, f.height);
    Ok(weighted_nms(dets, 0.3)
        .iter()
        .take(max)
        .map(|d| remove_letterbox(d, pad))
        .collect())
}

/// The landmark ROI of a detection (keypoint 0 = hip centre, 1 = scale/rotation point).
pub fn roi_from_detection(d: &Detection, width: usize, height: usize) -> Roi {
    let px = |k: usize| {
        [
            d.keypoints[k][0] * width as f32,
            d.keypoints[k][1] * height as f32,
        ]
    };
    from_alignment_points(px(0), px(1), ROI_SCALE)
}

/// Runs the landmark model in `roi`; `None` when its presence score is at or below `min_presence`.
pub fn landmarks_in_roi(
    m: &PoseModels,
    f: &FrameMut<'_>,
    roi: &Roi,
    min_presence: f32,
) -> Result<Option<Person>> {
    let input = landmarks::crop(f, roi);
    let out = m.landmark.run(&[1, INPUT, INPUT, 3], &input)?;
    let find = |n: &str| {
        out.iter()
            .find(|o| o.name == n)
            .ok_or_else(|| Error::Inference(format!("landmark output `{n}` missing")))
    };
    let presence = find("Identity_1")?.data.first().copied().unwrap_or(0.0);
    if presence <= min_presence {
        return Ok(None);
    }
    let mut lms = landmarks::decode(&find("Identity")?.data);
    if lms.len() < MODEL_LANDMARKS {
        return Err(Error::Inference("landmark output too short".into()));
    }
    landmarks::refine_with_heatmap(
        &mut lms,
        &find("Identity_3")?.data,
        64,
        MODEL_LANDMARKS,
        7,
        0.5,
    );
    let projected = landmarks::project(&lms, roi);
    let (s, c) = roi.rotation.sin_cos();
    let world = find("Identity_4")?
        .data
        .chunks_exact(3)
        .take(POSE_LANDMARKS)
        .map(|v| [c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]])
        .collect();
    // Present only in the full landmark model (see `PoseModels::load_for`).
    let mask = out
        .iter()
        .find(|o| o.name == "Identity_2")
        .map(|o| o.data.iter().map(|&v| 1.0 / (1.0 + (-v).exp())).collect())
        .unwrap_or_default();
    Ok(Some(Person {
        score: presence,
        landmarks: projected[..POSE_LANDMARKS].to_vec(),
        world,
        roi: *roi,
        aux: [projected[33], projected[34]],
        mask: std::sync::Arc::new(mask),
    }))
}

/// Static-image mode: detect, then find landmarks for the best detection.
pub fn estimate_static(
    m: &PoseModels,
    f: &FrameMut<'_>,
    min_detection: f32,
    min_presence: f32,
) -> Result<Option<Person>> {
    let dets = detect(m, f, min_detection, 1)?;
    let Some(best) = dets.first() else {
        return Ok(None);
    };
    landmarks_in_roi(
        m,
        f,
        &roi_from_detection(best, f.width, f.height),
        min_presence,
    )
}

impl Person {
    /// The side of the person's tracking square before it is enlarged, in frame pixels
    /// (twice the distance between the auxiliary landmarks): MediaPipe pose's object scale
    /// for landmark smoothing.
    pub fn size(&self) -> f32 {
        let (a, b) = (self.aux[0], self.aux[1]);
        2.0 * ((b.x - a.x).powi(2) + (b.y - a.y).powi(2)).sqrt()
    }
}

/// The next frame's ROI from this frame's auxiliary landmarks (tracking).
pub fn roi_from_aux(p: &Person) -> Roi {
    from_alignment_points(
        [p.aux[0].x, p.aux[0].y],
        [p.aux[1].x, p.aux[1].y],
        ROI_SCALE,
    )
}
