"""Compiled model export: a session's model as a C library, its header and its weights,
callable without Python (docs/export.md)."""
from .export import export
from .loader import ExportedModel, load_exported
from .model import ABI_VERSION, ExportError
from .weights import WeightsError

__all__ = ["export", "load_exported", "ExportedModel", "ExportError", "WeightsError",
           "ABI_VERSION"]
