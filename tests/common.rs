//! Shared by the integration tests: where the release artifacts and references are, and
//! helpers to move frames in and out of GStreamer buffers.

use aifx::frame::{OwnedFrame, PixelFormat};
use gst_video::prelude::*;

use std::path::PathBuf;

#[allow(dead_code)]
pub fn release_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("release")
}

#[allow(dead_code)]
pub fn artifact(name: &str) -> PathBuf {
    let p = release_dir().join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `make test` (it builds in release first)",
        p.display()
    );
    p
}

/// Reference outputs computed by the set-up (`make test`).
#[allow(dead_code)]
pub fn reference_dir() -> PathBuf {
    std::env::var_os("AIFX_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache")
                })
                .join("aifx/reference")
        })
}

// --- GStreamer helpers shared by the element tests -----------------------------------------

#[allow(dead_code)]
pub fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstaifx::plugin_register_static().expect("register the aifx plugin");
    });
}

#[allow(dead_code)]
pub fn harness(
    element: &str,
    props: &[(&str, &str)],
    info: &gst_video::VideoInfo,
) -> gst_check::Harness {
    use gst::prelude::*;
    let mut h = gst_check::Harness::new(element);
    {
        let e = h.element().unwrap();
        for (k, v) in props {
            e.set_property_from_str(k, v);
        }
    }
    h.set_src_caps(info.to_caps().unwrap());
    h
}

#[allow(dead_code)]
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

/// A GStreamer buffer (default strides for the format) holding `frame`, plus its info.
#[allow(dead_code)]
pub fn to_buffer(frame: &OwnedFrame) -> (gst::Buffer, gst_video::VideoInfo) {
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
#[allow(dead_code)]
pub fn from_buffer(
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
