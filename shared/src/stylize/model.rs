//! The contract of a style model, checked when it loads: one RGB picture in, one RGB picture
//! out. Layout NCHW `[1, 3, H, W]` or NHWC `[1, H, W, 3]` (the output in the input's layout),
//! fixed or dynamic H and W, values in the range the model's metadata declares
//! (`aifx.input_range = "lo,hi"`), else 0..1 unless the user says otherwise; the output is
//! read back in the same range. The ONNX model zoo's fast-neural-style models, for example,
//! take and give 0..255 (`input-range=byte`).

use crate::session::SharedSession;
use crate::tensor::InputRange;
use crate::{Error, Result};

/// The value range a user asks for (`auto`: the model's metadata, else 0..1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RangeChoice {
    #[default]
    Auto,
    /// 0..1
    Unit,
    /// 0..255
    Byte,
    /// −1..1
    Signed,
}

/// How a loaded style model is fed.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleSpec {
    pub nchw: bool,
    /// The (width, height) a model with a fixed input size needs; `None` for any size.
    pub fixed: Option<(usize, usize)>,
    pub range: InputRange,
}

/// Checks `s` against the contract and works out how to feed it.
pub fn style_spec(s: &SharedSession, choice: RangeChoice) -> Result<StyleSpec> {
    let bad = |what: String| Error::ModelInvalid {
        path: s.model.clone(),
        reason: format!(
            "{what}; a style model maps one RGB picture to one RGB picture: input and output \
             [1, 3, H, W] (NCHW) or [1, H, W, 3] (NHWC), float"
        ),
    };
    let [input] = &s.inputs[..] else {
        return Err(bad(format!("it has {} inputs", s.inputs.len())));
    };
    let (nchw, h, w) = match input.shape[..] {
        [_, Some(3), h, w] => (true, h, w),
        [_, h, w, Some(3)] => (false, h, w),
        _ => {
            return Err(bad(format!(
                "input `{}` has shape {:?}",
                input.name, input.shape
            )))
        }
    };
    let output = s
        .outputs
        .first()
        .ok_or_else(|| bad("it has no output".into()))?;
    let channels = if nchw {
        output.shape.get(1).copied()
    } else {
        output.shape.get(3).copied()
    };
    if output.shape.len() != 4 || !matches!(channels, Some(Some(3)) | Some(None)) {
        return Err(bad(format!(
            "output `{}` has shape {:?} (the input is {})",
            output.name,
            output.shape,
            if nchw { "NCHW" } else { "NHWC" }
        )));
    }
    let fixed = match (w, h) {
        (Some(w), Some(h)) if w > 0 && h > 0 => Some((w, h)),
        _ => None,
    };
    let range = match choice {
        RangeChoice::Auto => s.input_range.unwrap_or(InputRange::UNIT),
        RangeChoice::Unit => InputRange::UNIT,
        RangeChoice::Byte => InputRange { lo: 0.0, hi: 255.0 },
        RangeChoice::Signed => InputRange::SIGNED,
    };
    Ok(StyleSpec { nchw, fixed, range })
}
