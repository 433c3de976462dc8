"""End-result truth from MediaPipe itself (mediapipe==0.10.14, protobuf<5, own venv):
SelfieSegmentation masks at full photo resolution for both models. Writes the exact RGB
pixels MediaPipe saw (so both sides decode the photo identically), the float32 masks, and a
manifest.json.

Usage: mediapipe_reference.py OUT_DIR
"""
import json
import os
import sys

import mediapipe as mp
import numpy as np
from PIL import Image
from skimage import data as skdata

OPENCV_DATA = "/usr/share/doc/opencv-doc/examples/data"


def photos():
    yield "astronaut", skdata.astronaut()
    yield "messi5", np.asarray(Image.open(os.path.join(OPENCV_DATA, "messi5.jpg")).convert("RGB"))


def selfie_photos():
    """The photos, plus centre crops to 4:3 and 3:4 (portrait): MediaPipe stretches any
    frame to the model's input, so other aspect ratios are checked too."""
    yield from photos()
    astronaut = skdata.astronaut()  # 512×512
    yield "astronaut-4x3", astronaut[64:448]
    yield "astronaut-3x4", astronaut[:, 64:448]
    messi = np.asarray(Image.open(os.path.join(OPENCV_DATA, "messi5.jpg")).convert("RGB"))
    h, w, _ = messi.shape  # 342×548
    pw = h * 3 // 4
    yield "messi5-3x4", messi[:, (w - pw) // 2:(w - pw) // 2 + pw]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    manifest = {"selfie": {}}
    segmenters = {
        "selfie": mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0),
        "selfie-landscape": mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1),
    }
    for name, rgb in selfie_photos():
        rgb = np.ascontiguousarray(rgb[:, :, :3], dtype=np.uint8)
        h, w, _ = rgb.shape
        rgb.tofile(os.path.join(out, f"{name}.rgb"))
        entry = {"width": w, "height": h, "rgb": f"{name}.rgb", "masks": {}}
        for model, seg in segmenters.items():
            mask = seg.process(rgb).segmentation_mask.astype(np.float32)
            assert mask.shape == (h, w), mask.shape
            fname = f"{name}-{model}.f32"
            mask.tofile(os.path.join(out, fname))
            entry["masks"][model] = fname
        manifest["selfie"][name] = entry
        print(f"mediapipe reference: {name} {w}x{h}")
    # Pose (static image mode, full landmark model), landmarks in pixels.
    manifest["pose"] = {}
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False) as pose:
        for name, rgb in list(photos()) + [("coffee", skdata.coffee())]:
            rgb = np.ascontiguousarray(rgb[:, :, :3], dtype=np.uint8)
            h, w, _ = rgb.shape
            rgb.tofile(os.path.join(out, f"{name}.rgb"))
            r = pose.process(rgb)
            lms = None
            if r.pose_landmarks:
                lms = [[l.x * w, l.y * h, l.z * w, l.visibility, l.presence] for l in r.pose_landmarks.landmark]
            manifest["pose"][name] = {"width": w, "height": h, "rgb": f"{name}.rgb", "landmarks": lms}
            print(f"mediapipe pose reference: {name} {'person' if lms else 'no person'}")
    # Pose in tracking mode on a 60-frame pan/zoom of messi5 (frames saved for the Rust side;
    # the Python API stamps frame n at n·33333 µs).
    messi = np.asarray(Image.open(os.path.join(OPENCV_DATA, "messi5.jpg")).convert("RGB"))
    H, W, _ = messi.shape
    w, h, n = 320, 200, 60
    frames = np.zeros((n, h, w, 3), dtype=np.uint8)
    for k in range(n):
        t = k / (n - 1)
        side = 520.0 - 60.0 * t
        ox, oy = 4.0 + 40.0 * t, 8.0 * t
        xs = np.minimum((ox + np.arange(w) * side / w).astype(int), W - 1)
        ys = np.minimum((oy + np.arange(h) * side / w).astype(int), H - 1)
        frames[k] = messi[ys][:, xs]
    frames.tofile(os.path.join(out, "sequence.rgb"))
    tracked = []
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                                enable_segmentation=False) as pose:
        for k in range(n):
            r = pose.process(frames[k])
            tracked.append(None if not r.pose_landmarks else
                           [[l.x * w, l.y * h, l.z * w, l.visibility, 0.0] for l in r.pose_landmarks.landmark])
    manifest["sequence"] = {"width": w, "height": h, "frames": n, "rgb": "sequence.rgb", "landmarks": tracked}
    print(f"mediapipe pose tracking reference: {n} frames, person in {sum(t is not None for t in tracked)}")
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
