"""int8 variant of one converted model, for `aifx-models quantize` (run in the reference
venv, which has onnx and onnxruntime's quantization tools).

Usage: quantize.py SRC.onnx DST.onnx CALIB.f32 N H W C
CALIB.f32 holds N calibration inputs (NHWC float32, already in the model's input range),
made by `aifx-models quantize` from packaged photos that no test compares on.

Static QDQ quantization of the convolutions only: unsigned 8-bit activations and signed
8-bit per-channel weights (the u8×s8 products x86 VNNI runs), min/max calibration. Every
other operator (adds, resizes, activations, concatenations, the outputs) stays float:
quantizing them too measured slower on OpenVINO here and cost accuracy.
"""
import sys

import numpy as np
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
import onnx


class Inputs(CalibrationDataReader):
    def __init__(self, name, batch):
        self.items = iter(batch)
        self.name = name

    def get_next(self):
        x = next(self.items, None)
        return None if x is None else {self.name: x[None]}


def main():
    src, dst, calib = sys.argv[1:4]
    n, h, w, c = map(int, sys.argv[4:8])
    batch = np.fromfile(calib, dtype="<f4").reshape(n, h, w, c)
    name = onnx.load(src, load_external_data=False).graph.input[0].name
    quantize_static(
        src,
        dst,
        Inputs(name, batch),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["Conv"],
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )


if __name__ == "__main__":
    main()
