"""Rebuild a small Keras 2 CNN stored in HDF5 as an ONNX graph (run once at setup).

Only what the expression model uses is supported: Conv2D, SeparableConv2D
(depth multiplier 1), BatchNormalization, Activation / activation=relu|softmax,
MaxPooling2D, Add, GlobalAveragePooling2D. Keras computes in NHWC; the graph
here is NCHW (ONNX's layout), with the kernels transposed to match, so the
ONNX input is ``[N, C, H, W]``. Any other layer raises :class:`AssetError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vision.errors import AssetError


def _weights(h5: Any, layer: str) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    group = h5["model_weights"].get(layer)
    if group is None:
        return out

    def visit(name: str, obj: Any) -> None:
        if hasattr(obj, "shape"):
            out[name.rsplit("/", 1)[-1].split(":")[0]] = np.asarray(obj[()], dtype=np.float32)

    group.visititems(visit)
    return out


def convert(h5_path: Path, onnx_path: Path) -> None:
    """Write ``onnx_path`` from the Keras model in ``h5_path``."""
    import h5py
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []

    def init(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    def act(x: str, kind: str, name: str) -> str:
        if kind in ("linear", None):
            return x
        if kind == "relu":
            nodes.append(helper.make_node("Relu", [x], [name + "_relu"]))
            return name + "_relu"
        if kind == "softmax":
            nodes.append(helper.make_node("Softmax", [x], [name + "_softmax"], axis=1))
            return name + "_softmax"
        raise AssetError(f"{h5_path.name}: activation {kind!r} is not supported")

    with h5py.File(h5_path, "r") as h5:
        config = json.loads(h5.attrs["model_config"])
        layers = config["config"]["layers"]
        out_of: dict[str, str] = {}
        graph_input: Any = None
        for layer in layers:
            kind, cfg, name = layer["class_name"], layer["config"], layer["name"]
            inputs = [out_of[n[0]] for n in (layer["inbound_nodes"][0] if layer["inbound_nodes"] else [])]
            w = _weights(h5, name)
            if kind == "InputLayer":
                _, hh, ww, cc = cfg["batch_input_shape"]
                graph_input = helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", cc, hh, ww])
                out_of[name] = name
                continue
            x = inputs[0]
            if kind in ("Conv2D", "SeparableConv2D"):
                pad = {"auto_pad": "SAME_UPPER"} if cfg["padding"] == "same" else {"pads": [0, 0, 0, 0]}
                strides = list(cfg["strides"])
                if kind == "SeparableConv2D":
                    dw = w["depthwise_kernel"]  # kh, kw, cin, 1
                    cin = dw.shape[2]
                    if dw.shape[3] != 1:
                        raise AssetError(f"{name}: depth multiplier {dw.shape[3]} is not supported")
                    wn = init(name + "_dw", dw.transpose(2, 3, 0, 1))
                    nodes.append(
                        helper.make_node("Conv", [x, wn], [name + "_d"], group=int(cin), strides=strides, **pad)
                    )
                    x, kernel, strides, pad = name + "_d", w["pointwise_kernel"], [1, 1], {"pads": [0, 0, 0, 0]}
                else:
                    kernel = w["kernel"]
                ins = [x, init(name + "_w", kernel.transpose(3, 2, 0, 1))]
                if cfg.get("use_bias") and "bias" in w:
                    ins.append(init(name + "_b", w["bias"]))
                nodes.append(helper.make_node("Conv", ins, [name], strides=strides, **pad))
                out_of[name] = act(name, cfg.get("activation"), name)
            elif kind == "BatchNormalization":
                params = [init(f"{name}_{k}", w[k]) for k in ("gamma", "beta", "moving_mean", "moving_variance")]
                nodes.append(
                    helper.make_node("BatchNormalization", [x, *params], [name], epsilon=float(cfg["epsilon"]))
                )
                out_of[name] = name
            elif kind == "Activation":
                out_of[name] = act(x, cfg["activation"], name)
            elif kind == "MaxPooling2D":
                pad = {"auto_pad": "SAME_UPPER"} if cfg["padding"] == "same" else {"pads": [0, 0, 0, 0]}
                nodes.append(
                    helper.make_node(
                        "MaxPool", [x], [name], kernel_shape=list(cfg["pool_size"]), strides=list(cfg["strides"]), **pad
                    )
                )
                out_of[name] = name
            elif kind == "Add":
                nodes.append(helper.make_node("Add", inputs, [name]))
                out_of[name] = name
            elif kind == "GlobalAveragePooling2D":
                nodes.append(helper.make_node("GlobalAveragePool", [x], [name + "_pool"]))
                nodes.append(helper.make_node("Flatten", [name + "_pool"], [name], axis=1))
                out_of[name] = name
            else:
                raise AssetError(f"{h5_path.name}: layer {kind} ({name}) is not supported")
        last = out_of[config["config"]["output_layers"][0][0]]
    nodes.append(helper.make_node("Identity", [last], ["scores"]))
    output = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", None])
    graph = helper.make_graph(nodes, "expression", [graph_input], [output], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="vision.kerasonnx")
    model.ir_version = 8
    onnx.checker.check_model(model)
    part = onnx_path.with_name(onnx_path.name + ".part")
    onnx.save(model, str(part))
    part.replace(onnx_path)
