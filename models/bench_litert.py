"""ai-edge-litert side of `aifx-models bench`: times each TFLite model (XNNPACK, the
interpreter's default delegate) on the same input tensor the ONNX side uses, in rounds that
alternate with the ONNX side (the machine's speed drifts; both see the same drift).

First stdin line: a JSON job {"threads": N, "warmup": N, "models": [{"name", "tflite",
"input", "shape"}]}. Then one request per line, `NAME ITERS`, each answered with the mean ms
per run of ITERS runs on its own line. Each run also reads every output, as the ONNX side
copies every output out of each run.
"""
import json
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter

job = json.loads(sys.stdin.readline())
models = {}
for m in job["models"]:
    it = Interpreter(model_path=m["tflite"], num_threads=job["threads"])
    it.allocate_tensors()
    x = np.fromfile(m["input"], dtype=np.float32).reshape(m["shape"])
    idx = it.get_input_details()[0]["index"]
    outs = [o["index"] for o in it.get_output_details()]
    for _ in range(job["warmup"]):
        it.set_tensor(idx, x)
        it.invoke()
        for o in outs:
            it.get_tensor(o)
    models[m["name"]] = (it, idx, x, outs)
print("ready", flush=True)
for line in sys.stdin:
    name, iters = line.split()
    it, idx, x, outs = models[name]
    t = time.perf_counter()
    for _ in range(int(iters)):
        it.set_tensor(idx, x)
        it.invoke()
        for o in outs:
            it.get_tensor(o)
    print((time.perf_counter() - t) / int(iters) * 1000.0, flush=True)
