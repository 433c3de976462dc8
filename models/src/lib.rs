//! aifx-models: the model catalog and a TFLite → ONNX converter for MediaPipe's models.
//!
//! The converter reads the TFLite flatbuffer itself with bounds checks on every offset
//! (model files are untrusted input) and writes ONNX (opset 17) that ONNX Runtime runs.

pub mod convert;
mod flatbuf;
pub mod onnx;
mod pads;
mod reduce_first;
mod relu6;
pub mod subpixel;
pub mod tflite;
mod widen;

/// Why a model could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("malformed TFLite model: {0}")]
    Malformed(String),
    #[error("unsupported TFLite feature: {0}")]
    Unsupported(String),
    #[error("unknown TFLite operator: {0}")]
    UnknownOp(String),
}

pub mod catalog;
pub mod quantize;
pub mod reference;
pub mod store;
pub mod verify;
