"""ONNX import and export (`pip install 'graphc[onnx]'`): `load` turns an ONNX model
into a graphc graph, `export` writes a graphc graph as an ONNX model."""
from .errors import NeedsStaticValue, OnnxError
from .export import export
from .loader import load

__all__ = ["NeedsStaticValue", "OnnxError", "export", "load"]
