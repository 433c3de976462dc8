//! aifx: the inference core behind the aifx GStreamer elements (and the OBS filters to come).
//!
//! Plain Rust, no framework types: ONNX Runtime loading ([`runtime`]), a process-wide session
//! cache ([`session`]), model lookup ([`paths`]) and the image helpers the effects build on.
//! Elements are thin adapters over this crate.

pub mod ahead;
pub mod choices;
pub mod device;
pub mod error;
pub mod frame;
pub mod governor;
pub mod parallel;
pub mod paths;
pub mod pose;
pub mod runtime;
pub mod sample;
pub mod segment;
pub mod session;
pub mod stylize;
pub mod subpixel;
pub mod temporal;
pub mod tensor;
pub mod timing;
pub mod upscale;
pub mod variants;
pub mod worker;

pub use device::{Device, Precision};
pub use error::{Error, Result};
pub use session::{Output, SharedSession};
