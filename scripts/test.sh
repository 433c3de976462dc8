#!/usr/bin/env bash
# Every test, after the set-up: unit tests, converter robustness, fidelity against
# ai-edge-litert and MediaPipe, the GStreamer plugin and the OBS module.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/aifx
export AIFX_REFERENCE_DIR=${AIFX_REFERENCE_DIR:-$CACHE/reference}
target/release/aifx-models verify
cargo test --release --workspace 2>&1
