#!/usr/bin/env bash
# Regenerates the hash-locked requirement files of the reference venvs that scripts/setup.sh
# creates (tests/reference/requirements-{ref,mediapipe}.txt) from their .in files, with
# pip-tools in a throwaway venv. Resolves for the running CPython (must be 3.11: the pinned
# wheels are cp311) on linux x86_64. After it, keep mediapipe's hash of the cp311 manylinux
# wheel equal to MP_SHA256 in scripts/setup.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
PIP_TOOLS=pip-tools==7.6.2
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
  { echo "lock-reference.sh: needs CPython 3.11 (PYTHON=python3.11 $0)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet --disable-pip-version-check "$PIP_TOOLS"
cd "$ROOT"
for name in ref mediapipe; do
  env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL \
    CUSTOM_COMPILE_COMMAND="scripts/lock-reference.sh" \
    "$tmp/venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras \
    --no-emit-index-url --no-emit-find-links --rebuild \
    --output-file "tests/reference/requirements-$name.txt" "tests/reference/requirements-$name.in"
done
