//! Property and state plumbing that must never panic: GObject calls `set_property` and
//! `property` through `extern "C"` trampolines, and a panic there aborts the host process.

use std::sync::{Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;

/// Locks `m` even if a panic on another thread poisoned it: the element's settings and state
/// are plain values that stay usable, and refusing them would take the host down with us.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Stores `value` in `slot` when it holds a `T`; false (slot untouched) otherwise. GLib checks
/// the type against the property's spec before calling `set_property`, so false means a bug:
/// callers log it and keep the old value instead of panicking.
pub fn assign<T>(slot: &mut T, value: &glib::Value) -> bool
where
    T: for<'a> glib::value::FromValue<'a> + 'static,
{
    match value.get::<T>() {
        Ok(v) => {
            *slot = v;
            true
        }
        Err(_) => false,
    }
}

/// What `property` returns for a name the element does not know: the spec's default.
pub fn unknown(pspec: &glib::ParamSpec) -> glib::Value {
    pspec.default_value().clone()
}

/// Logs a `set_property` outcome: the new value, or (GLib already checked the type, so this
/// is a bug) that it was refused and the old value stays.
pub fn log_set(
    cat: gst::DebugCategory,
    obj: &impl IsA<gst::Object>,
    name: &str,
    value: &glib::Value,
    applied: bool,
) {
    if applied {
        gst::info!(cat, obj = obj, "{name} set to {value:?}");
    } else {
        gst::warning!(
            cat,
            obj = obj,
            "cannot set {name} to {value:?}; keeping the old value"
        );
    }
}
