//! `device=auto`'s decisions kept across processes, in `auto-choices.txt` under
//! [`crate::paths::cache_dir`]: a restarted pipeline starts on the provider an earlier trial
//! picked, instead of timing the providers again (which stalls its third frame while the
//! other provider compiles). One line per decision, `DEVICE<TAB>KEY`; the key holds the model
//! file (path, size, modification time), threads, precision, the ONNX Runtime library and the
//! CPU, so a changed model, runtime or machine is timed again. Deleting the file, or
//! `AIFX_AUTO_CHOICES=off`, times everything again; `AIFX_AUTO_CHOICES=PATH` keeps the
//! decisions in another file (`make test` does: a trial taken while the tests load both cores
//! can pick the slower provider, which the user's own runs should not inherit). A cache:
//! unreadable or odd lines are ignored, and a failed write only costs a later re-timing.

use std::path::{Path, PathBuf};

use crate::Device;

const FILE: &str = "auto-choices.txt";

/// Where the decisions live, unless switched off.
fn file() -> Option<PathBuf> {
    file_for(std::env::var_os("AIFX_AUTO_CHOICES").as_deref())
}

/// The decisions file for a value of `AIFX_AUTO_CHOICES`: `off` or `0` none, another value
/// that path, unset (or empty) the cache directory's.
fn file_for(setting: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    match setting {
        Some(v) if v == "off" || v == "0" => None,
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => Some(crate::paths::cache_dir().join(FILE)),
    }
}

/// The CPU's model name (`/proc/cpuinfo`), part of each key.
fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default()
}

/// The key of a decision (one line, no tabs).
pub fn key(
    model: &Path,
    len: u64,
    modified: Option<std::time::SystemTime>,
    threads: usize,
    precision: crate::Precision,
    runtime: &Path,
) -> String {
    let secs = modified
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!(
        "{} {len} {secs} threads={threads} precision={precision} runtime={} cpu={}",
        model.display(),
        runtime.display(),
        cpu_name()
    )
    .replace(['\t', '\n'], " ")
}

fn recall_in(text: &str, key: &str) -> Option<Device> {
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .find(|(_, k)| *k == key)
        .and_then(|(d, _)| d.parse().ok())
}

fn remember_in(text: &str, key: &str, device: Device) -> String {
    let mut out: String = text
        .lines()
        .filter(|l| l.split_once('\t').is_some_and(|(_, k)| k != key))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(&format!("{device}\t{key}\n"));
    out
}

/// The provider an earlier trial picked for `key`, if any.
pub fn recall(key: &str) -> Option<Device> {
    let text = std::fs::read_to_string(file()?).ok()?;
    recall_in(&text, key)
}

/// Keeps `device` as the decision for `key` (replacing an older one), written whole to a
/// temporary file and renamed, so a reader never sees half a file.
pub fn remember(key: &str, device: Device) {
    let Some(path) = file() else { return };
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&tmp, remember_in(&text, key, device)))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        log::info!("auto: could not keep the choice in {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_switches_the_file_off_or_moves_it() {
        let os = |s: &str| std::ffi::OsString::from(s);
        assert_eq!(file_for(Some(&os("off"))), None);
        assert_eq!(file_for(Some(&os("0"))), None);
        assert_eq!(
            file_for(Some(&os("/tmp/x/choices.txt"))),
            Some(PathBuf::from("/tmp/x/choices.txt"))
        );
        let default = Some(crate::paths::cache_dir().join(FILE));
        assert_eq!(file_for(None), default);
        assert_eq!(file_for(Some(&os(""))), default);
    }

    #[test]
    fn decisions_are_kept_per_key_and_replaced() {
        let t = remember_in("", "a 1", Device::OpenVino);
        let t = remember_in(&t, "b 2", Device::Cpu);
        assert_eq!(recall_in(&t, "a 1"), Some(Device::OpenVino));
        assert_eq!(recall_in(&t, "b 2"), Some(Device::Cpu));
        assert_eq!(recall_in(&t, "c 3"), None);
        let t = remember_in(&t, "a 1", Device::Cpu);
        assert_eq!(recall_in(&t, "a 1"), Some(Device::Cpu));
        assert_eq!(t.lines().count(), 2);
        // Odd lines are ignored, not fatal.
        assert_eq!(recall_in("garbage\nwarp\ta 1\n", "a 1"), None);
    }
}
