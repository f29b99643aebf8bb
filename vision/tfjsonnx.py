"""Rebuild a TensorFlow.js graph model (``model.json`` + weight shards) as an ONNX graph, once at setup.

Only the operations the pinned NanoDet graph uses are supported: Placeholder,
Const, Identity, Conv2D (NHWC, VALID), Add/AddV2, LeakyRelu, Sigmoid, Pad/PadV2, MaxPool
(NHWC, VALID), ConcatV2, ResizeBilinear (half-pixel centres), SplitV, Reshape
and Transpose. Integer side computations whose inputs are all constants
(SparseToDense, Cast, AddV2 on shapes) are folded in numpy, so the ONNX graph
holds only float work. TensorFlow computes convolutions in NHWC; each one is
wrapped in transposes to ONNX's NCHW and onnxruntime's optimiser cancels the
pairs. Any other operation raises :class:`AssetError` naming it, so a model
that needs more fails at setup, not on a camera.

The conversion is deterministic: the same files give the same ONNX bytes.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np

from vision.errors import AssetError

_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_NHWC_TO_NCHW = [0, 3, 1, 2]
_NCHW_TO_NHWC = [0, 2, 3, 1]


def read_weights(model_json: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The parsed ``model.json`` and its constants by name (float16-quantised weights widened)."""
    spec = json.loads(model_json.read_text())
    consts: dict[str, np.ndarray] = {}
    for group in spec["weightsManifest"]:
        data = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = w.get("quantization")
            stored = (
                np.dtype(np.float16) if quant and quant.get("dtype") == "float16" else np.dtype(_DTYPES[w["dtype"]])
            )
            if quant and quant.get("dtype") not in (None, "float16"):
                raise AssetError(f"{model_json.name}: weight quantisation {quant['dtype']} is not supported")
            raw = np.frombuffer(data, dtype=stored, count=count, offset=offset)
            offset += count * stored.itemsize
            consts[w["name"]] = raw.astype(_DTYPES[w["dtype"]]).reshape(shape)
        if offset != len(data):
            raise AssetError(f"{model_json.name}: weight shards hold {len(data)} bytes, the manifest {offset}")
    return spec, consts


def _attr(node: dict[str, Any], key: str) -> Any:
    value = node.get("attr", {}).get(key, {})
    if "s" in value:
        return base64.b64decode(value["s"]).decode()
    if "list" in value:
        return [int(i) for i in value["list"].get("i", [])]
    for kind in ("f", "b", "i"):
        if kind in value:
            return value[kind]
    return None


def _tensor(node: dict[str, Any]) -> np.ndarray | None:
    """A Const node's value when it is inline in the topology (small constants)."""
    t = node.get("attr", {}).get("value", {}).get("tensor")
    if t is None:
        return None
    shape = [int(d.get("size", 0)) for d in t.get("tensorShape", {}).get("dim", [])]
    if "intVal" in t:
        return np.full(shape, int(t["intVal"][0]), np.int32)
    if "floatVal" in t:
        return np.full(shape, float(t["floatVal"][0]), np.float32)
    return None


def convert(model_json: Path, onnx_path: Path, outputs: list[str] | None = None) -> None:
    """Write ``onnx_path`` from the graph model ``model_json``; ``outputs`` default to the Identity nodes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    spec, consts = read_weights(model_json)
    graph = spec["modelTopology"]["node"]
    nodes: list[Any] = []
    inits: list[Any] = []
    inputs: list[Any] = []
    names: dict[str, str] = {}  # tensor reference → ONNX value name
    folded: dict[str, np.ndarray] = dict(consts)
    counter = [0]

    def fresh(base: str) -> str:
        counter[0] += 1
        return f"{base}__{counter[0]}"

    def ref(name: str) -> str:
        name = name.lstrip("^")
        return name[:-2] if name.endswith(":0") else name

    def const(name: str) -> np.ndarray:
        key = ref(name)
        if key not in folded:
            raise AssetError(f"{model_json.name}: {key} must be a constant here")
        return folded[key]

    def value(name: str) -> str:
        key = ref(name)
        if key in names:
            return names[key]
        if key in folded:
            onnx_name = fresh("const")
            inits.append(numpy_helper.from_array(np.ascontiguousarray(folded[key]), onnx_name))
            names[key] = onnx_name
            return onnx_name
        raise AssetError(f"{model_json.name}: tensor {key} is used before it is made")

    def emit(op: str, ins: list[str], out: str | None = None, **attrs: Any) -> str:
        out = out or fresh(op)
        nodes.append(helper.make_node(op, ins, [out], **attrs))
        return out

    def int_init(array: list[int]) -> str:
        name = fresh("shape")
        inits.append(numpy_helper.from_array(np.asarray(array, dtype=np.int64), name))
        return name

    for node in graph:
        op, name = node["op"], node["name"]
        ins = [i for i in node.get("input", []) if not i.startswith("^")]
        if op == "Const":
            inline = _tensor(node)
            if name not in folded and inline is not None:
                folded[name] = inline
            continue
        if op == "Placeholder":
            dims = [int(d.get("size", -1)) for d in node["attr"]["shape"]["shape"]["dim"]]
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [d if d > 0 else None for d in dims]))
            names[name] = name
            continue
        if ins and all(ref(i) in folded for i in ins):
            folded[name] = _fold(op, [folded[ref(i)] for i in ins], node, model_json.name)
            continue
        if op == "Identity":
            names[name] = emit("Identity", [value(ins[0])], name)
        elif op in ("Add", "AddV2"):
            names[name] = emit("Add", [value(ins[0]), value(ins[1])])
        elif op == "LeakyRelu":
            names[name] = emit("LeakyRelu", [value(ins[0])], alpha=float(_attr(node, "alpha")))
        elif op == "Sigmoid":
            names[name] = emit("Sigmoid", [value(ins[0])])
        elif op in ("Pad", "PadV2"):
            pads = const(ins[1]).astype(np.int64)
            args = [value(ins[0]), int_init([*pads[:, 0].tolist(), *pads[:, 1].tolist()])]
            if op == "PadV2":
                cval = fresh("padval")
                inits.append(numpy_helper.from_array(np.asarray(const(ins[2]), np.float32).reshape(()), cval))
                args.append(cval)
            names[name] = emit("Pad", args)
        elif op == "Transpose":
            names[name] = emit("Transpose", [value(ins[0])], perm=[int(p) for p in const(ins[1])])
        elif op == "Reshape":
            names[name] = emit("Reshape", [value(ins[0]), int_init([int(s) for s in const(ins[1])])])
        elif op == "ConcatV2":
            axis = int(const(ins[-1]))
            names[name] = emit("Concat", [value(i) for i in ins[:-1]], axis=axis)
        elif op == "SplitV":
            sizes, axis = [int(s) for s in const(ins[1])], int(const(ins[2]))
            outs = [f"{name}:{k}" if k else name for k in range(len(sizes))]
            nodes.append(helper.make_node("Split", [value(ins[0]), int_init(sizes)], outs, axis=axis))
            for out in outs:
                names[out] = out
        elif op == "Conv2D":
            names[name] = _conv(node, value(ins[0]), const(ins[1]), emit, inits, fresh, model_json.name)
        elif op == "MaxPool":
            if _attr(node, "padding") != "VALID" or _attr(node, "data_format") != "NHWC":
                raise AssetError(f"{model_json.name}: {name}: only VALID NHWC max pooling is supported")
            k, s = _attr(node, "ksize"), _attr(node, "strides")
            x = emit("Transpose", [value(ins[0])], perm=_NHWC_TO_NCHW)
            y = emit("MaxPool", [x], kernel_shape=k[1:3], strides=s[1:3])
            names[name] = emit("Transpose", [y], perm=_NCHW_TO_NHWC)
        elif op == "ResizeBilinear":
            if not _attr(node, "half_pixel_centers") or _attr(node, "align_corners"):
                raise AssetError(f"{model_json.name}: {name}: only half-pixel bilinear resizing is supported")
            size = [int(s) for s in const(ins[1])]
            x = emit("Transpose", [value(ins[0])], perm=_NHWC_TO_NCHW)
            shape_of = emit("Shape", [x])
            nc = emit("Slice", [shape_of, int_init([0]), int_init([2])])
            full = emit("Concat", [nc, int_init(size)], axis=0)
            y = emit("Resize", [x, "", "", full], mode="linear", coordinate_transformation_mode="half_pixel")
            names[name] = emit("Transpose", [y], perm=_NCHW_TO_NHWC)
        else:
            raise AssetError(f"{model_json.name}: operation {op} ({name}) is not supported")

    wanted = outputs or sorted(n["name"] for n in graph if n["op"] == "Identity" and n["name"] in names)
    results = [helper.make_tensor_value_info(o, TensorProto.FLOAT, [f"{o}_{d}" for d in "abc"]) for o in wanted]
    model = helper.make_model(
        helper.make_graph(nodes, model_json.stem, inputs, results, inits),
        opset_imports=[helper.make_opsetid("", 13)],
        producer_name="smart-hall-edge",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    part = onnx_path.with_name(onnx_path.name + ".part")
    part.write_bytes(model.SerializeToString(deterministic=True))
    part.replace(onnx_path)


def _conv(node: dict[str, Any], x: str, kernel: np.ndarray, emit: Any, inits: list[Any], fresh: Any, model: str) -> str:
    from onnx import numpy_helper

    if _attr(node, "padding") != "VALID" or _attr(node, "data_format") != "NHWC":
        raise AssetError(f"{model}: {node['name']}: only VALID NHWC convolutions are supported")
    strides = _attr(node, "strides")[1:3]
    dilations = (_attr(node, "dilations") or [1, 1, 1, 1])[1:3]
    w_name = fresh("kernel")
    # TF HWIO → ONNX OIHW
    inits.append(numpy_helper.from_array(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)), w_name))
    xt = emit("Transpose", [x], perm=_NHWC_TO_NCHW)
    attrs: dict[str, Any] = {"strides": strides, "dilations": dilations, "kernel_shape": list(kernel.shape[:2])}
    y = emit("Conv", [xt, w_name], **attrs)
    out: str = emit("Transpose", [y], perm=_NCHW_TO_NHWC)
    return out


def _fold(op: str, args: list[np.ndarray], node: dict[str, Any], model: str) -> np.ndarray:
    """Evaluate an operation whose inputs are all constants."""
    if op in ("Add", "AddV2"):
        return np.asarray(args[0] + args[1])
    if op == "Identity":
        return args[0]
    if op == "Cast":
        return args[0].astype(np.int64)
    if op == "SparseToDense":
        indices, shape, values, default = args
        out = np.full([int(s) for s in np.atleast_1d(shape)], default, dtype=np.int64)
        idx = np.asarray(indices).reshape(-1, out.ndim) if np.size(indices) else np.zeros((0, out.ndim), np.int64)
        for i, v in zip(idx, np.broadcast_to(values, (len(idx),)), strict=True):
            out[tuple(i)] = v
        return out
    raise AssetError(f"{model}: cannot fold constant operation {op} ({node['name']})")
