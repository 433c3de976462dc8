//! What every aifx filter shares: the status line (errors shown in the panel and logged once),
//! model/device/thread settings, and feeding pictures to a filter's runner from either path.

use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use aifx::Device;

use crate::capture::{Picture, RawFrame};
use crate::ffi::{self, text, AsyncFrame, FilterSource, Props, Settings};
use crate::gfx::{Effect, RenderTarget, Staging};
use crate::lock;
use crate::runner::Runner;

/// The filters' shaders (blur, composite, tint), compiled once per filter instance.
pub const EFFECT: &str = include_str!("../data/aifx.effect");

/// The filter's state for the user: the current error, shown in the properties panel and
/// written to the OBS log once per distinct message.
pub struct Status {
    source: FilterSource,
    state: Mutex<(Option<String>, u64)>,
}

impl Status {
    pub fn new(source: FilterSource) -> Self {
        Self {
            source,
            state: Mutex::new((None, 0)),
        }
    }

    pub fn fail(&self, message: &str) {
        let mut st = lock(&self.state);
        if st.0.as_deref() != Some(message) {
            ffi::warn(&format!("{}: {message}", self.source.name()));
            st.0 = Some(message.to_string());
        }
    }

    pub fn clear(&self) {
        lock(&self.state).0 = None;
    }

    /// One more result arrived.
    pub fn analysed(&self) {
        let mut st = lock(&self.state);
        st.1 += 1;
    }

    pub fn show(&self, p: &Props) {
        let st = lock(&self.state);
        let line = match &st.0 {
            Some(e) => format!("⚠ {e}"),
            None => format!(
                "{} ({} {})",
                text("Status.Ok"),
                st.1,
                text("Status.Results")
            ),
        };
        p.note("status", &line);
    }
}

/// Model (catalog name or custom file), device and threads from the shared property keys.
pub fn model_settings(s: &Settings) -> (String, Device, usize) {
    let mut model = s.string("model");
    if model == "custom" {
        model = s.string("custom_model");
    }
    let device = s.string("device").parse().unwrap_or(Device::Cpu);
    (model, device, s.i64("threads").clamp(0, 64) as usize)
}

pub fn model_defaults(s: &Settings, model: &str) {
    s.default_string("model", model);
    s.default_string("custom_model", "");
    s.default_string("device", "cpu");
    s.default_i64("threads", 0);
}

pub fn model_properties(p: &Props, builtin: &[(&str, &str)]) {
    let mut items: Vec<(&str, String)> = builtin.iter().map(|(v, l)| (*v, l.to_string())).collect();
    items.push(("custom", text("Model.Custom")));
    p.choice("model", &text("Model"), &items)
        .tooltip(&text("Model.Tip"));
    p.file("custom_model", &text("Model.File"), "ONNX models (*.onnx)")
        .tooltip(&text("Model.File.Tip"));
    let devices: Vec<(&str, String)> = aifx::session::available_devices()
        .into_iter()
        .map(|d| (d.as_str(), d.as_str().to_string()))
        .collect();
    p.choice("device", &text("Device"), &devices)
        .tooltip(&text("Device.Tip"));
    p.int("threads", &text("Threads"), 0, 16, 1)
        .tooltip(&text("Threads.Tip"));
}

pub fn timing_properties(p: &Props) {
    p.int("interval", &text("Interval"), 1, 30, 1)
        .tooltip(&text("Interval.Tip"));
    p.bool("wait", &text("Wait")).tooltip(&text("Wait.Tip"));
}

/// An OBS colour (0xAABBGGRR) as RGBA in 0..1.
pub fn color(abgr: i64) -> [f32; 4] {
    let c = abgr as u32;
    [
        c & 0xff,
        (c >> 8) & 0xff,
        (c >> 16) & 0xff,
        (c >> 24) & 0xff,
    ]
    .map(|v| v as f32 / 255.0)
}

/// Identifies a file's content version: its path and modification time.
pub fn path_id(path: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    if let Ok(m) = std::fs::metadata(path).and_then(|m| m.modified()) {
        m.hash(&mut h);
    }
    h.finish() | 1
}

/// Async sources: copies the picture's planes (one memcpy per plane) for the worker.
pub fn feed_async<S: Send + 'static, R: Send + 'static>(
    runner: &Runner<S, R>,
    frame: &AsyncFrame<'_>,
    ok: bool,
    interval: u32,
    settings: impl FnOnce() -> S,
    wait: bool,
) {
    if !ok || !runner.showing() {
        return;
    }
    runner.note_async_frame();
    if runner.due(interval) {
        runner.run(Picture::Raw(RawFrame::copy(frame)), settings(), wait);
    }
}

/// Sync sources: draws the rendered input at the analysis size and reads it back. The read
/// is of the previous frame's copy (no stall); with `wait` it is this frame's (a stall).
#[allow(clippy::too_many_arguments)]
pub fn feed_gpu<S: Send + 'static, R: Send + 'static>(
    runner: &Runner<S, R>,
    effect: &Effect,
    input: &RenderTarget,
    capture: &mut RenderTarget,
    staging: &mut Staging,
    (aw, ah): (u32, u32),
    interval: u32,
    wait: bool,
    settings: impl Fn() -> S,
) {
    if !runner.showing() {
        return;
    }
    if !wait {
        if let Some((width, height, data)) = staging.read() {
            runner.run(
                Picture::Rgba {
                    width,
                    height,
                    data,
                },
                settings(),
                false,
            );
        }
    }
    if runner.due(interval) {
        let texture = input.texture();
        capture.render(aw, ah, || {
            effect.set_texture("image", texture);
            effect.draw("Copy", aw, ah);
        });
        staging.stage(capture.texture(), aw, ah);
        if wait {
            if let Some((width, height, data)) = staging.read() {
                runner.run(
                    Picture::Rgba {
                        width,
                        height,
                        data,
                    },
                    settings(),
                    true,
                );
            }
        }
    }
}

/// Draws the rendered input unchanged.
pub fn draw_input(effect: Option<&Effect>, input: Option<&RenderTarget>, w: u32, h: u32) {
    if let (Some(effect), Some(input)) = (effect, input) {
        effect.set_texture("image", input.texture());
        effect.draw("Copy", w, h);
    }
}
