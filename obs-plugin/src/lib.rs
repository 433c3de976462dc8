//! aifx OBS Studio module.
//!
//! Loads into OBS and reports which ONNX Runtime and models it found; the video filters
//! (background removal, pose overlay) register here as they are built on the `aifx` crate.

use obs_wrapper::{module::*, obs_register_module, obs_string, string::ObsString};

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
            let models = aifx::paths::model_dirs();
            let found = aifx::paths::resolve_model("selfie").is_ok();
            eprintln!(
                "[aifx] module loaded; model folders {:?}; selfie model {}",
                models,
                if found {
                    "found"
                } else {
                    "missing (run `make demo` in the aifx source tree)"
                }
            );
            true
        })
        .unwrap_or(false)
    }

    fn description() -> ObsString {
        obs_string!("aifx: real-time AI video effects (background removal, pose) on ONNX Runtime")
    }

    fn name() -> ObsString {
        obs_string!("aifx")
    }

    fn author() -> ObsString {
        obs_string!("aifx developers")
    }
}

obs_register_module!(AifxModule);
