//! The small safe layer over `obs-sys` for what `obs-wrapper` 0.4 lacks: filter registration
//! whose callbacks never let a panic unwind into OBS and that hand the filter its own
//! `obs_source_t` (which filter rendering needs), settings, a properties panel with tooltips and
//! info text, logging to the OBS log, and the module's locale.
//!
//! Only the front of `obs_source_frame` is read here (planes, line sizes, size, format, colour
//! matrix, range): those fields sit at the same offsets in every libobs since 26, while the
//! pre-generated bindings `obs-sys` falls back to are older than libobs 29.

use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};

use obs_wrapper::obs_sys as sys;

/// Writes one line to the OBS log (prefixed so users can grep for it).
pub fn log(level: i32, message: &str) {
    let line = CString::new(format!("[aifx] {message}").replace('\0', " ")).unwrap_or_default();
    // SAFETY: "%s" with one NUL-terminated string argument matches blog's printf contract.
    unsafe { sys::blog(level, c"%s".as_ptr(), line.as_ptr()) }
}

pub fn warn(message: &str) {
    log(sys::LOG_WARNING as i32, message);
}

pub fn info(message: &str) {
    log(sys::LOG_INFO as i32, message);
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

static LOCALE: AtomicPtr<sys::lookup_t> = AtomicPtr::new(std::ptr::null_mut());

/// Loads `data/locale/<locale>.ini` (falling back to en-US), as OBS_MODULE_USE_DEFAULT_LOCALE.
///
/// # Safety
/// `module` is this module's pointer from libobs and `locale` a NUL-terminated string (or null).
pub unsafe fn set_locale(module: *mut sys::obs_module_t, locale: *const c_char) {
    free_locale();
    if module.is_null() || locale.is_null() {
        return;
    }
    // SAFETY: `module` is this module (from obs_current_module) and `locale` a C string from OBS.
    let lookup = unsafe { sys::obs_module_load_locale(module, c"en-US".as_ptr(), locale) };
    LOCALE.store(lookup, Ordering::Release);
}

pub fn free_locale() {
    let old = LOCALE.swap(std::ptr::null_mut(), Ordering::AcqRel);
    if !old.is_null() {
        // SAFETY: `old` came from obs_module_load_locale and is no longer reachable.
        unsafe { sys::text_lookup_destroy(old) }
    }
}

/// The translation of `key` from the module's locale file, or `key` itself.
pub fn text(key: &str) -> String {
    let lookup = LOCALE.load(Ordering::Acquire);
    if lookup.is_null() {
        return key.to_string();
    }
    let k = cstring(key);
    let mut out: *const c_char = std::ptr::null();
    // SAFETY: `lookup` is live (freed only on unload, after every source is gone); `out` is a
    // valid out-pointer and points into the lookup's own storage when this returns true.
    unsafe {
        if sys::text_lookup_getstr(lookup, k.as_ptr(), &mut out) && !out.is_null() {
            return CStr::from_ptr(out).to_string_lossy().into_owned();
        }
    }
    key.to_string()
}

/// A filter's settings (`obs_data_t`), borrowed for one callback.
pub struct Settings(*mut sys::obs_data_t);

impl Settings {
    pub fn f64(&self, key: &str) -> f64 {
        let k = cstring(key);
        // SAFETY: self.0 is the live obs_data_t OBS passed to this callback.
        unsafe { sys::obs_data_get_double(self.0, k.as_ptr()) }
    }
    pub fn i64(&self, key: &str) -> i64 {
        let k = cstring(key);
        // SAFETY: as in `f64`.
        unsafe { sys::obs_data_get_int(self.0, k.as_ptr()) }
    }
    pub fn bool(&self, key: &str) -> bool {
        let k = cstring(key);
        // SAFETY: as in `f64`.
        unsafe { sys::obs_data_get_bool(self.0, k.as_ptr()) }
    }
    pub fn string(&self, key: &str) -> String {
        let k = cstring(key);
        // SAFETY: as in `f64`; the returned string belongs to the data object and is copied.
        unsafe {
            let p = sys::obs_data_get_string(self.0, k.as_ptr());
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        }
    }
    pub fn default_f64(&self, key: &str, v: f64) {
        let k = cstring(key);
        // SAFETY: as in `f64`.
        unsafe { sys::obs_data_set_default_double(self.0, k.as_ptr(), v) }
    }
    pub fn default_i64(&self, key: &str, v: i64) {
        let k = cstring(key);
        // SAFETY: as in `f64`.
        unsafe { sys::obs_data_set_default_int(self.0, k.as_ptr(), v) }
    }
    pub fn default_bool(&self, key: &str, v: bool) {
        let k = cstring(key);
        // SAFETY: as in `f64`.
        unsafe { sys::obs_data_set_default_bool(self.0, k.as_ptr(), v) }
    }
    pub fn default_string(&self, key: &str, v: &str) {
        let (k, v) = (cstring(key), cstring(v));
        // SAFETY: as in `f64`; OBS copies the value.
        unsafe { sys::obs_data_set_default_string(self.0, k.as_ptr(), v.as_ptr()) }
    }
}

/// A properties panel under construction; OBS takes ownership when it is returned.
pub struct Props(*mut sys::obs_properties_t);

/// One property in the panel (to attach a tooltip).
pub struct Prop(*mut sys::obs_property_t);

impl Prop {
    pub fn tooltip(self, text: &str) -> Self {
        if !self.0.is_null() {
            let t = cstring(text);
            // SAFETY: self.0 was just returned by obs_properties_add_*; OBS copies the text.
            unsafe { sys::obs_property_set_long_description(self.0, t.as_ptr()) }
        }
        self
    }
}

impl Props {
    pub fn new() -> Self {
        // SAFETY: creates a fresh, owned properties object.
        Props(unsafe { sys::obs_properties_create() })
    }

    /// A slider of floats.
    pub fn float(&self, key: &str, label: &str, min: f64, max: f64, step: f64) -> Prop {
        let (k, l) = (cstring(key), cstring(label));
        // SAFETY: self.0 is live; OBS copies name and description.
        Prop(unsafe {
            sys::obs_properties_add_float_slider(self.0, k.as_ptr(), l.as_ptr(), min, max, step)
        })
    }

    /// A slider of integers.
    pub fn int(&self, key: &str, label: &str, min: i32, max: i32, step: i32) -> Prop {
        let (k, l) = (cstring(key), cstring(label));
        // SAFETY: as in `float`.
        Prop(unsafe {
            sys::obs_properties_add_int_slider(self.0, k.as_ptr(), l.as_ptr(), min, max, step)
        })
    }

    pub fn bool(&self, key: &str, label: &str) -> Prop {
        let (k, l) = (cstring(key), cstring(label));
        // SAFETY: as in `float`.
        Prop(unsafe { sys::obs_properties_add_bool(self.0, k.as_ptr(), l.as_ptr()) })
    }

    pub fn color(&self, key: &str, label: &str) -> Prop {
        let (k, l) = (cstring(key), cstring(label));
        // SAFETY: as in `float`.
        Prop(unsafe { sys::obs_properties_add_color(self.0, k.as_ptr(), l.as_ptr()) })
    }

    /// A file picker; `filter` in Qt's form, e.g. "Images (*.png *.jpg)".
    pub fn file(&self, key: &str, label: &str, filter: &str) -> Prop {
        let (k, l, f) = (cstring(key), cstring(label), cstring(filter));
        // SAFETY: as in `float`.
        Prop(unsafe {
            sys::obs_properties_add_path(
                self.0,
                k.as_ptr(),
                l.as_ptr(),
                sys::obs_path_type_OBS_PATH_FILE,
                f.as_ptr(),
                std::ptr::null(),
            )
        })
    }

    /// A drop-down of (value, label) strings.
    pub fn choice(&self, key: &str, label: &str, items: &[(&str, String)]) -> Prop {
        let (k, l) = (cstring(key), cstring(label));
        // SAFETY: as in `float`; the list property is live while `self` is.
        unsafe {
            let p = sys::obs_properties_add_list(
                self.0,
                k.as_ptr(),
                l.as_ptr(),
                sys::obs_combo_type_OBS_COMBO_TYPE_LIST,
                sys::obs_combo_format_OBS_COMBO_FORMAT_STRING,
            );
            for (value, name) in items {
                let (v, n) = (cstring(value), cstring(name));
                sys::obs_property_list_add_string(p, n.as_ptr(), v.as_ptr());
            }
            Prop(p)
        }
    }

    /// A line of text in the panel (status, errors).
    pub fn note(&self, key: &str, text: &str) -> Prop {
        let (k, t) = (cstring(key), cstring(text));
        // SAFETY: as in `float`. OBS_TEXT_INFO (3 in libobs 28+, absent from the older
        // pre-generated bindings) shows the description as read-only text.
        Prop(unsafe { sys::obs_properties_add_text(self.0, k.as_ptr(), t.as_ptr(), 3) })
    }

    fn into_raw(self) -> *mut sys::obs_properties_t {
        let p = self.0;
        std::mem::forget(self);
        p
    }
}

impl Default for Props {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Props {
    fn drop(&mut self) {
        // SAFETY: still owned (into_raw forgets self before handing it to OBS).
        unsafe { sys::obs_properties_destroy(self.0) }
    }
}

/// A picture an async source delivered, borrowed for one `filter_video` call.
pub struct AsyncFrame<'a> {
    pub format: u32,
    pub width: u32,
    pub height: u32,
    pub timestamp: u64,
    pub planes: [Option<&'a [u8]>; 4],
    pub linesize: [u32; 4],
    /// Row-major YUV → RGB matrix (applied to [y, u, v, 1] in 0..1), as OBS gives it.
    pub color_matrix: [f32; 16],
}

/// Plane heights (rows) for `format` at `height`, or None for formats we do not read.
pub fn plane_rows(format: u32, height: u32) -> Option<[u32; 4]> {
    let h = height;
    let half = height.div_ceil(2);
    Some(match format {
        sys::video_format_VIDEO_FORMAT_I420 => [h, half, half, 0],
        sys::video_format_VIDEO_FORMAT_NV12 => [h, half, 0, 0],
        sys::video_format_VIDEO_FORMAT_I422 | sys::video_format_VIDEO_FORMAT_I444 => [h, h, h, 0],
        sys::video_format_VIDEO_FORMAT_I40A => [h, half, half, h],
        sys::video_format_VIDEO_FORMAT_I42A | sys::video_format_VIDEO_FORMAT_YUVA => [h, h, h, h],
        sys::video_format_VIDEO_FORMAT_YVYU
        | sys::video_format_VIDEO_FORMAT_YUY2
        | sys::video_format_VIDEO_FORMAT_UYVY
        | sys::video_format_VIDEO_FORMAT_RGBA
        | sys::video_format_VIDEO_FORMAT_BGRA
        | sys::video_format_VIDEO_FORMAT_BGRX
        | sys::video_format_VIDEO_FORMAT_Y800
        | sys::video_format_VIDEO_FORMAT_BGR3
        | sys::video_format_VIDEO_FORMAT_AYUV => [h, 0, 0, 0],
        _ => return None,
    })
}

impl<'a> AsyncFrame<'a> {
    /// # Safety
    /// `f` must be a live `obs_source_frame` whose planes hold `linesize × rows` bytes.
    unsafe fn from_raw(f: &'a sys::obs_source_frame) -> Option<Self> {
        let rows = plane_rows(f.format, f.height)?;
        let mut planes = [None; 4];
        let mut linesize = [0; 4];
        for p in 0..4 {
            if rows[p] > 0 {
                if f.data[p].is_null() {
                    return None;
                }
                linesize[p] = f.linesize[p];
                planes[p] = Some(std::slice::from_raw_parts(
                    f.data[p] as *const u8,
                    f.linesize[p] as usize * rows[p] as usize,
                ));
            }
        }
        Some(Self {
            format: f.format,
            width: f.width,
            height: f.height,
            timestamp: f.timestamp,
            planes,
            linesize,
            color_matrix: f.color_matrix,
        })
    }
}

/// The filter's own source and the source it filters.
#[derive(Clone, Copy)]
pub struct FilterSource(*mut sys::obs_source_t);

// SAFETY: an obs_source_t pointer is safe to use from any thread in libobs (its functions
// lock internally); the filter never outlives its source (OBS destroys the filter first).
unsafe impl Send for FilterSource {}
// SAFETY: as above.
unsafe impl Sync for FilterSource {}

impl FilterSource {
    pub fn as_ptr(self) -> *mut sys::obs_source_t {
        self.0
    }

    /// The input's size (what the filter draws), 0×0 when it has none yet.
    pub fn target_size(self) -> (u32, u32) {
        // SAFETY: self.0 is this filter's live source; the target may be null (no input yet).
        unsafe {
            let target = sys::obs_filter_get_target(self.0);
            if target.is_null() {
                return (0, 0);
            }
            (
                sys::obs_source_get_base_width(target),
                sys::obs_source_get_base_height(target),
            )
        }
    }

    /// True while the source this filter belongs to is shown somewhere (a filter added to a
    /// source that is already showing gets no show/hide callbacks of its own).
    pub fn parent_showing(self) -> bool {
        // SAFETY: self.0 is this filter's live source; the parent may be null (detached).
        unsafe {
            let parent = sys::obs_filter_get_parent(self.0);
            !parent.is_null() && sys::obs_source_showing(parent)
        }
    }

    /// Draws the input unchanged (pass-through).
    pub fn skip(self) {
        // SAFETY: called from this filter's video_render, as OBS requires.
        unsafe { sys::obs_source_skip_video_filter(self.0) }
    }

    pub fn name(self) -> String {
        // SAFETY: self.0 is live; the name is copied before returning.
        unsafe {
            let p = sys::obs_source_get_name(self.0);
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        }
    }
}

/// A video filter OBS can create. Callbacks take `&self` (OBS calls them from the UI, graphics
/// and video threads), so state lives behind locks inside the filter.
pub trait Filter: Send + Sync + Sized + 'static {
    const ID: &'static CStr;
    /// Key of the display name in the locale file.
    const NAME_KEY: &'static str;
    fn create(source: FilterSource, settings: &Settings) -> Self;
    fn defaults(settings: &Settings);
    fn properties(filter: Option<&Self>) -> Props;
    fn update(&self, settings: &Settings);
    /// Draws the filtered picture (graphics thread, inside the graphics context).
    fn render(&self);
    /// Sees each picture of an async source on the CPU before OBS uploads it.
    fn async_frame(&self, _frame: &AsyncFrame<'_>) {}
    fn shown(&self, _showing: bool) {}
}

struct Instance<F> {
    source: FilterSource,
    filter: F,
}

/// Runs `f`, turning a panic into a log line: nothing unwinds into OBS.
fn guard<T>(what: &str, fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|e| {
        let why = e
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| e.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        warn(&format!(
            "{what} panicked ({why}); the filter passes the picture through"
        ));
        fallback
    })
}

/// # Safety (for every trampoline below)
/// `data` is the pointer `create` returned (a leaked `Box<Instance<F>>`), live until `destroy`.
unsafe fn instance<'a, F>(data: *mut c_void) -> &'a Instance<F> {
    &*(data as *const Instance<F>)
}

unsafe extern "C" fn get_name<F: Filter>(_type_data: *mut c_void) -> *const c_char {
    // OBS keeps the pointer: leak one string per filter type (registered once per process).
    static NAMES: std::sync::Mutex<Vec<(&'static str, &'static CStr)>> =
        std::sync::Mutex::new(Vec::new());
    guard("get_name", std::ptr::null(), || {
        let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, n)) = names.iter().find(|(k, _)| *k == F::NAME_KEY) {
            return n.as_ptr();
        }
        let leaked: &'static CStr = Box::leak(cstring(&text(F::NAME_KEY)).into_boxed_c_str());
        names.push((F::NAME_KEY, leaked));
        leaked.as_ptr()
    })
}

unsafe extern "C" fn create<F: Filter>(
    settings: *mut sys::obs_data_t,
    source: *mut sys::obs_source_t,
) -> *mut c_void {
    guard("create", std::ptr::null_mut(), || {
        let source = FilterSource(source);
        let filter = F::create(source, &Settings(settings));
        Box::into_raw(Box::new(Instance { source, filter })) as *mut c_void
    })
}

unsafe extern "C" fn destroy<F: Filter>(data: *mut c_void) {
    if data.is_null() {
        return;
    }
    guard("destroy", (), || {
        drop(Box::from_raw(data as *mut Instance<F>));
    })
}

unsafe extern "C" fn get_defaults<F: Filter>(settings: *mut sys::obs_data_t) {
    guard("get_defaults", (), || F::defaults(&Settings(settings)))
}

unsafe extern "C" fn get_properties<F: Filter>(data: *mut c_void) -> *mut sys::obs_properties_t {
    guard("get_properties", std::ptr::null_mut(), || {
        let filter = (!data.is_null()).then(|| &instance::<F>(data).filter);
        F::properties(filter).into_raw()
    })
}

unsafe extern "C" fn update<F: Filter>(data: *mut c_void, settings: *mut sys::obs_data_t) {
    guard("update", (), || {
        instance::<F>(data).filter.update(&Settings(settings))
    })
}

unsafe extern "C" fn video_render<F: Filter>(data: *mut c_void, _effect: *mut sys::gs_effect_t) {
    let inst = instance::<F>(data);
    let drawn = guard("video_render", false, || {
        inst.filter.render();
        true
    });
    if !drawn {
        inst.source.skip();
    }
}

unsafe extern "C" fn filter_video<F: Filter>(
    data: *mut c_void,
    frame: *mut sys::obs_source_frame,
) -> *mut sys::obs_source_frame {
    if !frame.is_null() {
        let inst = instance::<F>(data);
        guard("filter_video", (), || {
            if let Some(f) = AsyncFrame::from_raw(&*frame) {
                inst.filter.async_frame(&f);
            }
        });
    }
    frame
}

unsafe extern "C" fn show<F: Filter>(data: *mut c_void) {
    guard("show", (), || instance::<F>(data).filter.shown(true))
}

unsafe extern "C" fn hide<F: Filter>(data: *mut c_void) {
    guard("hide", (), || instance::<F>(data).filter.shown(false))
}

/// Registers `F` as a video filter that works on every kind of source.
pub fn register<F: Filter>() {
    // SAFETY: obs_source_info is plain data (pointers and options), all-zero is "no callback".
    let mut info: sys::obs_source_info = unsafe { std::mem::zeroed() };
    info.id = F::ID.as_ptr();
    info.type_ = sys::obs_source_type_OBS_SOURCE_TYPE_FILTER;
    info.output_flags = sys::OBS_SOURCE_VIDEO;
    info.get_name = Some(get_name::<F>);
    info.create = Some(create::<F>);
    info.destroy = Some(destroy::<F>);
    info.get_defaults = Some(get_defaults::<F>);
    info.get_properties = Some(get_properties::<F>);
    info.update = Some(update::<F>);
    info.video_render = Some(video_render::<F>);
    info.filter_video = Some(filter_video::<F>);
    info.show = Some(show::<F>);
    info.hide = Some(hide::<F>);
    // SAFETY: libobs copies `size` bytes of the struct (an older, shorter layout than libobs
    // 29's is accepted: the rest is zero-filled); the id string is 'static.
    unsafe {
        sys::obs_register_source_s(&info, std::mem::size_of::<sys::obs_source_info>() as _);
    }
}

/// Frame time of the video thread, in nanoseconds.
pub fn video_time_ns() -> u64 {
    // SAFETY: a plain getter of libobs' video clock.
    unsafe { sys::obs_get_video_frame_time() }
}
