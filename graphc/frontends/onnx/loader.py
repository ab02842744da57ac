"""ONNX model → graphc graph: inputs become placeholders, float initializers variables
(so a loaded model trains), other initializers constants; each node goes through the
converter registered for its op type."""
from __future__ import annotations

import re
from os import PathLike

import numpy as np
import onnx
from onnx import numpy_helper, version_converter

from ...ir import Graph, Node
from ...ops import Variable, constant, placeholder
from . import (convert_attention, convert_control, convert_elementwise,  # noqa: F401
               convert_image, convert_misc_nn, convert_nn, convert_normalization,
               convert_reduce, convert_rnn, convert_scatter, convert_select, convert_shape,
               convert_signal)
from .context import CONVERTERS, DEFAULT_DOMAINS, Context
from .dtypes import TO_GRAPHC, onnx_type_name
from .errors import OnnxError

MIN_OPSET = 13


def load(model, constant_inputs: dict | None = None):
    """Import an ONNX model (a path or a ModelProto); older opsets than 13 are upgraded
    first (`upgrade`).

    Returns (graph, inputs, outputs): the new graphc Graph, and ordered dicts from the
    ONNX input and output names to its placeholders and result nodes.
    `constant_inputs`: ONNX input names bound to values, made constants instead of
    placeholders (inputs that decide shapes must be known when the graph is built).
    """
    if isinstance(model, (str, PathLike)):
        model = onnx.load(model)
    model = upgrade(model)
    constant_inputs = constant_inputs or {}
    graph = Graph()
    with graph.as_default():
        values: dict[str, Node] = {}
        statistics = _statistics(model.graph)
        for init in model.graph.initializer:
            values[init.name] = _initializer(init, trainable=init.name not in statistics)
        inputs = {}
        for vi in model.graph.input:
            if vi.name in values:
                continue
            if vi.name in constant_inputs:
                values[vi.name] = constant(np.asarray(constant_inputs[vi.name]),
                                           name=_name(vi.name))
            else:
                values[vi.name] = inputs[vi.name] = _placeholder(vi)
        graph_inputs = {vi.name for vi in model.graph.input}
        for node in model.graph.node:
            _convert(graph, node, values, graph_inputs)
        outputs = {vo.name: values[vo.name] for vo in model.graph.output}
    return graph, inputs, outputs


def upgrade(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model itself if its default-domain opset is MIN_OPSET or later, else its
    upgrade by onnx.version_converter (the converters are written for opset 13's
    operator versions); an OnnxError if the converter cannot upgrade it."""
    old = [o.version for o in model.opset_import
           if o.domain in DEFAULT_DOMAINS and o.version < MIN_OPSET]
    if not old:
        return model
    try:
        return version_converter.convert_version(model, MIN_OPSET)
    except Exception as err:  # noqa: BLE001 - the converter raises bare RuntimeErrors
        raise OnnxError(f"ONNX opset {old[0]} model: onnx.version_converter could not "
                        f"upgrade it to opset {MIN_OPSET} (graphc imports opset "
                        f"{MIN_OPSET} and later): {' '.join(str(err).split())}") from None


def _name(onnx_name: str) -> str:
    """A graphc node name for an ONNX value name (which may hold '.', ':', ...)."""
    return re.sub(r"[^A-Za-z0-9_/-]", "_", onnx_name).strip("/") or "value"


def _dtype(elem_type: int, what: str):
    if elem_type not in TO_GRAPHC:
        raise OnnxError(f"{what} has element type {onnx_type_name(elem_type)}, which graphc "
                        "lacks (graphc has float, double, int32, int64 and bool)")
    return TO_GRAPHC[elem_type]


def _placeholder(vi: onnx.ValueInfoProto) -> Node:
    tensor = vi.type.tensor_type
    dtype = _dtype(tensor.elem_type, f"ONNX input '{vi.name}'")
    if not tensor.HasField("shape"):
        raise OnnxError(f"ONNX input '{vi.name}' has no shape; graphc needs its rank")
    shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
    return placeholder(dtype, shape, name=_name(vi.name))


def _statistics(graph: onnx.GraphProto) -> set[str]:
    """Initializers that are batch norms' running mean and variance: variables that no
    optimizer trains (TF1's moving statistics, PyTorch's buffers)."""
    return {name for node in graph.node if node.op_type == "BatchNormalization"
            for name in node.input[3:5]}


def _initializer(init: onnx.TensorProto, trainable: bool = True) -> Node:
    dtype = _dtype(init.data_type, f"ONNX initializer '{init.name}'")
    array = numpy_helper.to_array(init).astype(dtype.np_type)
    if dtype.is_floating:
        return Variable(array, name=_name(init.name), trainable=trainable)
    return constant(array, name=_name(init.name))


def convert_body(graph: Graph, body: onnx.GraphProto, outer: dict[str, Node],
                 inputs: list[Node], graph_inputs: set[str]) -> list[Node]:
    """The outputs of a control-flow node's subgraph `body`, converted into `graph` with
    `inputs` bound to its inputs; it also sees the enclosing scope's values (`outer`).
    Each call converts the body afresh (one unrolled iteration, one If branch); its
    initializers become constants."""
    if len(inputs) != len(body.input):
        raise OnnxError(f"ONNX subgraph '{body.name}' takes {len(body.input)} inputs, "
                        f"given {len(inputs)}")
    values = dict(outer)
    for init in body.initializer:
        dtype = _dtype(init.data_type, f"ONNX initializer '{init.name}'")
        values[init.name] = constant(numpy_helper.to_array(init).astype(dtype.np_type),
                                     name=_name(init.name))
    for vi, value in zip(body.input, inputs):
        values[vi.name] = value
    graph_inputs = graph_inputs - {vi.name for vi in body.input}   # shadowed in the body
    for node in body.node:
        _convert(graph, node, values, graph_inputs)
    return [values[vo.name] for vo in body.output]


def _convert(graph: Graph, node: onnx.NodeProto, values: dict[str, Node],
             graph_inputs: set[str]) -> None:
    ctx = Context(graph, node, values, graph_inputs)
    conv = CONVERTERS.get(node.op_type)
    if conv is not None and node.domain not in conv.domains:
        raise ctx.error(f"operator domain '{node.domain}' is not supported (graphc "
                        f"converts {node.op_type} from '{conv.domains[-1]}')")
    if conv is None:
        if node.domain not in DEFAULT_DOMAINS:
            raise ctx.error(f"operator domain '{node.domain}' is not supported")
        raise ctx.error("graphc has no converter for this op type")
    unknown = sorted({a.name for a in node.attribute} - conv.attrs)
    if unknown:
        raise ctx.error(f"attribute(s) {', '.join(unknown)} not supported")
    with graph.name_scope(_name(node.name or node.op_type)):
        results = conv.fn(ctx)
    results = results if isinstance(results, (list, tuple)) else [results]
    for i, name in enumerate(node.output):
        if not name:
            continue
        if i >= len(results) or results[i] is None:
            raise ctx.error(f"output {i} ('{name}') is not supported")
        values[name] = results[i]
