"""MediaPipe side of `aifx-bench segment`: times SelfieSegmentation.process() alone, and
process() plus the OpenCV Gaussian-blur composite a Python user writes, on the same frames.

Usage: mediapipe_bench.py FRAMES_DIR ITERS  (FRAMES_DIR holds WxH.rgb files)
Prints one JSON object: {"WxH": {"process": ms, "process_blur": ms}}.
`mediapipe_bench.py --serve FRAMES_DIR` answers paired rounds (see peer.py).
"""
import glob
import json
import os
import sys
import time

import cv2
import mediapipe as mp
import numpy as np


def runners(what, rgb):
    """`process` or `process_blur` on `rgb`, for `peer.serve` (paired rounds)."""
    seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
    if what == "process":
        return lambda: seg.process(rgb)

    def process_blur():
        mask = seg.process(rgb).segmentation_mask
        blurred = cv2.GaussianBlur(rgb, (55, 55), 0)
        cond = np.stack((mask,) * 3, axis=-1) > 0.5
        return np.where(cond, rgb, blurred)

    return process_blur


def main():
    if sys.argv[1] == "--serve":
        import peer

        return peer.serve(sys.argv[2], runners)
    frames_dir, iters = sys.argv[1], int(sys.argv[2])
    out = {}
    for path in sorted(glob.glob(os.path.join(frames_dir, "*.rgb"))):
        size = os.path.basename(path)[:-4]
        w, h = map(int, size.split("x"))
        rgb = np.fromfile(path, dtype=np.uint8).reshape(h, w, 3)
        with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
            for _ in range(5):
                seg.process(rgb)
            t = time.perf_counter()
            for _ in range(iters):
                seg.process(rgb)
            process = (time.perf_counter() - t) / iters * 1000
            t = time.perf_counter()
            for _ in range(iters):
                mask = seg.process(rgb).segmentation_mask
                blurred = cv2.GaussianBlur(rgb, (55, 55), 0)
                cond = np.stack((mask,) * 3, axis=-1) > 0.5
                composite = np.where(cond, rgb, blurred)
            process_blur = (time.perf_counter() - t) / iters * 1000
        out[size] = {"process": process, "process_blur": process_blur}
        assert composite.shape == rgb.shape
    print(json.dumps(out))


if __name__ == "__main__":
    main()
