#!/usr/bin/env bash
# aifx set-up: idempotent, run by `make demo`, `make test` and `make install`.
#
#   1. Debian packages (installed when running as root; otherwise the exact sudo line is printed)
#   2. pinned wheels downloaded with `pip download` into the cache and checked by sha256
#   3. ONNX Runtime → ${XDG_DATA_HOME:-~/.local/share}/aifx/lib: the build with Intel's OpenVINO
#      execution provider (onnxruntime-openvino wheel, with the OpenVINO libraries it needs for
#      the CPU) is the one loaded (`libonnxruntime.so`); the plain CPU-only build of the
#      onnxruntime wheel sits beside it for comparisons (ORT_DYLIB_PATH)
#   4. release build of the workspace
#   5. TFLite models extracted from the mediapipe wheel and converted to ONNX
#      → ${XDG_DATA_HOME:-~/.local/share}/aifx/models
#   6. Python venvs for the references (ai-edge-litert, MediaPipe), installed from the
#      hash-locked tests/reference/requirements-{ref,mediapipe}.txt (regenerate them with
#      scripts/lock-reference.sh), and the reference tensors they compute
#      → ${XDG_CACHE_HOME:-~/.cache}/aifx (tests and benches only)
#   7. int8 variants of the models (`aifx-models quantize`: calibrated on packaged photos no
#      test uses, judged against the fp32 models, timed per provider; `int8.txt` in the model
#      folder records where `precision=auto` uses them)
#
# A second run finds every step done and changes nothing. `--runtime` (what `make install`
# runs) stops after the built-in styles and skips the packages only tests and demos use: no
# reference venvs, no test media.
set -Eeuo pipefail
RUNTIME_ONLY=0
[ "${1:-}" = "--runtime" ] && RUNTIME_ONLY=1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}/aifx
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/aifx
WHEELS=$CACHE/wheels
PYTHON=${PYTHON:-python3}

ORT_VERSION=1.32.0
ORT_WHEEL=onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl
ORT_SHA256=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d
# OpenVINO's CPU plugin ran every catalog model faster than ONNX Runtime's own CPU code here
# (`make bench-models`); `device=auto` measures both on each model's first frames.
OV_VERSION=1.24.1
OV_WHEEL=onnxruntime_openvino-1.24.1-cp311-cp311-manylinux_2_28_x86_64.whl
OV_SHA256=3007c803634cc69c6d52af1dea7ce729d9bb62b9a11070fd2f959119199007a8
# What the OpenVINO provider needs on a CPU (127 MB): not the GPU/NPU plugins (54 MB more).
OV_LIBS=(
  "libonnxruntime.so.$OV_VERSION" libonnxruntime_providers_shared.so
  libonnxruntime_providers_openvino.so libopenvino.so.2541 libopenvino_onnx_frontend.so.2541
  libopenvino_intel_cpu_plugin.so libtbb.so.12
)
MP_REQ=mediapipe==0.10.14
MP_WHEEL=mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
MP_SHA256=a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4
REF_LOCK=$ROOT/tests/reference/requirements-ref.txt
MP_LOCK=$ROOT/tests/reference/requirements-mediapipe.txt

APT_PACKAGES=(
  pkg-config libclang-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-tools
  gstreamer1.0-libav libobs-dev
)
# Only for tests and demos: the OBS app and its stock plugins, a headless X server, test media,
# and what the C and Python examples need.
APT_TEST_PACKAGES=(obs-studio xvfb opencv-doc gcc python3-gi python3-gst-1.0 gir1.2-gstreamer-1.0)
[ "$RUNTIME_ONLY" = 1 ] || APT_PACKAGES+=("${APT_TEST_PACKAGES[@]}")

say() { printf '\033[1m[aifx setup]\033[0m %s\n' "$*"; }

# Each step is announced with its number and timed; a step that fails says which it was and
# what to run once the error above is fixed.
STEP_NAMES=(
  "Python 3.11" "Debian packages" "onnxruntime wheel" "onnxruntime-openvino wheel"
  "mediapipe wheel" "ONNX Runtime libraries"
  "release build" "models (extract + convert)" "built-in styles" "reference venv (ai-edge-litert)"
  "reference venv (MediaPipe)" "reference tensors" "int8 variants"
)
STEP=0
STEP_START=$SECONDS
STEP_COUNT=${#STEP_NAMES[@]}
[ "$RUNTIME_ONLY" = 0 ] || STEP_COUNT=9
step() {
  STEP=$((STEP + 1))
  STEP_START=$SECONDS
  say "($STEP/$STEP_COUNT) ${STEP_NAMES[$((STEP - 1))]}"
  "$@"
  local took=$((SECONDS - STEP_START))
  [ "$took" -lt 2 ] || say "    done in ${took}s"
}
on_error() {
  say "FAILED at step $STEP/$STEP_COUNT (${STEP_NAMES[$((STEP - 1))]:-start}) after $((SECONDS - STEP_START))s."
  say "Fix the error above, then run \`make setup\` (or scripts/setup.sh) again: finished steps are skipped."
}
trap on_error ERR

# The pinned wheels (onnxruntime, mediapipe and the locked reference venvs) are cp311.
step_python() {
  local found
  found=$("$PYTHON" -c 'import sys; print(sys.implementation.name, "%d.%d" % sys.version_info[:2])' 2>/dev/null) ||
    found="not a working Python"
  if [ "$found" != "cpython 3.11" ]; then
    say "ERROR: the pinned wheels are cp311 and need CPython 3.11, but PYTHON=$PYTHON is $found."
    echo "Install it (sudo apt-get install -y python3.11 python3.11-venv), then run the command" \
      "again with it, e.g. PYTHON=python3.11 make test"
    exit 1
  fi
  if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    say "ERROR: $PYTHON cannot create venvs. Run this, then run the command again:"
    echo "sudo apt-get install -y python3.11-venv"
    exit 1
  fi
}

step_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages. Run this, then run the command again:"
    echo "sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  say "installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# wheel FILE REQUIREMENT SHA256
step_wheel() {
  local file=$1 req=$2 sha=$3
  if [ -f "$WHEELS/$file" ] && echo "$sha  $WHEELS/$file" | sha256sum -c --status; then
    return 0
  fi
  say "downloading $req"
  mkdir -p "$WHEELS"
  "$PYTHON" -m pip download --progress-bar on --no-deps --only-binary=:all: \
    --python-version 3.11 --implementation cp --abi cp311 \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    -d "$WHEELS" "$req"
  if ! echo "$sha  $WHEELS/$file" | sha256sum -c --status; then
    say "ERROR: $WHEELS/$file does not have sha256 $sha"
    exit 1
  fi
}

step_ort() {
  local lib=$DATA/lib/libonnxruntime.so.$ORT_VERSION
  if [ ! -f "$lib" ]; then
    say "installing ONNX Runtime $ORT_VERSION into $DATA/lib"
    mkdir -p "$DATA/lib"
    local tmp
    tmp=$(mktemp -d)
    "$PYTHON" -m zipfile -e "$WHEELS/$ORT_WHEEL" "$tmp" >/dev/null
    cp "$tmp/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" "$lib.tmp"
    mv "$lib.tmp" "$lib"
    rm -rf "$tmp"
  fi
  local missing=0 f
  for f in "${OV_LIBS[@]}"; do [ -f "$DATA/lib/$f" ] || missing=1; done
  if [ "$missing" = 1 ]; then
    say "installing ONNX Runtime $OV_VERSION with OpenVINO into $DATA/lib"
    local tmp
    tmp=$(mktemp -d)
    "$PYTHON" -m zipfile -e "$WHEELS/$OV_WHEEL" "$tmp" >/dev/null
    # The libraries find each other through RUNPATH $ORIGIN: they share one folder.
    for f in "${OV_LIBS[@]}"; do
      cp "$tmp/onnxruntime/capi/$f" "$DATA/lib/$f.tmp"
      mv "$DATA/lib/$f.tmp" "$DATA/lib/$f"
    done
    rm -rf "$tmp"
  fi
  [ "$(readlink "$DATA/lib/libonnxruntime.so" 2>/dev/null)" = "libonnxruntime.so.$OV_VERSION" ] ||
    ln -sfn "libonnxruntime.so.$OV_VERSION" "$DATA/lib/libonnxruntime.so"
}

step_build() {
  # cargo prints each crate it compiles (a first build takes a few minutes).
  (cd "$ROOT" && cargo build --release --workspace)
}

step_models() {
  local bin=$ROOT/target/release/aifx-models
  "$bin" fetch --wheel "$WHEELS" | sed 's/^/  /'
  "$bin" convert | sed 's/^/  /'
}

# venv DIR LOCK [REQUIREMENT SHA256]: installs the hash-locked requirements file LOCK (every
# package pinned with its sha256). REQUIREMENT, if given, is installed first from the checked
# wheel in $WHEELS (pip would otherwise fetch it again: it prefers an index link to a
# --find-links file of the same version). The stamp is LOCK's sha256, so editing the lock
# recreates the venv.
# The built-in styles (this project's own trained students, committed under models/styles)
# go beside the converted models, where `stylize model=NAME` finds them.
step_styles() {
  mkdir -p "$DATA/models"
  local f
  for f in "$ROOT"/models/styles/*.onnx; do
    [ -e "$f" ] || continue
    cmp -s "$f" "$DATA/models/${f##*/}" || cp "$f" "$DATA/models/${f##*/}"
  done
}

step_venv() {
  local dir=$1 lock=$2
  local want
  want=$(sha256sum "$lock" | cut -d' ' -f1)
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.aifx-reqs" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  say "creating $dir from ${lock#"$ROOT"/}"
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  local pip=("$dir/bin/pip" install --progress-bar on --disable-pip-version-check --require-hashes --only-binary=:all:)
  if [ $# -ge 4 ]; then
    "${pip[@]}" --no-index --no-deps --find-links "$WHEELS" -r <(echo "$3 --hash=sha256:$4")
  fi
  "${pip[@]}" -r "$lock"
  local problems
  if ! problems=$("$dir/bin/pip" check --disable-pip-version-check); then
    say "ERROR: $dir has broken requirements:"
    echo "$problems"
    exit 1
  fi
  echo "$want" >"$dir/.aifx-reqs"
}

# Log lines that TFLite, absl and protobuf print on stderr on a successful reference run.
REF_NOISE='^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$'
REF_NOISE+='|^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$'
REF_NOISE+='|^W[0-9]{4} .* inference_feedback_manager\.cc:[0-9]+\] Feedback manager requires a model with a single signature'
REF_NOISE+='|SymbolDatabase\.GetPrototype\(\) is deprecated'

# denoise CMD...: runs CMD with the REF_NOISE lines dropped from its stderr (everything else,
# errors and tracebacks included, still reaches stderr); returns CMD's exit status.
denoise() {
  { "$@" 2>&1 1>&3 3>&- | { grep -Ev "$REF_NOISE" || true; } >&2; } 3>&1
}

step_reference() {
  local out=$CACHE/reference
  local stamp
  stamp=$(cat "$ROOT/tests/reference/"*.py "$ROOT/tests/reference/"requirements-*.txt "$ROOT/models/catalog.toml" |
    sha256sum | cut -d' ' -f1)
  if [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  say "computing reference tensors (ai-edge-litert) and masks (MediaPipe) in $out"
  rm -rf "$out"
  mkdir -p "$out"
  denoise "$CACHE/venv-ref/bin/python" "$ROOT/tests/reference/litert_reference.py" \
    "$ROOT/models/catalog.toml" "$DATA/models/tflite" "$out"
  denoise "$CACHE/venv-mediapipe/bin/python" "$ROOT/tests/reference/mediapipe_reference.py" "$out/mediapipe"
  denoise "$CACHE/venv-mediapipe/bin/python" "$ROOT/tests/reference/style_teachers.py" reference "$out/styles"
  echo "$stamp" >"$out/.stamp"
}

# Made once per converted model (a stamp beside each); the record is rewritten only then.
step_int8() {
  "$ROOT/target/release/aifx-models" quantize --python "$CACHE/venv-ref/bin/python" | sed "s/^/  /"
}

step step_python
step step_apt
step step_wheel "$ORT_WHEEL" "onnxruntime==$ORT_VERSION" "$ORT_SHA256"
step step_wheel "$OV_WHEEL" "onnxruntime-openvino==$OV_VERSION" "$OV_SHA256"
step step_wheel "$MP_WHEEL" "$MP_REQ" "$MP_SHA256"
step step_ort
step step_build
step step_models
step step_styles
if [ "$RUNTIME_ONLY" = 1 ]; then
  say "ready: runtime files in $DATA"
  exit 0
fi
grep -q "sha256:$MP_SHA256" "$MP_LOCK" || { say "ERROR: $MP_LOCK lacks mediapipe's sha256 $MP_SHA256"; exit 1; }
step step_venv "$CACHE/venv-ref" "$REF_LOCK"
step step_venv "$CACHE/venv-mediapipe" "$MP_LOCK" "$MP_REQ" "$MP_SHA256"
step step_reference
step step_int8
say "ready: runtime files in $DATA, references in $CACHE"
