#!/usr/bin/env python3
"""Converts face-api's TensorFlow.js copy of dlib's face recognition ResNet to ONNX.

Input: the tfjs weights manifest (`face_recognition_model-weights_manifest.json`) and its
weights file (`face_recognition_model.bin`) from the npm package @vladmandic/face-api.
Output: one ONNX file (opset 13) that computes exactly what face-api's
`FaceRecognitionNet.forwardInput` computes, with this interface (models/src/embedder.rs
states the same):

- input `input`: float32 [batch, 3, 150, 150], RGB, raw pixel values 0..255; the mean
  subtraction and the scaling by 1/255 happen inside the graph, as in face-api;
- output `descriptor`: float32 [batch, 128], raw (not L2-normalised), what face-api's
  `computeFaceDescriptor` returns.

The network (face-api's src/faceRecognitionNet/): a 7x7/2 'valid' conv layer and a 3x3/2
'valid' max pool, then residual blocks (two 3x3 conv layers, the first with a ReLU, the
sum with the block's input, then a ReLU). A "down" block's first conv layer is 3x3/2
'valid'; its shortcut is a 2x2/2 average pool of the input, zero-padded on the channel axis
when the block doubles the channels, and when the pooled shortcut is larger than the conv
branch the conv branch gets zero rows/columns at its bottom/right. Every conv layer is
conv + bias, then dlib's affine "scale" layer (per-channel multiply, then add). Last come
the mean over the spatial axes and a 256x128 fully connected layer without bias.

Weights are decoded as tfjs's `decodeWeights` does: uint8-quantised values become
`q * scale + min`, computed in double precision (JavaScript numbers) and stored as float32.

Only numpy and onnx are needed. The output bytes depend only on the inputs and on this
script (and the pinned onnx version), so the file's sha256 can be pinned.

Usage: convert_dlib_tfjs.py MANIFEST_JSON WEIGHTS_BIN OUTPUT_ONNX
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUT_SIZE = 150
DESCRIPTOR_DIMS = 128
# face-api's FaceRecognitionNet: meanRgb, then .div(255).
MEAN_RGB = [122.782, 117.001, 104.298]
PIXEL_DIVISOR = 255.0
OPSET = 13
IR_VERSION = 7

# (block name, is a down block), in face-api's forward order.
BLOCKS = [
    ("conv32_1", False),
    ("conv32_2", False),
    ("conv32_3", False),
    ("conv64_down", True),
    ("conv64_1", False),
    ("conv64_2", False),
    ("conv64_3", False),
    ("conv128_down", True),
    ("conv128_1", False),
    ("conv128_2", False),
    ("conv256_down", True),
    ("conv256_1", False),
    ("conv256_2", False),
    ("conv256_down_out", True),
]

UINT8_BYTES = 1
FLOAT32_BYTES = 4


def decode_weights(manifest_path, weights_path):
    """Returns {name: float32 array in the manifest's shape}, as tfjs decodes them."""
    with open(manifest_path, "rb") as f:
        manifest = json.load(f)
    if len(manifest) != 1:
        sys.exit(f"expected one weights group in {manifest_path}, found {len(manifest)}")
    group = manifest[0]
    base = os.path.basename(weights_path)
    if group["paths"] != [base]:
        sys.exit(f"{manifest_path} names weight files {group['paths']}, given {base}")
    with open(weights_path, "rb") as f:
        data = f.read()

    weights = {}
    offset = 0
    for spec in group["weights"]:
        name, shape, dtype = spec["name"], spec["shape"], spec["dtype"]
        if dtype != "float32":
            sys.exit(f"weight {name}: unsupported dtype {dtype}")
        count = int(np.prod(shape, dtype=np.int64))
        quantization = spec.get("quantization")
        if quantization is None:
            size = count * FLOAT32_BYTES
            values = np.frombuffer(data, dtype="<f4", count=count, offset=offset)
        elif quantization["dtype"] == "uint8":
            size = count * UINT8_BYTES
            q = np.frombuffer(data, dtype=np.uint8, count=count, offset=offset)
            # JavaScript: values[i] = v * scale + min in doubles, stored in a Float32Array.
            scale = float(quantization["scale"])
            minimum = float(quantization["min"])
            values = (q.astype(np.float64) * scale + minimum).astype(np.float32)
        else:
            sys.exit(f"weight {name}: unsupported quantization {quantization['dtype']}")
        weights[name] = np.asarray(values, dtype=np.float32).reshape(shape)
        offset += size
    if offset != len(data):
        sys.exit(f"{weights_path}: manifest describes {offset} bytes, file has {len(data)}")
    return weights


class GraphBuilder:
    """Collects nodes and initializers, tracking each tensor's static NCHW shape
    (batch left symbolic) so the residual shortcuts' padding is known at build time."""

    def __init__(self, weights):
        self.weights = weights
        self.used = set()
        self.nodes = []
        self.initializers = []
        self.counter = 0

    def fresh(self, hint):
        self.counter += 1
        return f"{hint}:{self.counter}"

    def constant(self, name, array):
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def weight(self, name):
        self.used.add(name)
        return self.weights[name]

    def node(self, op, inputs, hint, **attrs):
        out = self.fresh(hint)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv_layer(self, x, shape, prefix, stride, relu):
        """face-api's convLayer: conv2d (3x3 'same' at stride 1, 'valid' at stride 2 and
        for the first 7x7), + bias, then the scale layer, then an optional ReLU."""
        filters = self.weight(f"{prefix}/conv/filters")  # HWIO
        bias = self.weight(f"{prefix}/conv/bias")
        scale_w = self.weight(f"{prefix}/scale/weights")
        scale_b = self.weight(f"{prefix}/scale/biases")
        kh, kw, c_in, c_out = filters.shape
        if c_in != shape[0]:
            sys.exit(f"{prefix}: filters expect {c_in} channels, input has {shape[0]}")
        w = self.constant(f"{prefix}/conv/filters", np.ascontiguousarray(filters.transpose(3, 2, 0, 1)))
        b = self.constant(f"{prefix}/conv/bias", bias)
        if stride == 1:
            pad = (kh - 1) // 2  # TF 'same' at stride 1 with an odd kernel: symmetric.
            pads = [pad, pad, pad, pad]
            h, wd = shape[1], shape[2]
        else:
            pads = [0, 0, 0, 0]  # TF 'valid'
            h = (shape[1] - kh) // stride + 1
            wd = (shape[2] - kw) // stride + 1
        out = self.node(
            "Conv", [x, w, b], f"{prefix}/conv",
            kernel_shape=[kh, kw], strides=[stride, stride], pads=pads,
        )
        sw = self.constant(f"{prefix}/scale/weights", scale_w.reshape(1, c_out, 1, 1))
        sb = self.constant(f"{prefix}/scale/biases", scale_b.reshape(1, c_out, 1, 1))
        out = self.node("Mul", [out, sw], f"{prefix}/scale/mul")
        out = self.node("Add", [out, sb], f"{prefix}/scale/add")
        if relu:
            out = self.node("Relu", [out], f"{prefix}/relu")
        return out, (c_out, h, wd)

    def residual(self, x, shape, prefix):
        out, out_shape = self.conv_layer(x, shape, f"{prefix}/conv1", 1, True)
        out, out_shape = self.conv_layer(out, out_shape, f"{prefix}/conv2", 1, False)
        if out_shape != shape:
            sys.exit(f"{prefix}: residual branch {out_shape} does not match input {shape}")
        out = self.node("Add", [out, x], f"{prefix}/add")
        return self.node("Relu", [out], f"{prefix}/relu"), shape

    def residual_down(self, x, shape, prefix):
        out, out_shape = self.conv_layer(x, shape, f"{prefix}/conv1", 2, True)
        out, out_shape = self.conv_layer(out, out_shape, f"{prefix}/conv2", 1, False)

        pooled = self.node(
            "AveragePool", [x], f"{prefix}/shortcut/avgpool",
            kernel_shape=[2, 2], strides=[2, 2],
        )
        pooled_shape = (shape[0], (shape[1] - 2) // 2 + 1, (shape[2] - 2) // 2 + 1)

        grow_h = pooled_shape[1] - out_shape[1]
        grow_w = pooled_shape[2] - out_shape[2]
        if grow_h < 0 or grow_w < 0 or grow_h > 1 or grow_w > 1:
            sys.exit(f"{prefix}: unexpected shapes, conv {out_shape}, shortcut {pooled_shape}")
        if grow_h or grow_w:
            # face-api concatenates one zero row at the bottom and one zero column at the
            # right of the conv branch (after its scale layer, so they stay zero).
            pads = self.constant(
                f"{prefix}/conv_pads", np.array([0, 0, 0, 0, 0, 0, grow_h, grow_w], dtype=np.int64)
            )
            out = self.node("Pad", [out, pads], f"{prefix}/conv_pad", mode="constant")
            out_shape = (out_shape[0], pooled_shape[1], pooled_shape[2])

        extra_channels = out_shape[0] - pooled_shape[0]
        if extra_channels:
            if extra_channels != pooled_shape[0]:
                sys.exit(f"{prefix}: channels go {pooled_shape[0]} -> {out_shape[0]}, not doubled")
            # face-api concatenates zeros after the pooled channels.
            pads = self.constant(
                f"{prefix}/shortcut_pads",
                np.array([0, 0, 0, 0, 0, extra_channels, 0, 0], dtype=np.int64),
            )
            pooled = self.node("Pad", [pooled, pads], f"{prefix}/shortcut/pad", mode="constant")

        out = self.node("Add", [pooled, out], f"{prefix}/add")
        return self.node("Relu", [out], f"{prefix}/relu"), out_shape


def build_model(weights, source):
    g = GraphBuilder(weights)

    mean = g.constant("mean_rgb", np.array(MEAN_RGB, dtype=np.float32).reshape(1, 3, 1, 1))
    divisor = g.constant("pixel_divisor", np.array(PIXEL_DIVISOR, dtype=np.float32))
    x = g.node("Sub", ["input", mean], "normalize/sub_mean")
    x = g.node("Div", [x, divisor], "normalize/div")
    shape = (3, INPUT_SIZE, INPUT_SIZE)

    x, shape = g.conv_layer(x, shape, "conv32_down", 2, True)
    x = g.node("MaxPool", [x], "conv32_down/maxpool", kernel_shape=[3, 3], strides=[2, 2])
    shape = (shape[0], (shape[1] - 3) // 2 + 1, (shape[2] - 3) // 2 + 1)

    for name, down in BLOCKS:
        if down:
            x, shape = g.residual_down(x, shape, name)
        else:
            x, shape = g.residual(x, shape, name)

    x = g.node("GlobalAveragePool", [x], "global_avg_pool")
    x = g.node("Flatten", [x], "flatten", axis=1)
    fc = g.weight("fc")
    if fc.shape != (shape[0], DESCRIPTOR_DIMS):
        sys.exit(f"fc has shape {fc.shape}, expected {(shape[0], DESCRIPTOR_DIMS)}")
    g.constant("fc", fc)
    # Node names must differ from initializer names (tract names both in one namespace).
    g.nodes.append(helper.make_node("MatMul", [x, "fc"], ["descriptor"], name=g.fresh("fc/matmul")))

    unused = sorted(set(weights) - g.used)
    if unused:
        sys.exit(f"weights not used by the graph: {unused}")

    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_v1",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, INPUT_SIZE, INPUT_SIZE])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["batch", DESCRIPTOR_DIMS])],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        producer_name="dipper convert_dlib_tfjs.py",
        producer_version="1",
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string=(
            "dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1, Davis "
            "King, public domain) as converted to TensorFlow.js by face-api; converted from "
            f"{source} by models/tools/convert_dlib_tfjs.py. Input: RGB 0..255 "
            "[batch,3,150,150]; output: raw 128-d descriptor [batch,128]."
        ),
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__.strip().splitlines()[-1])
    manifest_path, weights_path, output_path = argv[1:]
    weights = decode_weights(manifest_path, weights_path)
    model = build_model(weights, "@vladmandic/face-api 1.7.15 model/face_recognition_model.bin")
    data = model.SerializeToString(deterministic=True)
    tmp = output_path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, output_path)


if __name__ == "__main__":
    main(sys.argv)
