//! aifx: the inference core behind the aifx GStreamer elements and OBS filter.
//!
//! Plain Rust, no framework types: ONNX Runtime loading ([`runtime`]), a process-wide session
//! cache ([`session`]), model lookup ([`paths`]) and the image helpers the effects build on.
//! Elements and the OBS filter are thin adapters over this crate.

pub mod blur;
pub mod composite;
pub mod device;
pub mod error;
pub mod frame;
pub mod mask;
pub mod parallel;
pub mod paths;
pub mod pose;
pub mod refine;
pub mod runtime;
pub mod sample;
pub mod segmenter;
pub mod session;
pub mod tensor;

pub use device::Device;
pub use error::{Error, Result};
pub use session::{Output, SharedSession};
