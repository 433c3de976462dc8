//! What the elements share: the formats they process natively, colorimetry, the device
//! property's enum, and mapping a GStreamer frame as an `aifx` frame view.

use aifx::frame::{FrameMut, PixelFormat, Plane, YuvMatrix};
use aifx::Device;
use gst::glib;
use gst_video::prelude::*;

/// Caps formats every aifx video element accepts.
pub const FORMATS: [gst_video::VideoFormat; 6] = [
    gst_video::VideoFormat::Rgba,
    gst_video::VideoFormat::Bgra,
    gst_video::VideoFormat::Rgbx,
    gst_video::VideoFormat::Bgrx,
    gst_video::VideoFormat::I420,
    gst_video::VideoFormat::Nv12,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAifxDevice")]
pub enum DeviceKind {
    #[default]
    #[enum_value(name = "CPU", nick = "cpu")]
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

impl From<DeviceKind> for Device {
    fn from(d: DeviceKind) -> Self {
        match d {
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
