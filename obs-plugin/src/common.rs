//! What every aifx filter shares: the status line (errors shown in the panel and logged once),
//! model/device/thread settings, and feeding pictures to a filter's runner from either path.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use aifx::Device;

use crate::capture::{analysis_size, Picture, RawFrame, ANALYSIS_LONG_SIDE};
use crate::ffi::{self, text, AsyncFrame, FilterSource, Props, Settings};
use crate::gfx::{render_input, shared_effect, Effect, RenderTarget, Staging};
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

/// A filter's settings as the shell below needs them.
pub trait FilterConfig: Send + Sync + 'static {
    /// Why the filter passes the picture through (bad model, missing picture…).
    fn error(&self) -> Option<&str>;
    /// "Calculate every N frames" and "wait for the result".
    fn timing(&self) -> (u32, bool);
    /// The long side of the picture the worker gets from a `width`×`height` source.
    fn analysis_long_side(&self, _width: u32, _height: u32) -> u32 {
        ANALYSIS_LONG_SIDE
    }
}

/// What every filter has besides its GPU state: its source, live settings, status line and
/// runner, and the callbacks that only move pictures and settings between them.
pub struct Core<C, S: Send + 'static, T: Send + 'static> {
    pub source: FilterSource,
    config: Mutex<Arc<C>>,
    pub runner: Runner<S, Result<T, String>>,
    pub status: Status,
}

impl<C: FilterConfig, S: Send + 'static, T: Send + 'static> Core<C, S, T> {
    pub fn new(source: FilterSource, config: C, runner: Runner<S, Result<T, String>>) -> Self {
        let status = Status::new(source);
        if let Some(e) = config.error() {
            status.fail(e);
        }
        Self {
            source,
            config: Mutex::new(Arc::new(config)),
            runner,
            status,
        }
    }

    pub fn config(&self) -> Arc<C> {
        lock(&self.config).clone()
    }

    /// Applies new settings (shown in the status line when they are bad).
    pub fn set_config(&self, config: C) {
        match config.error() {
            Some(e) => self.status.fail(e),
            None => self.status.clear(),
        }
        *lock(&self.config) = Arc::new(config);
    }

    /// Follows the source being shown or hidden: hiding it stops inference (the worker ends
    /// and queued work is dropped); showing it again starts afresh.
    fn follow_showing(&self) {
        let showing = self.source.parent_showing();
        if showing != self.runner.showing() {
            self.runner.set_showing(showing);
        }
    }

    /// Async sources: hands the worker this picture when one is due.
    pub fn async_frame(&self, frame: &AsyncFrame<'_>, job: impl FnOnce(&C) -> S) {
        self.follow_showing();
        let cfg = self.config();
        let (interval, wait) = cfg.timing();
        feed_async(
            &self.runner,
            frame,
            cfg.error().is_none(),
            interval,
            || job(&cfg),
            wait,
        );
    }

    /// Starts a frame: renders the input and feeds the worker. The settings and the input's
    /// size, or None when the filter has drawn all it can (passed through, or nothing).
    pub fn begin(&self, frame: &mut FrameGpu, job: impl Fn(&C) -> S) -> Option<(Arc<C>, u32, u32)> {
        self.follow_showing();
        let cfg = self.config();
        if cfg.error().is_some() {
            self.source.skip();
            return None;
        }
        let (w, h) = frame.begin(
            self.source,
            &self.status,
            &self.runner,
            cfg.timing(),
            |w, h| cfg.analysis_long_side(w, h),
            || job(&cfg),
        )?;
        Some((cfg, w, h))
    }

    /// The newest result, if one arrived (an error goes to the status line).
    pub fn take_result(&self) -> Option<T> {
        match self.runner.take()? {
            Ok(r) => {
                self.status.analysed();
                Some(r)
            }
            Err(e) => {
                self.status.fail(&e);
                None
            }
        }
    }
}

/// Model: a catalog name, or the custom file when "custom" is chosen.
pub fn model_setting(s: &Settings) -> String {
    match s.string("model") {
        m if m == "custom" => s.string("custom_model"),
        m => m,
    }
}

/// Device and inference threads.
pub fn device_settings(s: &Settings) -> (Device, usize) {
    let device = s.string("device").parse().unwrap_or(Device::Auto);
    (device, s.i64("threads").clamp(0, 64) as usize)
}

pub fn model_defaults(s: &Settings, model: &str) {
    s.default_string("model", model);
    s.default_string("custom_model", "");
    device_defaults(s);
}

pub fn device_defaults(s: &Settings) {
    s.default_string("device", "auto");
    s.default_i64("threads", 0);
}

/// Model choice (built-ins as value and label, then "custom"), its file picker, device and
/// threads; `tip` is the locale key of the model's tooltip.
pub fn model_properties(p: &Props, builtin: &[(&str, String)], tip: &str) {
    let mut items = builtin.to_vec();
    items.push(("custom", text("Model.Custom")));
    p.choice("model", &text("Model"), &items)
        .tooltip(&text(tip));
    p.file("custom_model", &text("Model.File"), "ONNX models (*.onnx)")
        .tooltip(&text("Model.File.Tip"));
    device_properties(p);
}

/// Device (only what the installed ONNX Runtime has) and threads.
pub fn device_properties(p: &Props) {
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

/// The GPU side every filter shares: the effect, the rendered input and the small read-back.
#[derive(Default)]
pub struct FrameGpu {
    effect: Option<&'static Effect>,
    input: Option<RenderTarget>,
    capture: Option<RenderTarget>,
    staging: Option<Staging>,
}

impl FrameGpu {
    /// Renders the filter's input (compiling the effect on first use) and, for sync sources,
    /// feeds the runner its read-back. The input's size, or None when the filter has already
    /// drawn all it can (nothing, or the input unchanged).
    pub fn begin<S: Send + 'static, R: Send + 'static>(
        &mut self,
        source: FilterSource,
        status: &Status,
        runner: &Runner<S, R>,
        (interval, wait): (u32, bool),
        long_side: impl Fn(u32, u32) -> u32,
        settings: impl Fn() -> S,
    ) -> Option<(u32, u32)> {
        let (w, h) = source.target_size();
        if w == 0 || h == 0 {
            source.skip();
            return None;
        }
        let effect = match self.effect {
            Some(e) => e,
            None => match shared_effect(EFFECT, "aifx.effect") {
                Ok(e) => *self.effect.insert(e),
                Err(e) => {
                    status.fail(&e);
                    source.skip();
                    return None;
                }
            },
        };
        let input = self.input.get_or_insert_with(RenderTarget::new);
        if !render_input(source.as_ptr(), input, w, h) {
            return None;
        }
        // Async sources fed the runner from their CPU frames already.
        if !runner.fed_by_async() && runner.showing() {
            let capture = self.capture.get_or_insert_with(RenderTarget::new);
            let staging = self.staging.get_or_insert_with(Staging::new);
            feed_gpu(
                runner,
                effect,
                input,
                capture,
                staging,
                (w, h, long_side(w, h)),
                interval,
                wait,
                settings,
            );
        }
        Some((w, h))
    }

    /// The effect and the rendered input (after a successful `begin`).
    pub fn parts(&self) -> Option<(&'static Effect, &RenderTarget)> {
        Some((self.effect?, self.input.as_ref()?))
    }

    /// Draws the rendered input unchanged.
    pub fn draw_input(&self, w: u32, h: u32) {
        if let Some((effect, input)) = self.parts() {
            effect.set_texture("image", input.texture());
            effect.draw("Copy", w, h);
        }
    }
}

/// Sync sources: draws the rendered input at the analysis size and reads it back. The read
/// is of the previous frame's copy (no stall); with `wait` it is this frame's (a stall).
#[allow(clippy::too_many_arguments)]
fn feed_gpu<S: Send + 'static, R: Send + 'static>(
    runner: &Runner<S, R>,
    effect: &Effect,
    input: &RenderTarget,
    capture: &mut RenderTarget,
    staging: &mut Staging,
    (w, h, long_side): (u32, u32, u32),
    interval: u32,
    wait: bool,
    settings: impl Fn() -> S,
) {
    let send = |staging: &mut Staging, wait: bool| {
        if let Some((width, height, data)) = staging.read() {
            runner.run(
                Picture::Rgba {
                    width,
                    height,
                    data,
                },
                settings(),
                wait,
            );
        }
    };
    if !wait {
        send(staging, false);
    }
    if runner.due(interval) {
        let (aw, ah) = analysis_size(w, h, long_side);
        let texture = input.texture();
        capture.render(aw, ah, || {
            effect.set_texture("image", texture);
            effect.draw("Copy", aw, ah);
        });
        staging.stage(capture.texture(), aw, ah);
        if wait {
            send(staging, true);
        }
    }
}
