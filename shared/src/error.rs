//! The crate's error type. Every message says what failed and what to do about it.

use std::path::PathBuf;

/// How to (re)install the runtime files, quoted in error messages.
pub const SETUP_HINT: &str =
    "run `make demo` (or `scripts/setup.sh`) in the aifx source tree to install them";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "ONNX Runtime library not found (tried: {tried}); {SETUP_HINT}, or set ORT_DYLIB_PATH"
    )]
    RuntimeMissing { tried: String },

    #[error(
        "ONNX Runtime library {path} cannot be used: {reason}; {SETUP_HINT}, or set ORT_DYLIB_PATH"
    )]
    RuntimeUnusable { path: PathBuf, reason: String },

    #[error("model `{name}` not found (looked in: {looked}; installed models: {installed}); {SETUP_HINT}")]
    ModelNotFound {
        name: String,
        looked: String,
        /// The model names found in the folders looked in.
        installed: String,
    },

    /// `reason` says what is wrong with the file and, for the files the set-up installed, how
    /// to reinstall them.
    #[error("model file {path} cannot be used: {reason}")]
    ModelInvalid { path: PathBuf, reason: String },

    #[error(
        "unknown device `{0}` (expected one of: auto, cpu, cuda, tensorrt, openvino, coreml, directml)"
    )]
    UnknownDevice(String),

    #[error("bad input: {0}")]
    BadInput(String),

    #[error("inference failed: {0}")]
    Inference(String),
}

pub type Result<T> = std::result::Result<T, Error>;
