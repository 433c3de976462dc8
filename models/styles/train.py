#!/usr/bin/env python3
"""Distil aifx's built-in `stylize` styles: slow OpenCV teacher -> small ONNX student.

One command reproduces every built-in style from scratch, seeded, on the CPU:

    python models/styles/train.py                 # all styles, default steps (= committed files)
    python models/styles/train.py --styles oil --steps 500 --out /tmp/try

For each style this
  1. loads the training photos shipped by scikit-image and opencv-doc (held-out photos excluded),
  2. resizes each to a few short sides and runs the teacher on the whole picture once
     (teachers are slow and their look depends on context, so crops are cut afterwards),
  3. trains the student on random crops: L1 + gradient L1 to the teacher, plus a temporal term
     (student(shifted noisy crop) must equal the shifted student(crop) on the overlap),
  4. exports <out>/<style>.onnx (opset 17, dynamic H/W, metadata) and evaluates it on the held-out
     photos against the teacher (PSNR, SSIM, flicker, ms/frame at 1280x720), written to
     <out>/<style>.json,
and finally draws <out>/contact-sheet.jpg (teacher beside student for every style present).

A new style = one entry in STYLES below: a name, the exact teacher call as text, and a function
BGR uint8 HxWx3 -> BGR uint8 HxWx3.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import platform
import random
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")


# --------------------------------------------------------------------------------------------
# Teachers. Each takes and returns BGR uint8 HxWx3 (OpenCV's channel order).
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Style:
    name: str
    call: str  # the exact teacher call, recorded in the ONNX metadata and the JSON
    fn: Callable[[np.ndarray], np.ndarray]
    note: str = ""


def _toon(bgr):
    return cv2.stylization(bgr, sigma_s=60, sigma_r=0.45)


def _pencil(bgr):
    # pencilSketch returns (grey sketch, colour sketch); the colour one is used (see note).
    return cv2.pencilSketch(bgr, sigma_s=60, sigma_r=0.07, shade_factor=0.05)[1]


def _oil(bgr):
    # opencv-contrib 5.0: oilPainting(src, size, dynRatio[, dst]) (a 4-argument overload takes a
    # colour-conversion code; the 3-argument one converts BGR->grey for the histogram).
    return cv2.xphoto.oilPainting(bgr, 7, 1)


STYLES: dict[str, Style] = {
    s.name: s
    for s in [
        Style("toon", "cv2.stylization(img, sigma_s=60, sigma_r=0.45)", _toon,
              "cartoon / watercolour: edge-aware smoothing with dark edges"),
        Style("pencil", "cv2.pencilSketch(img, sigma_s=60, sigma_r=0.07, shade_factor=0.05)[1]", _pencil,
              "colour pencil: the colour output of pencilSketch (the grey output is dominated by "
              "noise-like stroke texture that flickers and does not distil well)"),
        Style("oil", "cv2.xphoto.oilPainting(img, 7, 1)", _oil,
              "oil painting: 15x15 histogram-mode filter, blotchy strokes"),
    ]
}


# --------------------------------------------------------------------------------------------
# Data: real photos shipped by packages. Held out: astronaut (skimage), messi5.jpg (opencv-doc).
# --------------------------------------------------------------------------------------------
HELD_OUT = ["skimage.data.astronaut", "opencv-doc/messi5.jpg"]

SKIMAGE_COLOUR = ["chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina"]
SKIMAGE_GREY = ["camera", "brick", "grass", "gravel", "moon"]  # replicated to RGB
# opencv-doc *.jpg|*.png that are not photos (drawings, charts, logos, masks, text, disparity maps,
# a 3723x3595 chessboard); and the calibration series, of which three frames are kept.
OPENCV_NOT_PHOTOS = {
    "LinuxLogo.jpg", "WindowsLogo.jpg", "aloeGT.png", "cards.png", "chessboard.png", "detect_blob.png",
    "digits.png", "ellipses.jpg", "gradient.png", "imageTextN.png", "imageTextR.png", "mask.png",
    "ml.png", "notes.png", "opencv-logo-white.png", "opencv-logo.png", "pic1.png", "pic2.png",
    "pic3.png", "pic4.png", "pic5.png", "pic6.png", "templ.png", "tmpl.png", "sudoku.png",
}
OPENCV_CALIB_KEEP = {"left01.jpg", "left07.jpg", "left13.jpg"}
VTEST_FRAMES = 12  # evenly spaced frames of vtest.avi (if it decodes)


def _to_rgb(im: np.ndarray) -> np.ndarray:
    if im.dtype != np.uint8:
        im = (np.clip(im, 0, 1) * 255).astype(np.uint8) if im.dtype.kind == "f" else im.astype(np.uint8)
    if im.ndim == 2:
        im = np.repeat(im[:, :, None], 3, axis=2)
    if im.shape[2] == 4:
        im = im[:, :, :3]
    return np.ascontiguousarray(im)


def load_training_images() -> list[tuple[str, np.ndarray]]:
    """(name, RGB uint8) for every training photo, in a fixed order."""
    import skimage.data as skd

    out = []
    for n in SKIMAGE_COLOUR + SKIMAGE_GREY:
        out.append((f"skimage.data.{n}", _to_rgb(getattr(skd, n)())))
    left, _right, _disp = skd.stereo_motorcycle()
    out.append(("skimage.data.stereo_motorcycle[0]", _to_rgb(left)))

    files = sorted(glob.glob(str(OPENCV_DATA / "*.jpg")) + glob.glob(str(OPENCV_DATA / "*.png")))
    for p in files:
        b = os.path.basename(p)
        if b == "messi5.jpg" or b in OPENCV_NOT_PHOTOS:
            continue
        if (b.startswith("left") or b.startswith("right")) and b[-6:-4].isdigit() and b not in OPENCV_CALIB_KEEP:
            continue
        im = cv2.imread(p, cv2.IMREAD_COLOR)  # BGR, grey files replicated
        if im is None or min(im.shape[:2]) < 128:
            continue
        out.append((f"opencv-doc/{b}", cv2.cvtColor(im, cv2.COLOR_BGR2RGB)))

    cap = cv2.VideoCapture(str(OPENCV_DATA / "vtest.avi"))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    if frames:
        idx = np.linspace(0, len(frames) - 1, VTEST_FRAMES).round().astype(int)
        for i in idx:
            out.append((f"opencv-doc/vtest.avi#{i}", cv2.cvtColor(frames[i], cv2.COLOR_BGR2RGB)))
    else:
        print("vtest.avi did not decode; skipped", file=sys.stderr)
    return out


def load_held_out() -> list[tuple[str, np.ndarray]]:
    import skimage.data as skd

    messi = cv2.cvtColor(cv2.imread(str(OPENCV_DATA / "messi5.jpg"), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return [("astronaut", _to_rgb(skd.astronaut())), ("messi5", messi)]


def resize_short(rgb: np.ndarray, short: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = short / min(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)


SCALES = (256, 360, 540, 720)  # short sides the photos are shown at (video is 360p..1080p)


def build_pool(images, need: int):
    """Every photo at every short side in SCALES up to 1.25x its own (at least `need`)."""
    pool = []
    for name, rgb in images:
        s0 = min(rgb.shape[:2])
        shorts = [s for s in SCALES if need <= s <= 1.25 * s0] or [max(need, min(s0, SCALES[0]))]
        for s in shorts:
            pool.append((name, s, resize_short(rgb, s)))
    return pool


def teacher_rgb(style: Style, rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(style.fn(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)), cv2.COLOR_BGR2RGB)


def teach_pool(style: Style, pool, cache_dir: Path | None):
    """Teacher output for every pool entry, cached under cache_dir (keyed by call + data)."""
    key = hashlib.sha256()
    key.update(style.call.encode())
    key.update(cv2.__version__.encode())
    for name, s, im in pool:
        key.update(f"{name}@{s}:{im.shape}".encode())
        key.update(hashlib.sha1(im.tobytes()).digest())
    path = cache_dir / f"teacher-{style.name}-{key.hexdigest()[:16]}.npz" if cache_dir else None
    if path and path.exists():
        z = np.load(path)
        return [z[f"a{i}"] for i in range(len(pool))], float(z["seconds"]) if "seconds" in z else None, True
    t0 = time.time()
    outs = [teacher_rgb(style, im) for _, _, im in pool]
    dt = time.time() - t0
    if path:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, seconds=np.float64(dt), **{f"a{i}": o for i, o in enumerate(outs)})
        os.replace(tmp, path)
    return outs, dt, False


# --------------------------------------------------------------------------------------------
# Student: a small U-Net of depthwise-separable (MobileNet-style) blocks, fully convolutional.
# Any H, W works: stride-2 convs round up, and each upsampling resizes to the exact size of the
# skip it joins (ONNX Resize with sizes taken from Shape), so no padding contract for the caller.
# --------------------------------------------------------------------------------------------
class DSRes(nn.Module):
    """x + pw(relu(dw3x3_dilated(x))), then ReLU."""

    def __init__(self, c: int, dilation: int = 1):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, padding=dilation, dilation=dilation, groups=c)
        self.pw = nn.Conv2d(c, c, 1)

    def forward(self, x):
        return F.relu(x + self.pw(F.relu(self.dw(x))))


class DSDown(nn.Module):
    """Stride-2 depthwise 3x3, then pointwise to more channels."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, stride=2, padding=1, groups=cin)
        self.pw = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return F.relu(self.pw(F.relu(self.dw(x))))


def up_to(x, ref):
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


class Student(nn.Module):
    """Encoder at H/2, H/4, H/8 (dilated blocks at H/8 for a ~200 px receptive field: the teachers'
    sigma_s is 60 px), decoder back to H/2 with skips; a 3x3 conv gives, at H/2, a per-pixel gain and
    offset per RGB channel that are upsampled to H x W and applied to the input:
        out = (1 + gain) * (input - 0.5) + 0.5 + offset.
    Full-resolution detail comes from the input; where the style flattens (gain -> -1) the input's
    noise goes too, so the student is steadier than a plain `input + correction` (flicker 0.5 vs 2.1
    levels on toon), and a variant with 8 full-resolution channels was not better after 1000 steps
    while running 1.6x slower."""

    def __init__(self, c=(16, 32, 64)):
        super().__init__()
        c1, c2, c3 = c
        self.stem = nn.Conv2d(3, c1, 3, stride=2, padding=1)          # H/2
        self.enc1 = DSRes(c1)
        self.down2 = DSDown(c1, c2)                                   # H/4
        self.enc2 = nn.Sequential(DSRes(c2, 1), DSRes(c2, 2))
        self.down3 = DSDown(c2, c3)                                   # H/8
        self.body = nn.Sequential(DSRes(c3, 1), DSRes(c3, 2), DSRes(c3, 4), DSRes(c3, 1))
        self.red3 = nn.Conv2d(c3, c2, 1)
        self.dec2 = DSRes(c2)
        self.red2 = nn.Conv2d(c2, c1, 1)
        self.dec1 = DSRes(c1)
        self.head = nn.Conv2d(c1, 6, 3, padding=1)  # 3 gains, 3 offsets
        nn.init.zeros_(self.head.weight)  # start as the identity
        nn.init.zeros_(self.head.bias)

    def raw(self, x):
        """Unclamped output (training loss is taken on this, so saturated pixels keep a gradient)."""
        f1 = self.enc1(F.relu(self.stem(x - 0.5)))
        f2 = self.enc2(self.down2(f1))
        f3 = self.body(self.down3(f2))
        g2 = self.dec2(F.relu(f2 + up_to(self.red3(f3), f2)))
        g1 = self.dec1(F.relu(f1 + up_to(self.red2(g2), f1)))
        h = up_to(self.head(g1), x)
        return (1 + h[:, :3]) * (x - 0.5) + 0.5 + h[:, 3:]

    def forward(self, x):
        return torch.clamp(self.raw(x), 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
def style_seed(seed: int, name: str) -> int:
    # independent of which other styles run in the same invocation
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**31)


def seed_everything(s: int):
    random.seed(s)
    np.random.seed(s % (2**32))
    torch.manual_seed(s)


def grad_l1(y, t):
    return ((y[..., :, 1:] - y[..., :, :-1]) - (t[..., :, 1:] - t[..., :, :-1])).abs().mean() + \
        ((y[..., 1:, :] - y[..., :-1, :]) - (t[..., 1:, :] - t[..., :-1, :])).abs().mean()


def train_style(style: Style, pool, teach, args, log):
    s = style_seed(args.seed, style.name)
    seed_everything(s)
    rng = np.random.default_rng(s)
    C, M, B = args.crop, args.shift, args.border
    need = C + 2 * M
    weights = np.array([np.sqrt(im.shape[0] * im.shape[1]) for _, _, im in pool], dtype=np.float64)
    weights /= weights.sum()

    net = Student().to(memory_format=torch.channels_last)  # ~2.5x faster depthwise convs on CPU
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    warm = min(200, args.steps // 10 + 1)

    def lr_at(i):
        if i < warm:
            return args.lr * (i + 1) / warm
        p = (i - warm) / max(1, args.steps - warm)
        return args.lr * (0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * p)))

    P = args.pairs
    hist = []
    t0 = time.time()
    for step in range(args.steps):
        ins, tgs, shifts = [], [], []
        for _ in range(P):
            k = rng.choice(len(pool), p=weights)
            im, tt = pool[k][2], teach[k]
            H, W = im.shape[:2]
            y = int(rng.integers(0, H - need + 1))
            x = int(rng.integers(0, W - need + 1))
            while True:
                dy, dx = (int(v) for v in rng.integers(-M, M + 1, size=2))
                if dy or dx:
                    break
            for (oy, ox) in ((0, 0), (dy, dx)):
                ys, xs = y + M + oy, x + M + ox
                ins.append(im[ys:ys + C, xs:xs + C])
                tgs.append(tt[ys:ys + C, xs:xs + C])
            shifts.append((dy, dx))
        inp = np.stack(ins).astype(np.int16)
        inp += rng.integers(-args.noise, args.noise + 1, size=inp.shape, dtype=np.int16)  # fresh per crop
        inp = torch.from_numpy(np.clip(inp, 0, 255).astype(np.float32) / 255).permute(0, 3, 1, 2)
        tgt = torch.from_numpy(np.stack(tgs).astype(np.float32) / 255).permute(0, 3, 1, 2)

        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        y = net.raw(inp.contiguous(memory_format=torch.channels_last))
        l1 = (y - tgt).abs().mean()
        lg = grad_l1(y, tgt)
        lt = 0.0
        for j, (dy, dx) in enumerate(shifts):
            a, b = y[2 * j], y[2 * j + 1]
            # b's pixel (r, c) is a's pixel (r + dy, c + dx); compare on the overlap less a border
            ra0, ra1 = max(0, dy) + B, C + min(0, dy) - B
            ca0, ca1 = max(0, dx) + B, C + min(0, dx) - B
            lt = lt + (a[:, ra0:ra1, ca0:ca1] - b[:, ra0 - dy:ra1 - dy, ca0 - dx:ca1 - dx]).abs().mean()
        lt = lt / P
        loss = l1 + args.w_grad * lg + args.w_temporal * lt
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        hist.append((loss.item(), l1.item(), lg.item(), lt.item()))
        if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
            h = np.mean(hist[-args.log_every:], axis=0)
            el = time.time() - t0
            log(f"[{style.name}] step {step + 1}/{args.steps} loss {h[0]:.4f} (l1 {h[1]:.4f} grad {h[2]:.4f} "
                f"temporal {h[3]:.4f}) lr {lr_at(step):.2e} {1000 * el / (step + 1):.0f} ms/step")
    wall = time.time() - t0
    tail = np.mean(hist[-min(200, len(hist)):], axis=0)
    final = {"total": round(float(tail[0]), 5), "l1": round(float(tail[1]), 5), "grad_l1": round(float(tail[2]), 5),
             "temporal": round(float(tail[3]), 5), "averaged_over_last_steps": min(200, len(hist))}
    net = net.to(memory_format=torch.contiguous_format).eval()
    return net, final, wall, s


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------
def export_onnx(net: Student, style: Style, path: Path):
    import onnx

    dummy = torch.rand(1, 3, 360, 640)
    tmp = path.with_suffix(".tmp.onnx")
    with torch.no_grad():
        torch.onnx.export(net, (dummy,), str(tmp), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {2: "height", 3: "width"}, "output": {2: "height", 3: "width"}},
                          do_constant_folding=True)
    m = onnx.load(str(tmp))
    os.remove(tmp)
    m.doc_string = f"aifx stylize built-in style '{style.name}', distilled from {style.call}"
    for k, v in {"aifx.input_range": "0,1", "aifx.layout": "nchw", "aifx.style": style.name,
                 "aifx.teacher": style.call}.items():
        e = m.metadata_props.add()
        e.key, e.value = k, v
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def ort_session(path: Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def run_student(sess, rgb: np.ndarray) -> np.ndarray:
    x = (rgb.astype(np.float32) / 255).transpose(2, 0, 1)[None]
    y = sess.run(["output"], {"input": x})[0][0].transpose(1, 2, 0)
    return np.clip(np.rint(y * 255), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Evaluation on the held-out photos
# --------------------------------------------------------------------------------------------
def evaluate(style: Style, onnx_path: Path, net: Student, threads: int, seed: int):
    from skimage.metrics import peak_signal_noise_ratio as psnr
    from skimage.metrics import structural_similarity as ssim

    sess = ort_session(onnx_path, threads)
    rng = np.random.default_rng(seed)
    per, fl_s, fl_t = {}, [], []
    for name, rgb in load_held_out():
        im = resize_short(rgb, 360)
        t = teacher_rgb(style, im)
        s = run_student(sess, im)
        with torch.no_grad():  # the ONNX graph must match PyTorch (also checks odd sizes: messi5 is 577 wide)
            ref = net(torch.from_numpy(im.astype(np.float32) / 255).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
        onnx_vs_torch = float(np.abs(s.astype(np.float32) / 255 - ref).max())
        # flicker: a static photo, fresh +-3-level noise per frame, mean |delta| between consecutive outputs
        prev_s = prev_t = None
        ds, dt_ = [], []
        for _ in range(10):
            n = np.clip(im.astype(np.int16) + rng.integers(-3, 4, size=im.shape, dtype=np.int16), 0, 255).astype(np.uint8)
            os_, ot = run_student(sess, n).astype(np.int16), teacher_rgb(style, n).astype(np.int16)
            if prev_s is not None:
                ds.append(np.abs(os_ - prev_s).mean())
                dt_.append(np.abs(ot - prev_t).mean())
            prev_s, prev_t = os_, ot
        per[name] = {"size": [im.shape[1], im.shape[0]],
                     "psnr_db": round(float(psnr(t, s, data_range=255)), 2),
                     "ssim": round(float(ssim(t, s, channel_axis=2, data_range=255)), 4),
                     "flicker_student": round(float(np.mean(ds)), 3),
                     "flicker_teacher": round(float(np.mean(dt_)), 3),
                     "onnx_vs_torch_max_abs": round(onnx_vs_torch, 6)}
        fl_s += ds
        fl_t += dt_
    # time per frame at 1280x720
    frame = cv2.resize(load_held_out()[1][1], (1280, 720), interpolation=cv2.INTER_CUBIC)
    bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    style.fn(bgr)
    tt = []
    for _ in range(3):
        t0 = time.perf_counter()
        style.fn(bgr)
        tt.append(time.perf_counter() - t0)
    x = (frame.astype(np.float32) / 255).transpose(2, 0, 1)[None]
    ts = {}
    for (w, h) in ((1280, 720), (640, 360)):
        xi = x if w == 1280 else (cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255).transpose(2, 0, 1)[None]
        for _ in range(2):
            sess.run(["output"], {"input": xi})
        v = []
        for _ in range(10):
            t0 = time.perf_counter()
            sess.run(["output"], {"input": xi})
            v.append(time.perf_counter() - t0)
        ts[f"{w}x{h}"] = round(1000 * float(np.median(v)), 1)
    return {
        "held_out_short_side": 360,
        "psnr_db": round(float(np.mean([p["psnr_db"] for p in per.values()])), 2),
        "ssim": round(float(np.mean([p["ssim"] for p in per.values()])), 4),
        "flicker_student": round(float(np.mean(fl_s)), 3),
        "flicker_teacher": round(float(np.mean(fl_t)), 3),
        "flicker_method": "static held-out photo at short side 360, 10 frames each with fresh uniform integer "
                          "noise in [-3,3] levels; mean |output[i+1]-output[i]| in 0..255 levels, both photos",
        "ms_per_frame_1280x720": {"teacher_cv2": round(1000 * float(np.median(tt)), 1),
                                  "student_onnxruntime": ts["1280x720"]},
        "ms_per_frame_640x360_student": ts["640x360"],
        "timing_method": f"median; teacher: 3 runs of the cv2 call; student: 10 runs of onnxruntime "
                         f"CPUExecutionProvider, intra_op_num_threads={threads}",
        "per_photo": per,
    }


# --------------------------------------------------------------------------------------------
# Contact sheet
# --------------------------------------------------------------------------------------------
def contact_sheet(out_dir: Path, threads: int, path: Path, max_bytes=300_000):
    from PIL import Image, ImageDraw, ImageFont

    names = [n for n in STYLES if (out_dir / f"{n}.onnx").exists()]
    if not names:
        return None
    held = [(n, resize_short(im, 360)) for n, im in load_held_out()]
    scale = 0.75
    lab_h, gap = 26, 6
    try:
        font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 16)
    except OSError:
        font = ImageFont.load_default()
    tiles = [[(f"{hn}: input", im) for hn, im in held]]
    for n in names:
        sess = ort_session(out_dir / f"{n}.onnx", threads)
        row = []
        for hn, im in held:
            row.append((f"{n} teacher", teacher_rgb(STYLES[n], im)))
            row.append((f"{n} student (ONNX)", run_student(sess, im)))
        tiles.append(row)

    def th(im):
        h, w = im.shape[:2]
        return Image.fromarray(im).resize((round(w * scale), round(h * scale)), Image.LANCZOS)

    rows = [[(lab, th(im)) for lab, im in r] for r in tiles]
    W = max(sum(t.width for _, t in r) + gap * (len(r) + 1) for r in rows)
    H = sum(max(t.height for _, t in r) + lab_h + gap for r in rows) + gap
    sheet = Image.new("RGB", (W, H), (24, 24, 24))
    d = ImageDraw.Draw(sheet)
    y = gap
    for r in rows:
        x = gap
        for lab, t in r:
            d.text((x + 2, y + 4), lab, fill=(235, 235, 235), font=font)
            sheet.paste(t, (x, y + lab_h))
            x += t.width + gap
        y += max(t.height for _, t in r) + lab_h + gap
    for q in range(90, 30, -5):
        sheet.save(path, quality=q, optimize=True)
        if path.stat().st_size <= max_bytes:
            break
    return {"styles": names, "size": [W, H], "bytes": path.stat().st_size, "jpeg_quality": q}


# --------------------------------------------------------------------------------------------
def versions():
    import onnx
    import onnxruntime
    import PIL
    import skimage

    return {"python": platform.python_version(), "torch": torch.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__, "opencv": cv2.__version__, "numpy": np.__version__,
            "scikit-image": skimage.__version__, "pillow": PIL.__version__}


def figures_table(out_dir: Path) -> str:
    """The README's table, from the <style>.json files in out_dir."""
    rows = ["| style | PSNR dB | SSIM | flicker student / teacher | ms @1280x720 teacher / student | student ms @640x360 | ONNX KB | params | steps | train s |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n in STYLES:
        p = out_dir / f"{n}.json"
        if not p.exists():
            continue
        r = json.loads(p.read_text())
        e, t = r["evaluation"], r["training"]
        ms = e["ms_per_frame_1280x720"]
        rows.append(f"| `{n}` | {e['psnr_db']} | {e['ssim']} | {e['flicker_student']} / {e['flicker_teacher']} | "
                    f"{ms['teacher_cv2']} / {ms['student_onnxruntime']} | {e['ms_per_frame_640x360_student']} | "
                    f"{round(r['onnx_bytes'] / 1024)} | {r['parameters']} | {t['steps']} | {t['wall_s']} |")
    return "\n".join(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--styles", default=",".join(STYLES), help="comma-separated subset of: " + ", ".join(STYLES))
    ap.add_argument("--steps", type=int, default=5000, help="training steps per style (default reproduces the committed files)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE, help="where <style>.onnx/.json and contact-sheet.jpg go")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=6, help="crop pairs per step (each pair = crop + shifted crop)")
    ap.add_argument("--crop", type=int, default=192)
    ap.add_argument("--shift", type=int, default=4, help="max shift (px) of the temporal-pair copy")
    ap.add_argument("--border", type=int, default=8, help="border (px) left out of the temporal overlap")
    ap.add_argument("--noise", type=int, default=3, help="+- levels of fresh uniform noise on every crop")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--w-grad", type=float, default=0.5)
    ap.add_argument("--w-temporal", type=float, default=1.0)
    ap.add_argument("--log-every", type=int, default=250)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/aifx-styles-cache"), help="teacher-output cache ('' = none)")
    ap.add_argument("--no-contact-sheet", action="store_true")
    ap.add_argument("--table", action="store_true", help="only print the README's figures table from <out>/*.json")
    args = ap.parse_args(argv)
    if args.table:
        print(figures_table(args.out))
        return

    names = [n.strip() for n in args.styles.split(",") if n.strip()]
    bad = [n for n in names if n not in STYLES]
    if bad:
        ap.error(f"unknown style(s) {bad}; known: {list(STYLES)}")
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.set_flush_denormal(True)  # denormal weights/activations otherwise slow CPU training ~3x
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.cache if str(args.cache) else None

    def log(msg):
        print(time.strftime("%H:%M:%S"), msg, flush=True)

    t_all = time.time()
    images = load_training_images()
    pool = build_pool(images, args.crop + 2 * args.shift)
    counts = {}
    for name, s, im in pool:
        c = counts.setdefault(name, {"source": name.split("/")[0].split(".data")[0], "original_hw": None, "short_sides": []})
        c["short_sides"].append(s)
    for name, rgb in images:
        counts[name]["original_hw"] = list(rgb.shape[:2])
    n_px = sum(im.shape[0] * im.shape[1] for _, _, im in pool)
    log(f"{len(images)} training photos, {len(pool)} scaled copies, {n_px / 1e6:.1f} Mpx")

    for name in names:
        style = STYLES[name]
        t_style = time.time()
        teach, t_teach, cached = teach_pool(style, pool, cache)
        log(f"[{name}] teacher on the pool: {t_teach and round(t_teach, 1)} s{' (cached)' if cached else ''}")
        net, final, wall, seed = train_style(style, pool, teach, args, log)
        onnx_path = args.out / f"{name}.onnx"
        export_onnx(net, style, onnx_path)
        ev = evaluate(style, onnx_path, net, args.threads, seed)
        n_params = sum(p.numel() for p in net.parameters())
        rec = {
            "style": name,
            "teacher": style.call,
            "teacher_note": style.note,
            "contract": {"input": "input float32 NCHW [1,3,H,W] RGB 0..1", "output": "output float32 NCHW [1,3,H,W] RGB 0..1",
                         "H_W": "any (dynamic axes; handled inside the graph)", "opset": 17},
            "onnx_bytes": onnx_path.stat().st_size,
            "parameters": n_params,
            "data": {"photos": len(images), "scaled_copies": len(pool), "megapixels": round(n_px / 1e6, 2),
                     "short_sides": list(SCALES), "list": counts},
            "held_out": HELD_OUT,
            "training": {"steps": args.steps, "seed": args.seed, "style_seed": seed, "pairs_per_step": args.pairs,
                         "crop": args.crop, "shift_max_px": args.shift, "noise_levels": args.noise,
                         "lr": args.lr, "w_grad": args.w_grad, "w_temporal": args.w_temporal, "threads": args.threads,
                         "loss": "L1 + w_grad*gradient-L1 to the teacher (on both crops of each pair) + "
                                 "w_temporal*L1(student(crop) vs student(shifted noisy crop)) on the overlap",
                         "final_loss": final, "wall_s": round(wall, 1),
                         "teacher_precompute_s": t_teach and round(t_teach, 1), "teacher_cached": cached,
                         "style_total_wall_s": round(time.time() - t_style, 1)},
            "evaluation": ev,
            "versions": versions(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        }
        (args.out / f"{name}.json").write_text(json.dumps(rec, indent=2) + "\n")
        log(f"[{name}] {onnx_path} {rec['onnx_bytes']} B; PSNR {ev['psnr_db']} dB SSIM {ev['ssim']}; flicker "
            f"student {ev['flicker_student']} teacher {ev['flicker_teacher']}; 720p ms teacher "
            f"{ev['ms_per_frame_1280x720']['teacher_cv2']} student {ev['ms_per_frame_1280x720']['student_onnxruntime']}; "
            f"train {wall:.0f} s")

    if not args.no_contact_sheet:
        cs = contact_sheet(args.out, args.threads, args.out / "contact-sheet.jpg")
        log(f"contact sheet: {cs}")
    log(f"done in {time.time() - t_all:.0f} s")
    print(figures_table(args.out))


if __name__ == "__main__":
    main()
