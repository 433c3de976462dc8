#!/usr/bin/env bash
# Installs the GStreamer plugin and the OBS module into the user's plugin folders.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GST_DIR=${XDG_DATA_HOME:-$HOME/.local/share}/gstreamer-1.0/plugins
OBS_DIR=${XDG_CONFIG_HOME:-$HOME/.config}/obs-studio/plugins/aifx/bin/64bit
mkdir -p "$GST_DIR" "$OBS_DIR"
install -m 0755 "$ROOT/target/release/libgstaifx.so" "$GST_DIR/"
install -m 0755 "$ROOT/target/release/libaifx_obs.so" "$OBS_DIR/aifx.so"
echo "installed $GST_DIR/libgstaifx.so (check: gst-inspect-1.0 aifx)"
echo "installed $OBS_DIR/aifx.so (restart OBS to load it)"
