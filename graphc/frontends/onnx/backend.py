"""graphc as an `onnx.backend.base.Backend`, so the onnx wheel's node tests
(`onnx.backend.test.BackendTest`) run against graphc's backends.

Inputs that decide shapes (Reshape's shape, Slice's bounds, ...) are graph inputs in
many node tests; graphc's shapes are fixed when the graph is built, so the first run
binds each such input (the loader names it in `NeedsStaticValue`, also when the value
is computed from it) as a constant.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from ...session import Session
from .context import converts
from .dtypes import TO_GRAPHC
from .errors import NeedsStaticValue, OnnxError
from .loader import load, upgrade


class GraphcRep(BackendRep):
    def __init__(self, model: onnx.ModelProto, backend: str):
        self.model, self.backend = upgrade(model), backend     # once, not per load
        initialized = {i.name for i in model.graph.initializer}
        self.input_names = [vi.name for vi in model.graph.input if vi.name not in initialized]

    def run(self, inputs, **kwargs):
        if isinstance(inputs, dict):
            values = dict(inputs)
        else:
            inputs = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
            values = dict(zip(self.input_names, inputs))
        bound: dict[str, np.ndarray] = {}
        while True:
            try:
                graph, placeholders, outputs = load(self.model, constant_inputs=bound)
                break
            except NeedsStaticValue as err:
                if err.input_name in bound or err.input_name not in values:
                    raise
                bound[err.input_name] = values[err.input_name]
        feeds = {node: values[name] for name, node in placeholders.items()}
        with Session(graph, backend=self.backend) as sess:
            results = sess.run(list(outputs.values()), feeds)
        return tuple(np.asarray(r) for r in results)


def unsupported_reason(model: onnx.ModelProto) -> str | None:
    """Why graphc cannot import `model` at a glance (an old opset that cannot be
    upgraded, an op without a converter, a dtype graphc lacks), or None."""
    try:
        model = upgrade(model)
    except OnnxError as err:
        return str(err)
    g = model.graph
    missing = sorted({n.op_type for n in _nodes(g) if not converts(n)})
    if missing:
        return f"no converter for {', '.join(missing)}"
    values = list(g.input) + list(g.output) + list(g.value_info)
    if not all(v.type.HasField("tensor_type") and v.type.tensor_type.elem_type in TO_GRAPHC
               for v in values) or not all(i.data_type in TO_GRAPHC for i in g.initializer):
        return "a tensor type graphc lacks"
    return None


def _nodes(graph: onnx.GraphProto):
    """The graph's nodes and those of its subgraph attributes (FlexAttention's
    modifiers, ...)."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            for body in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _nodes(body)


def make_backend(backend_name: str) -> type[Backend]:
    """A Backend class running models on graphc's `backend_name` backend."""
    class GraphcBackend(Backend):
        @classmethod
        def is_compatible(cls, model, device="CPU", **kwargs):
            return unsupported_reason(model) is None

        @classmethod
        def prepare(cls, model, device="CPU", **kwargs):
            super().prepare(model, device, **kwargs)
            return GraphcRep(model, backend_name)

        @classmethod
        def run_model(cls, model, inputs, device="CPU", **kwargs):
            return cls.prepare(model, device, **kwargs).run(inputs)

        @classmethod
        def supports_device(cls, device: str) -> bool:
            return device == "CPU"

    GraphcBackend.__name__ = f"GraphcBackend_{backend_name}"
    return GraphcBackend
