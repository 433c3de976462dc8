"""ai-edge-litert side of `aifx-models bench`: times each TFLite model (XNNPACK, the
interpreter's default delegate) on the same input tensor the ONNX side uses.

Reads a JSON job from stdin: {"threads": N, "iters": N, "warmup": N,
"models": [{"name", "tflite", "input", "shape"}]}; prints {"name": ms_per_run} as JSON.
"""
import json
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter

job = json.load(sys.stdin)
result = {}
for m in job["models"]:
    it = Interpreter(model_path=m["tflite"], num_threads=job["threads"])
    it.allocate_tensors()
    x = np.fromfile(m["input"], dtype=np.float32).reshape(m["shape"])
    idx = it.get_input_details()[0]["index"]
    for _ in range(job["warmup"]):
        it.set_tensor(idx, x)
        it.invoke()
    t = time.perf_counter()
    for _ in range(job["iters"]):
        it.set_tensor(idx, x)
        it.invoke()
    result[m["name"]] = (time.perf_counter() - t) / job["iters"] * 1000.0
print(json.dumps(result))
