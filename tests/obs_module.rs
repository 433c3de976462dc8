//! The OBS module loaded by real libobs (no window needed: modules load before video starts).

mod common;
#[path = "obs_host.rs"]
mod obs_host;

use std::ffi::{c_char, c_int, c_void, CStr, CString};

type Startup = unsafe extern "C" fn(*const c_char, *const c_char, *mut c_void) -> bool;
type OpenModule = unsafe extern "C" fn(*mut *mut c_void, *const c_char, *const c_char) -> c_int;
type InitModule = unsafe extern "C" fn(*mut c_void) -> bool;
type ModuleName = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type Shutdown = unsafe extern "C" fn();

#[test]
fn libobs_loads_and_initialises_the_module() {
    let module_path = common::artifact("libaifx_obs.so");
    // libobs on Linux needs an X display even to start.
    let _display = obs_host::start_xvfb();
    // SAFETY: libobs.so.0 is the system's libobs (package libobs0); loading it runs only its
    // own initialisers.
    let lib =
        unsafe { libloading::Library::new("libobs.so.0") }.expect("libobs.so.0 (package libobs0)");
    // SAFETY: these symbols have these C signatures in libobs 29 (obs.h).
    unsafe {
        let startup: libloading::Symbol<Startup> = lib.get(b"obs_startup").unwrap();
        let open: libloading::Symbol<OpenModule> = lib.get(b"obs_open_module").unwrap();
        let init: libloading::Symbol<InitModule> = lib.get(b"obs_init_module").unwrap();
        let name: libloading::Symbol<ModuleName> = lib.get(b"obs_get_module_name").unwrap();
        let shutdown: libloading::Symbol<Shutdown> = lib.get(b"obs_shutdown").unwrap();

        let config = std::env::temp_dir().join(format!("aifx-obs-{}", std::process::id()));
        std::fs::create_dir_all(&config).unwrap();
        let locale = CString::new("en-US").unwrap();
        let config_c = CString::new(config.to_str().unwrap()).unwrap();
        assert!(
            startup(locale.as_ptr(), config_c.as_ptr(), std::ptr::null_mut()),
            "obs_startup failed"
        );

        let mut module: *mut c_void = std::ptr::null_mut();
        let path = CString::new(module_path.to_str().unwrap()).unwrap();
        let data = CString::new(config.to_str().unwrap()).unwrap();
        let rc = open(&mut module, path.as_ptr(), data.as_ptr());
        assert_eq!(rc, 0, "obs_open_module returned {rc} (0 = MODULE_SUCCESS)");
        assert!(!module.is_null());
        assert!(init(module), "obs_init_module failed");
        let n = name(module);
        assert!(!n.is_null());
        assert_eq!(CStr::from_ptr(n).to_str().unwrap(), "aifx");
        shutdown();
        let _ = std::fs::remove_dir_all(&config);
    }
}
