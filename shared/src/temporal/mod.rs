//! Temporal coherence, one step per file: motion between consecutive frames ([`motion`]),
//! mask smoothing with and without motion compensation ([`mask`]), one-euro filters for
//! keypoints ([`one_euro`]), pixel deflicker ([`deflicker`]), the per-stream composition the
//! `temporalsmooth` element runs ([`stream`]) and the flicker and lag measures the bench and
//! the tests share ([`measure`], [`evaluate`]). `segment` and `pose` use the same filters for their own
//! `smoothing`.

pub mod deflicker;
pub mod evaluate;
pub mod mask;
pub mod measure;
pub mod motion;
pub mod one_euro;
pub mod stream;

pub use motion::MotionMode;
pub use stream::{TemporalSettings, TemporalSmoother};
