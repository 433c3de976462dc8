//! Execution providers by name.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// Where inference runs. `Auto` picks the fastest provider the loaded ONNX Runtime has (see
/// [`Device::AUTO_ORDER`]); anything else but `Cpu` falls back to `Cpu` (with a warning) when
/// the runtime lacks that provider or it fails to initialise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    #[default]
    Auto,
    Cpu,
    Cuda,
    TensorRt,
    OpenVino,
    CoreMl,
    DirectMl,
}

impl Device {
    pub const ALL: [Device; 7] = [
        Device::Auto,
        Device::Cpu,
        Device::Cuda,
        Device::TensorRt,
        Device::OpenVino,
        Device::CoreMl,
        Device::DirectMl,
    ];

    /// What `Auto` times against the CPU, where the loaded ONNX Runtime has it (it keeps the
    /// fastest). Measured (`make bench-models`): OpenVINO's CPU plugin ran every catalog model
    /// faster than ONNX Runtime's own CPU provider (1.1–4×) on this project's 2-core x86
    /// machines, CUDA (an `onnxruntime-gpu` runtime, TF32 off) 1.3–4× faster than the CPU
    /// provider on an H200 machine's CPU; both with outputs within the TFLite tolerances.
    /// TensorRT is not in the list: not measured end to end here, and it compiles each model
    /// for minutes on first use; ask for it by name.
    pub const AUTO_ORDER: [Device; 3] = [Device::OpenVino, Device::Cuda, Device::Cpu];

    pub fn as_str(self) -> &'static str {
        match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::TensorRt => "tensorrt",
            Device::OpenVino => "openvino",
            Device::CoreMl => "coreml",
            Device::DirectMl => "directml",
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Device {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim().to_ascii_lowercase();
        Device::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or(Error::UnknownDevice(s))
    }
}

/// The arithmetic a model runs in. `Auto` is each provider's measured best that keeps the
/// quality bar: OpenVINO runs bf16 on CPUs with bf16 instructions (selfie 1.5–2× faster than
/// its fp32; mask IoU vs MediaPipe 0.9994, pose landmarks 0.65 % of the person's diagonal off
/// MediaPipe's, against 0.1–0.3 % in fp32 — inside the 0.98 / 1.5 % bar, outside the TFLite
/// tensor tolerances, so `aifx-models verify` uses fp32) and fp32 where it lacks them; ONNX
/// Runtime's own CPU code runs fp32 only. `Int8` loads the model's int8 variant
/// (`NAME-int8.onnx`, made at set-up by `aifx-models quantize`); `Auto` uses a variant only
/// where set-up measured it keeping the quality bar and running faster (`int8.txt`) — on the
/// machines measured so far none did (see the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    #[default]
    Auto,
    Fp32,
    Bf16,
    Fp16,
    Int8,
}

impl Precision {
    pub const ALL: [Precision; 5] = [
        Precision::Auto,
        Precision::Fp32,
        Precision::Bf16,
        Precision::Fp16,
        Precision::Int8,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Auto => "auto",
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Fp16 => "fp16",
            Precision::Int8 => "int8",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim().to_ascii_lowercase();
        Precision::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                Error::BadInput(format!(
                    "unknown precision `{s}` (expected one of: auto, fp32, bf16, fp16, int8)"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in Device::ALL {
            assert_eq!(d.as_str().parse::<Device>().unwrap(), d);
        }
        assert_eq!(" CUDA ".parse::<Device>().unwrap(), Device::Cuda);
        assert!("gpu".parse::<Device>().is_err());
    }
}
