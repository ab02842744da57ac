"""TensorType: a dtype and a shape whose dimensions may be unknown (None)."""
from __future__ import annotations

from dataclasses import dataclass

from .dtypes import DType
from .symbolic import SymbolicDim

Shape = tuple  # tuple[int | None | SymbolicDim, ...]


@dataclass(frozen=True)
class TensorType:
    dtype: DType
    shape: Shape

    def __post_init__(self):
        object.__setattr__(self, "shape", normalize_shape(self.shape))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_fully_defined(self) -> bool:
        return all(d is not None for d in self.shape)

    @property
    def is_static(self) -> bool:
        """Every dimension a known int (no None, no symbolic batch size)."""
        return all(isinstance(d, int) for d in self.shape)

    @property
    def num_elements(self) -> int | None:
        if not self.is_fully_defined:
            return None
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __str__(self) -> str:
        return f"{self.dtype.short}[{format_shape(self.shape)}]"


def normalize_shape(shape) -> Shape:
    """Turn any shape spelling (list, tuple, int, None entries) into a tuple of int|None."""
    if shape is None:
        raise ValueError("shape must be a sequence; use () for a scalar")
    if isinstance(shape, int):
        shape = (shape,)
    dims = []
    for d in shape:
        if d is None or isinstance(d, SymbolicDim):
            dims.append(d)
        elif hasattr(d, "__index__"):
            d = int(d)
            if d < 0:
                raise ValueError(f"dimension {d} in shape {tuple(shape)} is negative")
            dims.append(d)
        else:
            raise ValueError(f"bad dimension {d!r} in shape {shape!r}")
    return tuple(dims)


def format_shape(shape: Shape) -> str:
    return ",".join("?" if d is None else str(d) for d in shape)


def dims_compatible(a, b) -> bool:
    """Whether two dims may be equal: None and a symbolic batch size fit any size."""
    return a is None or b is None or a == b or isinstance(a, SymbolicDim) or \
        isinstance(b, SymbolicDim)


def shape_compatible(actual: Shape, declared: Shape) -> bool:
    """True when a concrete shape fits a declared shape with unknown dims."""
    return len(actual) == len(declared) and all(
        dims_compatible(a, d) for a, d in zip(actual, declared))
