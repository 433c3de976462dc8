//! A headless OBS for the tests and the bench: real libobs with its OpenGL renderer on Mesa's
//! software rasteriser under a private Xvfb, Debian's stock `image_source`, our module, and a
//! minimal async source the test feeds with `obs_source_output_video` (as a webcam or media
//! source would). Sources are rendered through their filters into a texture and read back.

#![allow(dead_code)]

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::Path;

use obs_sys as sys;

/// libobs 29's `obs_source_frame` (the pre-generated `obs-sys` bindings are older and lack
/// `max_luminance`, `flags` and `trc`).
#[repr(C)]
struct SourceFrame29 {
    data: [*mut u8; 8],
    linesize: [u32; 8],
    width: u32,
    height: u32,
    timestamp: u64,
    format: u32,
    color_matrix: [f32; 16],
    full_range: bool,
    max_luminance: u16,
    color_range_min: [f32; 3],
    color_range_max: [f32; 3],
    flip: bool,
    flags: u8,
    trc: u8,
    refs: std::ffi::c_long,
    prev_frame: bool,
}

#[link(name = "obs")]
extern "C" {
    fn obs_set_nix_platform(platform: u32);
    fn obs_set_nix_platform_display(display: *mut c_void);
    #[link_name = "obs_source_output_video"]
    fn output_video29(source: *mut sys::obs_source_t, frame: *const SourceFrame29);
}

/// OBS_NIX_PLATFORM_X11_EGL (obs-nix-platform.h).
const X11_EGL: u32 = 1;

pub const VIDEO_FORMAT_I420: u32 = sys::video_format_VIDEO_FORMAT_I420;
pub const VIDEO_FORMAT_NV12: u32 = sys::video_format_VIDEO_FORMAT_NV12;
pub const VIDEO_FORMAT_YUY2: u32 = sys::video_format_VIDEO_FORMAT_YUY2;
pub const VIDEO_FORMAT_BGRA: u32 = sys::video_format_VIDEO_FORMAT_BGRA;

/// A private X server for this process (none when `DISPLAY` is already set).
pub struct Xvfb(Option<std::process::Child>);

impl Drop for Xvfb {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn start_xvfb() -> Xvfb {
    use std::io::BufRead;
    if std::env::var_os("DISPLAY").is_some() {
        return Xvfb(None);
    }
    // `-displayfd 1`: Xvfb picks a free display itself and prints its number once it accepts
    // connections, so neither a busy number nor a stale socket can fool us.
    let mut child = std::process::Command::new("Xvfb")
        .args(["-displayfd", "1", "-screen", "0", "1280x720x24"])
        .args(["-nolisten", "tcp", "-terminate"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("Xvfb (package xvfb)");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("Xvfb reports its display");
    let n: u32 = line
        .trim()
        .parse()
        .expect("Xvfb started (it printed no display number)");
    std::env::set_var("DISPLAY", format!(":{n}"));
    Xvfb(Some(child))
}

/// A source we hold a reference to.
pub struct Source(pub *mut sys::obs_source_t);

impl Drop for Source {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { sys::obs_source_release(self.0) }
    }
}

fn data(json: &str) -> *mut sys::obs_data_t {
    let j = CString::new(json).unwrap();
    // SAFETY: creates an owned data object from JSON.
    let d = unsafe { sys::obs_data_create_from_json(j.as_ptr()) };
    assert!(!d.is_null(), "bad settings JSON {json}");
    d
}

unsafe extern "C" fn test_async_name(_: *mut c_void) -> *const c_char {
    c"aifx test camera".as_ptr()
}
unsafe extern "C" fn test_async_create(
    _: *mut sys::obs_data_t,
    _: *mut sys::obs_source_t,
) -> *mut c_void {
    Box::into_raw(Box::new(0u8)) as *mut c_void
}
unsafe extern "C" fn test_async_destroy(data: *mut c_void) {
    drop(Box::from_raw(data as *mut u8));
}

pub struct Host {
    _x: libloading::Library,
    _xvfb: Xvfb,
    pub width: u32,
    pub height: u32,
}

impl Host {
    /// Starts libobs (video `width`×`height`) and loads the stock image source and our module.
    pub fn start(module: &Path, module_data: &Path) -> Host {
        let xvfb = start_xvfb();
        // SAFETY: libX11 is the system's; XOpenDisplay(NULL) opens $DISPLAY.
        let x = unsafe { libloading::Library::new("libX11.so.6") }.expect("libX11");
        // SAFETY: the C signatures below are libX11's, libobs 29's and libc's (atexit).
        unsafe {
            let open: libloading::Symbol<unsafe extern "C" fn(*const c_char) -> *mut c_void> =
                x.get(b"XOpenDisplay").unwrap();
            let dpy = open(std::ptr::null());
            assert!(!dpy.is_null(), "cannot open the X display");
            obs_set_nix_platform(X11_EGL);
            obs_set_nix_platform_display(dpy);
            // In the build tree's scratch folder: libobs is never shut down here (the host
            // lives as long as the test process), so nothing would remove a temporary one.
            let config = Path::new(env!("CARGO_TARGET_TMPDIR")).join("obs-host-config");
            std::fs::create_dir_all(&config).unwrap();
            let config_c = CString::new(config.to_str().unwrap()).unwrap();
            assert!(
                sys::obs_startup(c"en-US".as_ptr(), config_c.as_ptr(), std::ptr::null_mut()),
                "obs_startup failed"
            );
            // The host lives in a static, never dropped: shut libobs down when the process
            // exits, before the libraries' own teardown, or OBS's graphics thread keeps
            // rendering while Mesa terminates its EGL display (a clean-clone CI run saw
            // EGL_BAD_DISPLAY and a SIGSEGV after every test had passed).
            atexit(shutdown_once);
            let mut ovi: sys::obs_video_info = std::mem::zeroed();
            ovi.graphics_module = c"libobs-opengl".as_ptr();
            ovi.fps_num = 30;
            ovi.fps_den = 1;
            ovi.base_width = 1280;
            ovi.base_height = 720;
            ovi.output_width = 1280;
            ovi.output_height = 720;
            ovi.output_format = sys::video_format_VIDEO_FORMAT_NV12;
            ovi.gpu_conversion = true;
            ovi.colorspace = sys::video_colorspace_VIDEO_CS_709;
            ovi.range = sys::video_range_type_VIDEO_RANGE_PARTIAL;
            ovi.scale_type = sys::obs_scale_type_OBS_SCALE_BICUBIC;
            let rc = sys::obs_reset_video(&mut ovi);
            assert_eq!(
                rc, 0,
                "obs_reset_video returned {rc} (is Mesa's libgl1-mesa-dri there?)"
            );
            let oai = sys::obs_audio_info {
                samples_per_sec: 48000,
                speakers: sys::speaker_layout_SPEAKERS_STEREO,
            };
            assert!(sys::obs_reset_audio(&oai), "obs_reset_audio failed");
            let stock = Path::new("/usr/lib/x86_64-linux-gnu/obs-plugins/image-source.so");
            assert!(
                stock.is_file(),
                "{} is missing (package obs-studio)",
                stock.display()
            );
            load_module(stock, Path::new("/usr/share/obs/obs-plugins/image-source"));
            load_module(module, module_data);

            let mut info: sys::obs_source_info = std::mem::zeroed();
            info.id = c"aifx_test_async".as_ptr();
            info.type_ = sys::obs_source_type_OBS_SOURCE_TYPE_INPUT;
            info.output_flags = sys::OBS_SOURCE_ASYNC_VIDEO;
            info.get_name = Some(test_async_name);
            info.create = Some(test_async_create);
            info.destroy = Some(test_async_destroy);
            sys::obs_register_source_s(&info, std::mem::size_of::<sys::obs_source_info>() as _);
            sys::obs_post_load_modules();
        }
        Host {
            _x: x,
            _xvfb: xvfb,
            width: 1280,
            height: 720,
        }
    }

    /// The stock image source showing `file`, shown and active, once its picture is loaded.
    pub fn image_source(&self, file: &Path) -> Source {
        let settings = data(&serde_json::json!({ "file": file.to_str().unwrap() }).to_string());
        // SAFETY: creating a private source of a registered type; settings released after.
        let s = unsafe {
            let s = sys::obs_source_create_private(
                c"image_source".as_ptr(),
                c"photo".as_ptr(),
                settings,
            );
            sys::obs_data_release(settings);
            assert!(!s.is_null(), "image_source could not be created");
            sys::obs_source_inc_active(s);
            sys::obs_source_inc_showing(s);
            s
        };
        for _ in 0..400 {
            // SAFETY: s is live.
            if unsafe { sys::obs_source_get_width(s) } > 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Source(s)
    }

    /// The test camera: an async source that shows each picture as soon as it is given one.
    pub fn async_source(&self) -> Source {
        // SAFETY: creating a private source of the type registered in `start`.
        unsafe {
            let s = sys::obs_source_create_private(
                c"aifx_test_async".as_ptr(),
                c"camera".as_ptr(),
                std::ptr::null_mut(),
            );
            assert!(!s.is_null());
            sys::obs_source_set_async_unbuffered(s, true);
            sys::obs_source_inc_active(s);
            sys::obs_source_inc_showing(s);
            Source(s)
        }
    }

    #[allow(clippy::too_many_arguments)]
    /// Gives the camera one picture: `planes` with their line sizes, in `format` (YUV as
    /// BT.601 studio range).
    pub fn output_video(
        &self,
        source: &Source,
        format: u32,
        width: u32,
        height: u32,
        planes: &mut [Vec<u8>],
        linesize: &[u32],
        timestamp: u64,
    ) {
        // SAFETY: plain data; libobs copies the planes during the call.
        unsafe {
            let mut f: SourceFrame29 = std::mem::zeroed();
            for (i, p) in planes.iter_mut().enumerate() {
                f.data[i] = p.as_mut_ptr();
                f.linesize[i] = linesize[i];
            }
            f.width = width;
            f.height = height;
            f.timestamp = timestamp;
            f.format = format;
            sys::video_format_get_parameters(
                sys::video_colorspace_VIDEO_CS_601,
                sys::video_range_type_VIDEO_RANGE_PARTIAL,
                f.color_matrix.as_mut_ptr(),
                f.color_range_min.as_mut_ptr(),
                f.color_range_max.as_mut_ptr(),
            );
            output_video29(source.0, &f);
        }
    }

    /// Creates filter `id` with `settings` (JSON) on `source`.
    pub fn add_filter(&self, source: &Source, id: &str, settings: &str) -> Source {
        let id = CString::new(id).unwrap();
        let d = data(settings);
        // SAFETY: creates a filter of a registered type and attaches it.
        unsafe {
            let f = sys::obs_source_create_private(id.as_ptr(), c"filter".as_ptr(), d);
            sys::obs_data_release(d);
            assert!(!f.is_null(), "filter {id:?} could not be created");
            sys::obs_source_filter_add(source.0, f);
            Source(f)
        }
    }

    /// Shows or hides `source` (as leaving or entering program and preview does: both the
    /// active and the showing reference, since activating a source also shows it).
    pub fn set_showing(&self, source: &Source, showing: bool) {
        // SAFETY: source is live; each hide follows a show.
        unsafe {
            if showing {
                sys::obs_source_inc_active(source.0);
                sys::obs_source_inc_showing(source.0);
            } else {
                sys::obs_source_dec_showing(source.0);
                sys::obs_source_dec_active(source.0);
            }
        }
    }

    pub fn remove_filter(&self, source: &Source, filter: Source) {
        // SAFETY: both live; the filter's last reference goes with `filter`.
        unsafe { sys::obs_source_filter_remove(source.0, filter.0) }
    }

    pub fn update(&self, filter: &Source, settings: &str) {
        let d = data(settings);
        // SAFETY: both live; the data is released after libobs applied it.
        unsafe {
            sys::obs_source_update(filter.0, d);
            sys::obs_data_release(d);
        }
        // Video sources apply updates on the next video tick (30 per second here): wait for
        // two ticks, however long a busy machine makes them.
        // SAFETY: reads a timestamp libobs keeps.
        let start = unsafe { sys::obs_get_video_frame_time() };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        std::thread::sleep(std::time::Duration::from_millis(80));
        // SAFETY: as above.
        while unsafe { sys::obs_get_video_frame_time() } < start + 2 * 33_333_333
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// The text of property `key` in the filter's panel.
    pub fn property_text(&self, filter: &Source, key: &str) -> Option<String> {
        let k = CString::new(key).unwrap();
        // SAFETY: properties are created and destroyed here; the text is copied first.
        unsafe {
            let props = sys::obs_source_properties(filter.0);
            if props.is_null() {
                return None;
            }
            let p = sys::obs_properties_get(props, k.as_ptr());
            let text = (!p.is_null()).then(|| {
                CStr::from_ptr(sys::obs_property_description(p))
                    .to_string_lossy()
                    .into_owned()
            });
            sys::obs_properties_destroy(props);
            text
        }
    }

    /// Renders `source` (through its filters) at its own size and reads back RGBA.
    pub fn render(&self, source: &Source) -> (u32, u32, Vec<u8>) {
        self.render_timed(source).0
    }

    /// As `render`, with the graphics thread's time for it: the render call and the wait for
    /// the picture to be finished (with Mesa's software OpenGL the "GPU" work runs on the CPU
    /// when the picture is read back, so timing the call alone would hide it).
    pub fn render_timed(&self, source: &Source) -> ((u32, u32, Vec<u8>), std::time::Duration) {
        // SAFETY: all graphics calls happen inside obs_enter_graphics; objects are created and
        // destroyed here; the mapped surface is copied before unmapping.
        unsafe {
            let w = sys::obs_source_get_width(source.0).max(1);
            let h = sys::obs_source_get_height(source.0).max(1);
            sys::obs_enter_graphics();
            let tr = sys::gs_texrender_create(
                sys::gs_color_format_GS_RGBA,
                sys::gs_zstencil_format_GS_ZS_NONE,
            );
            let stage = sys::gs_stagesurface_create(w, h, sys::gs_color_format_GS_RGBA);
            let t0 = std::time::Instant::now();
            if sys::gs_texrender_begin(tr, w, h) {
                let clear = sys::vec4::default();
                sys::gs_clear(sys::GS_CLEAR_COLOR, &clear, 0.0, 0);
                sys::gs_ortho(0.0, w as f32, 0.0, h as f32, -100.0, 100.0);
                sys::gs_blend_state_push();
                sys::gs_blend_function(
                    sys::gs_blend_type_GS_BLEND_ONE,
                    sys::gs_blend_type_GS_BLEND_ZERO,
                );
                sys::obs_source_video_render(source.0);
                sys::gs_blend_state_pop();
                sys::gs_texrender_end(tr);
            }
            sys::gs_stage_texture(stage, sys::gs_texrender_get_texture(tr));
            let mut ptr: *mut u8 = std::ptr::null_mut();
            let mut linesize = 0u32;
            let mut out = vec![0u8; (w * h * 4) as usize];
            let mapped = sys::gs_stagesurface_map(stage, &mut ptr, &mut linesize);
            let took = t0.elapsed();
            if mapped {
                for y in 0..h as usize {
                    let src =
                        std::slice::from_raw_parts(ptr.add(y * linesize as usize), w as usize * 4);
                    out[y * w as usize * 4..(y + 1) * w as usize * 4].copy_from_slice(src);
                }
                sys::gs_stagesurface_unmap(stage);
            }
            sys::gs_stagesurface_destroy(stage);
            sys::gs_texrender_destroy(tr);
            sys::obs_leave_graphics();
            ((w, h, out), took)
        }
    }
}

impl Host {
    /// Shuts libobs down: every source is destroyed (each filter's worker joined) before the
    /// process exits, so no inference is left running while the process's libraries unload.
    /// Nothing may use OBS afterwards. Also done at exit (once, whichever comes first).
    pub fn shutdown(&self) {
        shutdown_once();
    }
}

extern "C" {
    /// libc's: runs `f` at `exit`, before the shared libraries' destructors.
    fn atexit(f: extern "C" fn()) -> std::ffi::c_int;
}

extern "C" fn shutdown_once() {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !DONE.swap(true, std::sync::atomic::Ordering::SeqCst) {
        // SAFETY: libobs was started (this is registered after obs_startup); called once,
        // after the tests released their sources (at exit, or where a test asks).
        unsafe { sys::obs_shutdown() }
    }
}

fn load_module(path: &Path, data_path: &Path) {
    let p = CString::new(path.to_str().unwrap()).unwrap();
    let d = CString::new(data_path.to_str().unwrap()).unwrap();
    let mut m: *mut sys::obs_module_t = std::ptr::null_mut();
    // SAFETY: opens and initialises a module file with its data folder.
    unsafe {
        let rc = sys::obs_open_module(&mut m, p.as_ptr(), d.as_ptr());
        assert_eq!(rc, 0, "obs_open_module({}) returned {rc}", path.display());
        assert!(
            sys::obs_init_module(m),
            "obs_init_module({}) failed",
            path.display()
        );
    }
}

/// CPU time (user + system) process `pid` has used, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (in parentheses): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}

/// Resident memory of this process in MiB.
pub fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

/// Interleaved RGB as planes of `format` (BT.601 studio range for YUV), with line sizes.
pub fn planes_from_rgb(format: u32, w: usize, h: usize, rgb: &[u8]) -> (Vec<Vec<u8>>, Vec<u32>) {
    let yuv = |i: usize| {
        let (r, g, b) = (
            rgb[i * 3] as f32,
            rgb[i * 3 + 1] as f32,
            rgb[i * 3 + 2] as f32,
        );
        let y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
        let u = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
        let v = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
        [y, u, v].map(|c| c.round().clamp(0.0, 255.0) as u8)
    };
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    match format {
        VIDEO_FORMAT_BGRA => {
            let mut p = vec![0u8; w * h * 4];
            for i in 0..w * h {
                p[i * 4..i * 4 + 4].copy_from_slice(&[
                    rgb[i * 3 + 2],
                    rgb[i * 3 + 1],
                    rgb[i * 3],
                    255,
                ]);
            }
            (vec![p], vec![(w * 4) as u32])
        }
        VIDEO_FORMAT_YUY2 => {
            let mut p = vec![0u8; cw * 4 * h];
            for y in 0..h {
                for x in 0..w {
                    let [yy, u, v] = yuv(y * w + x);
                    let b = y * cw * 4 + (x / 2) * 4;
                    p[b + (x & 1) * 2] = yy;
                    if x & 1 == 0 {
                        p[b + 1] = u;
                        p[b + 3] = v;
                    }
                }
            }
            (vec![p], vec![(cw * 4) as u32])
        }
        _ => {
            let mut luma = vec![0u8; w * h];
            let mut u = vec![0u8; cw * ch];
            let mut v = vec![0u8; cw * ch];
            for y in 0..h {
                for x in 0..w {
                    let [yy, uu, vv] = yuv(y * w + x);
                    luma[y * w + x] = yy;
                    if x % 2 == 0 && y % 2 == 0 {
                        u[(y / 2) * cw + x / 2] = uu;
                        v[(y / 2) * cw + x / 2] = vv;
                    }
                }
            }
            if format == VIDEO_FORMAT_NV12 {
                let mut uv = vec![0u8; cw * 2 * ch];
                for i in 0..cw * ch {
                    uv[i * 2] = u[i];
                    uv[i * 2 + 1] = v[i];
                }
                (vec![luma, uv], vec![w as u32, (cw * 2) as u32])
            } else {
                (vec![luma, u, v], vec![w as u32, cw as u32, cw as u32])
            }
        }
    }
}
