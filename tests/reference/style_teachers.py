"""The built-in styles' teachers (OpenCV, as models/styles/train.py distils them), for the
tests and the bench: run in the MediaPipe reference venv, whose opencv-contrib has them.

  style_teachers.py reference OUT_DIR          teacher outputs on the held-out photos
  style_teachers.py bench RGB_DIR FRAMES       ms per teacher on W x H .rgb frames (JSON)
"""
import json
import os
import sys
import time

import cv2
import numpy as np

# Keep in step with models/styles/train.py (each model's `aifx.teacher` metadata says it).
TEACHERS = {
    "toon": lambda bgr: cv2.stylization(bgr, sigma_s=60, sigma_r=0.45),
    "pencil": lambda bgr: cv2.pencilSketch(bgr, sigma_s=60, sigma_r=0.07, shade_factor=0.05)[1],
    "oil": lambda bgr: cv2.xphoto.oilPainting(bgr, 7, 1),
}
# Held out of training; the tests compare student and teacher on these at this short side.
SHORT_SIDE = 360


def held_out():
    import skimage.data

    messi = cv2.imread("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
    astronaut = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    return {"messi5": messi, "astronaut": astronaut}


def at_short_side(bgr, short):
    h, w = bgr.shape[:2]
    s = short / min(h, w)
    size = (int(round(w * s / 4)) * 4, int(round(h * s / 4)) * 4)
    return cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)


def reference(out):
    os.makedirs(out, exist_ok=True)
    manifest = {"short_side": SHORT_SIDE, "photos": {}}
    for name, bgr in held_out().items():
        small = at_short_side(bgr, SHORT_SIDE)
        h, w = small.shape[:2]
        rgb_file = f"{name}.rgb"
        cv2.cvtColor(small, cv2.COLOR_BGR2RGB).tofile(os.path.join(out, rgb_file))
        entry = {"width": w, "height": h, "rgb": rgb_file, "teachers": {}}
        for style, teacher in TEACHERS.items():
            f = f"{name}-{style}.rgb"
            cv2.cvtColor(teacher(small), cv2.COLOR_BGR2RGB).tofile(os.path.join(out, f))
            entry["teachers"][style] = f
        manifest["photos"][name] = entry
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def bench(rgb_dir, frames):
    results = {}
    for fname in sorted(os.listdir(rgb_dir)):
        if not fname.endswith(".rgb"):
            continue
        w, h = map(int, fname[:-4].split("x"))
        bgr = cv2.cvtColor(np.fromfile(os.path.join(rgb_dir, fname), np.uint8).reshape(h, w, 3), cv2.COLOR_RGB2BGR)
        for style, teacher in TEACHERS.items():
            teacher(bgr)
            t = time.perf_counter()
            for _ in range(frames):
                teacher(bgr)
            results[f"{style} {w}x{h}"] = (time.perf_counter() - t) * 1000 / frames
    print(json.dumps(results))


if __name__ == "__main__":
    cv2.setNumThreads(2)
    if sys.argv[1] == "reference":
        reference(sys.argv[2])
    else:
        bench(sys.argv[2], int(sys.argv[3]))
