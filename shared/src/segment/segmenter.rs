//! Person segmentation end to end: frame → model tensor → mask → clean-up → edge-aware alpha
//! → composite. The `segment` element and the OBS filter are thin adapters over this.
//!
//! Model contract for custom `.onnx` files: one float input holding an RGB picture, NHWC
//! `[1, H, W, 3]` or NCHW `[1, 3, H, W]` with fixed H and W; values in [0, 1] unless the
//! model's metadata has `aifx.input_range = "lo,hi"` (the converter writes it). The first
//! output is one channel `[1, H', W', 1]`, `[1, 1, H', W']` or `[1, H', W']`: person
//! probability, or logits (told by a value more than 1e-3 outside [0, 1], remembered for the
//! model, then passed through a sigmoid).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::composite::{CompositeParams, Compositor, Effect};
use super::mask::{self, Mask};
use super::refine::{guided_coefficients, AlphaScratch, Coefficients, MaskAlpha, MaskWeights};
use crate::ahead::LoadAhead;
use crate::frame::FrameMut;
use crate::paths::resolve_model;
use crate::sample::frame_to_tensor;
use crate::session::{session, SessionOptions, SharedSession};
use crate::temporal::mask::{uncertainty_blend, warp};
use crate::temporal::motion::{MotionEstimator, MotionMode};
use crate::tensor::{InputRange, Sampling};
use crate::timing::{timed, StageTimes};
use crate::worker::LatestWorker;
use crate::{Device, Error, Precision, Result};

/// Guided-filter window radius, in mask pixels.
const GUIDE_RADIUS: usize = 1;
/// Guided-filter regularisation (luma in [0, 1]): lower follows weaker edges.
const GUIDE_EPS: f32 = 1e-3;

/// Everything a user can set. Cheap to clone; elements copy it out of their lock per frame.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentSettings {
    /// Catalog name (`selfie`, `selfie-landscape`) or path to an `.onnx` file.
    pub model: String,
    pub composite: CompositeParams,
    /// 0 = soft matte; above 0, a hard cut at this probability.
    pub threshold: f32,
    /// Soft edge width in frame pixels (0 = off).
    pub feather: usize,
    /// Person blobs smaller than this fraction of the frame are dropped (0 = off).
    pub min_region: f32,
    /// Run the model on one frame in `interval`; reuse the mask in between.
    pub interval: u32,
    /// MediaPipe's uncertainty-weighted temporal blend ratio (0 = off).
    pub smoothing: f32,
    /// Motion compensation of that blend: the previous mask is warped along the frame's
    /// motion first, so a moving edge does not lag (synchronous mode only: an asynchronous
    /// mask belongs to an earlier frame).
    pub smoothing_motion: MotionMode,
    /// Edge-aware upsampling guided by the frame (off: plain bilinear).
    pub refine: bool,
    pub device: Device,
    pub precision: Precision,
    pub threads: usize,
    /// The frame's own work (sampling, mask clean-up, compositing) on the calling thread
    /// instead of split across the cores: `budget-ms`'s choice once inference runs beside it
    /// (see [`on_this_thread`](crate::parallel::on_this_thread) for why).
    pub one_thread: bool,
}

impl Default for SegmentSettings {
    fn default() -> Self {
        Self {
            model: "selfie".into(),
            composite: CompositeParams::default(),
            threshold: 0.0,
            feather: 0,
            min_region: 0.0,
            interval: 1,
            smoothing: 0.0,
            smoothing_motion: MotionMode::None,
            refine: true,
            device: Device::Auto,
            precision: Precision::Auto,
            threads: 0,
            one_thread: false,
        }
    }
}

/// How a loaded model is fed.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub path: PathBuf,
    pub width: usize,
    pub height: usize,
    pub nchw: bool,
    pub range: InputRange,
    pub mask_width: usize,
    pub mask_height: usize,
}

fn dim(d: Option<usize>, what: &str, path: &std::path::Path) -> Result<usize> {
    d.filter(|&v| v > 0).ok_or_else(|| Error::ModelInvalid {
        path: path.to_path_buf(),
        reason: format!("{what} must have a fixed size"),
    })
}

/// Checks a session against the model contract and works out how to feed it.
pub fn model_spec(s: &SharedSession, range: InputRange) -> Result<ModelSpec> {
    let bad = |reason: String| Error::ModelInvalid {
        path: s.model.clone(),
        reason,
    };
    let [input] = &s.inputs[..] else {
        return Err(bad(format!(
            "a segmentation model has one input, this one has {}",
            s.inputs.len()
        )));
    };
    let shape = &input.shape;
    let (nchw, h, w) = match shape[..] {
        [_, Some(3), h, w] => (true, h, w),
        [_, h, w, Some(3)] => (false, h, w),
        _ => {
            return Err(bad(format!(
                "input `{}` has shape {shape:?}; expected [1, H, W, 3] or [1, 3, H, W]",
                input.name
            )))
        }
    };
    let out = s
        .outputs
        .first()
        .ok_or_else(|| bad("the model has no output".into()))?;
    let (mh, mw) = match out.shape[..] {
        [_, h, w, Some(1)] => (h, w),
        [_, Some(1), h, w] => (h, w),
        [_, h, w] => (h, w),
        _ => {
            return Err(bad(format!(
                "output `{}` has shape {:?}; expected one channel",
                out.name, out.shape
            )))
        }
    };
    let spec = ModelSpec {
        path: s.model.clone(),
        width: dim(w, "input width", &s.model)?,
        height: dim(h, "input height", &s.model)?,
        nchw,
        range,
        mask_width: dim(mw, "output width", &s.model)?,
        mask_height: dim(mh, "output height", &s.model)?,
    };
    // A mask covers the picture: its aspect ratio stays near the input's. This also tells a
    // mask from detector-style outputs such as [1, anchors, values].
    let aspect = |w: usize, h: usize| w as f32 / h as f32;
    let ratio = aspect(spec.mask_width, spec.mask_height) / aspect(spec.width, spec.height);
    if !(0.5..=2.0).contains(&ratio) {
        return Err(bad(format!(
            "output `{}` of shape {:?} is not a one-channel mask of the {}x{} input",
            out.name, out.shape, spec.width, spec.height
        )));
    }
    Ok(spec)
}

/// A loaded model: session plus how to feed it.
#[derive(Clone)]
pub struct LoadedModel {
    pub session: SharedSession,
    pub spec: ModelSpec,
    key: ModelKey,
    /// Whether the model has been seen to output logits (see [`to_probabilities`]).
    logits: Arc<AtomicBool>,
}

/// Resolves and loads (or fetches from the cache) the model the settings name.
pub fn load_model(settings: &SegmentSettings) -> Result<LoadedModel> {
    let path = resolve_model(&settings.model)?;
    let s = session(
        &path,
        &SessionOptions {
            device: settings.device,
            precision: settings.precision,
            threads: settings.threads,
            library: None,
        },
    )?;
    let spec = model_spec(&s, s.input_range.unwrap_or(InputRange::UNIT))?;
    Ok(LoadedModel {
        session: s,
        spec,
        key: model_key(settings),
        logits: Arc::default(),
    })
}

/// The build of the model for `key`, one of `keys` (the keys of `wanted`).
fn load_job(
    wanted: &[SegmentSettings],
    keys: &[ModelKey],
    key: &ModelKey,
) -> impl FnOnce() -> Result<LoadedModel> + Send + 'static {
    let settings = wanted[keys.iter().position(|k| k == key).unwrap_or(0)].clone();
    move || load_warm(&settings)
}

/// [`load_model`] and one run: a session's first run is slow (lazy set-up inside the
/// runtime), and would otherwise be the first frame's.
fn load_warm(settings: &SegmentSettings) -> Result<LoadedModel> {
    let m = load_model(settings)?;
    m.session.warm_up()?;
    Ok(m)
}

/// The model's raw person probability for a prepared tensor.
pub fn infer(model: &LoadedModel, tensor: &[f32]) -> Result<Mask> {
    let sp = &model.spec;
    let shape = if sp.nchw {
        [1, 3, sp.height, sp.width]
    } else {
        [1, sp.height, sp.width, 3]
    };
    let planar;
    let input = if sp.nchw {
        let n = sp.width * sp.height;
        planar = (0..3 * n)
            .map(|i| tensor[(i % n) * 3 + i / n])
            .collect::<Vec<f32>>();
        &planar[..]
    } else {
        tensor
    };
    let out = model.session.run(&shape, input)?;
    let first = out
        .into_iter()
        .next()
        .ok_or_else(|| Error::Inference("the model returned nothing".into()))?;
    let mut data = first.data;
    if data.len() != sp.mask_width * sp.mask_height {
        return Err(Error::Inference(format!(
            "output has {} values, expected {}",
            data.len(),
            sp.mask_width * sp.mask_height
        )));
    }
    to_probabilities(&mut data, &model.logits);
    Ok(Mask::new(sp.mask_width, sp.mask_height, data))
}

/// How far outside [0, 1] a probability may stray and still count as one: ONNX Runtime's
/// sigmoid returns values such as 1.0000001.
const PROBABILITY_SLACK: f32 = 1e-3;

/// Turns a model's output into person probabilities in place. A model that outputs logits (a
/// value more than [`PROBABILITY_SLACK`] outside [0, 1]) gets the sigmoid, on that frame and,
/// remembered in `logits`, every later one; probabilities are clamped into [0, 1]. Decided
/// per frame with no slack, one frame of a 16-frame pan (a value a rounding step above 1
/// from the selfie model) had been read as logits: its whole mask went to 0.5–0.73.
fn to_probabilities(data: &mut [f32], logits: &AtomicBool) {
    // Comparisons, not `!range.contains`: a NaN is no evidence of logits.
    #[allow(clippy::manual_range_contains)]
    let clearly_outside = |v: f32| v < -PROBABILITY_SLACK || v > 1.0 + PROBABILITY_SLACK;
    if logits.load(Ordering::Relaxed) || data.iter().any(|&v| clearly_outside(v)) {
        logits.store(true, Ordering::Relaxed);
        for v in data {
            *v = 1.0 / (1.0 + (-*v).exp());
        }
    } else {
        for v in data {
            *v = v.clamp(0.0, 1.0);
        }
    }
}

/// What one frame produced.
#[derive(Debug, Clone)]
pub struct FrameMask {
    /// The cleaned-up mask at model resolution (what the effect used); `None` while an
    /// asynchronous stream waits for its first mask (the frame was left untouched).
    pub mask: Option<Arc<Mask>>,
    /// True when the model ran on this frame (false when an earlier mask was reused).
    pub inferred: bool,
}

/// A job for the asynchronous worker: the newest frame's tensor.
struct Job {
    tensor: Vec<f32>,
    model: LoadedModel,
}

type MaskWorker = LatestWorker<Job, Result<Mask>>;

/// Segmentation state for one stream.
#[derive(Default)]
pub struct Segmenter {
    model: Option<LoadedModel>,
    /// The last raw (smoothed) model mask, before threshold/feather/min-region. Kept across a
    /// change of model: an asynchronous stream shows it until the new model's first mask
    /// (rather than frames without the effect); a blend only mixes masks of one size.
    raw: Option<Mask>,
    frames: u64,
    compositor: Compositor,
    alpha_scratch: AlphaScratch,
    coefficients: Option<Coefficients>,
    worker: Option<MaskWorker>,
    /// When the last frame ended and how long its work took: whether frames come paced.
    last_frame: Option<(Instant, Duration)>,
    inferences: u64,
    motion: MotionEstimator,
    times: StageTimes,
    /// Models loading (or loaded) on threads of their own for settings the stream may move
    /// to, and the one a step replaced.
    ahead: LoadAhead<ModelKey, LoadedModel>,
}

/// What a loaded model was loaded for: model setting, device, precision, threads.
type ModelKey = (String, Device, Precision, usize);

fn model_key(settings: &SegmentSettings) -> ModelKey {
    (
        settings.model.clone(),
        settings.device,
        settings.precision,
        settings.threads,
    )
}

impl Segmenter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the models `wanted` ask for loaded (or loading) beside the one in use, each
    /// built on a thread of its own ([`LoadAhead`]), so that [`prepare`](Self::prepare) for
    /// those settings takes a ready model instead of stalling a frame on a session build.
    /// For settings the stream may soon move to (`budget-ms`'s next steps, the most urgent
    /// first). An empty `wanted` turns this off.
    pub fn load_ahead(&mut self, wanted: &[SegmentSettings]) {
        let keys: Vec<ModelKey> = wanted.iter().map(model_key).collect();
        let in_use = self.model.as_ref().map(|m| &m.key);
        self.ahead
            .want(&keys, in_use, |key| load_job(wanted, &keys, key));
    }

    /// Builds the models `wanted` ask for here and now (when the stream starts, before frames
    /// flow: see [`LoadAhead::load_now`]), then keeps them as [`load_ahead`](Self::load_ahead)
    /// does.
    pub fn load_now(&mut self, wanted: &[SegmentSettings]) {
        let keys: Vec<ModelKey> = wanted.iter().map(model_key).collect();
        let in_use = self.model.as_ref().map(|m| &m.key);
        self.ahead
            .load_now(&keys, in_use, |key| load_job(wanted, &keys, key));
    }

    /// Loads the model now (so a bad model fails the state change, not the first frame).
    /// Once [`load_ahead`](Self::load_ahead) is in use, a frame never waits for a build
    /// while a model is in use ([`LoadAhead::model_for`]).
    pub fn prepare(&mut self, settings: &SegmentSettings) -> Result<()> {
        let key = model_key(settings);
        if self.model.as_ref().is_some_and(|m| m.key == key) {
            return Ok(());
        }
        let settings = settings.clone();
        let next = self
            .ahead
            .model_for(&key, self.model.is_some(), move || load_warm(&settings))?;
        if let Some(m) = next {
            // The model replaced is kept while looking ahead: a step back needs no build.
            if let Some(old) = self.model.replace(m) {
                self.ahead.keep(old.key.clone(), old);
            }
        }
        Ok(())
    }

    pub fn model(&self) -> Option<&LoadedModel> {
        self.model.as_ref()
    }

    /// The `model` setting (catalog name or path) the loaded model came from.
    pub fn model_name(&self) -> Option<&str> {
        self.model.as_ref().map(|m| m.key.0.as_str())
    }

    /// Forgets temporal state (flush, seek, EOS), including a mask the asynchronous worker is
    /// still computing from a frame before the reset.
    pub fn reset(&mut self) {
        self.raw = None;
        self.frames = 0;
        self.last_frame = None;
        self.motion.reset();
        if let Some(w) = &self.worker {
            w.reset();
        }
    }

    /// How many times the model has run.
    pub fn inferences(&self) -> u64 {
        self.inferences
    }

    fn start_worker(&mut self) -> Result<&MaskWorker> {
        if self.worker.is_none() {
            let w = LatestWorker::start(
                "aifx-segment",
                |job: Job| infer(&job.model, &job.tensor),
                || Err(Error::Inference("the inference worker panicked".into())),
            )
            .map_err(|e| Error::Inference(format!("cannot start the inference worker: {e}")))?;
            self.worker = Some(w);
        }
        Ok(self.worker.as_ref().expect("started above"))
    }

    /// Segments `frame` and applies the effect in place. With `asynchronous`, inference runs on
    /// a worker thread on the newest frame and this frame uses the latest finished mask.
    pub fn process(
        &mut self,
        frame: &mut FrameMut<'_>,
        settings: &SegmentSettings,
        asynchronous: bool,
    ) -> Result<FrameMask> {
        if settings.one_thread {
            return crate::parallel::on_this_thread(|| {
                self.process_here(frame, settings, asynchronous)
            });
        }
        crate::parallel::on_pool(|| self.process_here(frame, settings, asynchronous))
    }

    /// How long each step of the last frame took.
    pub fn last_times(&self) -> StageTimes {
        self.times
    }

    fn process_here(
        &mut self,
        frame: &mut FrameMut<'_>,
        settings: &SegmentSettings,
        asynchronous: bool,
    ) -> Result<FrameMask> {
        // An asynchronous frame's inference job goes to the worker after the frame's own work
        // when frames come paced (a live source: the last frame's work ended longer ago than
        // it took), so that the worker does not take a core from it; its mask is then ready
        // long before the next frame, as it would be handed over first. Frames back to back
        // hand it over first: the mask would otherwise come a frame later. Measured with one
        // core spinning, 30 fps, at a 7 ms budget: 92–98 % of frames within it (median 94,
        // six runs) against 84–94 % (median 87) handing it over first.
        let start = Instant::now();
        let paced = self
            .last_frame
            .is_some_and(|(end, work)| start.duration_since(end) > work);
        let mut job = None;
        let result = self.process_frame(frame, settings, asynchronous, paced.then_some(&mut job));
        if let (Some(job), Some(worker)) = (job, self.worker.as_ref()) {
            worker.submit(job);
        }
        self.last_frame = Some((Instant::now(), start.elapsed()));
        result
    }

    fn process_frame(
        &mut self,
        frame: &mut FrameMut<'_>,
        settings: &SegmentSettings,
        asynchronous: bool,
        submit_later: Option<&mut Option<Job>>,
    ) -> Result<FrameMask> {
        self.prepare(settings)?;
        self.times = StageTimes::default();
        let model = self.model.clone().expect("prepared");
        let sp = &model.spec;
        let (tensor, luma) = timed(&mut self.times.sample, || {
            frame_to_tensor(frame, sp.width, sp.height, sp.range, Sampling::Asymmetric)
        });
        let composite_start = Instant::now();
        let due = self.raw.is_none()
            || self
                .frames
                .is_multiple_of(u64::from(settings.interval.max(1)));
        self.frames += 1;
        let mut inferred = false;
        let fresh = if asynchronous {
            let worker = self.start_worker()?;
            if due {
                let job = Job {
                    tensor,
                    model: model.clone(),
                };
                match submit_later {
                    Some(later) => *later = Some(job),
                    None => worker.submit(job),
                }
            }
            worker.take_result().transpose()?
        } else {
            // Dropping the worker stops it (after the job it is running).
            self.worker = None;
            if due {
                Some(timed(&mut self.times.inference, || infer(&model, &tensor))?)
            } else {
                None
            }
        };
        if let Some(mut m) = fresh {
            inferred = true;
            self.inferences += 1;
            let compensate = !asynchronous
                && settings.smoothing > 0.0
                && settings.smoothing_motion != MotionMode::None;
            // The motion from the frame of the previous mask to this one.
            let motion = compensate.then(|| self.motion.next(frame, settings.smoothing_motion).0);
            if !compensate {
                self.motion.reset();
            }
            if let Some(prev) = self
                .raw
                .as_ref()
                .filter(|p| (p.width, p.height) == (m.width, m.height))
            {
                match &motion {
                    Some(field) => {
                        let warped = warp(
                            &prev.data,
                            m.width,
                            m.height,
                            frame.width,
                            frame.height,
                            field,
                        );
                        uncertainty_blend(&warped, &mut m.data, settings.smoothing);
                    }
                    None => uncertainty_blend(&prev.data, &mut m.data, settings.smoothing),
                }
            }
            self.raw = Some(m);
        }
        let Some(raw) = &self.raw else {
            // Asynchronous start-up: no mask yet, the frame passes through and says so.
            return Ok(FrameMask {
                mask: None,
                inferred,
            });
        };
        let mut m = raw.clone();
        mask::remove_small_regions(&mut m, settings.min_region);
        mask::threshold(&mut m, settings.threshold);
        if settings.feather > 0 {
            let r = (settings.feather * m.width)
                .div_ceil(frame.width.max(1))
                .max(1);
            mask::feather(&mut m, r);
        }
        if settings.composite.effect != Effect::None {
            let guide = if settings.refine {
                Some(if (m.width, m.height) == (sp.width, sp.height) {
                    luma
                } else {
                    frame_to_tensor(
                        frame,
                        m.width,
                        m.height,
                        InputRange::UNIT,
                        Sampling::Asymmetric,
                    )
                    .1
                })
            } else {
                None
            };
            // The edge-aware alpha and the blurred background (weighted by the plain mask,
            // which is all a heavy blur needs) are prepared side by side.
            let view: &FrameMut<'_> = frame;
            let (coefficients, scratch, compositor) = (
                &mut self.coefficients,
                &mut self.alpha_scratch,
                &mut self.compositor,
            );
            let (alpha, ()) = rayon::join(
                || {
                    // Radius 1 at mask resolution (≈ 2–8 frame pixels) and eps 1e-3: edges
                    // follow the picture without the glow larger windows spread around the
                    // person (checked by eye on messi5/astronaut, see the segment demo).
                    *coefficients = guide
                        .as_ref()
                        .map(|g| guided_coefficients(&m, g, GUIDE_RADIUS, GUIDE_EPS));
                    let c: &Option<Coefficients> = coefficients;
                    MaskAlpha::new(view, &m, c.as_ref(), scratch)
                },
                || {
                    if settings.composite.effect == Effect::Blur {
                        let weights = MaskWeights::new(view, &m);
                        compositor.prepare_blur(view, &weights, &settings.composite);
                    }
                },
            );
            // Alpha is produced row by row inside the compositing pass (never a whole plane).
            self.compositor.render(frame, &alpha, &settings.composite)?;
        }
        self.times.compositing = composite_start
            .elapsed()
            .saturating_sub(self.times.inference);
        Ok(FrameMask {
            mask: Some(Arc::new(m)),
            inferred,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_stay_logits_get_the_sigmoid_for_good() {
        let logits = AtomicBool::new(false);
        // A rounding step outside [0, 1] is still a probability (clamped).
        let mut p = vec![0.0, 0.25, 1.000_000_1, 1.0];
        to_probabilities(&mut p, &logits);
        assert_eq!(p, [0.0, 0.25, 1.0, 1.0]);
        assert!(!logits.load(Ordering::Relaxed));
        // Logits: the sigmoid, and from then on for every output of the model, even one
        // whose values all lie in [0, 1].
        let mut l = vec![-4.0, 0.0, 3.0];
        to_probabilities(&mut l, &logits);
        assert!((l[0] - 0.018).abs() < 1e-3 && l[1] == 0.5 && (l[2] - 0.953).abs() < 1e-3);
        let mut again = vec![0.0, 1.0];
        to_probabilities(&mut again, &logits);
        assert_eq!(again[0], 0.5);
    }
}
