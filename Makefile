# aifx — two commands on a fresh machine: `make demo` and `make test`.
# Both run the same idempotent set-up first (scripts/setup.sh).

CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/aifx

.PHONY: all setup demo test install uninstall bench bench-models fuzz styles

all: setup

setup:
	@scripts/setup.sh

demo: setup
	@scripts/demo.sh

test: setup
	@scripts/test.sh

# Only what runs: the build, ONNX Runtime and the models (no test venvs or test media).
install:
	@scripts/setup.sh --runtime
	@scripts/install.sh

uninstall:
	@scripts/uninstall.sh

# segment and pose elements at 720p/1080p vs MediaPipe on the same frames; temporal filters
# (flicker, lag, 1080p ms/frame); stylize per style beside its OpenCV teacher; budget-ms under
# a competing load; OBS filters.
bench: setup
	@target/release/aifx-bench segment --threads 2 --frames 60 --mediapipe-python $(CACHE)/venv-mediapipe/bin/python
	@target/release/aifx-bench pose --threads 2 --frames 40 --mediapipe-python $(CACHE)/venv-mediapipe/bin/python
	@target/release/aifx-bench temporal --threads 2 --frames 60
	@target/release/aifx-bench stylize --threads 2 --frames 40 --mediapipe-python $(CACHE)/venv-mediapipe/bin/python
	@target/release/aifx-bench budget --threads 2 --frames 150
	@cargo test --release -q -p aifx-tests --test obs_filters bench_filters_at_1080p -- --ignored --nocapture 2>/dev/null | grep '^|'
	@cargo test --release -q -p aifx-tests --test obs_app bench_obs_app_cpu -- --ignored --nocapture 2>/dev/null | grep '^|'

# ONNX Runtime per provider (cpu, openvino, openvino in bf16) vs ai-edge-litert (TFLite,
# XNNPACK) per model, same input, same threads.
bench-models: setup
	@target/release/aifx-models bench --threads 2 --iters 50 --litert-python $(CACHE)/venv-ref/bin/python

# Coverage-guided fuzzing of the TFLite reader/converter (needs cargo-fuzz and nightly).
fuzz:
	cd fuzz && cargo +nightly fuzz run convert -- -max_total_time=300

# Distil the stylize element's built-in styles (models/styles/*.onnx) from their OpenCV teachers
# on the CPU (~30 min, 2 threads; not part of `make test`). Venv: $(CACHE)/venv-train (~5.6 GB).
# ARGS passes flags to train.py, e.g. make styles ARGS="--styles oil --steps 500 --out /tmp/s".
STYLES_VENV := $(CACHE)/venv-train
styles:
	@test -x $(STYLES_VENV)/bin/python || python3 -m venv $(STYLES_VENV)
	@cmp -s models/styles/requirements.txt $(STYLES_VENV)/.requirements.txt || \
		{ $(STYLES_VENV)/bin/pip install --require-hashes -r models/styles/requirements.txt && \
		  cp models/styles/requirements.txt $(STYLES_VENV)/.requirements.txt; }
	$(STYLES_VENV)/bin/python models/styles/train.py $(ARGS)
