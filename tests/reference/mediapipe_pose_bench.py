"""MediaPipe side of `aifx-bench pose`: Pose(model_complexity=1) in tracking mode on the same
frames. Usage: mediapipe_pose_bench.py FRAMES_DIR ITERS; prints {"WxH": ms}.
`mediapipe_pose_bench.py --serve FRAMES_DIR` answers paired rounds (see peer.py)."""
import glob
import json
import os
import sys
import time

import mediapipe as mp
import numpy as np


def runners(what, rgb):
    """`tracking` on `rgb`, for `peer.serve` (paired rounds)."""
    assert what == "tracking", what
    pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1)
    return lambda: pose.process(rgb)


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
        with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
            for _ in range(5):
                pose.process(rgb)
            t = time.perf_counter()
            for _ in range(iters):
                pose.process(rgb)
            out[size] = (time.perf_counter() - t) / iters * 1000
    print(json.dumps(out))


if __name__ == "__main__":
    main()
