"""MediaPipe side of `aifx-bench segment`: SelfieSegmentation.process() alone (`process`), and
process() plus the OpenCV Gaussian-blur composite a Python user writes (`process_blur`), on
the same frames, in rounds alternating with ours.

Usage: mediapipe_bench.py --serve FRAMES_DIR  (FRAMES_DIR holds WxH.rgb files; see peer.py)
"""
import sys

import cv2
import mediapipe as mp
import numpy as np

import peer


def runners(what, rgb):
    """`process` or `process_blur` on `rgb`."""
    seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
    if what == "process":
        return lambda: seg.process(rgb)

    def process_blur():
        mask = seg.process(rgb).segmentation_mask
        blurred = cv2.GaussianBlur(rgb, (55, 55), 0)
        cond = np.stack((mask,) * 3, axis=-1) > 0.5
        return np.where(cond, rgb, blurred)

    return process_blur


if __name__ == "__main__":
    assert sys.argv[1] == "--serve", __doc__
    peer.serve(sys.argv[2], runners)
