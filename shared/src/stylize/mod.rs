//! Neural stylization: any ONNX model that maps one RGB picture to another (the built-in
//! styles distilled in `models/styles/`, or one a user brings), run at a reduced working size
//! and blended into the frame in its own format ([`stylizer`]); the model contract ([`model`]).

pub mod budget;
pub mod model;
pub mod stylizer;

pub use model::RangeChoice;
pub use stylizer::{MaskRef, Region, StyleSettings, Stylizer};
