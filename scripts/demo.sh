#!/usr/bin/env bash
# The demo on packaged media: every `segment` effect on packaged photos, through real
# gst-launch-1.0 pipelines, a side-by-side montage per photo, and the `pose` overlay
# (target/demo/).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/aifx
OUT=${AIFX_DEMO_OUT:-$ROOT/target/demo}
PY=$CACHE/venv-ref/bin/python
OPENCV=/usr/share/doc/opencv-doc/examples/data
SKIMAGE_DATA=$("$PY" -c 'import skimage.data, os; print(os.path.dirname(skimage.data.__file__))')
export GST_PLUGIN_PATH=$ROOT/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}
mkdir -p "$OUT"

"$ROOT/target/release/aifx-models" list

declare -A PHOTOS=([messi5]="$OPENCV/messi5.jpg" [astronaut]="$SKIMAGE_DATA/astronaut.png")
EFFECTS=("none" "blur" "replace background=$OPENCV/starry_night.jpg" "color" "transparent" "matte")
for name in "${!PHOTOS[@]}"; do
  src=${PHOTOS[$name]}
  for e in "${EFFECTS[@]}"; do
    effect=${e%% *}
    # shellcheck disable=SC2086
    gst-launch-1.0 -q filesrc location="$src" ! decodebin ! videoconvert ! video/x-raw,format=RGBA \
      ! segment effect=$e ! videoconvert ! pngenc ! filesink location="$OUT/$name-$effect.png"
  done
  "$PY" - "$OUT" "$name" <<'PYEOF'
import sys
from PIL import Image, ImageDraw
out, name = sys.argv[1], sys.argv[2]
effects = ["none", "blur", "replace", "color", "transparent", "matte"]
tiles = [Image.open(f"{out}/{name}-{e}.png").convert("RGBA") for e in effects]
w, h = tiles[0].size
sheet = Image.new("RGB", (w * 3, (h + 24) * 2), "white")
checker = Image.new("RGBA", (w, h))
d = ImageDraw.Draw(checker)
for y in range(0, h, 16):
    for x in range(0, w, 16):
        d.rectangle([x, y, x + 15, y + 15], fill=(200, 200, 200, 255) if (x // 16 + y // 16) % 2 else (255, 255, 255, 255))
for i, (e, t) in enumerate(zip(effects, tiles)):
    x, y = (i % 3) * w, (i // 3) * (h + 24)
    sheet.paste(Image.alpha_composite(checker, t).convert("RGB"), (x, y + 24))
    ImageDraw.Draw(sheet).text((x + 6, y + 6), "effect=" + e + (" (original)" if e == "none" else ""), fill="black")
sheet.save(f"{out}/{name}-effects.png")
print(f"{out}/{name}-effects.png")
PYEOF
done
# Body pose: skeleton overlay on the same photos.
for name in "${!PHOTOS[@]}"; do
  gst-launch-1.0 -q filesrc location="${PHOTOS[$name]}" ! decodebin ! videoconvert ! video/x-raw,format=RGBA \
    ! pose line-width=4 ! videoconvert ! pngenc ! filesink location="$OUT/$name-pose.png"
  echo "$OUT/$name-pose.png"
done
# stylize: each built-in style on the same photos.
for name in "${!PHOTOS[@]}"; do
  for style in toon pencil oil; do
    gst-launch-1.0 -q filesrc location="${PHOTOS[$name]}" ! decodebin ! videoconvert ! video/x-raw,format=RGBA \
      ! stylize model=$style ! videoconvert ! pngenc ! filesink location="$OUT/$name-$style.png"
  done
done
# One strip of every effect on the astronaut, small (the README's first picture, docs/effects.jpg).
"$PY" - "$OUT" <<'PYEOF'
import sys
from PIL import Image, ImageDraw
out = sys.argv[1]
tiles = [("original", "none"), ("blur", "blur"), ("replace", "replace"), ("transparent", "transparent"),
         ("pose", "pose"), ("toon", "toon"), ("pencil", "pencil"), ("oil", "oil")]
side, label = 200, 20
strip = Image.new("RGB", (side * len(tiles), side + label), "white")
for i, (text, f) in enumerate(tiles):
    t = Image.open(f"{out}/astronaut-{f}.png").convert("RGBA").resize((side, side), Image.LANCZOS)
    bg = Image.new("RGBA", t.size, (255, 255, 255, 255))
    d = ImageDraw.Draw(bg)
    for y in range(0, side, 10):
        for x in range(0, side, 10):
            if (x // 10 + y // 10) % 2:
                d.rectangle([x, y, x + 9, y + 9], fill=(200, 200, 200, 255))
    strip.paste(Image.alpha_composite(bg, t).convert("RGB"), (i * side, label))
    ImageDraw.Draw(strip).text((i * side + 6, 4), text, fill="black")
strip.save(f"{out}/effects-strip.jpg", quality=85)
print(f"{out}/effects-strip.jpg")
PYEOF
# temporalsmooth: consecutive masks of a panning picture (raw / plain EMA / motion-compensated)
# and the same frames deflickered (input / without motion / with motion).
"$ROOT/target/release/aifx-bench" temporal-strip --out "$OUT"
# The OBS filters as headless libobs renders them.
cargo test --release -q -p aifx-tests --test obs_filters demo_pictures -- --ignored --nocapture 2>/dev/null | grep '\.png$' || true
# The real OBS Studio app recording a media source with AI Background (preview screenshot).
cargo test --release -q -p aifx-tests --test obs_app obs_studio_records -- --nocapture 2>/dev/null | grep -E '^(recorded frame 1|SKIPPED)' || true
echo "$OUT/obs-app.png"
# The same app with AI Background's properties panel open (through obs-websocket).
cargo test --release -q -p aifx-tests --test obs_app demo_properties_panel -- --ignored --nocapture 2>/dev/null | grep -E '\.png$|SKIPPED' || true
echo "demo images are in $OUT (open *-effects.png for the side-by-side view, *-pose.png for pose, temporal-masks.png and temporal-pixels.png for temporalsmooth, obs-*.png for the OBS filters)"
