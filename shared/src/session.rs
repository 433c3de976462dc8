//! A process-wide cache of ONNX Runtime sessions.
//!
//! Keyed by model file (path, size and modification time, so a replaced file is reloaded),
//! execution provider and thread count: any number of element instances that use the same
//! model share one session and its weights. The cache holds sessions weakly: once no element
//! holds one, it is dropped with its weights and arena.

use std::collections::HashMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Instant, SystemTime};

use once_cell::sync::Lazy;
use ort::ep::{self, ExecutionProvider};
use ort::session::Session;
use ort::value::TensorRef;

use crate::runtime::runtime;
use crate::subpixel::Subpixel;
use crate::tensor::InputRange;
use crate::{Device, Error, Precision, Result};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    model: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
    device: Device,
    precision: Precision,
    threads: usize,
}

/// Shape and name of a model input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// Dimensions; `None` for a dynamic one.
    pub shape: Vec<Option<usize>>,
}

/// One output tensor, copied out of ONNX Runtime.
#[derive(Debug, Clone)]
pub struct Output {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// One ONNX Runtime session of a model on one provider, with the times of its trial runs.
struct Engine {
    device: Device,
    session: Session,
    /// Per output, the sub-pixel planes its file leaves it as (OpenVINO's forms of the
    /// selfie models), shuffled back after each run.
    planes: Vec<Option<Subpixel>>,
    runs: usize,
    /// ms of each run after the first (the first pays for lazy allocations).
    ms: Vec<f64>,
}

impl Engine {
    /// An engine of `session` (loaded from `file`), its outputs' sub-pixel layouts read from
    /// the file's metadata: malformed ones fail the build, naming the file (and a provider
    /// falls back as on any other build error).
    fn new(file: &Path, device: Device, session: Session) -> Result<Self> {
        let meta = session.metadata().ok();
        let planes = (session.outputs().iter())
            .map(|o| {
                let key = format!("{}{}", crate::subpixel::KEY, o.name());
                match meta.as_ref().and_then(|m| m.custom(&key)) {
                    None => Ok(None),
                    Some(v) => Subpixel::parse(&v)
                        .map(Some)
                        .ok_or_else(|| invalid(file, format!("malformed metadata {key} = {v:?}"))),
                }
            })
            .collect::<Result<_>>()?;
        drop(meta);
        Ok(Self {
            device,
            session,
            planes,
            runs: 0,
            ms: Vec::new(),
        })
    }
}

/// Timed runs per provider, after one warm-up, before `auto` keeps the faster.
const AUTO_TRIAL_RUNS: usize = 5;

/// `auto` builds its other candidates at this run of a session: a one-picture process (a
/// `gst-launch` on a photo, a script) never pays for them.
const AUTO_TRIAL_AFTER: u64 = 3;

/// What `auto` still has to build for a session.
struct Pending {
    candidates: Vec<Device>,
    rt: &'static crate::runtime::Runtime,
    model: PathBuf,
    threads: usize,
    precision: Precision,
}

/// The device a model runs on, readable while it changes (`auto` settles after its trial).
#[derive(Debug, Clone)]
pub struct DeviceWatch(Arc<AtomicU8>);

impl DeviceWatch {
    fn new(d: Device) -> Self {
        let w = DeviceWatch(Arc::new(AtomicU8::new(0)));
        w.set(d);
        w
    }

    fn set(&self, d: Device) {
        let i = Device::ALL.iter().position(|&x| x == d).unwrap_or(0);
        self.0.store(i as u8, Ordering::Relaxed);
    }

    pub fn get(&self) -> Device {
        Device::ALL[self.0.load(Ordering::Relaxed) as usize % Device::ALL.len()]
    }
}

/// A loaded model: the ONNX Runtime session and what the model declares.
///
/// Under `device=auto` with more than one provider available, it holds one session per
/// provider and runs the first frames on each in turn (the real inputs, the real shapes);
/// after [`AUTO_TRIAL_RUNS`] timed runs each it keeps the one with the fastest run and
/// drops the others. Measured here: OpenVINO wins on every MediaPipe model, ONNX Runtime's own
/// CPU code on the style students (dynamic shapes), so no fixed table would do.
pub struct SessionCore {
    engines: Mutex<Vec<Engine>>,
    /// `auto`'s other candidates, built once the session has proved long-lived.
    pending: Mutex<Option<Pending>>,
    /// Runs so far (the pending build starts at [`AUTO_TRIAL_AFTER`]).
    runs: std::sync::atomic::AtomicU64,
    /// Where `auto`'s decision is remembered (only while a trial runs): in this process, and
    /// under this key across processes (`choices`).
    choice_key: Option<(Key, String)>,
    pub model: PathBuf,
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
    device: DeviceWatch,
    /// What differs from what was asked, and why: a provider the runtime lacks (and what to
    /// install), threads clamped to the cores. None when the session is as asked.
    pub notice: Option<String>,
    /// The input range the model declares in its metadata (`aifx.input_range = "lo,hi"`).
    pub input_range: Option<InputRange>,
}

/// A cached session, cheap to clone and shareable across threads.
#[derive(Clone)]
pub struct SharedSession(Arc<SessionCore>);

impl Deref for SharedSession {
    type Target = SessionCore;

    fn deref(&self) -> &SessionCore {
        &self.0
    }
}

impl std::fmt::Debug for SharedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSession")
            .field("model", &self.model)
            .field("device", &self.device())
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish()
    }
}

static CACHE: Lazy<Mutex<HashMap<Key, Weak<SessionCore>>>> =
    Lazy::new(|| Mutex::new(HashMap::new()));

/// What `auto` settled on per model file (same key as the cache, device `Auto`): a session
/// made again later (another element, a restart) uses it straight away, without a new trial.
static AUTO_CHOICE: Lazy<Mutex<HashMap<Key, Device>>> = Lazy::new(|| Mutex::new(HashMap::new()));

/// Options for [`session`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionOptions {
    pub device: Device,
    /// The arithmetic (see [`Precision`]); `Auto` is each provider's measured best.
    pub precision: Precision,
    /// Intra-op threads; 0 lets ONNX Runtime choose (one per core).
    pub threads: usize,
    /// An explicit ONNX Runtime library, tried before the usual lookup.
    pub library: Option<PathBuf>,
}

impl SessionOptions {
    /// Any provider (`auto`), fp32: the exact pipeline, for comparisons with references.
    pub const FP32: SessionOptions = SessionOptions {
        device: Device::Auto,
        precision: Precision::Fp32,
        threads: 0,
        library: None,
    };

    /// OpenVINO with its bf16 hint (what `precision=auto` picks there), for quality checks;
    /// None when the installed runtime has no OpenVINO.
    pub fn openvino_bf16() -> Option<SessionOptions> {
        available_devices()
            .contains(&Device::OpenVino)
            .then(|| SessionOptions {
                device: Device::OpenVino,
                precision: Precision::Bf16,
                ..SessionOptions::default()
            })
    }
}

/// Returns the cached session for `model`, creating it on first use.
pub fn session(model: &Path, opts: &SessionOptions) -> Result<SharedSession> {
    let meta = std::fs::metadata(model).map_err(|e| Error::ModelInvalid {
        path: model.to_path_buf(),
        reason: e.to_string(),
    })?;
    let key = Key {
        model: model.to_path_buf(),
        len: meta.len(),
        modified: meta.modified().ok(),
        device: opts.device,
        precision: opts.precision,
        threads: opts.threads,
    };
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache.retain(|_, s| s.strong_count() > 0);
    if let Some(s) = cache.get(&key).and_then(Weak::upgrade) {
        return Ok(SharedSession(s));
    }
    let s = create(model, opts, &key)?;
    cache.insert(key, Arc::downgrade(&s.0));
    Ok(s)
}

/// Number of sessions some element still holds (for tests and diagnostics).
pub fn cached_sessions() -> usize {
    let cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache.values().filter(|s| s.strong_count() > 0).count()
}

/// Number of live sessions of one model file, on any device and thread count.
pub fn cached_sessions_of(model: &Path) -> usize {
    let cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .iter()
        .filter(|(k, s)| k.model == model && s.strong_count() > 0)
        .count()
}

/// Whether a session of `model` with exactly these options is alive (for tests).
pub fn is_cached(model: &Path, opts: &SessionOptions) -> bool {
    let cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache.iter().any(|(k, s)| {
        k.model == model
            && (k.device, k.precision, k.threads) == (opts.device, opts.precision, opts.threads)
            && s.strong_count() > 0
    })
}

/// A model file that does not load: the set-up's own files are reinstalled, a user's file is
/// not (it is not a valid ONNX model, or not one this ONNX Runtime can run).
fn invalid(model: &Path, e: impl ToString) -> Error {
    let what = if crate::paths::is_installed(model) {
        format!("reinstall it: {}", crate::error::SETUP_HINT)
    } else {
        "it is not a valid ONNX model, or uses operators this ONNX Runtime lacks; export or \
         download it again"
            .to_string()
    };
    Error::ModelInvalid {
        path: model.to_path_buf(),
        reason: format!("{}; {what}", e.to_string()),
    }
}

/// The devices the installed ONNX Runtime can run on (always `auto` and `cpu`; others only
/// when the library has their provider). Loads the runtime; an unloadable one leaves just
/// those two.
pub fn available_devices() -> Vec<Device> {
    if runtime(None).is_err() {
        return vec![Device::Auto, Device::Cpu];
    }
    Device::ALL
        .into_iter()
        .filter(|&d| {
            matches!(d, Device::Auto | Device::Cpu) || provider(d, 0, Precision::Auto).is_some()
        })
        .collect()
}

/// Checks whether the loaded library has the provider, and builds its registration.
/// `threads` (0 = the provider's choice) goes to providers with their own thread pool.
fn provider(
    device: Device,
    threads: usize,
    precision: Precision,
) -> Option<ep::ExecutionProviderDispatch> {
    fn available<E: ExecutionProvider>() -> bool {
        E::is_available().unwrap_or(false)
    }
    match device {
        Device::Auto | Device::Cpu => None,
        // TF32 off: with it (ONNX Runtime's default) the outputs missed the TFLite tolerances
        // on an H200 (selfie max diff 0.035, pose-detection 1.0), and these small models ran
        // no faster with it (1.4–2.1 ms per model either way: launches and copies dominate).
        Device::Cuda if available::<ep::CUDA>() => Some(
            ep::CUDA::default()
                .with_tf32(false)
                .build()
                .error_on_failure(),
        ),
        Device::TensorRt if available::<ep::TensorRT>() => Some(
            ep::TensorRT::default()
                .with_fp16(precision == Precision::Fp16)
                .build()
                .error_on_failure(),
        ),
        Device::OpenVino if available::<ep::OpenVINO>() => {
            // OpenVINO runs the graph in its own threads, not ONNX Runtime's intra-op pool.
            let mut ov = ep::OpenVINO::default().with_device_type("CPU");
            if threads > 0 {
                ov = ov.with_num_threads(threads);
            }
            // OpenVINO's CPU plugin takes a precision hint and falls back to f32 where the
            // CPU lacks the instructions.
            let hint = match precision {
                Precision::Auto | Precision::Bf16 => "bf16",
                Precision::Fp16 => "f16",
                Precision::Fp32 | Precision::Int8 => "f32",
            };
            use ort::ep::ArbitrarilyConfigurableExecutionProvider;
            ov = ov.with_arbitrary_config(
                "load_config",
                format!(r#"{{"CPU":{{"INFERENCE_PRECISION_HINT":"{hint}"}}}}"#),
            );
            Some(ov.build().error_on_failure())
        }
        // CoreML and DirectML exist only on macOS and Windows builds of ONNX Runtime.
        _ => None,
    }
}

/// Why `precision` cannot be had for `model` on `device` (it then runs fp32), if it cannot.
fn precision_notice(model: &Path, device: Device, precision: Precision) -> Option<String> {
    let why = match (device, precision) {
        (_, Precision::Auto | Precision::Fp32) => return None,
        (Device::OpenVino, Precision::Bf16 | Precision::Fp16) => return None,
        (Device::TensorRt, Precision::Fp16) => return None,
        (_, Precision::Int8) if crate::variants::int8_path(model).is_file() => {
            // Run as asked, but say so when set-up measured it below the quality bar.
            let name = model.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let record = std::fs::read_to_string(model.with_file_name(crate::variants::RECORD));
            return record
                .ok()
                .and_then(|r| crate::variants::missed_bar(&r, name))
                .map(|q| {
                    format!(
                    "precision=int8: the int8 variant of {} misses the quality bar against the \
                     fp32 model ({q}; see {}); running it as asked",
                    model.display(),
                    crate::variants::RECORD
                )
                });
        }
        (_, Precision::Int8) => {
            return Some(format!(
                "precision=int8: there is no int8 variant of {} (`aifx-models quantize` makes \
                 them; the set-up runs it); running fp32",
                model.display()
            ))
        }
        (Device::Cpu, _) => "ONNX Runtime's own CPU code runs these models in fp32 only",
        _ => "this provider has no such mode here",
    };
    Some(format!(
        "precision={precision} on {device}: {why}; running fp32"
    ))
}

/// What to install for `device` (the set-up installs the CPU-only ONNX Runtime).
fn install_hint(device: Device) -> &'static str {
    match device {
        Device::Cuda | Device::TensorRt => {
            "For NVIDIA GPUs install the `onnxruntime-gpu` wheel (and CUDA/cuDNN) and point \
             ORT_DYLIB_PATH at its libonnxruntime.so."
        }
        Device::OpenVino => {
            "For OpenVINO install the `onnxruntime-openvino` wheel and point ORT_DYLIB_PATH at its \
             libonnxruntime.so."
        }
        Device::CoreMl | Device::DirectMl => {
            "This provider exists only in ONNX Runtime's macOS (CoreML) and Windows (DirectML) \
             builds."
        }
        Device::Auto | Device::Cpu => "",
    }
}

fn create(model: &Path, opts: &SessionOptions, key: &Key) -> Result<SharedSession> {
    let rt = runtime(opts.library.as_deref())?;
    // More inference threads than cores only makes each run slower (measured: 64 threads on
    // 2 cores took 148 ms per 640×360 frame against 3.7 ms with 2) and starves the machine.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut notices = Vec::new();
    let threads = if opts.threads > cores {
        notices.push(format!(
            "threads={} is more than this machine's {cores} cores; using {cores} (more only \
             slows inference down)",
            opts.threads
        ));
        cores
    } else {
        opts.threads
    };
    let precision = opts.precision;
    let build = |device: Device| build_session(rt, model, device, threads, precision);
    if opts.device == Device::Auto {
        let others: Vec<Device> = Device::AUTO_ORDER
            .into_iter()
            .filter(|&d| d != Device::Cpu && provider(d, threads, precision).is_some())
            .collect();
        // This process's decision, else an earlier process's (for a provider still here).
        let kept_as = crate::choices::key(
            &key.model,
            key.len,
            key.modified,
            threads,
            precision,
            &rt.library,
        );
        let mut chosen = lock_choices().get(key).copied().or_else(|| {
            crate::choices::recall(&kept_as).filter(|d| *d == Device::Cpu || others.contains(d))
        });
        let first = chosen.unwrap_or(Device::Cpu);
        let engine = match build(first) {
            Ok(engine) => engine,
            // An earlier decision that no longer builds: time the providers again.
            Err(e) if first != Device::Cpu => {
                log::info!(
                    "auto: {} no longer builds on {first} ({e})",
                    model.display()
                );
                chosen = None;
                build(Device::Cpu)?
            }
            Err(e) => return Err(e),
        };
        if let Some(d) = chosen {
            lock_choices().insert(key.clone(), d);
        }
        // A precision only some candidate has: said only when none has it.
        let honoured = std::iter::once(Device::Cpu)
            .chain(others.iter().copied())
            .any(|d| precision_notice(model, d, precision).is_none());
        if !honoured {
            notices.extend(precision_notice(model, Device::Cpu, precision));
        }
        let mut s = finish(model, vec![engine], notices);
        if chosen.is_none() && !others.is_empty() {
            if let Some(core) = Arc::get_mut(&mut s.0) {
                core.choice_key = Some((key.clone(), kept_as));
            }
            let pending = Pending {
                candidates: others,
                rt,
                model: model.to_path_buf(),
                threads,
                precision,
            };
            if let Some(core) = Arc::get_mut(&mut s.0) {
                *core.pending.get_mut().unwrap_or_else(|e| e.into_inner()) = Some(pending);
            }
        }
        return Ok(s);
    }
    let mut device = opts.device;
    let mut fallback = None;
    if device != Device::Cpu && provider(device, threads, precision).is_none() {
        fallback = Some(format!(
            "execution provider `{device}` is not available in ONNX Runtime {} ({}); running \
             on cpu. {}",
            rt.version,
            rt.library.display(),
            install_hint(device)
        ));
        device = Device::Cpu;
    }
    let engine = match build(device) {
        Ok(engine) => engine,
        Err(e) if device != Device::Cpu => {
            fallback = Some(format!(
                "execution provider `{device}` failed ({e}); running on cpu. {}",
                install_hint(device)
            ));
            device = Device::Cpu;
            build(device)?
        }
        Err(e) => return Err(e),
    };
    notices.extend(fallback);
    notices.extend(precision_notice(model, device, precision));
    Ok(finish(model, vec![engine], notices))
}

/// One ONNX Runtime session of `model` on `device`, as an engine (the file it loads may be
/// a variant beside `model`: errors name the file).
fn build_session(
    rt: &'static crate::runtime::Runtime,
    model: &Path,
    device: Device,
    threads: usize,
    precision: Precision,
) -> Result<Engine> {
    let mut b = Session::builder(&rt.env).map_err(|e| invalid(model, e))?;
    if threads > 0 {
        b = b
            .with_intra_threads(threads)
            .map_err(|e| invalid(model, e))?;
    }
    // ONNX Runtime's workers spin-wait between operators (fast) and keep spinning after a
    // run; the effects run right after inference on the same cores (rayon) and spinning
    // workers starved them. Spin during runs, stop at the end of each.
    b = b
        .with_intra_op_spinning(true)
        .map_err(|e| invalid(model, e))?
        .with_config_entry("session.force_spinning_stop", "1")
        .map_err(|e| invalid(model, e))?;
    if let Some(p) = provider(device, threads, precision) {
        b = b
            .with_execution_providers([p])
            .map_err(|e| Error::Inference(format!("{device} provider: {e}")))?;
    }
    // One OpenVINO compile at a time in the process: two at once (segment's and pose's
    // models, built on their own threads) crashed inside OpenVINO's ONNX reader (seen: 10 of
    // 18 short `segment ! pose` pipelines under load).
    static OPENVINO_BUILDS: Mutex<()> = Mutex::new(());
    let _one_at_a_time = (device == Device::OpenVino)
        .then(|| OPENVINO_BUILDS.lock().unwrap_or_else(|e| e.into_inner()));
    // The int8 variant where `precision` asks for it (or `auto` was measured faster with it),
    // OpenVINO's forms on openvino.
    let file = crate::variants::resolve(model, device, precision);
    if file != model {
        log::info!(
            "{}: loading its variant {}",
            model.display(),
            file.display()
        );
    }
    let session = b.commit_from_file(&file).map_err(|e| invalid(&file, e))?;
    Engine::new(&file, device, session)
}

/// Reads what the model declares and wraps its engines (at least one).
fn finish(model: &Path, engines: Vec<Engine>, notices: Vec<String>) -> SharedSession {
    let session = &engines[0].session;
    let device = engines[0].device;
    let notice = (!notices.is_empty()).then(|| notices.join("; "));
    if let Some(n) = &notice {
        log::warn!("{n}");
    }
    let info = |name: &str, shape: Option<&ort::value::Shape>| TensorInfo {
        name: name.to_string(),
        shape: shape
            .map(|s| s.iter().map(|&d| usize::try_from(d).ok()).collect())
            .unwrap_or_default(),
    };
    let inputs = session
        .inputs()
        .iter()
        .map(|i| info(i.name(), i.dtype().tensor_shape()))
        .collect();
    let outputs = (session.outputs().iter().zip(&engines[0].planes))
        .map(|(o, planes)| match planes {
            // Declared as the whole output, whatever the file leaves it as.
            Some(s) => TensorInfo {
                name: o.name().to_string(),
                shape: s.dims.iter().map(|&d| Some(d)).collect(),
            },
            None => info(o.name(), o.dtype().tensor_shape()),
        })
        .collect();
    let input_range = session
        .metadata()
        .ok()
        .and_then(|m| m.custom("aifx.input_range"))
        .and_then(|v| {
            let (lo, hi) = v.split_once(',')?;
            Some(InputRange {
                lo: lo.trim().parse().ok()?,
                hi: hi.trim().parse().ok()?,
            })
        });
    let on: Vec<&str> = engines.iter().map(|e| e.device.as_str()).collect();
    log::info!("loaded model {} on {}", model.display(), on.join(" and "));
    SharedSession(Arc::new(SessionCore {
        choice_key: None,
        pending: Mutex::new(None),
        runs: std::sync::atomic::AtomicU64::new(0),
        engines: Mutex::new(engines),
        model: model.to_path_buf(),
        inputs,
        outputs,
        device: DeviceWatch::new(device),
        notice,
        input_range,
    }))
}

fn lock_choices() -> std::sync::MutexGuard<'static, HashMap<Key, Device>> {
    AUTO_CHOICE.lock().unwrap_or_else(|e| e.into_inner())
}

impl SharedSession {
    /// True when both handles share one underlying ONNX Runtime session.
    pub fn same_as(&self, other: &SharedSession) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl SessionCore {
    /// The provider in use (after any fallback to CPU; under `auto`, the first candidate until
    /// its trial runs have picked the faster).
    pub fn device(&self) -> Device {
        self.device.get()
    }

    /// A handle that follows [`SessionCore::device`] without keeping the session alive.
    pub fn device_watch(&self) -> DeviceWatch {
        self.device.clone()
    }

    /// Runs the model once on zeros: a session's first run is slow (lazy set-up inside the
    /// runtime) and would otherwise be a frame's. Models with a dynamic input size (the
    /// style students) are left alone: their first run depends on the size.
    pub fn warm_up(&self) -> Result<()> {
        let [input] = &self.inputs[..] else {
            return Ok(());
        };
        if let Some(shape) = input.shape.iter().copied().collect::<Option<Vec<usize>>>() {
            self.run(&shape, &vec![0.0f32; shape.iter().product()])?;
        }
        Ok(())
    }

    /// Runs the model on one float input and copies every output out.
    pub fn run(&self, input_shape: &[usize], input: &[f32]) -> Result<Vec<Output>> {
        let expected: usize = input_shape.iter().product();
        if expected != input.len() {
            return Err(Error::BadInput(format!(
                "input shape {input_shape:?} needs {expected} values, got {}",
                input.len()
            )));
        }
        let tensor = TensorRef::from_array_view((input_shape.to_vec(), input))
            .map_err(|e| Error::Inference(e.to_string()))?;
        if self.runs.fetch_add(1, Ordering::Relaxed) + 1 == AUTO_TRIAL_AFTER {
            let pending = self
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(p) = pending {
                self.build_candidates(p);
            }
        }
        let mut engines = self.engines.lock().unwrap_or_else(|e| e.into_inner());
        // The engine with the fewest runs takes this one (only one engine once settled).
        let i = (0..engines.len())
            .min_by_key(|&i| engines[i].runs)
            .unwrap_or(0);
        let trial = engines.len() > 1;
        let engine = &mut engines[i];
        let start = Instant::now();
        let outputs = engine
            .session
            .run(ort::inputs![tensor])
            .map_err(|e| Error::Inference(e.to_string()))?;
        let result = Self::copy_out(outputs, &engine.planes)?;
        if trial {
            if engine.runs > 0 {
                engine.ms.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            engine.runs += 1;
            if engines.iter().all(|e| e.ms.len() >= AUTO_TRIAL_RUNS) {
                self.settle(&mut engines);
            }
        }
        Ok(result)
    }

    /// Builds `auto`'s other candidates, here, in the caller's thread: a one-time stall of
    /// 0.1–0.3 s per model (OpenVINO's compile) on the session's third run. Not on a thread
    /// of its own: a process that exits during a compile crashed in OpenVINO's torn-down
    /// statics (5 exits in 10 of a test binary), which no exit hook can order around.
    fn build_candidates(&self, p: Pending) {
        for d in p.candidates {
            match build_session(p.rt, &p.model, d, p.threads, p.precision) {
                Ok(engine) => self.add_candidate(engine),
                // Auto's candidates are ours, not the user's: a log line.
                Err(e) => log::info!("auto: `{d}` cannot run {} ({e})", p.model.display()),
            }
        }
    }

    /// A candidate provider for `auto`'s trial.
    fn add_candidate(&self, engine: Engine) {
        let mut engines = self.engines.lock().unwrap_or_else(|e| e.into_inner());
        // The runs so far on the first engine were not timed: the trial starts now for all.
        for e in engines.iter_mut() {
            e.runs = 0;
            e.ms.clear();
        }
        log::info!(
            "auto: {} can also run on {}; timing both",
            self.model.display(),
            engine.device
        );
        engines.push(engine);
    }

    /// Ends `auto`'s trial: keeps the engine with the fastest run. The best run, not the
    /// median: load from other processes only ever adds time, and a trial made while
    /// something else ran (a build, other pipelines) had settled on a provider 2× slower on
    /// its medians, a choice then kept across processes.
    fn settle(&self, engines: &mut Vec<Engine>) {
        let best_run = |e: &Engine| e.ms.iter().copied().fold(f64::INFINITY, f64::min);
        let times: Vec<String> = engines
            .iter()
            .map(|e| format!("{} {:.2} ms", e.device, best_run(e)))
            .collect();
        let best = (0..engines.len())
            .min_by(|&a, &b| best_run(&engines[a]).total_cmp(&best_run(&engines[b])))
            .unwrap_or(0);
        let kept = engines.swap_remove(best);
        engines.clear();
        log::info!(
            "auto: {} runs on {} (fastest run: {})",
            self.model.display(),
            kept.device,
            times.join(", ")
        );
        self.device.set(kept.device);
        if let Some((key, kept_as)) = &self.choice_key {
            lock_choices().insert(key.clone(), kept.device);
            crate::choices::remember(kept_as, kept.device);
        }
        engines.push(kept);
    }

    /// Copies every output out, shuffling those left as sub-pixel planes (`planes`, by
    /// output) into their declared shape.
    fn copy_out(
        outputs: ort::session::SessionOutputs<'_>,
        planes: &[Option<Subpixel>],
    ) -> Result<Vec<Output>> {
        let mut result = Vec::with_capacity(planes.len());
        for (k, (name, value)) in outputs.iter().enumerate() {
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| Error::Inference(format!("output `{name}`: {e}")))?;
            let shape: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
            let (shape, data) = match planes.get(k).and_then(Option::as_ref) {
                None => (shape, data.to_vec()),
                Some(s) => {
                    let whole = s.unshuffle(&shape, data).ok_or_else(|| {
                        Error::Inference(format!(
                            "output `{name}`: planes of shape {shape:?} do not make its declared \
                             shape {:?} in blocks of {}×{}",
                            s.dims, s.kh, s.kw
                        ))
                    })?;
                    (s.dims.clone(), whole)
                }
            };
            result.push(Output {
                name: name.to_string(),
                shape,
                data,
            });
        }
        Ok(result)
    }
}
