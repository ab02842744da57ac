"""What the ONNX importer and exporter raise."""
from __future__ import annotations

from ...ir import GraphcError


class OnnxError(GraphcError):
    """An ONNX model graphc cannot import, or a graphc graph it cannot export; the
    message names the ONNX node (or graphc node), its op type and what is missing."""


class NeedsStaticValue(OnnxError):
    """A graph input decides a shape (Reshape's shape, Slice's starts, ... or what they
    are computed from): graphc's
    shapes are fixed when the graph is built, so the value must be known then.
    `input_name` lets a caller that knows the value (the backend adapter) bind it."""

    def __init__(self, message: str, input_name: str):
        super().__init__(message)
        self.input_name = input_name
