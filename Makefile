# aifx — two commands on a fresh machine: `make demo` and `make test`.
# Both run the same idempotent set-up first (scripts/setup.sh).

CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/aifx

.PHONY: all setup demo test install bench bench-models fuzz

all: setup

setup:
	@scripts/setup.sh

demo: setup
	@scripts/demo.sh

test: setup
	@scripts/test.sh

install: setup
	@scripts/install.sh

# segment and pose elements at 720p/1080p vs MediaPipe on the same frames; temporal filters
# (flicker, lag, 1080p ms/frame).
bench: setup
	@target/release/aifx-bench segment --threads 2 --frames 60 --mediapipe-python $(CACHE)/venv-mediapipe/bin/python
	@target/release/aifx-bench pose --threads 2 --frames 40 --mediapipe-python $(CACHE)/venv-mediapipe/bin/python
	@target/release/aifx-bench temporal --threads 2 --frames 60

# ONNX Runtime vs ai-edge-litert (TFLite, XNNPACK) per model, same input, same threads.
bench-models: setup
	@target/release/aifx-models bench --threads 2 --iters 50 --litert-python $(CACHE)/venv-ref/bin/python

# Coverage-guided fuzzing of the TFLite reader/converter (needs cargo-fuzz and nightly).
fuzz:
	cd fuzz && cargo +nightly fuzz run convert -- -max_total_time=300
