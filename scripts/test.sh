#!/usr/bin/env bash
# Every test, after the set-up: unit tests, converter robustness, fidelity against
# ai-edge-litert and MediaPipe, the GStreamer plugin and the OBS module.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/aifx
export AIFX_REFERENCE_DIR=${AIFX_REFERENCE_DIR:-$CACHE/reference}
# device=auto's decisions in a file of the tests' own: a trial taken while the tests load both
# cores can pick the slower provider (seen: selfie on ONNX Runtime's CPU code, 2x slower), and
# the user's pipelines should not inherit it from ~/.cache/aifx/auto-choices.txt. Kept across
# runs in target/, shared by every test process of a run (one trial per model, not per
# process: a trial in the OBS soak's own process stepped its memory up once, which its leak
# check read as a leak).
export AIFX_AUTO_CHOICES=${AIFX_AUTO_CHOICES:-$ROOT/target/test-auto-choices.txt}
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

# Every provider the installed runtime has, against the TFLite references.
target/release/aifx-models verify --device cpu
target/release/aifx-models verify --device openvino
status=0
cargo test --release --workspace 2>&1 | tee "$LOG" || status=$?

# One closing line for the whole run (cargo prints one per test binary).
passed=$(grep -oE 'test result: [A-Za-z]+\. [0-9]+ passed' "$LOG" | awk '{s+=$4} END {print s+0}')
failed=$(grep -oE '[0-9]+ failed;' "$LOG" | awk '{s+=$1} END {print s+0}')
echo
echo "aifx: $passed passed, $failed failed"
exit "$status"
