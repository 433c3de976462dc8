"""MediaPipe side of `aifx-bench pose`: Pose(model_complexity=1) in tracking mode on the same
frames, in rounds alternating with ours.

Usage: mediapipe_pose_bench.py --serve FRAMES_DIR  (FRAMES_DIR holds WxH.rgb files; see peer.py)
"""
import sys

import mediapipe as mp

import peer


def runners(what, rgb):
    """`tracking` on `rgb`."""
    assert what == "tracking", what
    pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1)
    return lambda: pose.process(rgb)


if __name__ == "__main__":
    assert sys.argv[1] == "--serve", __doc__
    peer.serve(sys.argv[2], runners)
