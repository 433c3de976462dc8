//! The model's view of a picture: a small RGBA frame ("analysis frame") made either from an
//! async source's CPU frame (copied on the graphics thread as raw planes, converted on the
//! worker) or from a small GPU read-back of a sync source (already RGBA).
//!
//! OBS delivers many pixel formats (NV12, I420, I422, I444, YUY2, UYVY, YVYU, RGBA, BGRA, BGRX,
//! Y800, BGR3, with-alpha variants); the analysis frame needs only a few hundred thousand
//! samples, so one nearest-sample converter with OBS's own colour matrix serves all of them.

use aifx::frame::{OwnedFrame, PixelFormat};
use obs_wrapper::obs_sys as sys;

use crate::ffi::AsyncFrame;

/// The long side of the analysis frame: above the models' inputs (256) with room for the
/// edge refinement, far below the source so the copy and conversion stay cheap.
pub const ANALYSIS_LONG_SIDE: u32 = 640;

/// The analysis size for a `width`×`height` picture (aspect kept, never upscaled, ≥ 1).
pub fn analysis_size(width: u32, height: u32, long_side: u32) -> (u32, u32) {
    let long = width.max(height).max(1);
    if long <= long_side {
        return (width.max(1), height.max(1));
    }
    let scale = long_side as f64 / long as f64;
    (
        ((width as f64 * scale).round() as u32).max(1),
        ((height as f64 * scale).round() as u32).max(1),
    )
}

/// An async picture's planes, copied so the graphics thread can move on.
pub struct RawFrame {
    format: u32,
    width: u32,
    height: u32,
    planes: [Vec<u8>; 4],
    linesize: [usize; 4],
    matrix: [f32; 16],
}

impl RawFrame {
    pub fn copy(f: &AsyncFrame<'_>) -> Self {
        let planes = f.planes.map(|p| p.map(|d| d.to_vec()).unwrap_or_default());
        Self {
            format: f.format,
            width: f.width,
            height: f.height,
            planes,
            linesize: f.linesize.map(|l| l as usize),
            matrix: f.color_matrix,
        }
    }

    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn byte(&self, p: usize, x: usize, y: usize) -> f32 {
        self.planes[p]
            .get(y * self.linesize[p] + x)
            .copied()
            .unwrap_or(128) as f32
    }

    /// (Y, U, V) at pixel (x, y) in 0..255, or None for RGB formats.
    fn yuv(&self, x: usize, y: usize) -> Option<[f32; 3]> {
        let (cx, cy) = (x / 2, y / 2);
        Some(match self.format {
            sys::video_format_VIDEO_FORMAT_I420 | sys::video_format_VIDEO_FORMAT_I40A => [
                self.byte(0, x, y),
                self.byte(1, cx, cy),
                self.byte(2, cx, cy),
            ],
            sys::video_format_VIDEO_FORMAT_NV12 => [
                self.byte(0, x, y),
                self.byte(1, cx * 2, cy),
                self.byte(1, cx * 2 + 1, cy),
            ],
            sys::video_format_VIDEO_FORMAT_I422 | sys::video_format_VIDEO_FORMAT_I42A => {
                [self.byte(0, x, y), self.byte(1, cx, y), self.byte(2, cx, y)]
            }
            sys::video_format_VIDEO_FORMAT_I444 | sys::video_format_VIDEO_FORMAT_YUVA => {
                [self.byte(0, x, y), self.byte(1, x, y), self.byte(2, x, y)]
            }
            // Packed 4:2:2, two pixels per four bytes.
            sys::video_format_VIDEO_FORMAT_YUY2 => {
                let b = cx * 4;
                [
                    self.byte(0, b + (x & 1) * 2, y),
                    self.byte(0, b + 1, y),
                    self.byte(0, b + 3, y),
                ]
            }
            sys::video_format_VIDEO_FORMAT_YVYU => {
                let b = cx * 4;
                [
                    self.byte(0, b + (x & 1) * 2, y),
                    self.byte(0, b + 3, y),
                    self.byte(0, b + 1, y),
                ]
            }
            sys::video_format_VIDEO_FORMAT_UYVY => {
                let b = cx * 4;
                [
                    self.byte(0, b + 1 + (x & 1) * 2, y),
                    self.byte(0, b, y),
                    self.byte(0, b + 2, y),
                ]
            }
            sys::video_format_VIDEO_FORMAT_AYUV => [
                self.byte(0, x * 4 + 1, y),
                self.byte(0, x * 4 + 2, y),
                self.byte(0, x * 4 + 3, y),
            ],
            sys::video_format_VIDEO_FORMAT_Y800 => [self.byte(0, x, y), 128.0, 128.0],
            _ => return None,
        })
    }

    fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        if let Some([yy, u, v]) = self.yuv(x, y) {
            let m = &self.matrix;
            let s = [yy / 255.0, u / 255.0, v / 255.0, 1.0];
            let row = |r: usize| {
                let c = (0..4).map(|i| m[r * 4 + i] * s[i]).sum::<f32>();
                (c * 255.0).round().clamp(0.0, 255.0) as u8
            };
            return [row(0), row(1), row(2)];
        }
        let px = |o: usize| self.byte(0, x * 4 + o, y) as u8;
        match self.format {
            sys::video_format_VIDEO_FORMAT_RGBA => [px(0), px(1), px(2)],
            sys::video_format_VIDEO_FORMAT_BGR3 => {
                let b = |o: usize| self.byte(0, x * 3 + o, y) as u8;
                [b(2), b(1), b(0)]
            }
            _ => [px(2), px(1), px(0)],
        }
    }

    /// The picture as an RGBA analysis frame of `width`×`height` (nearest samples).
    pub fn to_analysis(&self, width: u32, height: u32) -> OwnedFrame {
        let (w, h) = (width.max(1) as usize, height.max(1) as usize);
        let mut out = OwnedFrame::new(PixelFormat::Rgba, w, h, 0);
        let (sw, sh) = (self.width.max(1) as usize, self.height.max(1) as usize);
        for oy in 0..h {
            let sy = ((2 * oy + 1) * sh / (2 * h)).min(sh - 1);
            let row = &mut out.planes[0][oy * w * 4..(oy + 1) * w * 4];
            for ox in 0..w {
                let sx = ((2 * ox + 1) * sw / (2 * w)).min(sw - 1);
                let [r, g, b] = self.rgb(sx, sy);
                row[ox * 4..ox * 4 + 4].copy_from_slice(&[r, g, b, 255]);
            }
        }
        out
    }
}

/// A picture for the worker.
pub enum Picture {
    /// An async source's frame, converted on the worker.
    Raw(RawFrame),
    /// A sync source's read-back, RGBA rows at the analysis size.
    Rgba {
        width: u32,
        height: u32,
        data: Vec<u8>,
    },
}

impl Picture {
    /// The picture's own size.
    pub fn size(&self) -> (u32, u32) {
        match self {
            Picture::Raw(raw) => raw.size(),
            Picture::Rgba { width, height, .. } => (*width, *height),
        }
    }

    /// The RGBA analysis frame (long side at most `long_side`).
    pub fn into_analysis(self, long_side: u32) -> OwnedFrame {
        match self {
            Picture::Raw(raw) => {
                let (w, h) = raw.size();
                let (aw, ah) = analysis_size(w, h, long_side);
                raw.to_analysis(aw, ah)
            }
            Picture::Rgba {
                width,
                height,
                data,
            } => {
                let mut f = OwnedFrame::new(PixelFormat::Rgba, width as usize, height as usize, 0);
                f.planes[0] = data;
                f
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analysis_size_keeps_aspect_and_never_upscales() {
        assert_eq!(analysis_size(1920, 1080, 640), (640, 360));
        assert_eq!(analysis_size(1080, 1920, 640), (360, 640));
        assert_eq!(analysis_size(320, 200, 640), (320, 200));
        assert_eq!(analysis_size(1, 1, 640), (1, 1));
        assert_eq!(analysis_size(4000, 1, 640), (640, 1));
    }
}
