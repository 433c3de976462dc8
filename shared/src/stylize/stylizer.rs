//! Stylization of one stream: the frame is sampled straight from its planes at the model's
//! working size (short side `resolution`), the model runs, its picture is upsampled
//! (bilinear) to the frame, converted to the frame's format and blended in by `strength`,
//! everywhere or only on the person or the background (an upstream mask).

use fast_image_resize as fir;
use rayon::prelude::*;

use super::model::{style_spec, RangeChoice, StyleSpec};
use crate::frame::{FrameMut, OwnedFrame, PixelFormat};
use crate::paths::resolve_model;
use crate::sample::frame_to_tensor;
use crate::session::{session, SessionOptions, SharedSession};
use crate::tensor::Sampling;
use crate::{Device, Error, Result};

/// Where the style applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Region {
    #[default]
    All,
    Person,
    Background,
}

/// Everything a user can set.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleSettings {
    /// A built-in style name (`toon`, `pencil`, `oil`) or a path to an `.onnx` file.
    pub model: String,
    pub range: RangeChoice,
    /// 0 = the original frame, 1 = the full style.
    pub strength: f32,
    /// Short side of the picture the model runs on (0 = the frame's own); a model with a
    /// fixed input size runs at that size.
    pub resolution: usize,
    pub region: Region,
    /// Run the model on one frame in `interval` and reuse its picture in between.
    pub interval: u32,
    pub device: Device,
    pub threads: usize,
}

impl Default for StyleSettings {
    fn default() -> Self {
        Self {
            model: "toon".into(),
            range: RangeChoice::Auto,
            strength: 1.0,
            resolution: 360,
            region: Region::All,
            interval: 1,
            device: Device::Cpu,
            threads: 0,
        }
    }
}

/// A person mask over the whole frame (`width`×`height`, 0–255, row-major).
#[derive(Debug, Clone, Copy)]
pub struct MaskRef<'a> {
    pub width: usize,
    pub height: usize,
    pub data: &'a [u8],
}

struct Loaded {
    key: (String, RangeChoice, Device, usize),
    session: SharedSession,
    spec: StyleSpec,
}

/// The model's last picture, as interleaved RGB.
struct Styled {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

/// Stylization state for one stream.
#[derive(Default)]
pub struct Stylizer {
    model: Option<Loaded>,
    styled: Option<Styled>,
    frames: u64,
    inferences: u64,
}

/// The working size for a `w`×`h` frame: short side `resolution` (never above the frame's),
/// both sides multiples of 4 (fully convolutional models with two stride-2 stages need it).
fn working_size(w: usize, h: usize, resolution: usize) -> (usize, usize) {
    let short = w.min(h).max(1);
    let target = if resolution == 0 {
        short
    } else {
        resolution.min(short)
    };
    let scale = target as f32 / short as f32;
    let round4 = |v: f32| ((v / 4.0).round() as usize * 4).max(4);
    (round4(w as f32 * scale), round4(h as f32 * scale))
}

impl Stylizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads the model now (so a bad model fails the state change, not the first frame).
    pub fn prepare(&mut self, s: &StyleSettings) -> Result<()> {
        let key = (s.model.clone(), s.range, s.device, s.threads);
        if self.model.as_ref().is_some_and(|m| m.key == key) {
            return Ok(());
        }
        let path = resolve_model(&s.model)?;
        let session = session(
            &path,
            &SessionOptions {
                device: s.device,
                threads: s.threads,
                library: None,
            },
        )?;
        let spec = style_spec(&session, s.range)?;
        self.model = Some(Loaded { key, session, spec });
        self.styled = None;
        Ok(())
    }

    /// The `model` setting the loaded model came from.
    pub fn model_name(&self) -> Option<&str> {
        self.model.as_ref().map(|m| m.key.0.as_str())
    }

    /// How many times the model has run.
    pub fn inferences(&self) -> u64 {
        self.inferences
    }

    /// Forgets the last picture (flush, seek).
    pub fn reset(&mut self) {
        self.styled = None;
        self.frames = 0;
    }

    /// Runs the model on `frame` at `tw`×`th` and keeps its picture.
    fn infer(&mut self, frame: &FrameMut<'_>, tw: usize, th: usize) -> Result<()> {
        let m = self.model.as_ref().expect("prepared");
        let (nhwc, _) = frame_to_tensor(frame, tw, th, m.spec.range, Sampling::HalfPixel);
        let (shape, input) = if m.spec.nchw {
            let n = tw * th;
            let planar: Vec<f32> = (0..3 * n).map(|i| nhwc[(i % n) * 3 + i / n]).collect();
            ([1, 3, th, tw], planar)
        } else {
            ([1, th, tw, 3], nhwc)
        };
        let out = m
            .session
            .run(&shape, &input)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Inference("the style model returned nothing".into()))?;
        let (oh, ow) = match (m.spec.nchw, &out.shape[..]) {
            (true, [1, 3, h, w]) | (false, [1, h, w, 3]) => (*h, *w),
            (_, other) => {
                return Err(Error::Inference(format!(
                    "the style model's output has shape {other:?}; expected a 3-channel picture in the input's layout"
                )))
            }
        };
        if ow == 0 || oh == 0 || out.data.len() != ow * oh * 3 {
            return Err(Error::Inference(format!(
                "the style model's output has {} values for {ow}x{oh}x3",
                out.data.len()
            )));
        }
        let (lo, hi) = (m.spec.range.lo, m.spec.range.hi);
        let to_byte = |v: f32| {
            let v = (v - lo) / (hi - lo) * 255.0;
            if v.is_nan() {
                0
            } else {
                v.round().clamp(0.0, 255.0) as u8
            }
        };
        let n = ow * oh;
        let rgb: Vec<u8> = if m.spec.nchw {
            (0..3 * n)
                .map(|i| to_byte(out.data[(i % 3) * n + i / 3]))
                .collect()
        } else {
            out.data.iter().map(|&v| to_byte(v)).collect()
        };
        self.styled = Some(Styled {
            width: ow,
            height: oh,
            rgb,
        });
        self.inferences += 1;
        Ok(())
    }

    /// Stylizes `frame` in place. `mask` is the upstream person mask for `Region::Person` and
    /// `Region::Background` (ignored for `All`; without one the style applies everywhere).
    /// Returns whether the model ran on this frame.
    pub fn process(
        &mut self,
        frame: &mut FrameMut<'_>,
        s: &StyleSettings,
        mask: Option<MaskRef<'_>>,
    ) -> Result<bool> {
        crate::parallel::on_pool(|| self.process_here(frame, s, mask))
    }

    fn process_here(
        &mut self,
        frame: &mut FrameMut<'_>,
        s: &StyleSettings,
        mask: Option<MaskRef<'_>>,
    ) -> Result<bool> {
        self.prepare(s)?;
        let (w, h) = (frame.width, frame.height);
        if w == 0 || h == 0 {
            return Ok(false);
        }
        let spec = self.model.as_ref().expect("prepared").spec.clone();
        let (tw, th) = spec
            .fixed
            .unwrap_or_else(|| working_size(w, h, s.resolution));
        let due = self.styled.is_none() || self.frames.is_multiple_of(u64::from(s.interval.max(1)));
        self.frames += 1;
        if s.strength <= 0.0 {
            // The identity, exactly; the model need not run.
            return Ok(false);
        }
        if due {
            self.infer(frame, tw, th)?;
        }
        let styled = self.styled.as_ref().expect("inferred above");
        let rgb = upsample(styled, w, h)?;
        let layer = OwnedFrame::from_rgb_with(frame.format, w, h, &rgb, 0, frame.matrix);
        let mask = match s.region {
            Region::All => None,
            r => mask.map(|m| (m, r == Region::Background)),
        };
        blend_in(frame, &layer, s.strength, mask)?;
        Ok(due)
    }
}

/// Bilinear resize of the model's picture to the frame's size.
fn upsample(styled: &Styled, w: usize, h: usize) -> Result<Vec<u8>> {
    if (styled.width, styled.height) == (w, h) {
        return Ok(styled.rgb.clone());
    }
    let err = |e: &dyn std::fmt::Display| Error::Inference(format!("resizing the style: {e}"));
    let src = fir::images::ImageRef::new(
        styled.width as u32,
        styled.height as u32,
        &styled.rgb,
        fir::PixelType::U8x3,
    )
    .map_err(|e| err(&e))?;
    let mut dst = fir::images::Image::new(w as u32, h as u32, fir::PixelType::U8x3);
    fir::Resizer::new()
        .resize(
            &src,
            &mut dst,
            &fir::ResizeOptions::new()
                .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Bilinear)),
        )
        .map_err(|e| err(&e))?;
    Ok(dst.into_vec())
}

/// The region weight (0–256, strength included) of every pixel of a `pw`×`ph` plane: the
/// mask resized to the plane (bilinear, `fast_image_resize`), inverted for the background.
fn weight_plane(
    m: &MaskRef<'_>,
    invert: bool,
    full: u16,
    pw: usize,
    ph: usize,
) -> Result<Vec<u16>> {
    let err = |e: &dyn std::fmt::Display| Error::Inference(format!("resizing the mask: {e}"));
    let src =
        fir::images::ImageRef::new(m.width as u32, m.height as u32, m.data, fir::PixelType::U8)
            .map_err(|e| err(&e))?;
    let mut dst = fir::images::Image::new(pw as u32, ph as u32, fir::PixelType::U8);
    fir::Resizer::new()
        .resize(
            &src,
            &mut dst,
            &fir::ResizeOptions::new()
                .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Bilinear)),
        )
        .map_err(|e| err(&e))?;
    Ok(dst
        .buffer()
        .iter()
        .map(|&v| {
            let v = if invert { 255 - v } else { v };
            ((u32::from(v) * u32::from(full) + 127) / 255) as u16
        })
        .collect())
}

/// `frame = frame + a·(layer − frame)` per plane byte, `a` = strength × the region's weight
/// (the mask, or one minus it for the background) at that plane pixel.
fn blend_in(
    frame: &mut FrameMut<'_>,
    layer: &OwnedFrame,
    strength: f32,
    mask: Option<(MaskRef<'_>, bool)>,
) -> Result<()> {
    let (format, w, h) = (frame.format, frame.width, frame.height);
    let full = (strength.clamp(0.0, 1.0) * 256.0).round() as u16;
    for p in 0..format.plane_count() {
        let (bytes, rows) = format.plane_size(p, w, h);
        let bpp = match (format, p) {
            (PixelFormat::I420, _) | (PixelFormat::Nv12, 0) => 1,
            (PixelFormat::Nv12, _) => 2,
            _ => 4,
        };
        let colour = if bpp == 4 { 3 } else { bpp };
        let pw = bytes / bpp;
        let weights = match mask {
            Some((m, invert)) => Some(weight_plane(&m, invert, full, pw, rows)?),
            None => None,
        };
        let stride = frame.planes[p].stride;
        let (src, src_stride) = (&layer.planes[p], layer.strides[p]);
        frame.planes[p]
            .data
            .par_chunks_mut(stride)
            .take(rows)
            .enumerate()
            .for_each(|(y, row)| {
                let row = &mut row[..bytes];
                let srow = &src[y * src_stride..][..bytes];
                let pixels = row.chunks_exact_mut(bpp).zip(srow.chunks_exact(bpp));
                match &weights {
                    None if full >= 256 => {
                        for (d, s) in pixels {
                            d[..colour].copy_from_slice(&s[..colour]);
                        }
                    }
                    None => {
                        for (d, s) in pixels {
                            for k in 0..colour {
                                d[k] = mix(d[k], s[k], full);
                            }
                        }
                    }
                    Some(wp) => {
                        for ((d, s), &a) in pixels.zip(&wp[y * pw..(y + 1) * pw]) {
                            if a == 0 {
                                continue;
                            }
                            for k in 0..colour {
                                d[k] = mix(d[k], s[k], a);
                            }
                        }
                    }
                }
            });
    }
    Ok(())
}

/// `(o·(256 − a) + n·a) / 256`, `a` in 0–256.
#[inline(always)]
fn mix(o: u8, n: u8, a: u16) -> u8 {
    ((u16::from(o) * (256 - a) + u16::from(n) * a + 128) >> 8) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_sizes_keep_the_aspect_in_multiples_of_four() {
        assert_eq!(working_size(1920, 1080, 360), (640, 360));
        assert_eq!(working_size(1280, 720, 360), (640, 360));
        assert_eq!(working_size(1, 1, 360), (4, 4));
        assert_eq!(working_size(17, 9, 360), (16, 8));
        assert_eq!(working_size(640, 480, 0), (640, 480));
    }

    #[test]
    fn weights_follow_the_mask_and_its_inverse() {
        let m = MaskRef {
            width: 2,
            height: 1,
            data: &[0, 255],
        };
        let w = weight_plane(&m, false, 256, 2, 1).unwrap();
        assert_eq!(w, vec![0, 256]);
        let w = weight_plane(&m, true, 128, 2, 1).unwrap();
        assert_eq!(w, vec![128, 0]);
    }
}
