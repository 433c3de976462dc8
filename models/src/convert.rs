//! TFLite → ONNX conversion.
//!
//! The ONNX graph keeps the TFLite model's interface exactly (same input and output names,
//! shapes and NHWC layout), so a converted model is a drop-in for the original and both can be
//! fed the same tensor. Inside, 4-D activations live in NCHW, the layout ONNX operators expect;
//! each activation carries a layout flag and is transposed lazily, only where a consumer needs
//! the other layout. Constant sub-graphs (fp16 DEQUANTIZE, DENSIFY) are folded at conversion
//! time so the ONNX file holds plain f32 initializers.
//!
//! [`Forms::OpenVino`] writes the same function with some operators in forms OpenVINO's CPU
//! plugin runs faster (see [`Forms`]); the set-up keeps that graph beside the reference one.

use std::collections::BTreeMap;

use half::f16;

use crate::onnx::{self, Attr, Graph, ModelInfo, ValueInfo};
use crate::tflite::{
    op, Activation, DimMetadata, Model, Operator, Options, Padding, Sparsity, Tensor, TensorType,
};
use crate::ConvertError;

type Result<T> = std::result::Result<T, ConvertError>;

/// The opset the converter writes.
pub const OPSET: i64 = 17;

/// Largest dense size a sparse constant may expand to (its stored values can be far fewer).
const MAX_SPARSE_DENSE: usize = 1 << 24;

/// Which operator forms a conversion writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forms {
    /// One ONNX operator per TFLite operator where ONNX has it (what `verify` checks against
    /// TFLite, and what ONNX Runtime's CPU provider runs fastest).
    Reference,
    /// The same function, rewritten where OpenVINO's CPU plugin has a slow kernel (profiled
    /// with OpenVINO 2025.4 on selfie, bf16 hint, Zen 4): a transposed convolution whose
    /// stride equals its kernel (selfie's last layer, 0.24 ms of 1.3 in f32) becomes a 1×1
    /// convolution and a pixel shuffle; a 2× half-pixel bilinear upsampling (0.17 ms for
    /// selfie's three) becomes a nearest 2× upsampling, an edge pad and a depthwise
    /// [¼ ½ ¼]² convolution. Selfie runs 10–20 % faster; ONNX Runtime's CPU provider runs
    /// these forms 10–25 % slower, hence two files. And relu6 after a residual add stays a
    /// `Clip`, which OpenVINO fuses into the convolution before it, where the reference graph
    /// has the `HardSigmoid` ONNX Runtime's CPU provider fuses (see `relu6`), which OpenVINO
    /// runs with its reference code between two layout reorders (0.85 ms of
    /// pose-landmark-full's 11.5 on an AVX2 Zen 3). A large convolution with one output
    /// channel becomes a depthwise one and a 1×1 sum (see `conv`). Streams of activations
    /// whose channel count is not a multiple of 8 get zero channels up to one (see `widen`).
    /// A one-channel output made by a pixel shuffle ends at the planes before it, which the
    /// reader shuffles (see `subpixel`).
    OpenVino,
}

/// What a conversion produced.
pub struct Converted {
    pub onnx: Vec<u8>,
    /// Operator histogram of the source model, by TFLite name.
    pub ops: BTreeMap<String, usize>,
    pub inputs: Vec<(String, Vec<usize>)>,
    pub outputs: Vec<(String, Vec<usize>)>,
}

#[derive(Debug, Clone)]
enum CData {
    F(Vec<f32>),
    I(Vec<i64>),
}

#[derive(Debug, Clone)]
struct Const {
    shape: Vec<usize>,
    data: CData,
}

impl Const {
    fn floats(&self) -> Result<&[f32]> {
        match &self.data {
            CData::F(v) => Ok(v),
            CData::I(_) => Err(malformed("expected a float constant")),
        }
    }

    fn ints(&self) -> Result<Vec<i64>> {
        match &self.data {
            CData::I(v) => Ok(v.clone()),
            CData::F(_) => Err(malformed("expected an integer constant")),
        }
    }
}

#[derive(Debug, Clone)]
struct Act {
    name: String,
    /// The shape in TFLite's terms (NHWC for 4-D).
    shape: Vec<usize>,
    /// Stored as NCHW in the ONNX graph (only ever true for 4-D).
    nchw: bool,
}

#[derive(Debug, Clone)]
enum Val {
    Const(Const),
    Act(Act),
}

fn malformed(msg: impl Into<String>) -> ConvertError {
    ConvertError::Malformed(msg.into())
}

/// Element count; saturates so hostile shapes (huge dims beside a zero) cannot overflow.
fn elements(shape: &[usize]) -> usize {
    shape.iter().fold(1usize, |n, &d| n.saturating_mul(d))
}

/// Permutes a dense row-major array.
fn permute<T: Copy>(data: &[T], shape: &[usize], perm: &[usize]) -> (Vec<T>, Vec<usize>) {
    let rank = shape.len();
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let mut in_strides = vec![1usize; rank];
    for d in (0..rank.saturating_sub(1)).rev() {
        in_strides[d] = in_strides[d + 1] * shape[d + 1];
    }
    let n = elements(shape);
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; rank];
    for _ in 0..n {
        let src: usize = (0..rank).map(|d| idx[d] * in_strides[perm[d]]).sum();
        out.push(data[src]);
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < out_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    (out, out_shape)
}

const TO_NCHW: [usize; 4] = [0, 3, 1, 2];
const TO_NHWC: [usize; 4] = [0, 2, 3, 1];

fn nchw_axis(axis: usize) -> usize {
    [0, 2, 3, 1][axis]
}

/// Expands a sparse constant's stored values to its dense shape.
fn densify<T: Copy + Default>(shape: &[usize], sp: &Sparsity, values: &[T]) -> Result<Vec<T>> {
    let rank = shape.len();
    if sp.dims.len() != rank {
        return Err(ConvertError::Unsupported(
            "sparse tensor whose index levels differ from its rank (block sparsity)".into(),
        ));
    }
    if !sp.block_map.is_empty()
        || !(sp.traversal_order.is_empty()
            || sp
                .traversal_order
                .iter()
                .enumerate()
                .all(|(i, &t)| t == i as i32))
    {
        return Err(ConvertError::Unsupported(
            "sparse tensor with a non-identity traversal order".into(),
        ));
    }
    let n = elements(shape);
    if n > MAX_SPARSE_DENSE {
        return Err(malformed(format!(
            "sparse tensor of dense shape {shape:?} is too large"
        )));
    }
    for (level, dm) in sp.dims.iter().enumerate() {
        match dm {
            DimMetadata::Dense(size) if *size != shape[level] => {
                return Err(malformed("sparse dense level size differs from the shape"));
            }
            DimMetadata::Csr { segments, indices } => {
                if segments.windows(2).any(|w| w[0] > w[1])
                    || segments.last().is_some_and(|&l| l as usize > indices.len())
                {
                    return Err(malformed("sparse segments are not monotonic"));
                }
                if indices.iter().any(|&i| i as usize >= shape[level]) {
                    return Err(malformed("sparse index out of range"));
                }
            }
            _ => {}
        }
    }
    let mut dense = vec![T::default(); n];
    let mut next = 0usize;
    // Iterative walk over (level, position, flat index) to keep the stack bounded.
    let mut stack = vec![(0usize, 0usize, 0usize)];
    let mut children = Vec::new();
    while let Some((level, pos, flat)) = stack.pop() {
        if level == rank {
            let v = *values
                .get(next)
                .ok_or_else(|| malformed("sparse tensor has fewer values than indices"))?;
            dense[flat] = v;
            next += 1;
            continue;
        }
        children.clear();
        match &sp.dims[level] {
            DimMetadata::Dense(size) => {
                for i in 0..*size {
                    let p = pos
                        .checked_mul(*size)
                        .and_then(|p| p.checked_add(i))
                        .ok_or_else(|| malformed("sparse position overflow"))?;
                    children.push((level + 1, p, flat * shape[level] + i));
                }
            }
            DimMetadata::Csr { segments, indices } => {
                let (Some(&a), Some(&b)) = (segments.get(pos), segments.get(pos + 1)) else {
                    return Err(malformed("sparse segment index out of range"));
                };
                for (j, &index) in indices.iter().enumerate().take(b as usize).skip(a as usize) {
                    children.push((level + 1, j, flat * shape[level] + index as usize));
                }
            }
        }
        // Reverse so the stack visits children in order (values are in traversal order).
        stack.extend(children.drain(..).rev());
        if stack.len() > n + rank + 1 {
            return Err(malformed(
                "sparse structure visits more cells than the tensor has",
            ));
        }
    }
    if next != values.len() {
        return Err(malformed(format!(
            "sparse tensor stores {} values but its indices use {next}",
            values.len()
        )));
    }
    Ok(dense)
}

fn load_const(t: &Tensor) -> Result<Option<Const>> {
    let Some(bytes) = &t.data else {
        return Ok(None);
    };
    let size =
        t.ty.byte_size()
            .ok_or_else(|| ConvertError::Unsupported(format!("constant of type {:?}", t.ty)))?;
    if bytes.len() % size != 0 {
        return Err(malformed(format!(
            "constant `{}` has a ragged buffer",
            t.name
        )));
    }
    let count = bytes.len() / size;
    let data = match t.ty {
        TensorType::Float32 => CData::F(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
        TensorType::Float16 => CData::F(
            bytes
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        ),
        TensorType::Int32 => CData::I(
            bytes
                .chunks_exact(4)
                .map(|b| i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect(),
        ),
        TensorType::Int64 => CData::I(
            bytes
                .chunks_exact(8)
                .map(|b| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    i64::from_le_bytes(a)
                })
                .collect(),
        ),
        other => {
            return Err(ConvertError::Unsupported(format!(
                "constant `{}` of type {other:?}",
                t.name
            )))
        }
    };
    let data = match &t.sparsity {
        Some(sp) => match data {
            CData::F(v) => CData::F(densify(&t.shape, sp, &v)?),
            CData::I(v) => CData::I(densify(&t.shape, sp, &v)?),
        },
        None => {
            if count != elements(&t.shape) {
                return Err(malformed(format!(
                    "constant `{}` has {count} values for shape {:?}",
                    t.name, t.shape
                )));
            }
            data
        }
    };
    Ok(Some(Const {
        shape: t.shape.clone(),
        data,
    }))
}

/// Explicit (before, after) padding and output size for one spatial dimension.
fn window(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Result<(usize, usize, usize)> {
    let eff = (kernel - 1) * dilation + 1;
    match padding {
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = ((out.max(1) - 1) * stride + eff).saturating_sub(input);
            Ok((total / 2, total - total / 2, out))
        }
        Padding::Valid => {
            if input < eff {
                return Err(malformed(format!(
                    "window {eff} is larger than the input {input}"
                )));
            }
            Ok((0, 0, (input - eff) / stride + 1))
        }
    }
}

struct Cx<'m> {
    model: &'m Model,
    g: Graph,
    vals: Vec<Option<Val>>,
    forms: Forms,
    /// `Resize` outputs no smaller than their inputs (for `reduce_first`).
    upsampled: std::collections::HashSet<String>,
}

impl<'m> Cx<'m> {
    fn tensor(&self, i: i32) -> Result<&'m Tensor> {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.model.tensors.get(i))
            .ok_or_else(|| malformed(format!("tensor index {i} out of range")))
    }

    fn val(&self, i: i32) -> Result<&Val> {
        let t = self.tensor(i)?;
        self.vals[i as usize]
            .as_ref()
            .ok_or_else(|| malformed(format!("tensor `{}` is used before it is produced", t.name)))
    }

    fn cst(&self, i: i32) -> Result<Const> {
        match self.val(i)? {
            Val::Const(c) => Ok(c.clone()),
            Val::Act(a) => Err(ConvertError::Unsupported(format!(
                "tensor `{}` must be a constant here",
                a.name
            ))),
        }
    }

    fn is_const(&self, i: i32) -> bool {
        matches!(self.val(i), Ok(Val::Const(_)))
    }

    fn materialize(&mut self, c: &Const, hint: &str) -> String {
        match &c.data {
            CData::F(v) => self.g.const_f32(hint, &c.shape, v.clone()),
            CData::I(v) => {
                let name = self.g.fresh(hint);
                self.g.initializers.push(onnx::Initializer {
                    name: name.clone(),
                    dims: c.shape.iter().map(|&d| d as i64).collect(),
                    data: onnx::Data::I64(v.clone()),
                });
                name
            }
        }
    }

    /// The tensor as a runtime value, whatever its layout.
    fn act(&mut self, i: i32) -> Result<Act> {
        match self.val(i)?.clone() {
            Val::Act(a) => Ok(a),
            Val::Const(c) => {
                let name = self.materialize(&c, "const");
                Ok(Act {
                    name,
                    shape: c.shape,
                    nchw: false,
                })
            }
        }
    }

    /// Moves a 4-D value between layouts; a transpose that moves no data becomes a reshape.
    fn relayout(&mut self, a: Act, to_nchw: bool) -> Act {
        if a.shape.len() != 4 || a.nchw == to_nchw {
            return a;
        }
        let [n, h, w, c] = [a.shape[0], a.shape[1], a.shape[2], a.shape[3]];
        let name = if c == 1 || h * w == 1 {
            let target: Vec<i64> = if to_nchw { [n, c, h, w] } else { [n, h, w, c] }
                .iter()
                .map(|&d| d as i64)
                .collect();
            let s = self.g.const_i64("shape", &target);
            self.g.op("Reshape", &[&a.name, &s], vec![])
        } else {
            let perm = if to_nchw { TO_NCHW } else { TO_NHWC };
            self.g.op(
                "Transpose",
                &[&a.name],
                vec![("perm", Attr::Ints(perm.iter().map(|&p| p as i64).collect()))],
            )
        };
        Act {
            name,
            shape: a.shape,
            nchw: to_nchw,
        }
    }

    fn act_nchw(&mut self, i: i32) -> Result<Act> {
        let a = self.act(i)?;
        if a.shape.len() != 4 {
            return Err(malformed(format!(
                "expected a 4-D input, got shape {:?}",
                a.shape
            )));
        }
        Ok(self.relayout(a, true))
    }

    fn act_tflite(&mut self, i: i32) -> Result<Act> {
        let a = self.act(i)?;
        Ok(self.relayout(a, false))
    }

    /// A constant operand for a binary op whose other operand is a 4-D NCHW activation:
    /// right-align its shape to NHWC rank 4, then permute to NCHW.
    fn broadcast_const_nchw(&mut self, c: &Const) -> Result<String> {
        if c.shape.len() > 4 {
            return Err(malformed(
                "constant of rank > 4 broadcast against a 4-D tensor",
            ));
        }
        let mut shape4 = vec![1usize; 4 - c.shape.len()];
        shape4.extend_from_slice(&c.shape);
        let CData::F(v) = &c.data else {
            return Err(malformed("integer constant in a float operation"));
        };
        let (data, shape) = permute(v, &shape4, &TO_NCHW);
        Ok(self.g.const_f32("bcast", &shape, data))
    }

    fn output_shape(&self, op: &Operator, k: usize) -> Result<Vec<usize>> {
        let o = *op
            .outputs
            .get(k)
            .ok_or_else(|| malformed("operator is missing an output"))?;
        Ok(self.tensor(o)?.shape.clone())
    }

    fn set(&mut self, op: &Operator, name: String, nchw: bool) -> Result<()> {
        let o = *op
            .outputs
            .first()
            .ok_or_else(|| malformed("operator has no output"))?;
        let shape = self.tensor(o)?.shape.clone();
        self.vals[o as usize] = Some(Val::Act(Act {
            name,
            nchw: nchw && shape.len() == 4,
            shape,
        }));
        Ok(())
    }

    fn set_const(&mut self, op: &Operator, c: Const) -> Result<()> {
        let o = *op
            .outputs
            .first()
            .ok_or_else(|| malformed("operator has no output"))?;
        self.vals[o as usize] = Some(Val::Const(c));
        Ok(())
    }

    fn fused(&mut self, x: String, a: Activation) -> String {
        match a {
            Activation::None => x,
            Activation::Relu => self.g.op("Relu", &[&x], vec![]),
            Activation::Tanh => self.g.op("Tanh", &[&x], vec![]),
            Activation::Relu6 | Activation::ReluN1To1 => {
                let (lo, hi) = if a == Activation::Relu6 {
                    (0.0, 6.0)
                } else {
                    (-1.0, 1.0)
                };
                let lo = self.g.const_f32("min", &[], vec![lo]);
                let hi = self.g.const_f32("max", &[], vec![hi]);
                self.g.op("Clip", &[&x, &lo, &hi], vec![])
            }
        }
    }

    fn input(&self, op: &Operator, k: usize) -> Result<i32> {
        op.inputs
            .get(k)
            .copied()
            .filter(|&i| i >= 0)
            .ok_or_else(|| malformed(format!("{} is missing input {k}", op::name(op.builtin))))
    }

    fn check_shape(&self, op: &Operator, computed: &[usize]) -> Result<()> {
        let declared = self.output_shape(op, 0)?;
        if declared != computed {
            return Err(malformed(format!(
                "{} declares output shape {declared:?} but its inputs give {computed:?}",
                op::name(op.builtin)
            )));
        }
        Ok(())
    }

    fn conv(&mut self, op: &Operator, depthwise: bool) -> Result<()> {
        let (padding, stride, dilation, activation) = match op.options {
            Options::Conv {
                padding,
                stride,
                dilation,
                activation,
            }
            | Options::DepthwiseConv {
                padding,
                stride,
                dilation,
                activation,
                ..
            } => (padding, stride, dilation, activation),
            _ => return Err(malformed("convolution without convolution options")),
        };
        let x = self.act_nchw(self.input(op, 0)?)?;
        let w = self.cst(self.input(op, 1)?)?;
        if w.shape.len() != 4 {
            return Err(malformed(format!(
                "convolution weights of shape {:?}",
                w.shape
            )));
        }
        let cin = x.shape[3];
        // TFLite: conv weights OHWI, depthwise 1×H×W×(C·m). ONNX: O×(I/group)×H×W.
        let (weights, wshape, group) = if depthwise {
            let out_c = w.shape[3];
            if w.shape[0] != 1 || cin == 0 || out_c % cin != 0 {
                return Err(malformed(format!(
                    "depthwise weights {:?} do not fit {cin} channels",
                    w.shape
                )));
            }
            let (d, s) = permute(w.floats()?, &w.shape, &[3, 0, 1, 2]);
            (d, s, cin)
        } else {
            let win = w.shape[3];
            if win == 0 || cin % win != 0 {
                return Err(malformed(format!(
                    "conv weights {:?} do not fit {cin} input channels",
                    w.shape
                )));
            }
            let (d, s) = permute(w.floats()?, &w.shape, &[0, 3, 1, 2]);
            (d, s, cin / win)
        };
        let out_c = wshape[0];
        let (kh, kw) = (wshape[2], wshape[3]);
        if kh == 0 || kw == 0 {
            return Err(malformed("convolution kernel of size 0"));
        }
        let (pt, pb, oh) = window(x.shape[1], kh, stride[0], dilation[0], padding)?;
        let (pl, pr, ow) = window(x.shape[2], kw, stride[1], dilation[1], padding)?;
        self.check_shape(op, &[x.shape[0], oh, ow, out_c])?;
        let bias = match op.inputs.get(2).filter(|&&b| b >= 0) {
            Some(&b) => {
                let bias = self.cst(b)?;
                if bias.shape != [out_c] {
                    return Err(malformed(format!(
                        "bias shape {:?} for {out_c} outputs",
                        bias.shape
                    )));
                }
                Some(bias.floats()?.to_vec())
            }
            None => None,
        };
        // OpenVINO's CPU plugin runs a convolution with one output channel at a fraction of
        // its speed (pose-landmark-full's 3×3 mask head over 8 channels at 256×256: 0.99 ms
        // for 4.7 M multiply-adds, a tenth of the model's time on an AVX2 Zen 3). Its forms
        // make it a depthwise convolution (the bias on the first channel) and a 1×1 sum of
        // the channels: 0.17 + 0.34 ms, the model 5 % faster.
        let summed = self.forms == Forms::OpenVino
            && !depthwise
            && group == 1
            && out_c == 1
            && cin > 1
            && kh * kw > 1
            && oh * ow >= 64 * 64;
        let (wshape, group, bias) = if summed {
            let spread = bias.map(|b| {
                let mut v = vec![0.0; cin];
                v[0] = b[0];
                v
            });
            // O×I×H×W with O = 1 holds the same values as I×1×H×W.
            (vec![cin, 1, kh, kw], cin, spread)
        } else {
            (wshape, group, bias)
        };
        let wname = self.g.const_f32("w", &wshape, weights);
        let mut inputs = vec![x.name.clone(), wname];
        if let Some(b) = bias {
            inputs.push(self.g.const_f32("b", &[b.len()], b));
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let y = self.g.op(
            "Conv",
            &refs,
            vec![
                ("group", Attr::Int(group as i64)),
                ("kernel_shape", Attr::Ints(vec![kh as i64, kw as i64])),
                (
                    "strides",
                    Attr::Ints(vec![stride[0] as i64, stride[1] as i64]),
                ),
                (
                    "dilations",
                    Attr::Ints(vec![dilation[0] as i64, dilation[1] as i64]),
                ),
                (
                    "pads",
                    Attr::Ints(vec![pt as i64, pl as i64, pb as i64, pr as i64]),
                ),
            ],
        );
        let y = if summed {
            let ones = self.g.const_f32("ones", &[1, cin, 1, 1], vec![1.0; cin]);
            self.g.op("Conv", &[&y, &ones], vec![])
        } else {
            y
        };
        let y = self.fused(y, activation);
        self.set(op, y, true)
    }

    /// MediaPipe's `Convolution2DTransposeBias`: weights OHWI, bias, 12 bytes of options.
    fn transpose_conv_bias(&mut self, op: &Operator) -> Result<()> {
        let opts = &op.custom_options;
        if opts.len() < 12 {
            return Err(malformed(
                "Convolution2DTransposeBias options are shorter than 12 bytes",
            ));
        }
        let word = |k: usize| i32::from_le_bytes([opts[k], opts[k + 1], opts[k + 2], opts[k + 3]]);
        let padding = match word(0) {
            1 => Padding::Same,
            2 => Padding::Valid,
            p => return Err(malformed(format!("Convolution2DTransposeBias padding {p}"))),
        };
        let (sw, sh) = (word(4), word(8));
        if !(1..=64).contains(&sw) || !(1..=64).contains(&sh) {
            return Err(malformed("Convolution2DTransposeBias stride out of range"));
        }
        let (sw, sh) = (sw as usize, sh as usize);
        let x = self.act_nchw(self.input(op, 0)?)?;
        let w = self.cst(self.input(op, 1)?)?;
        let b = self.cst(self.input(op, 2)?)?;
        if w.shape.len() != 4 || w.shape[3] != x.shape[3] || b.shape != [w.shape[0]] {
            return Err(malformed(format!(
                "transpose-conv weights {:?} / bias {:?} do not fit input {:?}",
                w.shape, b.shape, x.shape
            )));
        }
        let (o, kh, kw) = (w.shape[0], w.shape[1], w.shape[2]);
        if kh == 0 || kw == 0 {
            return Err(malformed("transpose-conv kernel of size 0"));
        }
        let dim = |input: usize, k: usize, s: usize| -> (usize, usize, usize) {
            let pad = match padding {
                Padding::Same => {
                    (k as isize - ((input as isize - 1).rem_euclid(s as isize)) - 1).max(0) as usize
                }
                Padding::Valid => 0,
            };
            let out = (s * (input.max(1) - 1) + k).saturating_sub(pad);
            (pad / 2, pad - pad / 2, out)
        };
        let (pt, pb, oh) = dim(x.shape[1], kh, sh);
        let (pl, pr, ow) = dim(x.shape[2], kw, sw);
        self.check_shape(op, &[x.shape[0], oh, ow, o])?;
        if self.forms == Forms::OpenVino && (pt, pb, pl, pr) == (0, 0, 0, 0) && (kh, kw) == (sh, sw)
        {
            let y = self.pixel_shuffle_conv(&x, w.floats()?, b.floats()?, o, kh, kw);
            return self.set(op, y, true);
        }
        // ONNX ConvTranspose weights are I×O×H×W.
        let (wd, ws) = permute(w.floats()?, &w.shape, &[3, 0, 1, 2]);
        let wn = self.g.const_f32("wt", &ws, wd);
        let bn = self.g.const_f32("bt", &[o], b.floats()?.to_vec());
        let y = self.g.op(
            "ConvTranspose",
            &[&x.name, &wn, &bn],
            vec![
                ("kernel_shape", Attr::Ints(vec![kh as i64, kw as i64])),
                ("strides", Attr::Ints(vec![sh as i64, sw as i64])),
                (
                    "pads",
                    Attr::Ints(vec![pt as i64, pl as i64, pb as i64, pr as i64]),
                ),
            ],
        );
        self.set(op, y, true)
    }

    /// A transposed convolution whose stride equals its kernel (no overlap, no padding) as
    /// what it is: each input pixel's 1×1 convolution to kh·kw·o values, laid out as a
    /// kh×kw block of the output. Weights `w` are TFLite's O×H×W×I.
    fn pixel_shuffle_conv(
        &mut self,
        x: &Act,
        w: &[f32],
        bias: &[f32],
        o: usize,
        kh: usize,
        kw: usize,
    ) -> String {
        let (n, h, wd, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        // Output channel (i·kw + j)·o + oc of the 1×1 convolution is kernel tap (i, j) of
        // output channel oc.
        let mut weights = Vec::with_capacity(kh * kw * o * c);
        for i in 0..kh {
            for j in 0..kw {
                for oc in 0..o {
                    let tap = ((oc * kh + i) * kw + j) * c;
                    weights.extend_from_slice(&w[tap..tap + c]);
                }
            }
        }
        let biases: Vec<f32> = (0..kh * kw).flat_map(|_| bias.iter().copied()).collect();
        let wn = self.g.const_f32("w", &[kh * kw * o, c, 1, 1], weights);
        let bn = self.g.const_f32("b", &[kh * kw * o], biases);
        let taps = self.g.op("Conv", &[&x.name, &wn, &bn], vec![]);
        // N×(kh·kw·o)×H×W → N×kh×kw×o×H×W → N×o×H×kh×W×kw → N×o×(H·kh)×(W·kw): reshapes and
        // a transpose rather than DepthToSpace, which needs kh = kw (OpenVINO turns the three
        // into its own depth-to-space; alternating runs measured them no slower).
        let dims = |d: &[usize]| d.iter().map(|&v| v as i64).collect::<Vec<_>>();
        let split = self.g.const_i64("shape", &dims(&[n, kh, kw, o, h, wd]));
        let split = self.g.op("Reshape", &[&taps, &split], vec![]);
        let moved = self.g.op(
            "Transpose",
            &[&split],
            vec![("perm", Attr::Ints(vec![0, 3, 4, 1, 5, 2]))],
        );
        let joined = self.g.const_i64("shape", &dims(&[n, o, h * kh, wd * kw]));
        self.g.op("Reshape", &[&moved, &joined], vec![])
    }

    /// A 2× half-pixel bilinear upsampling as a nearest 2× upsampling, an edge pad of one
    /// and a depthwise [¼ ½ ¼]² convolution: output 2k is ¼·x[k−1] + ¾·x[k] and 2k+1 is
    /// ¾·x[k] + ¼·x[k+1] either way, with the edge pad doing the border clamp.
    fn upsample2_bilinear(&mut self, x: &Act) -> String {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        let sizes = self
            .g
            .const_i64("sizes", &[n as i64, c as i64, 2 * h as i64, 2 * w as i64]);
        let near = self.g.op(
            "Resize",
            &[&x.name, "", "", &sizes],
            vec![
                ("mode", Attr::Str("nearest".into())),
                (
                    "coordinate_transformation_mode",
                    Attr::Str("asymmetric".into()),
                ),
                ("nearest_mode", Attr::Str("floor".into())),
            ],
        );
        self.upsampled.insert(near.clone());
        let pads = self.g.const_i64("pads", &[0, 0, 1, 1, 0, 0, 1, 1]);
        let padded = self.g.op(
            "Pad",
            &[&near, &pads],
            vec![("mode", Attr::Str("edge".into()))],
        );
        let taps = [0.25f32, 0.5, 0.25];
        let kernel: Vec<f32> = (0..c)
            .flat_map(|_| taps.iter().flat_map(|&a| taps.iter().map(move |&b| a * b)))
            .collect();
        let wn = self.g.const_f32("w", &[c, 1, 3, 3], kernel);
        self.g.op(
            "Conv",
            &[&padded, &wn],
            vec![
                ("group", Attr::Int(c as i64)),
                ("kernel_shape", Attr::Ints(vec![3, 3])),
            ],
        )
    }

    fn pool(&mut self, op: &Operator, onnx_op: &str) -> Result<()> {
        let Options::Pool {
            padding,
            stride,
            filter,
            activation,
        } = op.options
        else {
            return Err(malformed("pool without pool options"));
        };
        let x = self.act_nchw(self.input(op, 0)?)?;
        let (pt, pb, oh) = window(x.shape[1], filter[0], stride[0], 1, padding)?;
        let (pl, pr, ow) = window(x.shape[2], filter[1], stride[1], 1, padding)?;
        self.check_shape(op, &[x.shape[0], oh, ow, x.shape[3]])?;
        let mut attrs = vec![
            (
                "kernel_shape",
                Attr::Ints(vec![filter[0] as i64, filter[1] as i64]),
            ),
            (
                "strides",
                Attr::Ints(vec![stride[0] as i64, stride[1] as i64]),
            ),
            (
                "pads",
                Attr::Ints(vec![pt as i64, pl as i64, pb as i64, pr as i64]),
            ),
        ];
        if onnx_op == "AveragePool" {
            // TFLite averages over the valid cells only.
            attrs.push(("count_include_pad", Attr::Int(0)));
        }
        let y = self.g.op(onnx_op, &[&x.name], attrs);
        let y = self.fused(y, activation);
        self.set(op, y, true)
    }

    fn binary(&mut self, op: &Operator, onnx_op: &str) -> Result<()> {
        let activation = match op.options {
            Options::Activation(a) => a,
            _ => Activation::None,
        };
        let (ia, ib) = (self.input(op, 0)?, self.input(op, 1)?);
        let out_rank = self.output_shape(op, 0)?.len();
        let operand = |cx: &mut Self, i: i32, other: i32| -> Result<(String, bool)> {
            let other_4d = !cx.is_const(other) && cx.tensor(other)?.shape.len() == 4;
            if cx.is_const(i) && other_4d && out_rank == 4 {
                let c = cx.cst(i)?;
                return Ok((cx.broadcast_const_nchw(&c)?, true));
            }
            let a = cx.act(i)?;
            if a.shape.len() == 4 && out_rank == 4 && (other_4d || cx.is_const(other)) {
                let a = cx.relayout(a, true);
                return Ok((a.name, true));
            }
            let a = cx.relayout(a, false);
            Ok((a.name, false))
        };
        let (a, na) = operand(self, ia, ib)?;
        let (b, nb) = operand(self, ib, ia)?;
        if na != nb {
            return Err(ConvertError::Unsupported(format!(
                "{} mixing a 4-D tensor with a lower-rank runtime tensor",
                op::name(op.builtin)
            )));
        }
        let y = self.g.op(onnx_op, &[&a, &b], vec![]);
        let y = self.fused(y, activation);
        self.set(op, y, na)
    }

    fn unary(&mut self, op: &Operator, onnx_op: &str, attrs: Vec<(&str, Attr)>) -> Result<()> {
        let x = self.act(self.input(op, 0)?)?;
        let y = self.g.op(onnx_op, &[&x.name], attrs);
        self.set(op, y, x.nchw)
    }

    fn prelu(&mut self, op: &Operator) -> Result<()> {
        let x = self.act(self.input(op, 0)?)?;
        let alpha = self.cst(self.input(op, 1)?)?;
        let (x, slope) = if x.shape.len() == 4 {
            let x = self.relayout(x, true);
            let s = self.broadcast_const_nchw(&alpha)?;
            (x, s)
        } else {
            let s = self.materialize(&alpha, "alpha");
            (x, s)
        };
        let y = self.g.op("PRelu", &[&x.name, &slope], vec![]);
        self.set(op, y, x.nchw)
    }

    fn mean(&mut self, op: &Operator) -> Result<()> {
        let Options::Reducer { keep_dims } = op.options else {
            return Err(malformed("MEAN without reducer options"));
        };
        let x = self.act(self.input(op, 0)?)?;
        let rank = x.shape.len();
        let mut axes = Vec::new();
        for a in self.cst(self.input(op, 1)?)?.ints()? {
            let a = if a < 0 { a + rank as i64 } else { a };
            if a < 0 || a >= rank as i64 {
                return Err(malformed(format!("MEAN axis {a} for rank {rank}")));
            }
            axes.push(a as usize);
        }
        let onnx_axes: Vec<i64> = axes
            .iter()
            .map(|&a| if x.nchw { nchw_axis(a) } else { a } as i64)
            .collect();
        let y = self.g.op(
            "ReduceMean",
            &[&x.name],
            vec![("axes", Attr::Ints(onnx_axes)), ("keepdims", Attr::Int(1))],
        );
        let mut kept: Vec<usize> = x.shape.clone();
        for &a in &axes {
            kept[a] = 1;
        }
        let reduced = Act {
            name: y,
            shape: kept,
            nchw: x.nchw,
        };
        if keep_dims {
            self.check_shape(op, &reduced.shape)?;
            return self.set(op, reduced.name, reduced.nchw);
        }
        // Dropping axes: go to TFLite order first so the remaining axes keep their order.
        let r = self.relayout(reduced, false);
        let out = self.output_shape(op, 0)?;
        let target: Vec<i64> = out.iter().map(|&d| d as i64).collect();
        let s = self.g.const_i64("shape", &target);
        let y = self.g.op("Reshape", &[&r.name, &s], vec![]);
        self.set(op, y, false)
    }

    fn pad(&mut self, op: &Operator) -> Result<()> {
        let x = self.act(self.input(op, 0)?)?;
        let p = self.cst(self.input(op, 1)?)?.ints()?;
        let rank = x.shape.len();
        if p.len() != 2 * rank || p.iter().any(|&v| !(0..=1 << 16).contains(&v)) {
            return Err(malformed(format!("PAD paddings {p:?} for rank {rank}")));
        }
        let order: Vec<usize> = if x.nchw {
            TO_NCHW.to_vec()
        } else {
            (0..rank).collect()
        };
        let mut pads: Vec<i64> = order.iter().map(|&d| p[2 * d]).collect();
        pads.extend(order.iter().map(|&d| p[2 * d + 1]));
        let computed: Vec<usize> = (0..rank)
            .map(|d| x.shape[d] + (p[2 * d] + p[2 * d + 1]) as usize)
            .collect();
        self.check_shape(op, &computed)?;
        let pn = self.g.const_i64("pads", &pads);
        let y = self.g.op("Pad", &[&x.name, &pn], vec![]);
        self.set(op, y, x.nchw)
    }

    fn resize(&mut self, op: &Operator) -> Result<()> {
        let Options::ResizeBilinear {
            align_corners,
            half_pixel_centers,
        } = op.options
        else {
            return Err(malformed("RESIZE_BILINEAR without options"));
        };
        let x = self.act_nchw(self.input(op, 0)?)?;
        let size = self.cst(self.input(op, 1)?)?.ints()?;
        if size.len() != 2 || size.iter().any(|&s| !(1..=1 << 16).contains(&s)) {
            return Err(malformed(format!("RESIZE_BILINEAR size {size:?}")));
        }
        self.check_shape(
            op,
            &[x.shape[0], size[0] as usize, size[1] as usize, x.shape[3]],
        )?;
        let doubles = size[0] as usize == 2 * x.shape[1] && size[1] as usize == 2 * x.shape[2];
        if self.forms == Forms::OpenVino && half_pixel_centers && !align_corners && doubles {
            let y = self.upsample2_bilinear(&x);
            return self.set(op, y, true);
        }
        let mode = if align_corners {
            "align_corners"
        } else if half_pixel_centers {
            "half_pixel"
        } else {
            "asymmetric"
        };
        let sizes = self.g.const_i64(
            "sizes",
            &[x.shape[0] as i64, x.shape[3] as i64, size[0], size[1]],
        );
        let y = self.g.op(
            "Resize",
            &[&x.name, "", "", &sizes],
            vec![
                ("mode", Attr::Str("linear".into())),
                ("coordinate_transformation_mode", Attr::Str(mode.into())),
            ],
        );
        if size[0] as usize >= x.shape[1] && size[1] as usize >= x.shape[2] {
            self.upsampled.insert(y.clone());
        }
        self.set(op, y, true)
    }

    fn reshape(&mut self, op: &Operator) -> Result<()> {
        let out = self.output_shape(op, 0)?;
        let i = self.input(op, 0)?;
        if let Val::Const(c) = self.val(i)?.clone() {
            if elements(&c.shape) != elements(&out) {
                return Err(malformed("RESHAPE changes the element count"));
            }
            return self.set_const(
                op,
                Const {
                    shape: out,
                    data: c.data,
                },
            );
        }
        let x = self.act_tflite(i)?;
        if elements(&x.shape) != elements(&out) {
            return Err(malformed(format!(
                "RESHAPE from {:?} to {out:?} changes the element count",
                x.shape
            )));
        }
        let target: Vec<i64> = out.iter().map(|&d| d as i64).collect();
        let s = self.g.const_i64("shape", &target);
        let y = self.g.op("Reshape", &[&x.name, &s], vec![]);
        self.set(op, y, false)
    }

    fn concat(&mut self, op: &Operator) -> Result<()> {
        let Options::Concat { axis, activation } = op.options else {
            return Err(malformed("CONCATENATION without options"));
        };
        let out = self.output_shape(op, 0)?;
        let rank = out.len() as i32;
        let axis = if axis < 0 { axis + rank } else { axis };
        if axis < 0 || axis >= rank {
            return Err(malformed(format!(
                "CONCATENATION axis {axis} for rank {rank}"
            )));
        }
        let all_4d = rank == 4;
        let mut names = Vec::new();
        let mut total = 0usize;
        for k in 0..op.inputs.len() {
            let i = self.input(op, k)?;
            let a = self.act(i)?;
            if a.shape.len() != out.len() {
                return Err(malformed("CONCATENATION of tensors with different ranks"));
            }
            total += a.shape[axis as usize];
            let a = self.relayout(a, all_4d);
            names.push(a.name);
        }
        let mut computed = out.clone();
        computed[axis as usize] = total;
        self.check_shape(op, &computed)?;
        let onnx_axis = if all_4d {
            nchw_axis(axis as usize) as i64
        } else {
            i64::from(axis)
        };
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let y = self
            .g
            .op("Concat", &refs, vec![("axis", Attr::Int(onnx_axis))]);
        let y = self.fused(y, activation);
        self.set(op, y, all_4d)
    }

    fn fully_connected(&mut self, op: &Operator) -> Result<()> {
        let Options::FullyConnected { activation, .. } = op.options else {
            return Err(malformed("FULLY_CONNECTED without options"));
        };
        let x = self.act_tflite(self.input(op, 0)?)?;
        let w = self.cst(self.input(op, 1)?)?;
        if w.shape.len() != 2 || w.shape[1] == 0 || !elements(&x.shape).is_multiple_of(w.shape[1]) {
            return Err(malformed(format!(
                "FULLY_CONNECTED weights {:?} for input {:?}",
                w.shape, x.shape
            )));
        }
        let (o, k) = (w.shape[0], w.shape[1]);
        let flat = self.g.const_i64("shape", &[-1, k as i64]);
        let xf = self.g.op("Reshape", &[&x.name, &flat], vec![]);
        let wn = self.materialize(&w, "fc_w");
        let mut inputs = vec![xf, wn];
        if let Some(&b) = op.inputs.get(2).filter(|&&b| b >= 0) {
            let bias = self.cst(b)?;
            if bias.shape != [o] {
                return Err(malformed("FULLY_CONNECTED bias shape"));
            }
            inputs.push(self.materialize(&bias, "fc_b"));
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let y = self.g.op("Gemm", &refs, vec![("transB", Attr::Int(1))]);
        let y = self.fused(y, activation);
        let out = self.output_shape(op, 0)?;
        if elements(&out) != elements(&x.shape) / k * o {
            return Err(malformed("FULLY_CONNECTED output shape"));
        }
        let target: Vec<i64> = out.iter().map(|&d| d as i64).collect();
        let s = self.g.const_i64("shape", &target);
        let y = self.g.op("Reshape", &[&y, &s], vec![]);
        self.set(op, y, false)
    }

    fn strided_slice(&mut self, op: &Operator) -> Result<()> {
        let Options::StridedSlice {
            begin_mask,
            end_mask,
            ellipsis_mask,
            new_axis_mask,
            shrink_axis_mask,
        } = op.options
        else {
            return Err(malformed("STRIDED_SLICE without options"));
        };
        if ellipsis_mask != 0 || new_axis_mask != 0 {
            return Err(ConvertError::Unsupported(
                "STRIDED_SLICE with ellipsis or new-axis masks".into(),
            ));
        }
        let x = self.act(self.input(op, 0)?)?;
        let begin = self.cst(self.input(op, 1)?)?.ints()?;
        let end = self.cst(self.input(op, 2)?)?.ints()?;
        let strides = self.cst(self.input(op, 3)?)?.ints()?;
        let rank = x.shape.len();
        if begin.len() != rank || end.len() != rank || strides.len() != rank {
            return Err(malformed("STRIDED_SLICE parameters do not match the rank"));
        }
        let (mut starts, mut ends, mut axes, mut steps) = (vec![], vec![], vec![], vec![]);
        let mut kept = Vec::new();
        for d in 0..rank {
            let n = x.shape[d] as i64;
            let s = strides[d];
            if s == 0 {
                return Err(malformed("STRIDED_SLICE stride 0"));
            }
            let clamp = |v: i64| -> i64 {
                let v = if v < 0 { v + n } else { v };
                if s > 0 {
                    v.clamp(0, n)
                } else {
                    v.clamp(-1, n - 1)
                }
            };
            let mut b = if begin_mask >> d & 1 == 1 {
                if s > 0 {
                    0
                } else {
                    n - 1
                }
            } else {
                clamp(begin[d])
            };
            let mut e = if end_mask >> d & 1 == 1 {
                if s > 0 {
                    n
                } else {
                    -1
                }
            } else {
                clamp(end[d])
            };
            let shrink = shrink_axis_mask >> d & 1 == 1;
            if shrink {
                b = clamp(begin[d]);
                e = b + 1;
                if s < 0 {
                    return Err(ConvertError::Unsupported(
                        "STRIDED_SLICE shrinking with a negative stride".into(),
                    ));
                }
            }
            let count = if s > 0 {
                ((e - b).max(0) + s - 1) / s
            } else {
                ((b - e).max(0) + (-s) - 1) / (-s)
            };
            if !shrink {
                kept.push(count as usize);
            }
            if b == 0 && e == n && s == 1 {
                continue;
            }
            // ONNX Slice: an end of -1 with a negative step would mean "last"; use a large
            // negative number for "before the first".
            if s < 0 && e == -1 {
                e = i64::MIN / 2;
            }
            axes.push(if x.nchw { nchw_axis(d) } else { d } as i64);
            starts.push(b);
            ends.push(e);
            steps.push(s);
        }
        let out = self.output_shape(op, 0)?;
        if kept != out {
            return Err(malformed(format!(
                "STRIDED_SLICE declares {out:?} but computes {kept:?}"
            )));
        }
        let mut y = x.name.clone();
        if !axes.is_empty() {
            let sn = self.g.const_i64("starts", &starts);
            let en = self.g.const_i64("ends", &ends);
            let an = self.g.const_i64("axes", &axes);
            let st = self.g.const_i64("steps", &steps);
            y = self.g.op("Slice", &[&y, &sn, &en, &an, &st], vec![]);
        }
        if shrink_axis_mask == 0 {
            return self.set(op, y, x.nchw);
        }
        // Shrinking drops axes: go to TFLite order, then reshape.
        let mut full = x.shape.clone();
        let mut ki = 0;
        for (d, f) in full.iter_mut().enumerate() {
            if shrink_axis_mask >> d & 1 == 1 {
                *f = 1;
            } else {
                *f = kept[ki];
                ki += 1;
            }
        }
        let r = self.relayout(
            Act {
                name: y,
                shape: full,
                nchw: x.nchw,
            },
            false,
        );
        let target: Vec<i64> = out.iter().map(|&d| d as i64).collect();
        let s = self.g.const_i64("shape", &target);
        let y = self.g.op("Reshape", &[&r.name, &s], vec![]);
        self.set(op, y, false)
    }

    fn depth_to_space(&mut self, op: &Operator) -> Result<()> {
        let Options::DepthToSpace { block } = op.options else {
            return Err(malformed("DEPTH_TO_SPACE without options"));
        };
        let x = self.act_nchw(self.input(op, 0)?)?;
        if x.shape[3] % (block * block) != 0 {
            return Err(malformed("DEPTH_TO_SPACE channels not divisible by block²"));
        }
        self.check_shape(
            op,
            &[
                x.shape[0],
                x.shape[1] * block,
                x.shape[2] * block,
                x.shape[3] / (block * block),
            ],
        )?;
        // TensorFlow's depth-to-space is ONNX's DCR mode.
        let y = self.g.op(
            "DepthToSpace",
            &[&x.name],
            vec![
                ("blocksize", Attr::Int(block as i64)),
                ("mode", Attr::Str("DCR".into())),
            ],
        );
        self.set(op, y, true)
    }

    fn operator(&mut self, op: &Operator) -> Result<()> {
        match op.builtin {
            op::DEQUANTIZE => {
                let i = self.input(op, 0)?;
                let c = self.cst(i)?;
                let CData::F(v) = c.data else {
                    return Err(ConvertError::Unsupported(
                        "DEQUANTIZE of an integer (quantized) tensor".into(),
                    ));
                };
                self.set_const(
                    op,
                    Const {
                        shape: c.shape,
                        data: CData::F(v),
                    },
                )
            }
            // Sparse constants are expanded when they are loaded.
            op::DENSIFY => {
                let c = self.cst(self.input(op, 0)?)?;
                self.set_const(op, c)
            }
            op::CONV_2D => self.conv(op, false),
            op::DEPTHWISE_CONV_2D => self.conv(op, true),
            op::ADD => self.binary(op, "Add"),
            op::MUL => self.binary(op, "Mul"),
            op::RELU => self.unary(op, "Relu", vec![]),
            op::TANH => self.unary(op, "Tanh", vec![]),
            op::LOGISTIC => self.unary(op, "Sigmoid", vec![]),
            op::HARD_SWISH => self.unary(op, "HardSwish", vec![]),
            op::RELU6 => {
                let x = self.act(self.input(op, 0)?)?;
                let y = self.fused(x.name, Activation::Relu6);
                self.set(op, y, x.nchw)
            }
            op::PRELU => self.prelu(op),
            op::AVERAGE_POOL_2D => self.pool(op, "AveragePool"),
            op::MAX_POOL_2D => self.pool(op, "MaxPool"),
            op::MEAN => self.mean(op),
            op::PAD => self.pad(op),
            op::RESIZE_BILINEAR => self.resize(op),
            op::DEPTH_TO_SPACE => self.depth_to_space(op),
            op::RESHAPE => self.reshape(op),
            op::CONCATENATION => self.concat(op),
            op::FULLY_CONNECTED => self.fully_connected(op),
            op::STRIDED_SLICE => self.strided_slice(op),
            op::CUSTOM => match op.custom_code.as_deref() {
                Some("Convolution2DTransposeBias") => self.transpose_conv_bias(op),
                other => Err(ConvertError::UnknownOp(format!(
                    "custom operator `{}`",
                    other.unwrap_or("?")
                ))),
            },
            other => Err(ConvertError::UnknownOp(op::name(other))),
        }
    }
}

fn op_name(op: &Operator) -> String {
    match (&op.custom_code, op.builtin) {
        (Some(c), op::CUSTOM) => c.clone(),
        (_, b) => op::name(b),
    }
}

/// Converts a parsed TFLite model. `metadata` is stored in the ONNX file's metadata_props.
pub fn convert(model: &Model, name: &str, metadata: &[(String, String)]) -> Result<Converted> {
    convert_keeping(model, name, metadata, &[])
}

/// Converts a parsed TFLite model exposing only the outputs named in `keep` (all when empty);
/// operators that only fed the others are dropped (for example a segmentation branch that
/// costs half of a landmark model).
pub fn convert_keeping(
    model: &Model,
    name: &str,
    metadata: &[(String, String)],
    keep: &[String],
) -> Result<Converted> {
    convert_forms(model, name, metadata, keep, Forms::Reference)
}

/// [`convert_keeping`] writing the operator forms `forms` asks for.
pub fn convert_forms(
    model: &Model,
    name: &str,
    metadata: &[(String, String)],
    keep: &[String],
    forms: Forms,
) -> Result<Converted> {
    let mut cx = Cx {
        model,
        g: Graph::new(name),
        vals: vec![None; model.tensors.len()],
        forms,
        upsampled: Default::default(),
    };
    for (i, t) in model.tensors.iter().enumerate() {
        if let Some(c) = load_const(t)? {
            cx.vals[i] = Some(Val::Const(c));
        }
    }
    let mut used_names = std::collections::HashSet::new();
    let mut io_name = |t: &Tensor, i: usize| -> String {
        let base = if t.name.is_empty() {
            format!("tensor_{i}")
        } else {
            t.name.clone()
        };
        if used_names.insert(base.clone()) {
            base
        } else {
            format!("{base}_{i}")
        }
    };
    let mut inputs = Vec::new();
    for &i in &model.inputs {
        let t = &model.tensors[i];
        if t.ty != TensorType::Float32 {
            return Err(ConvertError::Unsupported(format!(
                "model input `{}` of type {:?}",
                t.name, t.ty
            )));
        }
        let n = io_name(t, i);
        cx.g.inputs.push(ValueInfo {
            name: n.clone(),
            elem_type: onnx::FLOAT,
            dims: t.shape.iter().map(|&d| d as i64).collect(),
        });
        cx.vals[i] = Some(Val::Act(Act {
            name: n.clone(),
            shape: t.shape.clone(),
            nchw: false,
        }));
        inputs.push((n, t.shape.clone()));
    }
    let mut ops = BTreeMap::new();
    for (k, op) in model.operators.iter().enumerate() {
        *ops.entry(op_name(op)).or_insert(0) += 1;
        cx.operator(op).map_err(|e| match e {
            ConvertError::UnknownOp(what) => {
                ConvertError::UnknownOp(format!("{what} (operator #{k}) in model `{name}`"))
            }
            ConvertError::Malformed(m) => {
                ConvertError::Malformed(format!("operator #{k} ({}): {m}", op_name(op)))
            }
            ConvertError::Unsupported(m) => {
                ConvertError::Unsupported(format!("operator #{k} ({}): {m}", op_name(op)))
            }
        })?;
    }
    let mut outputs = Vec::new();
    for &o in &model.outputs {
        let t = &model.tensors[o];
        let n = io_name(t, o);
        if !keep.is_empty() && !keep.contains(&n) {
            continue;
        }
        let a = cx.act_tflite(o as i32)?;
        cx.g.op_into("Identity", &[&a.name], &n, vec![]);
        cx.g.outputs.push(ValueInfo {
            name: n.clone(),
            elem_type: onnx::FLOAT,
            dims: t.shape.iter().map(|&d| d as i64).collect(),
        });
        outputs.push((n, t.shape.clone()));
    }
    if let Some(missing) = keep.iter().find(|k| !outputs.iter().any(|(n, _)| n == *k)) {
        return Err(ConvertError::Malformed(format!(
            "model `{name}` has no output `{missing}`"
        )));
    }
    cx.g.prune();
    if crate::pads::fold_zero_pads(&mut cx.g) > 0 {
        cx.g.prune();
    }
    crate::reduce_first::reduce_before_upsampling(&mut cx.g, &cx.upsampled);
    // OpenVINO fuses `Clip` into the convolution before it, but runs `HardSigmoid` with its
    // reference code between two layout reorders: its forms keep relu6 a clip.
    if cx.forms == Forms::Reference {
        crate::relu6::rescale_relu6(&mut cx.g);
    }
    let mut metadata = metadata.to_vec();
    if cx.forms == Forms::OpenVino {
        crate::widen::widen_channels(&mut cx.g, crate::widen::CHANNEL_BLOCK);
        metadata.extend(crate::subpixel::planes_out(&mut cx.g));
    }
    let onnx = onnx::encode(
        &cx.g,
        &ModelInfo {
            opset: OPSET,
            producer: "aifx-models",
            producer_version: env!("CARGO_PKG_VERSION"),
            doc: "Converted from TFLite by aifx-models",
            metadata: &metadata,
        },
    );
    Ok(Converted {
        onnx,
        ops,
        inputs,
        outputs,
    })
}

/// Parses and converts a `.tflite` file's bytes.
pub fn convert_bytes(bytes: &[u8], name: &str, metadata: &[(String, String)]) -> Result<Converted> {
    convert_bytes_keeping(bytes, name, metadata, &[])
}

/// Parses and converts a `.tflite` file's bytes, keeping only the outputs in `keep` (all
/// when empty).
pub fn convert_bytes_keeping(
    bytes: &[u8],
    name: &str,
    metadata: &[(String, String)],
    keep: &[String],
) -> Result<Converted> {
    let model = Model::parse(bytes)?;
    convert_keeping(&model, name, metadata, keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permute_nhwc_to_nchw() {
        // 1×2×2×3 with value = h*100 + w*10 + c.
        let mut d = Vec::new();
        for h in 0..2 {
            for w in 0..2 {
                for c in 0..3 {
                    d.push((h * 100 + w * 10 + c) as f32);
                }
            }
        }
        let (p, s) = permute(&d, &[1, 2, 2, 3], &TO_NCHW);
        assert_eq!(s, vec![1, 3, 2, 2]);
        assert_eq!(&p[..4], &[0.0, 10.0, 100.0, 110.0]);
        assert_eq!(&p[4..8], &[1.0, 11.0, 101.0, 111.0]);
    }

    #[test]
    fn same_padding_matches_tensorflow() {
        assert_eq!(window(256, 3, 2, 1, Padding::Same).unwrap(), (0, 1, 128));
        assert_eq!(window(255, 3, 2, 1, Padding::Same).unwrap(), (1, 1, 128));
        assert_eq!(window(7, 3, 1, 1, Padding::Same).unwrap(), (1, 1, 7));
        assert_eq!(window(7, 3, 1, 1, Padding::Valid).unwrap(), (0, 0, 5));
        assert!(window(2, 3, 1, 1, Padding::Valid).is_err());
    }

    #[test]
    fn densify_csr_last_dim() {
        // Dense shape 2×3: row 0 has (0,1)=5, row 1 has (1,0)=7 and (1,2)=9.
        let sp = Sparsity {
            traversal_order: vec![0, 1],
            block_map: vec![],
            dims: vec![
                DimMetadata::Dense(2),
                DimMetadata::Csr {
                    segments: vec![0, 1, 3],
                    indices: vec![1, 0, 2],
                },
            ],
        };
        let d = densify(&[2, 3], &sp, &[5.0f32, 7.0, 9.0]).unwrap();
        assert_eq!(d, vec![0.0, 5.0, 0.0, 7.0, 0.0, 9.0]);
        // Too few values is an error, not a panic.
        assert!(densify(&[2, 3], &sp, &[5.0f32]).is_err());
        // Indices out of range are rejected.
        let bad = Sparsity {
            dims: vec![
                DimMetadata::Dense(2),
                DimMetadata::Csr {
                    segments: vec![0, 1, 3],
                    indices: vec![1, 0, 3],
                },
            ],
            ..sp
        };
        assert!(densify(&[2, 3], &bad, &[5.0f32, 7.0, 9.0]).is_err());
    }
}
