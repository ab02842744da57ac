"""ONNX tensor element types <-> graphc dtypes: the five graphc has, nothing else."""
from __future__ import annotations

from onnx import TensorProto

from ...ir import DType, bool_, float32, float64, int32, int64

TO_GRAPHC: dict[int, DType] = {
    TensorProto.FLOAT: float32, TensorProto.DOUBLE: float64, TensorProto.INT32: int32,
    TensorProto.INT64: int64, TensorProto.BOOL: bool_,
}
TO_ONNX: dict[DType, int] = {v: k for k, v in TO_GRAPHC.items()}


def onnx_type_name(elem_type: int) -> str:
    return TensorProto.DataType.Name(elem_type)
