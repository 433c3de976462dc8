//! Person segmentation, one step per file: the model's mask and its clean-ups ([`mask`]),
//! edge-aware upsampling to frame resolution ([`refine`]), where a row's alpha comes from
//! ([`coverage`]), the blurred background ([`blur`]), compositing in the frame's own format
//! ([`composite`]) and the per-stream pipeline that composes them ([`segmenter`]).

mod blend;
pub mod blur;
pub mod budget;
pub mod composite;
pub mod coverage;
pub mod mask;
pub mod refine;
pub mod segmenter;

pub use composite::{CompositeParams, Compositor, Effect};
pub use mask::Mask;
pub use segmenter::{FrameMask, SegmentSettings, Segmenter};
