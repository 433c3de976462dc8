//! Video frames as plain views over plane memory: no framework types, strides respected.
//!
//! Adapters (the GStreamer elements, the OBS filter) wrap their mapped frames in a
//! [`FrameMut`]; everything in this crate reads and writes frames only through it.

use rayon::prelude::*;

use crate::{Error, Result};

/// The pixel formats the effects work on natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    Rgba,
    Bgra,
    Rgbx,
    Bgrx,
    /// Planar Y, U, V; chroma subsampled 2×2.
    I420,
    /// Planar Y, interleaved UV; chroma subsampled 2×2.
    Nv12,
}

impl PixelFormat {
    pub const ALL: [PixelFormat; 6] = [
        PixelFormat::Rgba,
        PixelFormat::Bgra,
        PixelFormat::Rgbx,
        PixelFormat::Bgrx,
        PixelFormat::I420,
        PixelFormat::Nv12,
    ];

    /// Byte offsets of R, G, B within a 4-byte pixel, for packed formats.
    pub fn rgb_offsets(self) -> Option<[usize; 3]> {
        match self {
            PixelFormat::Rgba | PixelFormat::Rgbx => Some([0, 1, 2]),
            PixelFormat::Bgra | PixelFormat::Bgrx => Some([2, 1, 0]),
            PixelFormat::I420 | PixelFormat::Nv12 => None,
        }
    }

    /// Byte offset of alpha within a 4-byte pixel, for formats that carry alpha.
    pub fn alpha_offset(self) -> Option<usize> {
        match self {
            PixelFormat::Rgba | PixelFormat::Bgra => Some(3),
            _ => None,
        }
    }

    pub fn is_yuv(self) -> bool {
        matches!(self, PixelFormat::I420 | PixelFormat::Nv12)
    }

    pub fn plane_count(self) -> usize {
        match self {
            PixelFormat::I420 => 3,
            PixelFormat::Nv12 => 2,
            _ => 1,
        }
    }

    /// Visible bytes per row and rows of plane `p` for a `width`×`height` frame.
    pub fn plane_size(self, p: usize, width: usize, height: usize) -> (usize, usize) {
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        match (self, p) {
            (PixelFormat::I420 | PixelFormat::Nv12, 0) => (width, height),
            (PixelFormat::I420, _) => (cw, ch),
            (PixelFormat::Nv12, _) => (cw * 2, ch),
            _ => (width * 4, height),
        }
    }
}

/// The YUV ↔ RGB relation of a YUV frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YuvMatrix {
    /// Luma weights of R and B (G's is 1 − kr − kb).
    pub kr: f32,
    pub kb: f32,
    /// Full range (0–255) or studio range (Y 16–235, UV 16–240).
    pub full_range: bool,
}

impl YuvMatrix {
    pub const BT601: YuvMatrix = YuvMatrix {
        kr: 0.299,
        kb: 0.114,
        full_range: false,
    };
    pub const BT709: YuvMatrix = YuvMatrix {
        kr: 0.2126,
        kb: 0.0722,
        full_range: false,
    };
    pub const BT2020: YuvMatrix = YuvMatrix {
        kr: 0.2627,
        kb: 0.0593,
        full_range: false,
    };

    /// RGB (0–255) of a Y, U, V byte triple.
    #[inline]
    pub fn to_rgb(&self, y: f32, u: f32, v: f32) -> [f32; 3] {
        let (y, u, v) = if self.full_range {
            (y, u - 128.0, v - 128.0)
        } else {
            (
                (y - 16.0) * (255.0 / 219.0),
                (u - 128.0) * (255.0 / 224.0),
                (v - 128.0) * (255.0 / 224.0),
            )
        };
        let kg = 1.0 - self.kr - self.kb;
        let r = y + 2.0 * (1.0 - self.kr) * v;
        let b = y + 2.0 * (1.0 - self.kb) * u;
        let g = (y - self.kr * r - self.kb * b) / kg;
        [r, g, b]
    }

    /// Y, U, V bytes of an RGB (0–255) colour.
    pub fn from_rgb(&self, rgb: [u8; 3]) -> [u8; 3] {
        let [r, g, b] = rgb.map(f32::from);
        let kg = 1.0 - self.kr - self.kb;
        let y = self.kr * r + kg * g + self.kb * b;
        let u = (b - y) / (2.0 * (1.0 - self.kb));
        let v = (r - y) / (2.0 * (1.0 - self.kr));
        let (y, u, v) = if self.full_range {
            (y, u + 128.0, v + 128.0)
        } else {
            (
                16.0 + y * (219.0 / 255.0),
                128.0 + u * (224.0 / 255.0),
                128.0 + v * (224.0 / 255.0),
            )
        };
        [y, u, v].map(|c| c.round().clamp(0.0, 255.0) as u8)
    }
}

/// One plane: its bytes and the distance between rows.
pub struct Plane<'a> {
    pub data: &'a mut [u8],
    pub stride: usize,
}

/// Checks that planes of (bytes, stride) hold the whole visible picture of a frame.
fn check_planes(
    format: PixelFormat,
    width: usize,
    height: usize,
    planes: &[(usize, usize)],
) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::BadInput(format!("empty frame {width}x{height}")));
    }
    if planes.len() != format.plane_count() {
        return Err(Error::BadInput(format!(
            "{format:?} needs {} planes, got {}",
            format.plane_count(),
            planes.len()
        )));
    }
    for (i, &(len, stride)) in planes.iter().enumerate() {
        let (row, rows) = format.plane_size(i, width, height);
        if stride < row || len < stride * (rows - 1) + row {
            return Err(Error::BadInput(format!(
                "plane {i} of a {width}x{height} {format:?} frame is too small \
                 (stride {stride}, {len} bytes)"
            )));
        }
    }
    Ok(())
}

/// A mutable frame: format, size, planes (and for YUV, its matrix).
pub struct FrameMut<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: Vec<Plane<'a>>,
    pub matrix: YuvMatrix,
}

impl<'a> FrameMut<'a> {
    /// Wraps planes after checking they hold the whole visible picture.
    pub fn new(
        format: PixelFormat,
        width: usize,
        height: usize,
        planes: Vec<Plane<'a>>,
        matrix: YuvMatrix,
    ) -> Result<Self> {
        let sizes: Vec<(usize, usize)> = planes.iter().map(|p| (p.data.len(), p.stride)).collect();
        check_planes(format, width, height, &sizes)?;
        Ok(Self {
            format,
            width,
            height,
            planes,
            matrix,
        })
    }

    /// Visible row `y` of plane `p`.
    #[inline]
    pub fn row(&self, p: usize, y: usize) -> &[u8] {
        let (len, _) = self.format.plane_size(p, self.width, self.height);
        let plane = &self.planes[p];
        &plane.data[y * plane.stride..y * plane.stride + len]
    }

    /// Visible row `y` of plane `p`, writable.
    #[inline]
    pub fn row_mut(&mut self, p: usize, y: usize) -> &mut [u8] {
        let (len, _) = self.format.plane_size(p, self.width, self.height);
        let plane = &mut self.planes[p];
        &mut plane.data[y * plane.stride..y * plane.stride + len]
    }
}

/// A read-only frame: format, size and planes as (bytes, stride). What a caller lends when
/// it keeps a frame itself (a GStreamer buffer still referenced downstream, say).
pub struct FrameRef<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: Vec<(&'a [u8], usize)>,
}

impl<'a> FrameRef<'a> {
    /// Wraps planes after checking they hold the whole visible picture.
    pub fn new(
        format: PixelFormat,
        width: usize,
        height: usize,
        planes: Vec<(&'a [u8], usize)>,
    ) -> Result<Self> {
        let sizes: Vec<(usize, usize)> = planes.iter().map(|(d, s)| (d.len(), *s)).collect();
        check_planes(format, width, height, &sizes)?;
        Ok(Self {
            format,
            width,
            height,
            planes,
        })
    }

    /// Visible row `y` of plane `p`.
    #[inline]
    pub fn row(&self, p: usize, y: usize) -> &'a [u8] {
        let (len, _) = self.format.plane_size(p, self.width, self.height);
        let (data, stride) = self.planes[p];
        &data[y * stride..y * stride + len]
    }
}

/// An owned frame with tightly packed planes (for tests, demos and the OBS filter).
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedFrame {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: Vec<Vec<u8>>,
    pub strides: Vec<usize>,
    pub matrix: YuvMatrix,
}

impl OwnedFrame {
    /// A frame with every plane's row padded by `pad` bytes.
    pub fn new(format: PixelFormat, width: usize, height: usize, pad: usize) -> Self {
        let mut planes = Vec::new();
        let mut strides = Vec::new();
        for p in 0..format.plane_count() {
            let (row, rows) = format.plane_size(p, width, height);
            strides.push(row + pad);
            planes.push(vec![0u8; (row + pad) * rows]);
        }
        Self {
            format,
            width,
            height,
            planes,
            strides,
            matrix: YuvMatrix::BT601,
        }
    }

    /// Converts interleaved RGB (3 bytes per pixel) into this format (BT.601 for YUV).
    pub fn from_rgb(
        format: PixelFormat,
        width: usize,
        height: usize,
        rgb: &[u8],
        pad: usize,
    ) -> Self {
        Self::from_rgb_with(format, width, height, rgb, pad, YuvMatrix::BT601)
    }

    /// Converts interleaved RGB into this format with the given YUV matrix.
    pub fn from_rgb_with(
        format: PixelFormat,
        width: usize,
        height: usize,
        rgb: &[u8],
        pad: usize,
        matrix: YuvMatrix,
    ) -> Self {
        assert_eq!(rgb.len(), width * height * 3);
        let mut f = Self::new(format, width, height, pad);
        f.matrix = matrix;
        if width == 0 || height == 0 {
            return f;
        }
        // Rows in parallel: `stylize` converts every model picture with this.
        if let Some(o) = format.rgb_offsets() {
            f.planes[0]
                .par_chunks_mut(f.strides[0])
                .zip(rgb.par_chunks(width * 3))
                .for_each(|(row, src)| {
                    for (px, s) in row.chunks_exact_mut(4).zip(src.chunks_exact(3)) {
                        for c in 0..3 {
                            px[o[c]] = s[c];
                        }
                        px[3] = 255;
                    }
                });
            return f;
        }
        let m = f.matrix;
        let cw = width.div_ceil(2);
        f.planes[0]
            .par_chunks_mut(f.strides[0])
            .zip(rgb.par_chunks(width * 3))
            .for_each(|(row, src)| {
                for (y, s) in row.iter_mut().zip(src.chunks_exact(3)) {
                    *y = m.from_rgb([s[0], s[1], s[2]])[0];
                }
            });
        let rest = &mut f.planes[1..];
        let (s1, s2) = (f.strides[1], f.strides.get(2).copied().unwrap_or(0));
        // (chroma row, U or UV row, V row for I420)
        type ChromaRow<'r> = (usize, &'r mut [u8], Option<&'r mut [u8]>);
        let mut chroma_rows: Vec<ChromaRow<'_>> = match format {
            PixelFormat::I420 => {
                let (u, v) = rest.split_at_mut(1);
                u[0].chunks_mut(s1)
                    .zip(v[0].chunks_mut(s2))
                    .enumerate()
                    .map(|(cy, (u, v))| (cy, u, Some(v)))
                    .collect()
            }
            _ => rest[0]
                .chunks_mut(s1)
                .enumerate()
                .map(|(cy, uv)| (cy, uv, None))
                .collect(),
        };
        chroma_rows.par_iter_mut().for_each(|(cy, urow, vrow)| {
            let cy = *cy;
            for cx in 0..cw {
                // Chroma from the mean colour of the 2×2 block (clipped at odd edges).
                let mut acc = [0u32; 3];
                let mut n = 0;
                for y in cy * 2..(cy * 2 + 2).min(height) {
                    for x in cx * 2..(cx * 2 + 2).min(width) {
                        for c in 0..3 {
                            acc[c] += u32::from(rgb[(y * width + x) * 3 + c]);
                        }
                        n += 1;
                    }
                }
                let mean = acc.map(|a| ((a + n / 2) / n) as u8);
                let [_, u, v] = m.from_rgb(mean);
                match vrow {
                    Some(vrow) => {
                        urow[cx] = u;
                        vrow[cx] = v;
                    }
                    None => {
                        urow[cx * 2] = u;
                        urow[cx * 2 + 1] = v;
                    }
                }
            }
        });
        f
    }

    /// A tightly packed copy of `f`'s visible picture (for work on another thread).
    pub fn copy_of(f: &FrameMut<'_>) -> Self {
        let mut out = Self::new(f.format, f.width, f.height, 0);
        out.matrix = f.matrix;
        for (p, plane) in out.planes.iter_mut().enumerate() {
            let (row, _) = f.format.plane_size(p, f.width, f.height);
            for (y, dst) in plane.chunks_exact_mut(row).enumerate() {
                dst.copy_from_slice(f.row(p, y));
            }
        }
        out
    }

    pub fn view(&mut self) -> FrameMut<'_> {
        let planes = self
            .planes
            .iter_mut()
            .zip(&self.strides)
            .map(|(data, &stride)| Plane {
                data: data.as_mut_slice(),
                stride,
            })
            .collect();
        FrameMut::new(self.format, self.width, self.height, planes, self.matrix)
            .expect("an owned frame is always complete")
    }

    /// A read-only view.
    pub fn view_ref(&self) -> FrameRef<'_> {
        let planes = self
            .planes
            .iter()
            .zip(&self.strides)
            .map(|(data, &stride)| (data.as_slice(), stride))
            .collect();
        FrameRef::new(self.format, self.width, self.height, planes)
            .expect("an owned frame is always complete")
    }

    /// The picture as interleaved RGB bytes.
    pub fn to_rgb(&mut self) -> Vec<u8> {
        let f = self.view();
        let mut out = Vec::with_capacity(f.width * f.height * 3);
        for y in 0..f.height {
            for x in 0..f.width {
                out.extend_from_slice(&crate::sample::pixel_rgb(&f, x, y));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuv_round_trip_is_close() {
        for m in [YuvMatrix::BT601, YuvMatrix::BT709] {
            for rgb in [[0u8, 0, 0], [255, 255, 255], [200, 30, 90], [12, 180, 240]] {
                let [y, u, v] = m.from_rgb(rgb);
                let back = m.to_rgb(f32::from(y), f32::from(u), f32::from(v));
                for c in 0..3 {
                    assert!(
                        (back[c] - f32::from(rgb[c])).abs() < 2.5,
                        "{rgb:?} -> {back:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn short_planes_are_refused() {
        let mut data = vec![0u8; 10];
        let r = FrameMut::new(
            PixelFormat::Rgba,
            3,
            1,
            vec![Plane {
                data: &mut data,
                stride: 12,
            }],
            YuvMatrix::BT601,
        );
        assert!(r.is_err());
    }

    #[test]
    fn odd_sizes_have_rounded_up_chroma() {
        assert_eq!(PixelFormat::I420.plane_size(1, 7, 5), (4, 3));
        assert_eq!(PixelFormat::Nv12.plane_size(1, 7, 5), (8, 3));
        let mut f = OwnedFrame::from_rgb(PixelFormat::Nv12, 7, 5, &[100u8; 7 * 5 * 3], 3);
        let rgb = f.to_rgb();
        assert!(rgb.iter().all(|&c| (i32::from(c) - 100).abs() <= 2));
    }
}
