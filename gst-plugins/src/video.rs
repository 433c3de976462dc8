//! What the elements share: the formats they process natively, colorimetry, the device
//! and threads properties, and mapping a GStreamer frame as an `aifx` frame view.

use aifx::frame::{FrameMut, FrameRef, OwnedFrame, PixelFormat, Plane, YuvMatrix};
use aifx::Device;
use gst::glib;
use gst_video::prelude::*;

/// Refuses caps in a format the elements do not process (the pad templates already limit
/// them; this names the format if one slips through).
pub fn check_format(
    cat: gst::DebugCategory,
    info: &gst_video::VideoInfo,
) -> Result<(), gst::LoggableError> {
    match pixel_format(info.format()) {
        Some(_) => Ok(()),
        None => Err(gst::loggable_error!(
            cat,
            "unsupported format {:?}",
            info.format()
        )),
    }
}

/// Caps formats every aifx video element accepts.
pub const FORMATS: [gst_video::VideoFormat; 6] = [
    gst_video::VideoFormat::Rgba,
    gst_video::VideoFormat::Bgra,
    gst_video::VideoFormat::Rgbx,
    gst_video::VideoFormat::Bgrx,
    gst_video::VideoFormat::I420,
    gst_video::VideoFormat::Nv12,
];

/// `caps` limited to the formats with alpha (RGBA, BGRA): what `segment effect=transparent`
/// asks of upstream when upstream can give it.
pub fn with_alpha_only(caps: &gst::Caps) -> gst::Caps {
    let alpha = gst_video::VideoCapsBuilder::new()
        .format_list([gst_video::VideoFormat::Rgba, gst_video::VideoFormat::Bgra])
        .build();
    caps.intersect_with_mode(&alpha, gst::CapsIntersectMode::First)
}

/// Tells the user when a model's session differs from what was asked: another device than the
/// one asked for (and what to install), threads clamped to the cores. A warning message on the
/// bus, which `gst-launch-1.0` prints, and a GStreamer warning in the element's category. Once
/// per distinct reason.
///
/// It also follows the device the session runs on, for the read-only `device-in-use` property
/// (`auto` settles on one after its first frames).
#[derive(Debug, Default)]
pub struct DeviceNotice {
    said: Option<String>,
    in_use: Option<aifx::session::DeviceWatch>,
}

impl DeviceNotice {
    pub fn check(&mut self, element: &gst::Element, session: &aifx::session::SessionCore) {
        self.in_use = Some(session.device_watch());
        match &session.notice {
            Some(reason) if self.said.as_deref() != Some(reason.as_str()) => {
                gst::element_warning!(
                    element,
                    gst::LibraryError::Settings,
                    ("{}: {}", element.name(), reason)
                );
                self.said = Some(reason.clone());
            }
            Some(_) => {}
            None => self.said = None,
        }
    }
}

/// The device the last model session runs on ("" before one is loaded).
pub fn device_in_use(notice: &DeviceNotice) -> glib::Value {
    notice
        .in_use
        .as_ref()
        .map_or("", |w| w.get().as_str())
        .to_value()
}

/// Default of every element's `threads` property (0 = one per core).
pub const DEFAULT_THREADS: u32 = 0;

/// The `device`, `device-in-use`, `precision` and `threads` properties, the same on every
/// element that runs a model.
pub fn runtime_properties() -> [glib::ParamSpec; 4] {
    [
        glib::ParamSpecEnum::builder_with_default("precision", PrecisionKind::default())
            .nick("Precision")
            .blurb("Arithmetic of the model; one the provider lacks runs fp32 with a warning")
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("device", DeviceKind::default())
            .nick("Device")
            .blurb("Execution provider; one the installed ONNX Runtime lacks falls back to cpu with a warning")
            .mutable_playing()
            .build(),
        glib::ParamSpecString::builder("device-in-use")
            .nick("Device in use")
            .blurb("The execution provider the model runs on (what `auto` picked, or cpu after a fallback); empty before a model is loaded")
            .read_only()
            .build(),
        glib::ParamSpecUInt::builder("threads")
            .nick("Threads")
            .blurb("Inference threads (0 = one per core)")
            .maximum(256)
            .default_value(DEFAULT_THREADS)
            .mutable_playing()
            .build(),
    ]
}

/// What the properties every model element shares are set to: `device`, `precision`,
/// `threads` and `budget-ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuntimeSettings {
    pub device: DeviceKind,
    pub precision: PrecisionKind,
    pub threads: u32,
    pub budget_ms: f64,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            device: DeviceKind::default(),
            precision: PrecisionKind::default(),
            threads: DEFAULT_THREADS,
            budget_ms: 0.0,
        }
    }
}

impl RuntimeSettings {
    /// Sets property `name` if it is one of these: `Some(taken)`, else `None`.
    pub fn set(&mut self, name: &str, value: &glib::Value) -> Option<bool> {
        Some(match name {
            "device" => crate::props::assign(&mut self.device, value),
            "precision" => crate::props::assign(&mut self.precision, value),
            "threads" => crate::props::assign(&mut self.threads, value),
            "budget-ms" => crate::props::assign(&mut self.budget_ms, value),
            _ => return None,
        })
    }

    /// The value of property `name` if it is one of these.
    pub fn get(&self, name: &str) -> Option<glib::Value> {
        Some(match name {
            "device" => self.device.to_value(),
            "precision" => self.precision.to_value(),
            "threads" => self.threads.to_value(),
            "budget-ms" => self.budget_ms.to_value(),
            _ => return None,
        })
    }

    /// The session options these make.
    pub fn session_options(&self) -> aifx::session::SessionOptions {
        aifx::session::SessionOptions {
            device: self.device.into(),
            precision: self.precision.into(),
            threads: self.threads as usize,
            library: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAifxDevice")]
pub enum DeviceKind {
    #[default]
    #[enum_value(
        name = "The fastest provider the installed ONNX Runtime has, timed on the first frames (OpenVINO or CUDA where present, else CPU)",
        nick = "auto"
    )]
    Auto,
    #[enum_value(name = "CPU (ONNX Runtime's own)", nick = "cpu")]
    Cpu,
    #[enum_value(name = "NVIDIA CUDA", nick = "cuda")]
    Cuda,
    #[enum_value(name = "NVIDIA TensorRT", nick = "tensorrt")]
    TensorRt,
    #[enum_value(name = "Intel OpenVINO", nick = "openvino")]
    OpenVino,
    #[enum_value(name = "Apple CoreML", nick = "coreml")]
    CoreMl,
    #[enum_value(name = "DirectML", nick = "directml")]
    DirectMl,
}

/// The arithmetic a model runs in (see `aifx::Precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAifxPrecision")]
pub enum PrecisionKind {
    #[default]
    #[enum_value(
        name = "Each provider's measured best within the quality bar (bf16 on OpenVINO where the CPU has it, else fp32)",
        nick = "auto"
    )]
    Auto,
    #[enum_value(name = "32-bit float everywhere (closest to MediaPipe)", nick = "fp32")]
    Fp32,
    #[enum_value(
        name = "bfloat16 (OpenVINO on CPUs with bf16 instructions)",
        nick = "bf16"
    )]
    Bf16,
    #[enum_value(
        name = "16-bit float (OpenVINO on CPUs with fp16 instructions, TensorRT)",
        nick = "fp16"
    )]
    Fp16,
    #[enum_value(
        name = "8-bit integer: the int8 variants the set-up makes (each model's record in int8.txt; warns when one missed the quality bar)",
        nick = "int8"
    )]
    Int8,
}

impl From<PrecisionKind> for aifx::Precision {
    fn from(p: PrecisionKind) -> Self {
        match p {
            PrecisionKind::Auto => Self::Auto,
            PrecisionKind::Fp32 => Self::Fp32,
            PrecisionKind::Bf16 => Self::Bf16,
            PrecisionKind::Fp16 => Self::Fp16,
            PrecisionKind::Int8 => Self::Int8,
        }
    }
}

/// The motion compensation of `temporalsmooth` and of `segment`'s smoothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAifxMotion")]
pub enum MotionKind {
    #[enum_value(
        name = "No compensation: blend with the previous frame where it was",
        nick = "none"
    )]
    None,
    #[enum_value(
        name = "One translation for the whole frame (camera pan)",
        nick = "global"
    )]
    Global,
    #[default]
    #[enum_value(
        name = "A translation per block, from block matching on low-resolution luma",
        nick = "dense"
    )]
    Dense,
}

impl From<MotionKind> for aifx::temporal::MotionMode {
    fn from(m: MotionKind) -> Self {
        match m {
            MotionKind::None => Self::None,
            MotionKind::Global => Self::Global,
            MotionKind::Dense => Self::Dense,
        }
    }
}

/// The blend of `temporalsmooth`'s mask smoothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAifxMaskFilter")]
pub enum MaskFilterKind {
    #[default]
    #[enum_value(
        name = "Moving average of the motion-compensated masks (steadiest)",
        nick = "ema"
    )]
    Ema,
    #[enum_value(
        name = "MediaPipe's uncertainty-weighted blend (confident pixels pass unchanged)",
        nick = "mediapipe"
    )]
    MediaPipe,
}

impl From<MaskFilterKind> for aifx::temporal::mask::MaskFilter {
    fn from(m: MaskFilterKind) -> Self {
        match m {
            MaskFilterKind::Ema => Self::Ema,
            MaskFilterKind::MediaPipe => Self::MediaPipe,
        }
    }
}

impl From<DeviceKind> for Device {
    fn from(d: DeviceKind) -> Self {
        match d {
            DeviceKind::Auto => Device::Auto,
            DeviceKind::Cpu => Device::Cpu,
            DeviceKind::Cuda => Device::Cuda,
            DeviceKind::TensorRt => Device::TensorRt,
            DeviceKind::OpenVino => Device::OpenVino,
            DeviceKind::CoreMl => Device::CoreMl,
            DeviceKind::DirectMl => Device::DirectMl,
        }
    }
}

pub fn pixel_format(f: gst_video::VideoFormat) -> Option<PixelFormat> {
    use gst_video::VideoFormat as V;
    Some(match f {
        V::Rgba => PixelFormat::Rgba,
        V::Bgra => PixelFormat::Bgra,
        V::Rgbx => PixelFormat::Rgbx,
        V::Bgrx => PixelFormat::Bgrx,
        V::I420 => PixelFormat::I420,
        V::Nv12 => PixelFormat::Nv12,
        _ => return None,
    })
}

pub fn yuv_matrix(info: &gst_video::VideoInfo) -> YuvMatrix {
    let c = info.colorimetry();
    let mut m = match c.matrix() {
        gst_video::VideoColorMatrix::Bt709 => YuvMatrix::BT709,
        gst_video::VideoColorMatrix::Bt2020 => YuvMatrix::BT2020,
        _ => YuvMatrix::BT601,
    };
    m.full_range = c.range() == gst_video::VideoColorRange::Range0_255;
    m
}

/// Always-present src and sink pads over the [`FORMATS`] caps (every aifx video filter).
pub fn pad_templates() -> Vec<gst::PadTemplate> {
    let caps = gst_video::VideoCapsBuilder::new()
        .format_list(FORMATS)
        .build();
    [
        ("src", gst::PadDirection::Src),
        ("sink", gst::PadDirection::Sink),
    ]
    .into_iter()
    .map(|(name, dir)| {
        gst::PadTemplate::new(name, dir, gst::PadPresence::Always, &caps)
            .expect("valid pad template")
    })
    .collect()
}

/// Maps `buf` writable and calls `f` with it as an `aifx` frame view.
pub fn with_frame_mut<R>(
    buf: &mut gst::BufferRef,
    info: &gst_video::VideoInfo,
    f: impl FnOnce(FrameMut<'_>) -> R,
) -> Result<R, String> {
    let format = pixel_format(info.format())
        .ok_or_else(|| format!("unsupported format {:?}", info.format()))?;
    let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, info)
        .map_err(|e| format!("cannot map the buffer: {e}"))?;
    let strides: Vec<usize> = frame
        .plane_stride()
        .iter()
        .map(|&s| s.max(0) as usize)
        .collect();
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let planes: Vec<Plane<'_>> = frame
        .planes_data_mut()
        .into_iter()
        .take(format.plane_count())
        .zip(strides)
        .map(|(data, stride)| Plane { data, stride })
        .collect();
    let view = FrameMut::new(format, w, h, planes, yuv_matrix(info)).map_err(|e| e.to_string())?;
    Ok(f(view))
}

/// A readable mapping of a frame as an `aifx` read-only view (None when the buffer does not
/// hold a whole frame of `info`).
pub fn frame_ref<'a>(frame: &'a gst_video::VideoFrameRef<&gst::BufferRef>) -> Option<FrameRef<'a>> {
    let format = pixel_format(frame.format())?;
    let planes = (0..format.plane_count())
        .map(|p| {
            let data = frame.plane_data(p as u32).ok()?;
            Some((data, frame.plane_stride()[p].max(0) as usize))
        })
        .collect::<Option<Vec<_>>>()?;
    FrameRef::new(
        format,
        frame.width() as usize,
        frame.height() as usize,
        planes,
    )
    .ok()
}

/// The GStreamer format of an `aifx` pixel format.
pub fn video_format(f: PixelFormat) -> gst_video::VideoFormat {
    use gst_video::VideoFormat as V;
    match f {
        PixelFormat::Rgba => V::Rgba,
        PixelFormat::Bgra => V::Bgra,
        PixelFormat::Rgbx => V::Rgbx,
        PixelFormat::Bgrx => V::Bgrx,
        PixelFormat::I420 => V::I420,
        PixelFormat::Nv12 => V::Nv12,
    }
}

/// A buffer in GStreamer's default layout for `frame`'s format and size, holding its pixels
/// (for applications feeding `appsrc`, tests and benchmarks).
pub fn buffer_from_frame(frame: &OwnedFrame) -> (gst::Buffer, gst_video::VideoInfo) {
    let info = gst_video::VideoInfo::builder(
        video_format(frame.format),
        frame.width as u32,
        frame.height as u32,
    )
    .build()
    .unwrap();
    let mut buf = gst::Buffer::with_size(info.size()).unwrap();
    {
        let b = buf.get_mut().unwrap();
        let mut vf = gst_video::VideoFrameRef::from_buffer_ref_writable(b, &info).unwrap();
        for p in 0..frame.format.plane_count() {
            let (row, rows) = frame.format.plane_size(p, frame.width, frame.height);
            let stride = vf.plane_stride()[p] as usize;
            let dst = vf.plane_data_mut(p as u32).unwrap();
            for y in 0..rows {
                dst[y * stride..y * stride + row]
                    .copy_from_slice(&frame.planes[p][y * frame.strides[p]..][..row]);
            }
        }
    }
    (buf, info)
}

/// Reads a buffer of `info`'s layout back into an owned frame.
pub fn frame_from_buffer(
    buf: &gst::BufferRef,
    info: &gst_video::VideoInfo,
    format: PixelFormat,
) -> OwnedFrame {
    let vf = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, info).unwrap();
    let (w, h) = (info.width() as usize, info.height() as usize);
    let mut out = OwnedFrame::new(format, w, h, 0);
    for p in 0..format.plane_count() {
        let (row, rows) = format.plane_size(p, w, h);
        let stride = vf.plane_stride()[p] as usize;
        let src = vf.plane_data(p as u32).unwrap();
        for y in 0..rows {
            out.planes[p][y * row..(y + 1) * row]
                .copy_from_slice(&src[y * stride..y * stride + row]);
        }
    }
    out
}
