"""Serves a reference peer to `aifx-bench`'s paired rounds: reads `WHAT WxH ITERS` lines on
stdin and answers each with the mean ms of ITERS runs of WHAT on the WxH frame (after a short
warm-up the first time), so the bench can alternate our element and the peer round by round
on a machine whose speed drifts. `runners(what, rgb)` returns the callable for WHAT."""
import os
import sys
import time

import numpy as np


def serve(frames_dir, runners):
    made = {}
    for line in sys.stdin:
        what, size, iters = line.split()
        w, h = map(int, size.split("x"))
        if (what, size) not in made:
            rgb = np.fromfile(os.path.join(frames_dir, size + ".rgb"), dtype=np.uint8)
            run = runners(what, rgb.reshape(h, w, 3))
            for _ in range(5):
                run()
            made[(what, size)] = run
        run = made[(what, size)]
        t = time.perf_counter()
        for _ in range(int(iters)):
            run()
        print((time.perf_counter() - t) / int(iters) * 1000, flush=True)
