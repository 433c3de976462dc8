"""Raw-tensor truth for the converted models: runs each catalog model's original TFLite file
with ai-edge-litert's interpreter on real photos and writes input and outputs as raw
little-endian float32, with a manifest.json the Rust tests and `aifx-models verify` read.

Usage: litert_reference.py CATALOG TFLITE_DIR OUT_DIR
"""
import json
import os
import sys
import tomllib

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image
from skimage import data as skdata

OPENCV_DATA = "/usr/share/doc/opencv-doc/examples/data"


def photos():
    yield "astronaut", Image.fromarray(skdata.astronaut()).convert("RGB")
    yield "messi5", Image.open(os.path.join(OPENCV_DATA, "messi5.jpg")).convert("RGB")


def model_input(img, shape, lo, hi):
    _, h, w, _ = shape
    px = np.asarray(img.resize((w, h), Image.BILINEAR), dtype=np.float32)
    x = px / 255.0 * (hi - lo) + lo
    return x[None].astype(np.float32)


def main():
    catalog_path, tflite_dir, out_dir = sys.argv[1:4]
    with open(catalog_path, "rb") as f:
        catalog = tomllib.load(f)
    manifest = {"models": {}}
    for m in catalog["model"]:
        path = os.path.join(tflite_dir, m["name"] + ".tflite")
        it = Interpreter(model_path=path, num_threads=1)
        it.allocate_tensors()
        inp = it.get_input_details()[0]
        entry = {"input": inp["name"], "cases": {}}
        for photo, img in photos():
            x = model_input(img, m["input_shape"], *m["input_range"])
            it.set_tensor(inp["index"], x)
            it.invoke()
            case_dir = os.path.join(out_dir, m["name"], photo)
            os.makedirs(case_dir, exist_ok=True)
            x.tofile(os.path.join(case_dir, "input.f32"))
            outs = {}
            for d in it.get_output_details():
                y = it.get_tensor(d["index"]).astype(np.float32)
                fname = d["name"].replace("/", "_") + ".f32"
                y.tofile(os.path.join(case_dir, fname))
                outs[d["name"]] = {"file": fname, "shape": list(y.shape)}
            entry["cases"][photo] = {
                "input_file": "input.f32",
                "input_shape": list(x.shape),
                "outputs": outs,
            }
        manifest["models"][m["name"]] = entry
        print(f"litert reference: {m['name']} ({len(entry['cases'])} photos)")
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
