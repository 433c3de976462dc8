#!/usr/bin/env bash
# The demo on packaged media: person masks from the converted selfie model.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/aifx
OUT=${AIFX_DEMO_OUT:-$ROOT/target/demo}
SKIMAGE_DATA=$("$CACHE/venv-ref/bin/python" -c 'import skimage.data, os; print(os.path.dirname(skimage.data.__file__))')
"$ROOT/target/release/aifx-models" list
"$ROOT/target/release/aifx-models" demo --out "$OUT" \
  "$SKIMAGE_DATA/astronaut.png" /usr/share/doc/opencv-doc/examples/data/messi5.jpg
echo "demo images are in $OUT"
