//! aifx OBS Studio module: the filters "AI Background", "AI Pose Overlay" and "AI Stylize" on
//! any source.
//!
//! The module registers through `obs-wrapper`; the filters register through the small safe
//! layer in [`ffi`] (the wrapper's callbacks let panics unwind into OBS and hide the
//! filter's own source, which filter rendering needs). Inference runs on a worker thread per
//! filter ([`runner`]); the graphics thread renders, uploads the newest result and
//! composites on the GPU ([`gfx`], `data/aifx.effect`).

mod background;
mod capture;
mod common;
pub mod ffi;
mod gfx;
mod pose;
mod runner;
mod stylize;

use std::sync::{Mutex, MutexGuard};

use obs_wrapper::{module::*, obs_register_module, obs_string, string::ObsString};

/// Locks a mutex, carrying on after a panic elsewhere (the data stays usable).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct AifxModule {
    context: ModuleContext,
}

impl Module for AifxModule {
    fn new(context: ModuleContext) -> Self {
        Self { context }
    }

    fn get_ctx(&self) -> &ModuleContext {
        &self.context
    }

    fn load(&mut self, _load_context: &mut LoadContext) -> bool {
        // Never let a panic unwind into OBS: report it and decline to load instead.
        std::panic::catch_unwind(|| {
            ffi::register::<background::Background>();
            ffi::register::<pose::PoseOverlay>();
            ffi::register::<stylize::Stylize>();
            let found = aifx::paths::resolve_model("selfie").is_ok();
            ffi::info(&format!(
                "module loaded (version {}): filters \"{}\", \"{}\" and \"{}\"; model folders \
                 {:?}; selfie model {}",
                env!("CARGO_PKG_VERSION"),
                ffi::text("Background.Name"),
                ffi::text("Pose.Name"),
                ffi::text("Stylize.Name"),
                aifx::paths::model_dirs(),
                if found {
                    "found"
                } else {
                    "missing (run `make install` in the aifx source tree)"
                }
            ));
            true
        })
        .unwrap_or(false)
    }

    fn description() -> ObsString {
        obs_string!("aifx: AI background (blur, replace, transparent, colour), pose overlay and stylization on ONNX Runtime")
    }

    fn name() -> ObsString {
        obs_string!("aifx")
    }

    fn author() -> ObsString {
        obs_string!("aifx developers")
    }
}

obs_register_module!(AifxModule);

/// Called by libobs with the UI language: loads `data/locale/<lang>.ini` (en-US fallback).
///
/// # Safety
/// libobs calls it with a NUL-terminated locale after the module pointer is set.
#[no_mangle]
pub unsafe extern "C" fn obs_module_set_locale(locale: *const std::ffi::c_char) {
    // SAFETY: libobs passes a valid locale string; obs_current_module is this module.
    let _ = std::panic::catch_unwind(|| unsafe { ffi::set_locale(obs_current_module(), locale) });
}

/// Called by libobs before unloading.
#[no_mangle]
pub extern "C" fn obs_module_free_locale() {
    let _ = std::panic::catch_unwind(ffi::free_locale);
}
