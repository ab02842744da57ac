"""The five element types graphc knows, and conversion from numpy/Python spellings."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DType:
    """An element type: a name for users, a short name for the IR printer, a numpy type."""

    name: str
    short: str
    np_type: type

    def __post_init__(self):       # asked on every run: computed once
        kind = np.dtype(self.np_type).kind
        object.__setattr__(self, "is_floating", kind == "f")
        object.__setattr__(self, "is_integer", kind in "iu")
        object.__setattr__(self, "is_bool", kind == "b")
        object.__setattr__(self, "itemsize", np.dtype(self.np_type).itemsize)

    def __repr__(self) -> str:
        return f"gc.{self.name}"


float32 = DType("float32", "f32", np.float32)
float64 = DType("float64", "f64", np.float64)
int32 = DType("int32", "i32", np.int32)
int64 = DType("int64", "i64", np.int64)
bool_ = DType("bool", "bool", np.bool_)

ALL_DTYPES = (float32, float64, int32, int64, bool_)
_BY_NUMPY = {np.dtype(d.np_type): d for d in ALL_DTYPES}
_BY_NAME = {d.name: d for d in ALL_DTYPES} | {d.short: d for d in ALL_DTYPES}


def as_dtype(value) -> DType:
    """Accept a DType, its name ("float32", "f32"), a numpy dtype or a Python type."""
    if isinstance(value, DType):
        return value
    if isinstance(value, str) and value in _BY_NAME:
        return _BY_NAME[value]
    if value is float:
        return float32
    if value is int:
        return int32
    if value is bool:
        return bool_
    try:
        npd = np.dtype(value)
    except TypeError:
        npd = None
    if npd is not None and npd in _BY_NUMPY:
        return _BY_NUMPY[npd]
    raise TypeError(f"graphc has no dtype for {value!r}; use one of "
                    f"{', '.join(d.name for d in ALL_DTYPES)}")
