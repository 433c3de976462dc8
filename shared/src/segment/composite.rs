//! Compositing a frame with a full-resolution alpha plane, in the frame's own format.
//!
//! YUV frames are composited plane by plane (Y at full resolution, chroma with the 2×2 mean
//! alpha) and never converted to RGB. The background blur is a normalised convolution at
//! reduced resolution: colours are weighted by how much background each pixel is, so the
//! person never bleeds into the blurred background (no halo around the silhouette).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::blend::{blend_row, matte_row, plane_layout, plane_pixels, Background, Scratch};
use super::blur::BlurredBackground;
use super::coverage::{AlphaRows, Coverage, PlaneAlpha, SPAN};
use crate::frame::{FrameMut, OwnedFrame, PixelFormat};
use crate::{Error, Result};

/// What replaces the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Effect {
    #[default]
    Blur,
    Replace,
    Color,
    /// Alpha out (formats with alpha); formats without alpha get `Color`.
    Transparent,
    /// The mask itself as a grey picture.
    Matte,
    /// Leave the frame untouched (analysis only).
    None,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Blur => "blur",
            Effect::Replace => "replace",
            Effect::Color => "color",
            Effect::Transparent => "transparent",
            Effect::Matte => "matte",
            Effect::None => "none",
        }
    }
}

/// Parameters of one compositing pass.
#[derive(Debug, Clone, PartialEq)]
pub struct CompositeParams {
    pub effect: Effect,
    /// Background blur radius in frame pixels.
    pub blur_radius: usize,
    /// Background colour as RGB.
    pub color: [u8; 3],
    /// Background picture for `Replace` (scaled to cover the frame).
    pub background: Option<PathBuf>,
}

impl Default for CompositeParams {
    fn default() -> Self {
        Self {
            effect: Effect::Blur,
            blur_radius: 24,
            color: [0, 177, 64],
            background: None,
        }
    }
}

/// The background picture converted to the frame's format and size, cached.
struct PreparedBackground {
    path: PathBuf,
    format: PixelFormat,
    width: usize,
    height: usize,
    frame: OwnedFrame,
}

/// Scratch buffers kept between frames (per-frame allocations of these sizes cost page
/// faults that showed up in profiles).
#[derive(Default)]
pub struct Compositor {
    background: Option<PreparedBackground>,
    blur: BlurredBackground,
}

/// Loads a picture and scales it to cover `w`×`h` (centre crop), as interleaved RGB.
pub fn load_cover(path: &Path, w: usize, h: usize) -> Result<Vec<u8>> {
    let img = image::open(path)
        .map_err(|e| Error::BadInput(format!("background image {}: {e}", path.display())))?
        .to_rgb8();
    let (iw, ih) = (img.width() as f32, img.height() as f32);
    let scale = (w as f32 / iw).max(h as f32 / ih);
    let (sw, sh) = (
        (iw * scale).ceil().max(w as f32) as u32,
        (ih * scale).ceil().max(h as f32) as u32,
    );
    let src = fast_image_resize::images::Image::from_vec_u8(
        img.width(),
        img.height(),
        img.into_raw(),
        fast_image_resize::PixelType::U8x3,
    )
    .map_err(|e| Error::BadInput(format!("background image {}: {e}", path.display())))?;
    let mut dst = fast_image_resize::images::Image::new(sw, sh, fast_image_resize::PixelType::U8x3);
    fast_image_resize::Resizer::new()
        .resize(
            &src,
            &mut dst,
            &fast_image_resize::ResizeOptions::new().fit_into_destination(None),
        )
        .map_err(|e| Error::BadInput(format!("resizing background: {e}")))?;
    let (ox, oy) = ((sw as usize - w) / 2, (sh as usize - h) / 2);
    let buf = dst.buffer();
    let mut out = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let start = ((oy + y) * sw as usize + ox) * 3;
        out.extend_from_slice(&buf[start..start + w * 3]);
    }
    Ok(out)
}

impl Compositor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Composites `frame` in place with a precomputed full-resolution alpha plane.
    pub fn apply(
        &mut self,
        frame: &mut FrameMut<'_>,
        alpha: &[u8],
        params: &CompositeParams,
    ) -> Result<()> {
        assert_eq!(alpha.len(), frame.width * frame.height);
        let width = frame.width;
        self.render(frame, &PlaneAlpha { alpha, width }, params)
    }

    /// Makes the blurred background of `frame` ahead of `render`, weighted by `weights`
    /// (which may be a cheaper alpha than the one `render` gets), so it can be made while
    /// that alpha is still being prepared. Does nothing for effects other than `Blur`.
    pub fn prepare_blur(
        &mut self,
        frame: &FrameMut<'_>,
        weights: &dyn AlphaRows,
        params: &CompositeParams,
    ) {
        if params.effect == Effect::Blur {
            self.blur.make(frame, weights, params.blur_radius);
        }
    }

    /// Composites `frame` in place in one pass over its rows, taking each row's alpha from
    /// `alpha` just before that row is written (so the alpha never exists as a whole plane).
    pub fn render(
        &mut self,
        frame: &mut FrameMut<'_>,
        alpha: &dyn AlphaRows,
        params: &CompositeParams,
    ) -> Result<()> {
        let (w, h) = (frame.width, frame.height);
        let format = frame.format;
        let effect = match params.effect {
            Effect::None => return Ok(()),
            Effect::Transparent => match format.alpha_offset() {
                Some(offset) => {
                    write_alpha_channel(frame, alpha, offset);
                    return Ok(());
                }
                None => Effect::Color,
            },
            e => e,
        };
        if effect == Effect::Replace {
            let path = params.background.as_deref().ok_or_else(|| {
                Error::BadInput("effect `replace` needs a background image".into())
            })?;
            self.prepare_background(path, format, w, h, frame.matrix)?;
        }
        let planes = format.plane_count();
        // Background sources per plane (the blur is built from the frame before any write).
        let blurred = if effect == Effect::Blur {
            if !self.blur.ready_for(frame, params.blur_radius) {
                self.blur.make(frame, alpha, params.blur_radius);
            }
            // Made for this frame: the next one needs its own.
            self.blur.invalidate();
            self.blur.planes(planes)
        } else {
            Vec::new()
        };
        let sources: Vec<Background<'_>> = (0..planes)
            .map(|p| match effect {
                Effect::Blur => Background::Blur(&blurred[p]),
                Effect::Replace => {
                    let bg = &self.background.as_ref().expect("prepared above").frame;
                    Background::Frame {
                        plane: &bg.planes[p],
                        stride: bg.strides[p],
                    }
                }
                _ => {
                    let (pw, _) = plane_pixels(format, p, w, h);
                    let bpp = plane_layout(format, p).0;
                    let col = plane_colour(frame, p, params.color, effect);
                    Background::Const((0..pw * bpp).map(|i| col[i % bpp]).collect())
                }
            })
            .collect();
        let matte = effect == Effect::Matte;
        if format.is_yuv() {
            composite_yuv(frame, alpha, &sources, matte);
        } else {
            composite_packed(frame, alpha, &sources[0], matte);
        }
        Ok(())
    }

    fn prepare_background(
        &mut self,
        path: &Path,
        format: PixelFormat,
        w: usize,
        h: usize,
        matrix: crate::frame::YuvMatrix,
    ) -> Result<()> {
        let fresh = self.background.as_ref().is_some_and(|b| {
            b.path == path
                && b.format == format
                && b.width == w
                && b.height == h
                && b.frame.matrix == matrix
        });
        if !fresh {
            let rgb = load_cover(path, w, h)?;
            let frame = OwnedFrame::from_rgb_with(format, w, h, &rgb, 0, matrix);
            self.background = Some(PreparedBackground {
                path: path.to_path_buf(),
                format,
                width: w,
                height: h,
                frame,
            });
        }
        Ok(())
    }
}

/// Runs `write` on each visible row of a packed frame with that row's alpha and coverage,
/// rows in parallel.
fn packed_rows(
    frame: &mut FrameMut<'_>,
    alpha: &dyn AlphaRows,
    write: impl Fn(&mut Scratch, usize, &mut [u8], &[u8], &[Coverage]) + Sync,
) {
    let (w, h) = (frame.width, frame.height);
    let stride = frame.planes[0].stride;
    frame.planes[0]
        .data
        .par_chunks_mut(stride)
        .take(h)
        .enumerate()
        .for_each_init(
            || Scratch::new(w),
            |sc, (y, row)| {
                let row = &mut row[..w * 4];
                let mut a = std::mem::take(&mut sc.alpha[0]);
                let mut cover = std::mem::take(&mut sc.cover[0]);
                alpha.coverage(y, &mut cover);
                alpha.row(y, row, &cover, &mut a);
                write(sc, y, row, &a, &cover);
                sc.alpha[0] = a;
                sc.cover[0] = cover;
            },
        );
}

/// `Transparent` on a format with alpha: the person alpha goes into the alpha byte of each
/// pixel (straight, not premultiplied: colours where the person is partly opaque are left as
/// they were). Where alpha is 0 the colour is cleared to black, so that encoders do not spend
/// bits on a picture nobody sees (a PNG of a cleared background is a fraction of the size).
fn write_alpha_channel(frame: &mut FrameMut<'_>, alpha: &dyn AlphaRows, offset: usize) {
    packed_rows(frame, alpha, |_, _, row, a, _| {
        for (px, &v) in row.chunks_exact_mut(4).zip(a) {
            if v == 0 {
                px.fill(0);
            } else {
                px[offset] = v;
            }
        }
    });
}

/// Packed RGB formats: the matte, or each row blended with its background.
fn composite_packed(
    frame: &mut FrameMut<'_>,
    alpha: &dyn AlphaRows,
    background: &Background<'_>,
    matte: bool,
) {
    packed_rows(frame, alpha, |sc, y, row, a, cover| {
        if matte {
            matte_row(row, a, 4, 3, |v| v);
        } else {
            blend_row(row, y, a, cover, 4, background, sc);
        }
    });
}

/// What every YUV work item shares.
struct YuvPass<'a> {
    alpha: &'a dyn AlphaRows,
    sources: &'a [Background<'a>],
    matte: bool,
    nv12: bool,
    full_range: bool,
    width: usize,
    height: usize,
    y_stride: usize,
}

/// I420 and NV12: one work item per chroma row, with its two luma rows.
fn composite_yuv(
    frame: &mut FrameMut<'_>,
    alpha: &dyn AlphaRows,
    sources: &[Background<'_>],
    matte: bool,
) {
    let (w, h) = (frame.width, frame.height);
    let ch = h.div_ceil(2);
    let pass = YuvPass {
        alpha,
        sources,
        matte,
        nv12: frame.format == PixelFormat::Nv12,
        full_range: frame.matrix.full_range,
        width: w,
        height: h,
        y_stride: frame.planes[0].stride,
    };
    let (ys, chroma) = frame.planes.split_at_mut(1);
    let y_rows = ys[0].data.par_chunks_mut(2 * pass.y_stride).take(ch);
    let c_stride = chroma[0].stride;
    let (first, second) = chroma.split_at_mut(1);
    let u_rows = first[0].data.par_chunks_mut(c_stride).take(ch);
    match second.first_mut() {
        None => y_rows.zip(u_rows).enumerate().for_each_init(
            || Scratch::new(w),
            |sc, (cy, (yc, uc))| pass.rows(sc, cy, yc, uc, None),
        ),
        Some(v) => {
            let v_rows = v.data.par_chunks_mut(v.stride.max(1)).take(ch);
            y_rows.zip(u_rows).zip(v_rows).enumerate().for_each_init(
                || Scratch::new(w),
                |sc, (cy, ((yc, uc), vc))| pass.rows(sc, cy, yc, uc, Some(vc)),
            )
        }
    }
}

impl YuvPass<'_> {
    /// The matte's luma: limited-range YUV keeps black at 16 and white at 235.
    fn matte_y(&self, a: u8) -> u8 {
        if self.full_range {
            a
        } else {
            16 + ((u32::from(a) * 219 + 127) / 255) as u8
        }
    }

    /// Chroma row `cy` with its two luma rows (`ychunk`).
    fn rows(
        &self,
        sc: &mut Scratch,
        cy: usize,
        ychunk: &mut [u8],
        urow: &mut [u8],
        vrow: Option<&mut [u8]>,
    ) {
        let (w, h) = (self.width, self.height);
        let y0 = 2 * cy;
        let y1 = (y0 + 1).min(h - 1);
        let [mut a0, mut a1] = std::mem::take(&mut sc.alpha);
        let [mut c0, mut c1, mut cc] = std::mem::take(&mut sc.cover);
        {
            let (r0, rest) = ychunk.split_at_mut(self.y_stride.min(ychunk.len()));
            self.alpha.coverage(y0, &mut c0);
            self.alpha.row(y0, &r0[..w], &c0, &mut a0);
            if y1 != y0 {
                self.alpha.coverage(y1, &mut c1);
                self.alpha.row(y1, &rest[..w], &c1, &mut a1);
            } else {
                a1.copy_from_slice(&a0);
                c1.copy_from_slice(&c0);
            }
            for (yy, row, a, cover) in [
                (y0, &mut r0[..w], &a0, &c0),
                (y1, &mut rest[..if y1 != y0 { w } else { 0 }], &a1, &c1),
            ] {
                if row.is_empty() {
                    continue;
                }
                if self.matte {
                    matte_row(row, a, 1, 1, |v| self.matte_y(v));
                } else {
                    blend_row(row, yy, a, cover, 1, &self.sources[0], sc);
                }
            }
        }
        let mut ca = std::mem::take(&mut sc.chroma);
        chroma_alpha(w, [&a0, &a1], [&c0, &c1], &mut cc, &mut ca);
        let cw = w.div_ceil(2);
        if self.nv12 {
            let row = &mut urow[..cw * 2];
            if self.matte {
                row.fill(128);
            } else {
                blend_row(row, cy, &ca, &cc, 2, &self.sources[1], sc);
            }
        } else {
            let vrow = vrow.expect("I420 has a V plane");
            for (row, src) in [
                (&mut urow[..cw], &self.sources[1]),
                (&mut vrow[..cw], &self.sources[2]),
            ] {
                if self.matte {
                    row.fill(128);
                } else {
                    blend_row(row, cy, &ca, &cc, 1, src, sc);
                }
            }
        }
        sc.chroma = ca;
        sc.alpha = [a0, a1];
        sc.cover = [c0, c1, cc];
    }
}

/// Alpha and coverage of a chroma row from its two luma rows. A chroma span covers two luma
/// spans of both rows; its alpha is the 2×2 mean, computed only where that is not constant.
fn chroma_alpha(
    w: usize,
    [a0, a1]: [&[u8]; 2],
    [c0, c1]: [&[Coverage]; 2],
    cover: &mut [Coverage],
    out: &mut [u8],
) {
    let cw = w.div_ceil(2);
    for (c, k) in cover.iter_mut().enumerate() {
        let (l0, l1) = (2 * c, (2 * c + 1).min(c0.len() - 1));
        *k = c0[l0].merge(c0[l1]).merge(c1[l0]).merge(c1[l1]);
    }
    for (c, &k) in cover.iter().enumerate() {
        let (x0, x1) = (c * SPAN, ((c + 1) * SPAN).min(cw));
        match k {
            Coverage::Person => out[x0..x1].fill(255),
            Coverage::Background => out[x0..x1].fill(0),
            Coverage::Mixed => {
                for (cx, o) in (x0..x1).zip(&mut out[x0..x1]) {
                    let (x0, x1) = (2 * cx, (2 * cx + 1).min(w - 1));
                    let s = u32::from(a0[x0])
                        + u32::from(a0[x1])
                        + u32::from(a1[x0])
                        + u32::from(a1[x1]);
                    *o = ((s + 2) / 4) as u8;
                }
            }
        }
    }
}

/// The constant colour of plane `p`'s channels for `Color`.
fn plane_colour(frame: &FrameMut<'_>, p: usize, rgb: [u8; 3], effect: Effect) -> [u8; 4] {
    if effect != Effect::Color {
        return [0; 4];
    }
    match frame.format.rgb_offsets() {
        // Channel k of the layout is byte k of the pixel.
        Some(o) => {
            let mut c = [0u8; 4];
            for (i, &off) in o.iter().enumerate() {
                c[off] = rgb[i];
            }
            c
        }
        None => {
            let [y, u, v] = frame.matrix.from_rgb(rgb);
            match (frame.format, p) {
                (_, 0) => [y, 0, 0, 0],
                (PixelFormat::I420, 1) => [u, 0, 0, 0],
                (PixelFormat::I420, _) => [v, 0, 0, 0],
                _ => [u, v, 0, 0],
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(w: usize, h: usize) -> Vec<u8> {
        let mut rgb = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let v = if (x / 2 + y / 2) % 2 == 0 { 220 } else { 30 };
                rgb.extend_from_slice(&[v, v / 2, 255 - v]);
            }
        }
        rgb
    }

    /// Left half person (alpha 255), right half background.
    fn half_alpha(w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .map(|i| if i % w < w / 2 { 255 } else { 0 })
            .collect()
    }

    #[test]
    fn blur_keeps_the_person_and_smooths_the_background() {
        let (w, h) = (64, 32);
        for format in PixelFormat::ALL {
            let rgb = checker(w, h);
            let mut f = OwnedFrame::from_rgb(format, w, h, &rgb, 3);
            let before = f.to_rgb();
            let alpha = half_alpha(w, h);
            let mut c = Compositor::new();
            c.apply(
                &mut f.view(),
                &alpha,
                &CompositeParams {
                    blur_radius: 8,
                    ..Default::default()
                },
            )
            .unwrap();
            let after = f.to_rgb();
            let var = |img: &[u8], x0: usize, x1: usize| {
                let vals: Vec<f32> = (0..h)
                    .flat_map(|y| (x0..x1).map(move |x| (y, x)))
                    .map(|(y, x)| f32::from(img[(y * w + x) * 3]))
                    .collect();
                let m = vals.iter().sum::<f32>() / vals.len() as f32;
                vals.iter().map(|v| (v - m) * (v - m)).sum::<f32>() / vals.len() as f32
            };
            // Person side unchanged (YUV: chroma of the 2×2 blocks at the border may mix).
            for y in 0..h {
                for x in 0..w / 2 - 2 {
                    for k in 0..3 {
                        let i = (y * w + x) * 3 + k;
                        assert!(
                            (i32::from(after[i]) - i32::from(before[i])).abs() <= 2,
                            "{format:?} ({x},{y})"
                        );
                    }
                }
            }
            assert!(
                var(&after, w / 2 + 4, w) < var(&before, w / 2 + 4, w) * 0.2,
                "{format:?}"
            );
        }
    }

    #[test]
    fn color_matte_and_transparent() {
        let (w, h) = (8, 4);
        let alpha = half_alpha(w, h);
        for format in PixelFormat::ALL {
            let rgb = checker(w, h);
            let mut f = OwnedFrame::from_rgb(format, w, h, &rgb, 0);
            let params = CompositeParams {
                effect: Effect::Color,
                color: [0, 0, 255],
                ..Default::default()
            };
            Compositor::new()
                .apply(&mut f.view(), &alpha, &params)
                .unwrap();
            let out = f.to_rgb();
            let px = &out[(h / 2 * w + w - 1) * 3..][..3];
            assert!(px[2] > 240 && px[0] < 15, "{format:?} {px:?}");

            let mut f = OwnedFrame::from_rgb(format, w, h, &rgb, 0);
            let params = CompositeParams {
                effect: Effect::Matte,
                ..Default::default()
            };
            Compositor::new()
                .apply(&mut f.view(), &alpha, &params)
                .unwrap();
            let out = f.to_rgb();
            assert!(out[0] > 250 && out[(w - 1) * 3] < 5, "{format:?}");
        }
        let mut f = OwnedFrame::from_rgb(PixelFormat::Bgra, w, h, &checker(w, h), 0);
        let params = CompositeParams {
            effect: Effect::Transparent,
            ..Default::default()
        };
        Compositor::new()
            .apply(&mut f.view(), &alpha, &params)
            .unwrap();
        assert_eq!(f.planes[0][3], 255);
        assert_eq!(f.planes[0][(w - 1) * 4 + 3], 0);
        // Under alpha 0 the colour is cleared.
        assert_eq!(f.planes[0][(w - 1) * 4..w * 4], [0, 0, 0, 0]);
    }

    #[test]
    fn replace_needs_a_readable_picture() {
        let mut f = OwnedFrame::new(PixelFormat::Rgba, 4, 4, 0);
        let params = CompositeParams {
            effect: Effect::Replace,
            background: Some(PathBuf::from("/nonexistent/bg.png")),
            ..Default::default()
        };
        let e = Compositor::new()
            .apply(&mut f.view(), &[0; 16], &params)
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/bg.png"));
    }
}
