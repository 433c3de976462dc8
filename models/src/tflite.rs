//! The part of the TFLite schema (schema version 3) that MediaPipe's models use, read into
//! plain Rust values. Field numbers follow `tensorflow/lite/schema/schema.fbs`.

use crate::flatbuf::Table;
use crate::ConvertError;

type Result<T> = std::result::Result<T, ConvertError>;

/// Limits that keep a hostile file from making us allocate or loop without bound.
pub const MAX_RANK: usize = 8;
pub const MAX_ELEMENTS: u64 = 1 << 28;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorType {
    Float32,
    Float16,
    Int32,
    Int64,
    UInt8,
    Int8,
    Other(i8),
}

impl TensorType {
    fn from_code(code: i8) -> Self {
        match code {
            0 => Self::Float32,
            1 => Self::Float16,
            2 => Self::Int32,
            3 => Self::UInt8,
            4 => Self::Int64,
            9 => Self::Int8,
            c => Self::Other(c),
        }
    }

    pub fn byte_size(self) -> Option<usize> {
        match self {
            Self::Float32 | Self::Int32 => Some(4),
            Self::Float16 => Some(2),
            Self::Int64 => Some(8),
            Self::UInt8 | Self::Int8 => Some(1),
            Self::Other(_) => None,
        }
    }
}

/// One level of a sparse tensor's index structure.
#[derive(Debug, Clone)]
pub enum DimMetadata {
    Dense(usize),
    Csr {
        segments: Vec<u32>,
        indices: Vec<u32>,
    },
}

#[derive(Debug, Clone)]
pub struct Sparsity {
    pub traversal_order: Vec<i32>,
    pub block_map: Vec<i32>,
    pub dims: Vec<DimMetadata>,
}

#[derive(Debug, Clone)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub ty: TensorType,
    /// Raw constant bytes, if the tensor has any.
    pub data: Option<Vec<u8>>,
    pub sparsity: Option<Sparsity>,
}

#[derive(Debug, Clone)]
pub struct Operator {
    /// The builtin code, or `CUSTOM` (32) with `custom_code` set.
    pub builtin: i32,
    pub custom_code: Option<String>,
    /// Tensor indices; -1 means an omitted optional input.
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub options: Options,
    pub custom_options: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    Same,
    Valid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    None,
    Relu,
    ReluN1To1,
    Relu6,
    Tanh,
}

/// Builtin options, decoded per operator kind.
#[derive(Debug, Clone)]
pub enum Options {
    None,
    Conv {
        padding: Padding,
        stride: [usize; 2],
        dilation: [usize; 2],
        activation: Activation,
    },
    DepthwiseConv {
        padding: Padding,
        stride: [usize; 2],
        dilation: [usize; 2],
        multiplier: usize,
        activation: Activation,
    },
    Pool {
        padding: Padding,
        stride: [usize; 2],
        filter: [usize; 2],
        activation: Activation,
    },
    Activation(Activation),
    Concat {
        axis: i32,
        activation: Activation,
    },
    Reshape {
        new_shape: Vec<i32>,
    },
    FullyConnected {
        activation: Activation,
        keep_num_dims: bool,
    },
    ResizeBilinear {
        align_corners: bool,
        half_pixel_centers: bool,
    },
    Reducer {
        keep_dims: bool,
    },
    StridedSlice {
        begin_mask: i32,
        end_mask: i32,
        ellipsis_mask: i32,
        new_axis_mask: i32,
        shrink_axis_mask: i32,
    },
    DepthToSpace {
        block: usize,
    },
}

pub struct Model {
    pub version: u32,
    pub tensors: Vec<Tensor>,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    pub operators: Vec<Operator>,
}

fn bad(msg: impl Into<String>) -> ConvertError {
    ConvertError::Malformed(msg.into())
}

fn padding(code: i8) -> Result<Padding> {
    match code {
        0 => Ok(Padding::Same),
        1 => Ok(Padding::Valid),
        c => Err(bad(format!("unknown padding {c}"))),
    }
}

fn activation(code: i8) -> Result<Activation> {
    match code {
        0 => Ok(Activation::None),
        1 => Ok(Activation::Relu),
        2 => Ok(Activation::ReluN1To1),
        3 => Ok(Activation::Relu6),
        4 => Ok(Activation::Tanh),
        c => Err(ConvertError::Unsupported(format!(
            "fused activation function {c}"
        ))),
    }
}

fn positive(v: i32, what: &str) -> Result<usize> {
    if v <= 0 || v > 1 << 16 {
        return Err(bad(format!("{what} is {v}")));
    }
    Ok(v as usize)
}

pub mod op {
    pub const ADD: i32 = 0;
    pub const AVERAGE_POOL_2D: i32 = 1;
    pub const CONCATENATION: i32 = 2;
    pub const CONV_2D: i32 = 3;
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    pub const DEPTH_TO_SPACE: i32 = 5;
    pub const DEQUANTIZE: i32 = 6;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const LOGISTIC: i32 = 14;
    pub const MAX_POOL_2D: i32 = 17;
    pub const MUL: i32 = 18;
    pub const RELU: i32 = 19;
    pub const RELU6: i32 = 21;
    pub const RESHAPE: i32 = 22;
    pub const RESIZE_BILINEAR: i32 = 23;
    pub const TANH: i32 = 28;
    pub const CUSTOM: i32 = 32;
    pub const PAD: i32 = 34;
    pub const MEAN: i32 = 40;
    pub const STRIDED_SLICE: i32 = 45;
    pub const PRELU: i32 = 54;
    pub const HARD_SWISH: i32 = 117;
    pub const DENSIFY: i32 = 124;

    /// A readable name for error messages.
    pub fn name(code: i32) -> String {
        let known = match code {
            ADD => "ADD",
            AVERAGE_POOL_2D => "AVERAGE_POOL_2D",
            CONCATENATION => "CONCATENATION",
            CONV_2D => "CONV_2D",
            DEPTHWISE_CONV_2D => "DEPTHWISE_CONV_2D",
            DEPTH_TO_SPACE => "DEPTH_TO_SPACE",
            DEQUANTIZE => "DEQUANTIZE",
            FULLY_CONNECTED => "FULLY_CONNECTED",
            LOGISTIC => "LOGISTIC",
            MAX_POOL_2D => "MAX_POOL_2D",
            MUL => "MUL",
            RELU => "RELU",
            RELU6 => "RELU6",
            RESHAPE => "RESHAPE",
            RESIZE_BILINEAR => "RESIZE_BILINEAR",
            TANH => "TANH",
            CUSTOM => "CUSTOM",
            PAD => "PAD",
            MEAN => "MEAN",
            STRIDED_SLICE => "STRIDED_SLICE",
            PRELU => "PRELU",
            HARD_SWISH => "HARD_SWISH",
            DENSIFY => "DENSIFY",
            25 => "SOFTMAX",
            39 => "TRANSPOSE",
            41 => "SUB",
            42 => "DIV",
            _ => return format!("builtin operator #{code}"),
        };
        known.to_string()
    }
}

fn options(builtin: i32, t: Option<Table<'_>>) -> Result<Options> {
    let Some(t) = t else {
        return Ok(match builtin {
            op::RESHAPE => Options::Reshape {
                new_shape: Vec::new(),
            },
            op::ADD | op::MUL => Options::Activation(Activation::None),
            op::RESIZE_BILINEAR => Options::ResizeBilinear {
                align_corners: false,
                half_pixel_centers: false,
            },
            op::MEAN => Options::Reducer { keep_dims: false },
            op::CONCATENATION => Options::Concat {
                axis: 0,
                activation: Activation::None,
            },
            op::FULLY_CONNECTED => Options::FullyConnected {
                activation: Activation::None,
                keep_num_dims: false,
            },
            op::STRIDED_SLICE => Options::StridedSlice {
                begin_mask: 0,
                end_mask: 0,
                ellipsis_mask: 0,
                new_axis_mask: 0,
                shrink_axis_mask: 0,
            },
            op::CONV_2D
            | op::DEPTHWISE_CONV_2D
            | op::AVERAGE_POOL_2D
            | op::MAX_POOL_2D
            | op::DEPTH_TO_SPACE => {
                return Err(bad(format!("{} without options", op::name(builtin))))
            }
            _ => Options::None,
        });
    };
    Ok(match builtin {
        op::CONV_2D => Options::Conv {
            padding: padding(t.i8_or(0, 0)?)?,
            stride: [
                positive(t.i32_or(2, 0)?, "stride_h")?,
                positive(t.i32_or(1, 0)?, "stride_w")?,
            ],
            activation: activation(t.i8_or(3, 0)?)?,
            dilation: [
                positive(t.i32_or(5, 1)?, "dilation_h")?,
                positive(t.i32_or(4, 1)?, "dilation_w")?,
            ],
        },
        op::DEPTHWISE_CONV_2D => Options::DepthwiseConv {
            padding: padding(t.i8_or(0, 0)?)?,
            stride: [
                positive(t.i32_or(2, 0)?, "stride_h")?,
                positive(t.i32_or(1, 0)?, "stride_w")?,
            ],
            multiplier: positive(t.i32_or(3, 1)?.max(1), "depth_multiplier")?,
            activation: activation(t.i8_or(4, 0)?)?,
            dilation: [
                positive(t.i32_or(6, 1)?, "dilation_h")?,
                positive(t.i32_or(5, 1)?, "dilation_w")?,
            ],
        },
        op::AVERAGE_POOL_2D | op::MAX_POOL_2D => Options::Pool {
            padding: padding(t.i8_or(0, 0)?)?,
            stride: [
                positive(t.i32_or(2, 0)?, "stride_h")?,
                positive(t.i32_or(1, 0)?, "stride_w")?,
            ],
            filter: [
                positive(t.i32_or(4, 0)?, "filter_height")?,
                positive(t.i32_or(3, 0)?, "filter_width")?,
            ],
            activation: activation(t.i8_or(5, 0)?)?,
        },
        op::ADD | op::MUL => Options::Activation(activation(t.i8_or(0, 0)?)?),
        op::CONCATENATION => Options::Concat {
            axis: t.i32_or(0, 0)?,
            activation: activation(t.i8_or(1, 0)?)?,
        },
        op::RESHAPE => Options::Reshape {
            new_shape: t.i32_vec(0)?,
        },
        op::FULLY_CONNECTED => Options::FullyConnected {
            activation: activation(t.i8_or(0, 0)?)?,
            keep_num_dims: t.bool_or(2, false)?,
        },
        op::RESIZE_BILINEAR => Options::ResizeBilinear {
            align_corners: t.bool_or(2, false)?,
            half_pixel_centers: t.bool_or(3, false)?,
        },
        op::MEAN => Options::Reducer {
            keep_dims: t.bool_or(0, false)?,
        },
        op::STRIDED_SLICE => Options::StridedSlice {
            begin_mask: t.i32_or(0, 0)?,
            end_mask: t.i32_or(1, 0)?,
            ellipsis_mask: t.i32_or(2, 0)?,
            new_axis_mask: t.i32_or(3, 0)?,
            shrink_axis_mask: t.i32_or(4, 0)?,
        },
        op::DEPTH_TO_SPACE => Options::DepthToSpace {
            block: positive(t.i32_or(0, 0)?, "block_size")?,
        },
        _ => Options::None,
    })
}

fn sparse_array(dm: &Table<'_>, type_field: usize) -> Result<Vec<u32>> {
    let kind = dm.u8_or(type_field, 0)?;
    let Some(values) = dm.table(type_field + 1)? else {
        return Err(bad("sparse dimension without its index array"));
    };
    match kind {
        1 => Ok(values.i32_vec(0)?.into_iter().map(|v| v as u32).collect()),
        2 => Ok(values.u16_vec(0)?.into_iter().map(u32::from).collect()),
        3 => Ok(values
            .bytes(0)?
            .unwrap_or_default()
            .iter()
            .map(|&v| u32::from(v))
            .collect()),
        k => Err(bad(format!("unknown sparse index array type {k}"))),
    }
}

fn sparsity(t: Table<'_>) -> Result<Sparsity> {
    let mut dims = Vec::new();
    for dm in t.tables(2)? {
        let format = dm.i8_or(0, 0)?;
        dims.push(match format {
            0 => {
                let n = dm.i32_or(1, 0)?;
                if n < 0 {
                    return Err(bad("negative dense_size"));
                }
                DimMetadata::Dense(n as usize)
            }
            1 => DimMetadata::Csr {
                segments: sparse_array(&dm, 2)?,
                indices: sparse_array(&dm, 4)?,
            },
            f => return Err(bad(format!("unknown sparse dimension format {f}"))),
        });
    }
    Ok(Sparsity {
        traversal_order: t.i32_vec(0)?,
        block_map: t.i32_vec(1)?,
        dims,
    })
}

impl Model {
    /// Parses a `.tflite` flatbuffer. Only the first subgraph is read (MediaPipe's models have one).
    pub fn parse(buf: &[u8]) -> Result<Self> {
        if buf.len() >= 8 && &buf[4..8] != b"TFL3" {
            return Err(bad("not a TFLite file (no TFL3 identifier)"));
        }
        let root = Table::root(buf)?;
        let version = root.u32_or(0, 0)?;
        if version != 3 {
            return Err(ConvertError::Unsupported(format!(
                "TFLite schema version {version} (only 3 is known)"
            )));
        }
        let mut codes = Vec::new();
        for oc in root.tables(1)? {
            let deprecated = i32::from(oc.i8_or(0, 0)?);
            let builtin = oc.i32_or(3, 0)?;
            codes.push((deprecated.max(builtin), oc.string(1)?));
        }
        let buffers = root.tables(4)?;
        let subgraphs = root.tables(2)?;
        let sg = subgraphs
            .first()
            .ok_or_else(|| bad("model has no subgraph"))?;

        let mut tensors = Vec::new();
        for t in sg.tables(0)? {
            let raw_shape = t.i32_vec(0)?;
            if raw_shape.len() > MAX_RANK {
                return Err(bad(format!("tensor of rank {}", raw_shape.len())));
            }
            let mut shape = Vec::with_capacity(raw_shape.len());
            let mut elements: u64 = 1;
            for &d in &raw_shape {
                if d as u64 > MAX_ELEMENTS {
                    return Err(bad(format!(
                        "tensor dimension {d} in {raw_shape:?} is over the limit"
                    )));
                }
                if d < 0 {
                    return Err(ConvertError::Unsupported(format!(
                        "dynamic dimension in tensor shape {raw_shape:?}"
                    )));
                }
                elements = elements.saturating_mul(d as u64);
                shape.push(d as usize);
            }
            if elements > MAX_ELEMENTS {
                return Err(bad(format!(
                    "tensor shape {raw_shape:?} has {elements} elements, over the limit {MAX_ELEMENTS}"
                )));
            }
            let ty = TensorType::from_code(t.i8_or(1, 0)?);
            let buffer = t.u32_or(2, 0)? as usize;
            let data = match buffers.get(buffer) {
                Some(b) if buffer != 0 => {
                    if b.u64_or(1, 0)? != 0 {
                        return Err(ConvertError::Unsupported(
                            "buffers stored outside the flatbuffer".into(),
                        ));
                    }
                    b.bytes(0)?.filter(|d| !d.is_empty()).map(|d| d.to_vec())
                }
                Some(_) => None,
                None if buffer == 0 => None,
                None => return Err(bad(format!("tensor refers to missing buffer {buffer}"))),
            };
            let sparsity = t.table(6)?.map(sparsity).transpose()?;
            tensors.push(Tensor {
                name: t.string(3)?.unwrap_or_default(),
                shape,
                ty,
                data,
                sparsity,
            });
        }
        let check = |ids: Vec<i32>, what: &str| -> Result<Vec<usize>> {
            ids.into_iter()
                .map(|i| {
                    if i >= 0 && (i as usize) < tensors.len() {
                        Ok(i as usize)
                    } else {
                        Err(bad(format!("{what} tensor index {i} out of range")))
                    }
                })
                .collect()
        };
        let inputs = check(sg.i32_vec(1)?, "input")?;
        let outputs = check(sg.i32_vec(2)?, "output")?;

        let mut operators = Vec::new();
        for o in sg.tables(3)? {
            let idx = o.u32_or(0, 0)? as usize;
            let (builtin, custom) = codes
                .get(idx)
                .cloned()
                .ok_or_else(|| bad(format!("operator code index {idx} out of range")))?;
            let ins = o.i32_vec(1)?;
            let outs = o.i32_vec(2)?;
            for &i in ins.iter().chain(outs.iter()) {
                if i < -1 || i >= tensors.len() as i32 {
                    return Err(bad(format!("operator tensor index {i} out of range")));
                }
            }
            let opts = options(builtin, o.table(4)?)?;
            operators.push(Operator {
                builtin,
                custom_code: custom,
                inputs: ins,
                outputs: outs,
                options: opts,
                custom_options: o.bytes(5)?.map(|b| b.to_vec()).unwrap_or_default(),
            });
        }
        Ok(Self {
            version,
            tensors,
            inputs,
            outputs,
            operators,
        })
    }
}
