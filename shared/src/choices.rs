//! `device=auto`'s decisions kept across processes, in `auto-choices.txt` under
//! [`crate::paths::cache_dir`]: a restarted pipeline starts on the provider an earlier trial
//! picked, instead of timing the providers again (which stalls its third frame while the
//! other provider compiles). One line per decision, `DEVICE<TAB>UNIX-SECONDS<TAB>KEY`; the key
//! holds the model file (path, size, modification time), threads, precision, the ONNX Runtime
//! library and the CPU, so a changed model, runtime or machine is timed again. A decision is
//! kept for a day ([`KEPT_FOR`]), then timed again: a trial taken under a passing load can
//! pick the slower provider, and one such pick kept for good had selfie on `cpu` here (4.6–5.5
//! ms a run against 3.7–4.4 on OpenVINO, which won four fresh trials of four). Deleting the
//! file, or
//! `AIFX_AUTO_CHOICES=off`, times everything again; `AIFX_AUTO_CHOICES=PATH` keeps the
//! decisions in another file (`make test` does: a trial taken while the tests load both cores
//! can pick the slower provider, which the user's own runs should not inherit). A cache:
//! unreadable or odd lines are ignored, and a failed write only costs a later re-timing.

use std::path::{Path, PathBuf};

use crate::Device;

const FILE: &str = "auto-choices.txt";

/// How long a decision is kept (seconds).
pub const KEPT_FOR: u64 = 24 * 3600;

/// Seconds since the Unix epoch.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A line's device, when it was decided and key; `None` for odd lines (and the older lines
/// without a time, which are timed again).
fn parse(line: &str) -> Option<(&str, u64, &str)> {
    let mut fields = line.splitn(3, '\t');
    let device = fields.next()?;
    let decided = fields.next()?.parse().ok()?;
    Some((device, decided, fields.next()?))
}

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

fn recall_in(text: &str, key: &str, now: u64) -> Option<Device> {
    text.lines()
        .filter_map(parse)
        .find(|&(_, decided, k)| k == key && now.saturating_sub(decided) < KEPT_FOR)
        .and_then(|(d, _, _)| d.parse().ok())
}

fn remember_in(text: &str, key: &str, device: Device, now: u64) -> String {
    let mut out: String = text
        .lines()
        .filter(|l| parse(l).is_some_and(|(_, _, k)| k != key))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(&format!("{device}\t{now}\t{key}\n"));
    out
}

/// The provider an earlier trial picked for `key`, if any.
pub fn recall(key: &str) -> Option<Device> {
    let text = std::fs::read_to_string(file()?).ok()?;
    recall_in(&text, key, now())
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
        .and_then(|()| std::fs::write(&tmp, remember_in(&text, key, device, now())))
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
        let t = remember_in("", "a 1", Device::OpenVino, 1000);
        let t = remember_in(&t, "b 2", Device::Cpu, 1000);
        assert_eq!(recall_in(&t, "a 1", 1000), Some(Device::OpenVino));
        assert_eq!(recall_in(&t, "b 2", 1000), Some(Device::Cpu));
        assert_eq!(recall_in(&t, "c 3", 1000), None);
        let t = remember_in(&t, "a 1", Device::Cpu, 2000);
        assert_eq!(recall_in(&t, "a 1", 2000), Some(Device::Cpu));
        assert_eq!(t.lines().count(), 2);
        // A day later each is timed again.
        assert_eq!(recall_in(&t, "a 1", 2000 + KEPT_FOR), None);
        assert_eq!(recall_in(&t, "b 2", 1000 + KEPT_FOR - 1), Some(Device::Cpu));
        // Odd lines, and lines without a time (written before decisions expired), are
        // ignored, not fatal; remembering drops them.
        assert_eq!(
            recall_in("garbage\nwarp\t1\ta 1\ncpu\ta 1\n", "a 1", 1),
            None
        );
        assert_eq!(
            remember_in("cpu\ta 1\n", "b", Device::Cpu, 5),
            "cpu\t5\tb\n"
        );
    }
}
