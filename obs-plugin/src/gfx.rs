//! GPU objects the filters use, each owning one libobs graphics object: render targets,
//! staging surfaces (small read-backs for the model), dynamic textures (mask, overlay,
//! background picture) and the filters' effect. Everything here runs on the graphics thread
//! inside `obs_enter_graphics` (OBS's render callbacks already are); `Drop` enters the
//! graphics context itself, since OBS may destroy a filter from another thread.

use std::ffi::{CStr, CString};

use obs_wrapper::obs_sys as sys;

/// Runs `f` inside the graphics context (re-entrant on the graphics thread).
fn in_graphics(f: impl FnOnce()) {
    // SAFETY: obs_enter_graphics/obs_leave_graphics pair up around `f`.
    unsafe {
        sys::obs_enter_graphics();
        f();
        sys::obs_leave_graphics();
    }
}

/// A render target of any size (recreated by libobs when the size changes).
pub struct RenderTarget(*mut sys::gs_texrender_t);

impl RenderTarget {
    pub fn new() -> Self {
        // SAFETY: called in the graphics context (render path).
        RenderTarget(unsafe {
            sys::gs_texrender_create(
                sys::gs_color_format_GS_RGBA,
                sys::gs_zstencil_format_GS_ZS_NONE,
            )
        })
    }

    /// Draws `draw` into the target at `width`×`height` with a pixel-space projection, the
    /// target cleared to transparent and blending off (so alpha is copied, not mixed).
    pub fn render(&mut self, width: u32, height: u32, draw: impl FnOnce()) -> bool {
        if self.0.is_null() || width == 0 || height == 0 {
            return false;
        }
        // SAFETY: graphics context held by the caller; begin/end pair up.
        unsafe {
            sys::gs_texrender_reset(self.0);
            if !sys::gs_texrender_begin(self.0, width, height) {
                return false;
            }
            let clear = sys::vec4::default();
            sys::gs_clear(sys::GS_CLEAR_COLOR, &clear, 0.0, 0);
            sys::gs_ortho(0.0, width as f32, 0.0, height as f32, -100.0, 100.0);
            sys::gs_blend_state_push();
            sys::gs_blend_function(
                sys::gs_blend_type_GS_BLEND_ONE,
                sys::gs_blend_type_GS_BLEND_ZERO,
            );
            draw();
            sys::gs_blend_state_pop();
            sys::gs_texrender_end(self.0);
        }
        true
    }

    pub fn texture(&self) -> *mut sys::gs_texture_t {
        if self.0.is_null() {
            return std::ptr::null_mut();
        }
        // SAFETY: self.0 is live; the texture belongs to it.
        unsafe { sys::gs_texrender_get_texture(self.0) }
    }
}

impl Drop for RenderTarget {
    fn drop(&mut self) {
        let p = self.0;
        if !p.is_null() {
            // SAFETY: p is owned and destroyed once, inside the graphics context.
            in_graphics(|| unsafe { sys::gs_texrender_destroy(p) });
        }
    }
}

/// A CPU-readable copy of a small texture (the model's view of the picture).
pub struct Staging {
    surface: *mut sys::gs_stagesurf_t,
    width: u32,
    height: u32,
    /// True while a staged picture waits to be read.
    pending: bool,
}

impl Staging {
    pub fn new() -> Self {
        Self {
            surface: std::ptr::null_mut(),
            width: 0,
            height: 0,
            pending: false,
        }
    }

    /// Queues a copy of `texture` (`width`×`height`, RGBA).
    pub fn stage(&mut self, texture: *mut sys::gs_texture_t, width: u32, height: u32) {
        if texture.is_null() {
            return;
        }
        // SAFETY: graphics context held; the surface is recreated to the texture's size.
        unsafe {
            if self.surface.is_null() || (self.width, self.height) != (width, height) {
                if !self.surface.is_null() {
                    sys::gs_stagesurface_destroy(self.surface);
                }
                self.surface =
                    sys::gs_stagesurface_create(width, height, sys::gs_color_format_GS_RGBA);
                self.width = width;
                self.height = height;
            }
            if self.surface.is_null() {
                return;
            }
            sys::gs_stage_texture(self.surface, texture);
        }
        self.pending = true;
    }

    /// Reads the staged picture once: tightly packed RGBA rows.
    pub fn read(&mut self) -> Option<(u32, u32, Vec<u8>)> {
        if !self.pending || self.surface.is_null() {
            return None;
        }
        self.pending = false;
        let (w, h) = (self.width as usize, self.height as usize);
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut linesize = 0u32;
        // SAFETY: graphics context held; a mapped surface holds `linesize × height` bytes
        // until unmapped, and is unmapped before returning.
        unsafe {
            if !sys::gs_stagesurface_map(self.surface, &mut data, &mut linesize) || data.is_null() {
                return None;
            }
            let src = std::slice::from_raw_parts(data, linesize as usize * h);
            let mut out = vec![0u8; w * h * 4];
            for (y, row) in out.chunks_exact_mut(w * 4).enumerate() {
                let at = y * linesize as usize;
                row.copy_from_slice(&src[at..at + w * 4]);
            }
            sys::gs_stagesurface_unmap(self.surface);
            Some((self.width, self.height, out))
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let p = self.surface;
        if !p.is_null() {
            // SAFETY: owned, destroyed once in the graphics context.
            in_graphics(|| unsafe { sys::gs_stagesurface_destroy(p) });
        }
    }
}

/// A texture the CPU fills (mask: one channel; pictures: RGBA).
pub struct Upload {
    texture: *mut sys::gs_texture_t,
    width: u32,
    height: u32,
    format: sys::gs_color_format,
}

impl Upload {
    pub fn new() -> Self {
        Self {
            texture: std::ptr::null_mut(),
            width: 0,
            height: 0,
            format: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.texture.is_null()
    }

    /// Uploads one-channel (`channels` 1) or RGBA (`channels` 4) rows, tightly packed.
    pub fn set(&mut self, width: u32, height: u32, channels: u32, data: &[u8]) {
        let format = if channels == 1 {
            sys::gs_color_format_GS_R8
        } else {
            sys::gs_color_format_GS_RGBA
        };
        if width == 0 || height == 0 || data.len() < (width * height * channels) as usize {
            return;
        }
        // SAFETY: graphics context held; the texture is (re)created at this size and format,
        // and `data` holds `width × channels × height` bytes.
        unsafe {
            if self.texture.is_null()
                || (self.width, self.height, self.format) != (width, height, format)
            {
                if !self.texture.is_null() {
                    sys::gs_texture_destroy(self.texture);
                }
                self.texture = sys::gs_texture_create(
                    width,
                    height,
                    format,
                    1,
                    std::ptr::null_mut(),
                    sys::GS_DYNAMIC,
                );
                self.width = width;
                self.height = height;
                self.format = format;
            }
            if !self.texture.is_null() {
                sys::gs_texture_set_image(self.texture, data.as_ptr(), width * channels, false);
            }
        }
    }

    pub fn texture(&self) -> *mut sys::gs_texture_t {
        self.texture
    }

    pub fn clear(&mut self) {
        let p = std::mem::replace(&mut self.texture, std::ptr::null_mut());
        if !p.is_null() {
            // SAFETY: owned, destroyed once in the graphics context.
            in_graphics(|| unsafe { sys::gs_texture_destroy(p) });
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        self.clear();
    }
}

/// A compiled effect (shader) with its techniques drawn as full-target sprites.
pub struct Effect(*mut sys::gs_effect_t);

/// The filters' effect, compiled once per process: libobs caches every effect created with a
/// file name until shutdown (destroying one frees nothing), so one per filter instance
/// would grow memory each time a filter is added.
pub fn shared_effect(source: &'static str, name: &str) -> Result<&'static Effect, String> {
    static SHARED: std::sync::Mutex<Option<&'static Effect>> = std::sync::Mutex::new(None);
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = *slot {
        return Ok(e);
    }
    let e: &'static Effect = Box::leak(Box::new(Effect::compile(source, name)?));
    *slot = Some(e);
    Ok(e)
}

impl Effect {
    /// Compiles effect source text; the error names the effect and what the compiler said.
    pub fn compile(source: &str, name: &str) -> Result<Self, String> {
        let src = CString::new(source).map_err(|e| e.to_string())?;
        let file = CString::new(name).map_err(|e| e.to_string())?;
        let mut error: *mut std::ffi::c_char = std::ptr::null_mut();
        // SAFETY: graphics context held; the error string (if any) is libobs' to free with bfree.
        unsafe {
            let e = sys::gs_effect_create(src.as_ptr(), file.as_ptr(), &mut error);
            let message = if error.is_null() {
                String::new()
            } else {
                let m = CStr::from_ptr(error).to_string_lossy().into_owned();
                sys::bfree(error as *mut _);
                m
            };
            if e.is_null() {
                Err(format!("effect {name} did not compile: {message}"))
            } else {
                Ok(Effect(e))
            }
        }
    }

    fn param(&self, name: &str) -> *mut sys::gs_eparam_t {
        let n = CString::new(name).unwrap_or_default();
        // SAFETY: self.0 is live; a missing parameter gives null, which the setters skip.
        unsafe { sys::gs_effect_get_param_by_name(self.0, n.as_ptr()) }
    }

    pub fn set_texture(&self, name: &str, texture: *mut sys::gs_texture_t) {
        let p = self.param(name);
        if !p.is_null() {
            // SAFETY: p belongs to this effect; a null texture unbinds.
            unsafe { sys::gs_effect_set_texture(p, texture) }
        }
    }

    pub fn set_vec4(&self, name: &str, v: [f32; 4]) {
        let p = self.param(name);
        if !p.is_null() {
            let mut value = sys::vec4::default();
            // SAFETY: vec4 is four floats (SIMD-aligned union in C); set through its pointer.
            unsafe {
                let f = &mut value as *mut sys::vec4 as *mut f32;
                for (i, x) in v.iter().enumerate() {
                    *f.add(i) = *x;
                }
                sys::gs_effect_set_vec4(p, &value);
            }
        }
    }

    pub fn set_vec2(&self, name: &str, v: [f32; 2]) {
        let p = self.param(name);
        if !p.is_null() {
            let mut value = sys::vec2::default();
            // SAFETY: vec2 is two floats; set through its pointer.
            unsafe {
                let f = &mut value as *mut sys::vec2 as *mut f32;
                *f = v[0];
                *f.add(1) = v[1];
                sys::gs_effect_set_vec2(p, &value);
            }
        }
    }

    pub fn set_float(&self, name: &str, v: f32) {
        let p = self.param(name);
        if !p.is_null() {
            // SAFETY: p belongs to this effect.
            unsafe { sys::gs_effect_set_float(p, v) }
        }
    }

    /// Draws a `width`×`height` sprite with `technique` (textures set beforehand).
    pub fn draw(&self, technique: &str, width: u32, height: u32) {
        let t = CString::new(technique).unwrap_or_default();
        // SAFETY: graphics context held; gs_draw_sprite takes its size from the arguments
        // when no texture is given.
        unsafe {
            while sys::gs_effect_loop(self.0, t.as_ptr()) {
                sys::gs_draw_sprite(std::ptr::null_mut(), 0, width, height);
            }
        }
    }
}

/// Renders the filter's input (the source and the filters before this one) into `target`,
/// as the filter chain would draw it. False when there is nothing to draw.
pub fn render_input(
    source: *mut sys::obs_source_t,
    target: &mut RenderTarget,
    width: u32,
    height: u32,
) -> bool {
    // SAFETY: called from the filter's video_render; begin/end pair up as libobs requires
    // (end draws the input with the default effect into our render target).
    unsafe {
        if !sys::obs_source_process_filter_begin(
            source,
            sys::gs_color_format_GS_RGBA,
            sys::obs_allow_direct_render_OBS_NO_DIRECT_RENDERING,
        ) {
            return false;
        }
        let effect = sys::obs_get_base_effect(sys::obs_base_effect_OBS_EFFECT_DEFAULT);
        let ok = target.render(width, height, || {
            sys::obs_source_process_filter_end(source, effect, width, height);
        });
        if !ok {
            // begin succeeded: libobs still expects the matching end.
            sys::obs_source_process_filter_end(source, effect, width, height);
        }
        ok
    }
}

/// Draws solid-coloured triangles (pixel coordinates; three vertices each) in `rgba`.
pub fn draw_triangles(vertices: &[[f32; 2]], rgba: [f32; 4]) {
    if vertices.len() < 3 {
        return;
    }
    // SAFETY: graphics context held; render_start/stop pair up; the solid effect is libobs'.
    unsafe {
        let solid = sys::obs_get_base_effect(sys::obs_base_effect_OBS_EFFECT_SOLID);
        let color = sys::gs_effect_get_param_by_name(solid, c"color".as_ptr());
        let mut value = sys::vec4::default();
        let f = &mut value as *mut sys::vec4 as *mut f32;
        for (i, x) in rgba.iter().enumerate() {
            *f.add(i) = *x;
        }
        sys::gs_effect_set_vec4(color, &value);
        while sys::gs_effect_loop(solid, c"Solid".as_ptr()) {
            sys::gs_render_start(true);
            for v in vertices.iter().take(vertices.len() / 3 * 3) {
                sys::gs_vertex2f(v[0], v[1]);
            }
            sys::gs_render_stop(sys::gs_draw_mode_GS_TRIS);
        }
    }
}

// SAFETY: libobs graphics objects may be used from any thread that holds the graphics context
// (obs_enter_graphics serialises it); these types are used only inside it (render callbacks)
// and destroyed inside it (Drop enters it), and each sits behind its filter's mutex.
unsafe impl Send for RenderTarget {}
// SAFETY: as above.
unsafe impl Send for Staging {}
// SAFETY: as above.
unsafe impl Send for Upload {}
// SAFETY: as above; the shared effect's parameters are set and drawn only while the graphics
// context is held, which serialises every user.
unsafe impl Send for Effect {}
// SAFETY: as above.
unsafe impl Sync for Effect {}
