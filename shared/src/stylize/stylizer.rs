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
        blend_in(frame, &layer, s.strength, mask);
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

/// `frame = frame + a·(layer − frame)` per plane byte, `a` = strength × the region's weight
/// (the mask, or one minus it for the background) at that plane pixel.
fn blend_in(
    frame: &mut FrameMut<'_>,
    layer: &OwnedFrame,
    strength: f32,
    mask: Option<(MaskRef<'_>, bool)>,
) {
    let (format, w, h) = (frame.format, frame.width, frame.height);
    let full = (strength.clamp(0.0, 1.0) * 256.0).round() as u16;
    for p in 0..format.plane_count() {
        let (bytes, rows) = format.plane_size(p, w, h);
        let (bpp, sub) = match (format, p) {
            (PixelFormat::I420, 0) | (PixelFormat::Nv12, 0) => (1, 1),
            (PixelFormat::I420, _) => (1, 2),
            (PixelFormat::Nv12, _) => (2, 2),
            _ => (4, 1),
        };
        let colour = if bpp == 4 { 3 } else { bpp };
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
                // The region weight of this row's pixels, from the mask at their centres.
                let weight = |x: usize| -> u16 {
                    let Some((m, invert)) = mask else { return full };
                    let fx = ((x * sub) as f32 + sub as f32 / 2.0) / w as f32;
                    let fy = ((y * sub) as f32 + sub as f32 / 2.0) / h as f32;
                    let v = sample_mask(&m, fx, fy);
                    let v = if invert { 255.0 - v } else { v };
                    ((v / 255.0) * f32::from(full)).round() as u16
                };
                if mask.is_none() && full >= 256 {
                    for (d, s) in row.chunks_exact_mut(bpp).zip(srow.chunks_exact(bpp)) {
                        d[..colour].copy_from_slice(&s[..colour]);
                    }
                    return;
                }
                for (x, (d, s)) in row
                    .chunks_exact_mut(bpp)
                    .zip(srow.chunks_exact(bpp))
                    .enumerate()
                {
                    let a = weight(x);
                    if a == 0 {
                        continue;
                    }
                    for k in 0..colour {
                        let (o, n) = (u16::from(d[k]), u16::from(s[k]));
                        d[k] = ((o * (256 - a) + n * a + 128) >> 8) as u8;
                    }
                }
            });
    }
}

/// Bilinear mask value (0–255) at a point given as a fraction of the frame.
fn sample_mask(m: &MaskRef<'_>, fx: f32, fy: f32) -> f32 {
    let x = (fx * m.width as f32 - 0.5).clamp(0.0, (m.width - 1) as f32);
    let y = (fy * m.height as f32 - 0.5).clamp(0.0, (m.height - 1) as f32);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(m.width - 1), (y0 + 1).min(m.height - 1));
    let (tx, ty) = (x - x0 as f32, y - y0 as f32);
    let p = |x: usize, y: usize| f32::from(m.data[y * m.width + x]);
    let top = p(x0, y0) + (p(x1, y0) - p(x0, y0)) * tx;
    let bottom = p(x0, y1) + (p(x1, y1) - p(x0, y1)) * tx;
    top + (bottom - top) * ty
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
    fn mask_sampling_is_exact_at_cell_centres() {
        let m = MaskRef {
            width: 2,
            height: 1,
            data: &[0, 200],
        };
        assert_eq!(sample_mask(&m, 0.25, 0.5), 0.0);
        assert_eq!(sample_mask(&m, 0.75, 0.5), 200.0);
        assert_eq!(sample_mask(&m, 0.5, 0.5), 100.0);
    }
}
