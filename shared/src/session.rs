//! A process-wide cache of ONNX Runtime sessions.
//!
//! Keyed by model file (path, size and modification time, so a replaced file is reloaded),
//! execution provider and thread count: any number of element instances that use the same
//! model share one session and its weights. The cache holds sessions weakly: once no element
//! holds one, it is dropped with its weights and arena.

use std::collections::HashMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use once_cell::sync::Lazy;
use ort::ep::{self, ExecutionProvider};
use ort::session::Session;
use ort::value::TensorRef;

use crate::runtime::runtime;
use crate::tensor::InputRange;
use crate::{Device, Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    model: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
    device: Device,
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

/// A loaded model: the ONNX Runtime session and what the model declares.
pub struct SessionCore {
    session: Mutex<Session>,
    pub model: PathBuf,
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
    /// The provider actually in use (after any fallback to CPU).
    pub device: Device,
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
            .field("device", &self.device)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish()
    }
}

static CACHE: Lazy<Mutex<HashMap<Key, Weak<SessionCore>>>> =
    Lazy::new(|| Mutex::new(HashMap::new()));

/// Options for [`session`].
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    pub device: Device,
    /// Intra-op threads; 0 lets ONNX Runtime choose (one per core).
    pub threads: usize,
    /// An explicit ONNX Runtime library, tried before the usual lookup.
    pub library: Option<PathBuf>,
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
        threads: opts.threads,
    };
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache.retain(|_, s| s.strong_count() > 0);
    if let Some(s) = cache.get(&key).and_then(Weak::upgrade) {
        return Ok(SharedSession(s));
    }
    let s = create(model, opts)?;
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

/// The devices the installed ONNX Runtime can run on (always `cpu`; others only when the
/// library has their provider). Loads the runtime; an unloadable one leaves just `cpu`.
pub fn available_devices() -> Vec<Device> {
    if runtime(None).is_err() {
        return vec![Device::Cpu];
    }
    Device::ALL
        .into_iter()
        .filter(|&d| d == Device::Cpu || provider(d).is_some())
        .collect()
}

/// Checks whether the loaded library has the provider, and builds its registration.
fn provider(device: Device) -> Option<ep::ExecutionProviderDispatch> {
    fn available<E: ExecutionProvider>() -> bool {
        E::is_available().unwrap_or(false)
    }
    match device {
        Device::Cpu => None,
        Device::Cuda if available::<ep::CUDA>() => {
            Some(ep::CUDA::default().build().error_on_failure())
        }
        Device::TensorRt if available::<ep::TensorRT>() => {
            Some(ep::TensorRT::default().build().error_on_failure())
        }
        Device::OpenVino if available::<ep::OpenVINO>() => {
            Some(ep::OpenVINO::default().build().error_on_failure())
        }
        // CoreML and DirectML exist only on macOS and Windows builds of ONNX Runtime.
        _ => None,
    }
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
        Device::Cpu => "",
    }
}

fn create(model: &Path, opts: &SessionOptions) -> Result<SharedSession> {
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
    let build = |device: Device| -> Result<Session> {
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
        if let Some(p) = provider(device) {
            b = b
                .with_execution_providers([p])
                .map_err(|e| Error::Inference(format!("{device} provider: {e}")))?;
        }
        b.commit_from_file(model).map_err(|e| invalid(model, e))
    };
    let mut device = opts.device;
    let mut fallback = None;
    if device != Device::Cpu && provider(device).is_none() {
        fallback = Some(format!(
            "execution provider `{device}` is not available in ONNX Runtime {} ({}); running \
             on cpu. {}",
            rt.version,
            rt.library.display(),
            install_hint(device)
        ));
        device = Device::Cpu;
    }
    let session = match build(device) {
        Ok(s) => s,
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
    let outputs = session
        .outputs()
        .iter()
        .map(|o| info(o.name(), o.dtype().tensor_shape()))
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
    log::info!("loaded model {} on {device}", model.display());
    Ok(SharedSession(Arc::new(SessionCore {
        session: Mutex::new(session),
        model: model.to_path_buf(),
        inputs,
        outputs,
        device,
        notice,
        input_range,
    })))
}

impl SharedSession {
    /// True when both handles share one underlying ONNX Runtime session.
    pub fn same_as(&self, other: &SharedSession) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl SessionCore {
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
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = session
            .run(ort::inputs![tensor])
            .map_err(|e| Error::Inference(e.to_string()))?;
        let mut result = Vec::with_capacity(self.outputs.len());
        for (name, value) in outputs.iter() {
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| Error::Inference(format!("output `{name}`: {e}")))?;
            result.push(Output {
                name: name.to_string(),
                shape: shape.iter().map(|&d| d.max(0) as usize).collect(),
                data: data.to_vec(),
            });
        }
        Ok(result)
    }
}
