//! Filter "AI Background": blur, replace, make transparent or paint over the background of
//! any source. The model runs on a worker over a small copy of the picture; the graphics
//! thread renders the input once, uploads the newest mask and composites on the GPU, so the
//! full-resolution picture never leaves the GPU (sync sources) or is copied once (async ones).

use std::sync::{Arc, Mutex};

use aifx::segment::segmenter::load_model;
use aifx::segment::{Effect as Analysis, SegmentSettings, Segmenter};

use crate::capture::{Picture, ANALYSIS_LONG_SIDE};
use crate::ffi::{text, AsyncFrame, Filter, FilterSource, Props, Settings};
use crate::gfx::{RenderTarget, Upload};
use crate::runner::Runner;
use crate::{common, lock};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Look {
    Blur,
    Replace,
    Transparent,
    Color,
}

/// A decoded background picture (RGBA), with an id so the GPU copy is refreshed once.
struct BackgroundPicture {
    id: u64,
    width: u32,
    height: u32,
    rgba: Vec<u8>,
}

struct Config {
    look: Look,
    segment: SegmentSettings,
    /// Blur radius in source pixels.
    blur: f32,
    color: [f32; 4],
    picture: Option<Arc<BackgroundPicture>>,
    interval: u32,
    wait: bool,
    /// Why the filter passes the picture through (bad model, missing picture…).
    error: Option<String>,
}

/// The mask at the analysis size, one byte per pixel.
pub struct MaskImage {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

#[derive(Default)]
struct Gpu {
    frame: common::FrameGpu,
    blur: Option<(RenderTarget, RenderTarget)>,
    mask: Option<Upload>,
    picture: Option<(u64, Upload)>,
}

pub struct Background {
    core: common::Core<Config, SegmentSettings, MaskImage>,
    gpu: Mutex<Gpu>,
}

impl common::FilterConfig for Config {
    fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
    fn timing(&self) -> (u32, bool) {
        (self.interval, self.wait)
    }
}

/// Runs the segmenter on the analysis frame; the mask comes back through the alpha channel
/// of a "transparent" composite, which is the edge-refined mask at the analysis size.
fn analyse(
    segmenter: &Mutex<Segmenter>,
    picture: Picture,
    s: &SegmentSettings,
) -> Result<MaskImage, String> {
    let mut frame = picture.into_analysis(ANALYSIS_LONG_SIDE);
    let mut settings = s.clone();
    settings.composite.effect = Analysis::Transparent;
    let out = {
        let mut view = frame.view();
        lock(segmenter)
            .process(&mut view, &settings, false)
            .map_err(|e| e.to_string())?
    };
    if out.mask.is_none() {
        return Err("no mask".into());
    }
    let data = frame.planes[0].chunks_exact(4).map(|p| p[3]).collect();
    Ok(MaskImage {
        width: frame.width as u32,
        height: frame.height as u32,
        data,
    })
}

fn read_config(s: &Settings, previous: Option<&Config>) -> Config {
    let look = match s.string("effect").as_str() {
        "replace" => Look::Replace,
        "transparent" => Look::Transparent,
        "color" => Look::Color,
        _ => Look::Blur,
    };
    let (device, threads) = common::device_settings(s);
    let segment = SegmentSettings {
        model: common::model_setting(s),
        threshold: s.f64("threshold").clamp(0.0, 1.0) as f32,
        min_region: s.f64("min_region").clamp(0.0, 1.0) as f32,
        refine: s.bool("smooth_silhouette"),
        feather: s.i64("feather").clamp(0, 200) as usize,
        smoothing: s.f64("smoothing").clamp(0.0, 0.99) as f32,
        device,
        threads,
        ..SegmentSettings::default()
    };
    let mut error = load_model(&segment)
        .err()
        .map(|e| format!("{}: {e}", text("Error.Model")));
    let path = s.string("background_file");
    let mut picture = None;
    if look == Look::Replace {
        // Decode once per path; keep the picture across unrelated changes.
        picture = previous
            .and_then(|p| p.picture.clone())
            .filter(|_| previous.is_some_and(|p| p.look == Look::Replace))
            .filter(|p| p.id == common::path_id(&path));
        if picture.is_none() && !path.is_empty() {
            match image::open(&path) {
                Ok(img) => {
                    let rgba = img.to_rgba8();
                    picture = Some(Arc::new(BackgroundPicture {
                        id: common::path_id(&path),
                        width: rgba.width(),
                        height: rgba.height(),
                        rgba: rgba.into_raw(),
                    }));
                }
                Err(e) => {
                    error.get_or_insert(format!("{} {path}: {e}", text("Error.Picture")));
                }
            }
        } else if path.is_empty() {
            error.get_or_insert(text("Error.NoPicture"));
        }
    }
    Config {
        look,
        segment,
        blur: s.f64("blur").clamp(1.0, 200.0) as f32,
        color: common::color(s.i64("color")),
        picture,
        interval: s.i64("interval").clamp(1, 30) as u32,
        wait: s.bool("wait"),
        error,
    }
}

impl Background {
    /// Uploads the newest mask; false while there is none (the picture passes through).
    fn refresh_mask(&self, gpu: &mut Gpu) -> bool {
        let mask = gpu.mask.get_or_insert_with(Upload::new);
        if let Some(m) = self.core.take_result() {
            mask.set(m.width, m.height, 1, &m.data);
        }
        !mask.is_empty()
    }

    /// The blurred input at a quarter of its size (two separable Gaussian passes, more for
    /// strong blur so taps stay dense).
    fn blur(
        gpu: &mut Gpu,
        radius: f32,
        width: u32,
        height: u32,
    ) -> Option<*mut obs_wrapper::obs_sys::gs_texture_t> {
        let Gpu { frame, blur, .. } = gpu;
        let (effect, input) = frame.parts()?;
        let (a, b) = blur.get_or_insert_with(|| (RenderTarget::new(), RenderTarget::new()));
        let (bw, bh) = ((width / 4).max(1), (height / 4).max(1));
        // Radius ≈ 2σ; at quarter size σ = radius / 8, and the 9 taps are σ / 2 apart.
        let spacing = (radius / 16.0).max(0.5);
        let passes = ((spacing / 2.0).powi(2).ceil() as u32).clamp(1, 4);
        let spacing = spacing / (passes as f32).sqrt();
        let src = input.texture();
        a.render(bw, bh, || {
            effect.set_texture("image", src);
            effect.draw("Copy", bw, bh);
        });
        for _ in 0..passes {
            let t = a.texture();
            b.render(bw, bh, || {
                effect.set_texture("image", t);
                effect.set_vec2("step", [spacing / bw as f32, 0.0]);
                effect.draw("Blur", bw, bh);
            });
            let t = b.texture();
            a.render(bw, bh, || {
                effect.set_texture("image", t);
                effect.set_vec2("step", [0.0, spacing / bh as f32]);
                effect.draw("Blur", bw, bh);
            });
        }
        Some(a.texture())
    }
}

impl Filter for Background {
    const ID: &'static std::ffi::CStr = c"aifx_background";
    const NAME_KEY: &'static str = "Background.Name";

    fn create(source: FilterSource, settings: &Settings) -> Self {
        let segmenter = Mutex::new(Segmenter::new());
        let runner = Runner::new(
            "aifx-obs-background",
            move |p, s| analyse(&segmenter, p, s),
            || Err("the segmentation worker panicked".into()),
        );
        Self {
            core: common::Core::new(source, read_config(settings, None), runner),
            gpu: Mutex::new(Gpu::default()),
        }
    }

    fn defaults(s: &Settings) {
        s.default_string("effect", "blur");
        s.default_f64("threshold", 0.0);
        s.default_f64("min_region", 0.0);
        s.default_bool("smooth_silhouette", true);
        s.default_i64("feather", 0);
        s.default_f64("blur", 24.0);
        // OBS colours are 0xAABBGGRR: opaque green screen.
        s.default_i64("color", 0xFF40_B100);
        s.default_f64("smoothing", 0.3);
        s.default_i64("interval", 1);
        s.default_bool("wait", false);
        common::model_defaults(s, "selfie");
    }

    fn properties(filter: Option<&Self>) -> Props {
        let p = Props::new();
        if let Some(f) = filter {
            f.core.status.show(&p);
        }
        p.choice(
            "effect",
            &text("Background.Effect"),
            &[
                ("blur", text("Background.Effect.Blur")),
                ("replace", text("Background.Effect.Replace")),
                ("transparent", text("Background.Effect.Transparent")),
                ("color", text("Background.Effect.Color")),
            ],
        )
        .tooltip(&text("Background.Effect.Tip"));
        p.float("blur", &text("Background.Blur"), 1.0, 200.0, 1.0)
            .tooltip(&text("Background.Blur.Tip"));
        p.file(
            "background_file",
            &text("Background.File"),
            "Images (*.png *.jpg *.jpeg *.bmp *.webp);;All files (*.*)",
        )
        .tooltip(&text("Background.File.Tip"));
        p.color("color", &text("Background.Color"))
            .tooltip(&text("Background.Color.Tip"));
        p.float("threshold", &text("Background.Threshold"), 0.0, 1.0, 0.01)
            .tooltip(&text("Background.Threshold.Tip"));
        p.float("min_region", &text("Background.MinRegion"), 0.0, 0.2, 0.005)
            .tooltip(&text("Background.MinRegion.Tip"));
        p.bool("smooth_silhouette", &text("Background.Smooth"))
            .tooltip(&text("Background.Smooth.Tip"));
        p.int("feather", &text("Background.Feather"), 0, 100, 1)
            .tooltip(&text("Background.Feather.Tip"));
        p.float("smoothing", &text("Background.Temporal"), 0.0, 0.95, 0.05)
            .tooltip(&text("Background.Temporal.Tip"));
        common::timing_properties(&p);
        common::model_properties(
            &p,
            &[
                ("selfie", "selfie".into()),
                ("selfie-landscape", "selfie-landscape".into()),
            ],
            "Model.Tip",
        );
        p
    }

    fn update(&self, s: &Settings) {
        let previous = self.core.config();
        let config = read_config(s, Some(&previous));
        let (now, before) = (&config.segment, &previous.segment);
        if (&now.model, now.device, now.threads) != (&before.model, before.device, before.threads) {
            self.core.runner.reset();
        }
        self.core.set_config(config);
    }

    fn async_frame(&self, frame: &AsyncFrame<'_>) {
        self.core.async_frame(frame, |cfg| cfg.segment.clone());
    }

    fn shown(&self, showing: bool) {
        self.core.runner.set_showing(showing);
    }

    fn render(&self) {
        let mut guard = lock(&self.gpu);
        let gpu = &mut *guard;
        let Some((cfg, w, h)) = self.core.begin(&mut gpu.frame, |cfg| cfg.segment.clone()) else {
            return;
        };
        if !self.refresh_mask(gpu) {
            gpu.frame.draw_input(w, h);
            return;
        }
        let background = match cfg.look {
            Look::Blur => Self::blur(gpu, cfg.blur, w, h),
            Look::Replace => cfg.picture.as_ref().map(|pic| {
                let (id, upload) = gpu.picture.get_or_insert_with(|| (0, Upload::new()));
                if *id != pic.id || upload.is_empty() {
                    upload.set(pic.width, pic.height, 4, &pic.rgba);
                    *id = pic.id;
                }
                upload.texture()
            }),
            Look::Transparent | Look::Color => None,
        };
        let (Some((effect, input)), Some(mask)) = (gpu.frame.parts(), &gpu.mask) else {
            return;
        };
        effect.set_texture("image", input.texture());
        effect.set_texture("mask", mask.texture());
        let technique = match (cfg.look, background) {
            (Look::Transparent, _) => "Transparent",
            (Look::Blur | Look::Replace, Some(bg)) => {
                effect.set_texture("background", bg);
                "OverPicture"
            }
            _ => {
                effect.set_vec4("color", cfg.color);
                "OverColor"
            }
        };
        effect.draw(technique, w, h);
    }
}
