//! Filter "AI Stylize": a built-in style (distilled in `models/styles/`) or any image-to-image
//! ONNX model on any source, on the whole picture, the person or the background. The worker
//! styles a small copy of the picture at the style's working size (short side "resolution")
//! and, for a region, runs the person segmentation on the same copy; the graphics thread
//! uploads that small picture (style in RGB, person mask in alpha) and blends it over the
//! full-resolution input on the GPU, so the enlargement is the texture sampler's.

use std::sync::Mutex;

use aifx::segment::segmenter::load_model;
use aifx::segment::{Effect as Analysis, SegmentSettings, Segmenter};
use aifx::stylize::{RangeChoice, Region, StyleSettings, Stylizer};

use crate::capture::Picture;
use crate::ffi::{text, AsyncFrame, Filter, FilterSource, Props, Settings};
use crate::gfx::Upload;
use crate::runner::Runner;
use crate::{common, lock};

/// What the worker needs for one picture.
#[derive(Clone)]
pub struct StyleJob {
    style: StyleSettings,
    /// The person segmentation, when the style is limited to a region.
    segment: Option<SegmentSettings>,
}

struct Config {
    job: StyleJob,
    strength: f32,
    region: Region,
    interval: u32,
    wait: bool,
    error: Option<String>,
}

/// The styled picture at the working size: RGB the style, alpha the person mask (opaque
/// when the style covers the whole picture).
pub struct StyleImage {
    width: u32,
    height: u32,
    rgba: Vec<u8>,
}

impl common::FilterConfig for Config {
    fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
    fn timing(&self) -> (u32, bool) {
        (self.interval, self.wait)
    }
    fn analysis_long_side(&self, width: u32, height: u32) -> u32 {
        style_long_side(width, height, self.job.style.resolution)
    }
}

/// The long side of the picture the style model sees: its short side is `resolution` (the
/// source's own when 0 or larger).
fn style_long_side(width: u32, height: u32, resolution: usize) -> u32 {
    let (long, short) = (width.max(height).max(1), width.min(height).max(1));
    if resolution == 0 || resolution as u32 >= short {
        return long;
    }
    ((resolution as f64 * long as f64 / short as f64).round() as u32).max(1)
}

#[derive(Default)]
struct Worker {
    stylizer: Stylizer,
    segmenter: Segmenter,
}

fn analyse(worker: &Mutex<Worker>, picture: Picture, job: &StyleJob) -> Result<StyleImage, String> {
    let (w, h) = picture.size();
    let mut frame = picture.into_analysis(style_long_side(w, h, job.style.resolution));
    let mut worker = lock(worker);
    let Worker {
        stylizer,
        segmenter,
    } = &mut *worker;
    // The person mask goes into alpha (the style keeps alpha and replaces the colour):
    // "transparent" on a copy writes the refined mask into its alpha (and clears the colour
    // where it is 0, which the style must not see).
    let mask: Option<Vec<u8>> = match &job.segment {
        Some(s) => {
            let mut s = s.clone();
            s.composite.effect = Analysis::Transparent;
            let mut copy = frame.clone();
            segmenter
                .process(&mut copy.view(), &s, false)
                .map_err(|e| e.to_string())?;
            Some(copy.planes[0].chunks_exact(4).map(|p| p[3]).collect())
        }
        None => None,
    };
    for (i, px) in frame.planes[0].chunks_exact_mut(4).enumerate() {
        px[3] = mask.as_ref().map_or(255, |m| m[i]);
    }
    let mut view = frame.view();
    // The analysis frame is already at the working size: the model runs at its own size.
    let style = StyleSettings {
        strength: 1.0,
        resolution: 0,
        region: Region::All,
        interval: 1,
        ..job.style.clone()
    };
    stylizer
        .process(&mut view, &style, None)
        .map_err(|e| e.to_string())?;
    Ok(StyleImage {
        width: frame.width as u32,
        height: frame.height as u32,
        rgba: std::mem::take(&mut frame.planes[0]),
    })
}

fn read_config(s: &Settings) -> Config {
    let (device, threads) = common::device_settings(s);
    let region = match s.string("region").as_str() {
        "person" => Region::Person,
        "background" => Region::Background,
        _ => Region::All,
    };
    let range = match s.string("input_range").as_str() {
        "unit" => RangeChoice::Unit,
        "byte" => RangeChoice::Byte,
        "signed" => RangeChoice::Signed,
        _ => RangeChoice::Auto,
    };
    let style = StyleSettings {
        model: common::model_setting(s),
        range,
        resolution: s.i64("resolution").clamp(0, 2160) as usize,
        device,
        threads,
        ..StyleSettings::default()
    };
    let segment = (region != Region::All).then(|| SegmentSettings {
        device,
        threads,
        ..SegmentSettings::default()
    });
    let mut error = Stylizer::new()
        .prepare(&style)
        .err()
        .map(|e| format!("{}: {e}", text("Error.Model")));
    if let (None, Some(seg)) = (&error, &segment) {
        error = load_model(seg)
            .err()
            .map(|e| format!("{}: {e}", text("Error.Model")));
    }
    Config {
        job: StyleJob { style, segment },
        strength: s.f64("strength").clamp(0.0, 1.0) as f32,
        region,
        interval: s.i64("interval").clamp(1, 30) as u32,
        wait: s.bool("wait"),
        error,
    }
}

#[derive(Default)]
struct Gpu {
    frame: common::FrameGpu,
    styled: Option<Upload>,
}

pub struct Stylize {
    core: common::Core<Config, StyleJob, StyleImage>,
    gpu: Mutex<Gpu>,
}

impl Filter for Stylize {
    const ID: &'static std::ffi::CStr = c"aifx_stylize";
    const NAME_KEY: &'static str = "Stylize.Name";

    fn create(source: FilterSource, settings: &Settings) -> Self {
        let worker = Mutex::new(Worker::default());
        let runner = Runner::new(
            "aifx-obs-stylize",
            move |p, job| analyse(&worker, p, job),
            || Err("the stylize worker panicked".into()),
        );
        Self {
            core: common::Core::new(source, read_config(settings), runner),
            gpu: Mutex::new(Gpu::default()),
        }
    }

    fn defaults(s: &Settings) {
        s.default_f64("strength", 1.0);
        s.default_i64("resolution", 360);
        s.default_string("region", "all");
        s.default_string("input_range", "auto");
        s.default_i64("interval", 1);
        s.default_bool("wait", false);
        common::model_defaults(s, "toon");
    }

    fn properties(filter: Option<&Self>) -> Props {
        let p = Props::new();
        if let Some(f) = filter {
            f.core.status.show(&p);
        }
        p.float("strength", &text("Stylize.Strength"), 0.0, 1.0, 0.01)
            .tooltip(&text("Stylize.Strength.Tip"));
        p.int("resolution", &text("Stylize.Resolution"), 0, 1080, 8)
            .tooltip(&text("Stylize.Resolution.Tip"));
        p.choice(
            "region",
            &text("Stylize.Region"),
            &[
                ("all", text("Stylize.Region.All")),
                ("person", text("Stylize.Region.Person")),
                ("background", text("Stylize.Region.Background")),
            ],
        )
        .tooltip(&text("Stylize.Region.Tip"));
        common::timing_properties(&p);
        common::model_properties(
            &p,
            &[
                ("toon", text("Stylize.Toon")),
                ("pencil", text("Stylize.Pencil")),
                ("oil", text("Stylize.Oil")),
            ],
            "Stylize.Model.Tip",
        );
        p.choice(
            "input_range",
            &text("Stylize.Range"),
            &[
                ("auto", text("Stylize.Range.Auto")),
                ("unit", "0..1".to_string()),
                ("byte", "0..255".to_string()),
                ("signed", "-1..1".to_string()),
            ],
        )
        .tooltip(&text("Stylize.Range.Tip"));
        p
    }

    fn update(&self, s: &Settings) {
        let config = read_config(s);
        let before = self.core.config();
        let key = |c: &Config| {
            let s = &c.job.style;
            (s.model.clone(), s.range, s.device, s.threads, c.region)
        };
        if key(&config) != key(&before) {
            // Results of the old model or region must not be drawn with the new settings.
            self.core.runner.reset();
        }
        self.core.set_config(config);
    }

    fn async_frame(&self, frame: &AsyncFrame<'_>) {
        self.core.async_frame(frame, |cfg| cfg.job.clone());
    }

    fn shown(&self, showing: bool) {
        self.core.runner.set_showing(showing);
    }

    fn render(&self) {
        let mut guard = lock(&self.gpu);
        let gpu = &mut *guard;
        let Some((cfg, w, h)) = self.core.begin(&mut gpu.frame, |cfg| cfg.job.clone()) else {
            return;
        };
        let styled = gpu.styled.get_or_insert_with(Upload::new);
        if let Some(img) = self.core.take_result() {
            styled.set(img.width, img.height, 4, &img.rgba);
        }
        let Some((effect, input)) = gpu.frame.parts() else {
            return;
        };
        if styled.is_empty() || cfg.strength <= 0.0 {
            gpu.frame.draw_input(w, h);
            return;
        }
        // Weight of the style = strength × (region.x + region.y × person mask).
        let region = match cfg.region {
            Region::All => [1.0, 0.0],
            Region::Person => [0.0, 1.0],
            Region::Background => [1.0, -1.0],
        };
        effect.set_texture("image", input.texture());
        effect.set_texture("background", styled.texture());
        effect.set_float("strength", cfg.strength);
        effect.set_vec2("region", region);
        effect.draw("Stylize", w, h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_style_sees_the_resolution_as_its_short_side() {
        assert_eq!(style_long_side(1920, 1080, 360), 640);
        assert_eq!(style_long_side(1080, 1920, 360), 640);
        assert_eq!(style_long_side(1920, 1080, 0), 1920);
        assert_eq!(style_long_side(640, 360, 720), 640);
        assert_eq!(style_long_side(1, 1, 360), 1);
    }
}
