#!/usr/bin/env bash
# Installs the GStreamer plugin and the OBS module (with its data: locale, shaders) into the
# user's plugin folders, and records every file it wrote so `make uninstall` removes exactly
# those. Models and the ONNX Runtime library stay where the set-up put them
# (~/.local/share/aifx), which both plugins look in.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GST_DIR=${XDG_DATA_HOME:-$HOME/.local/share}/gstreamer-1.0/plugins
OBS_ROOT=${XDG_CONFIG_HOME:-$HOME/.config}/obs-studio/plugins/aifx
MANIFEST=${XDG_DATA_HOME:-$HOME/.local/share}/aifx/installed-files.txt
# A reinstall keeps the folders an earlier install created.
created=$(grep '^dir:' "$MANIFEST" 2>/dev/null || true)
# The folders missing on the way to `d`, outermost first.
missing_dirs() {
  local p=$1 new=()
  while [ ! -d "$p" ]; do new=("$p" "${new[@]}"); p=$(dirname "$p"); done
  printf '%s\n' "${new[@]}"
}
# Folders this creates are recorded too (the manifest's own included), so uninstall removes
# only those.
new_dirs=$(missing_dirs "$(dirname "$MANIFEST")")
mkdir -p "$(dirname "$MANIFEST")"
printf '%s' "${created:+$created
}" >"$MANIFEST"
for d in "$GST_DIR" "$OBS_ROOT/bin/64bit" "$OBS_ROOT/data/locale"; do
  new_dirs+=$'\n'$(missing_dirs "$d")
  mkdir -p "$d"
done
printf '%s\n' "$new_dirs" | sed '/^$/d; s/^/dir:/' >>"$MANIFEST"
put() { install -m "$1" "$2" "$3"; echo "$3" >>"$MANIFEST"; }
put 0755 "$ROOT/target/release/libgstaifx.so" "$GST_DIR/libgstaifx.so"
put 0755 "$ROOT/target/release/libaifx_obs.so" "$OBS_ROOT/bin/64bit/aifx.so"
put 0644 "$ROOT/obs-plugin/data/aifx.effect" "$OBS_ROOT/data/aifx.effect"
for f in "$ROOT"/obs-plugin/data/locale/*.ini; do
  put 0644 "$f" "$OBS_ROOT/data/locale/$(basename "$f")"
done
echo "installed $GST_DIR/libgstaifx.so (check: gst-inspect-1.0 aifx)"
echo "installed the OBS module in $OBS_ROOT (restart OBS; its log then says \"[aifx] module loaded\")"
echo "file list: $MANIFEST (make uninstall removes exactly these)"
