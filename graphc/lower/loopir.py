"""The loop IR: what every kernel becomes before a backend renders it.

Backend-neutral on purpose: buffers are flat arrays indexed by integer expressions,
loops carry a `kind` ("serial", "parallel", "vector") that lowering decides and each
renderer translates (LLVM: a thread-pool task or a vectorisable inner loop; CUDA:
a grid or block dimension). Expressions are frozen dataclasses, so equal expressions
are equal values: renderers cache them per loop body (free CSE).

    Kernel
      params: Buffer(name, dtype, size, distinct) flat arrays the kernel reads and writes
      body:   [Stmt]
    Stmt  = Loop(var, extent, body, kind) | Store(buffer, index, value, when)
          | Declare(name, dtype, init) | Assign(name, value)
          | a routine (routines.py: Gemm, ConvDirect, ConvFilterDirect, BlockSum, Print)
    Expr  = Const | Var | Load | Local | Unary | Binary | Compare | Select | Cast
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from ..ir import DType, bool_, float32, float64, int64
from ..ir.symbolic import SymbolicDim

# -- expressions ---------------------------------------------------------------------------


def _hash_once(cls):
    """Expressions are dict keys at every level of their trees (the renderers' caches,
    CSE): a deep index expression (chained gathers) re-walked for every lookup made
    rendering quadratic, so each node keeps its hash. Not pickled (the program cache):
    a str's hash differs from process to process."""
    generated = cls.__hash__

    def __hash__(self):
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = generated(self)
            object.__setattr__(self, "_hash", cached)
        return cached

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    cls.__hash__, cls.__getstate__ = __hash__, __getstate__
    return cls


@dataclass(frozen=True)
class Const:
    value: Union[int, float, bool]
    dtype: DType


@dataclass(frozen=True)
class Var:
    """A loop index (int64)."""
    name: str
    dtype: DType = int64


@_hash_once
@dataclass(frozen=True)
class Load:
    buffer: str
    index: "Expr"
    dtype: DType


@dataclass(frozen=True)
class Local:
    """The current value of a scalar declared with Declare (an accumulator)."""
    name: str
    dtype: DType


UNARY_OPS = ("neg", "abs", "exp", "log", "sqrt", "rsqrt", "tanh", "log1p", "expm1", "floor",
             "not")
BINARY_OPS = ("add", "sub", "mul", "div", "max", "min", "pow", "floordiv", "mod",
              "and", "or", "xor", "shr", "shl", "sar")
# xor / shr (logical): 64-bit hashing; shl / sar (arithmetic) for 0 <= shift < width only
COMPARE_OPS = ("eq", "ne", "lt", "le", "gt", "ge")


@_hash_once
@dataclass(frozen=True)
class Unary:
    op: str
    x: "Expr"

    @property
    def dtype(self) -> DType:
        return self.x.dtype


@_hash_once
@dataclass(frozen=True)
class Binary:
    op: str
    a: "Expr"
    b: "Expr"

    @property
    def dtype(self) -> DType:
        return self.a.dtype


@_hash_once
@dataclass(frozen=True)
class Compare:
    op: str
    a: "Expr"
    b: "Expr"
    dtype: DType = bool_


@_hash_once
@dataclass(frozen=True)
class Select:
    cond: "Expr"
    a: "Expr"
    b: "Expr"

    @property
    def dtype(self) -> DType:
        return self.a.dtype


@_hash_once
@dataclass(frozen=True)
class Cast:
    """A value converted to `dtype`; bits=True reinterprets its bits (same size)."""
    x: "Expr"
    dtype: DType
    bits: bool = False


Expr = Union[Const, Var, Load, Local, Unary, Binary, Compare, Select, Cast]

# -- statements ----------------------------------------------------------------------------


@dataclass
class Loop:
    var: Var
    extent: Expr
    body: list
    kind: str = "serial"          # serial | parallel | vector


@dataclass
class Store:
    """buffer[index] = value; with `when`, only where that condition holds (a failed
    run-time check: threads that pass write nothing, so none can overwrite a failure)."""
    buffer: str
    index: Expr
    value: Expr
    when: Expr | None = None


@dataclass
class Declare:
    name: str
    dtype: DType
    init: Expr


@dataclass
class Assign:
    name: str
    value: Expr


Stmt = Union[Loop, Store, Declare, Assign]   # or a routine (routines.py)


@dataclass
class Buffer:
    name: str
    dtype: DType
    size: int
    distinct: bool = False     # no other parameter of the kernel overlaps it (C's restrict)


@dataclass
class Kernel:
    name: str
    params: list[Buffer]
    body: list = field(default_factory=list)

    def __str__(self) -> str:
        from .printer import format_kernel
        return format_kernel(self)


# -- small builders, so lowering code reads like arithmetic --------------------------------
SIZES = "sizes"
"""The run-time sizes buffer (int64): sizes[0] is the batch size N of a batch-polymorphic
program. Symbolic extents and offsets are expressions that load it."""


def batch_size() -> "Load":
    return Load(SIZES, Const(0, int64), int64)


def const(value, dtype: DType):
    if isinstance(value, SymbolicDim):          # a count that depends on N, e.g. a mean's
        return Cast(idx(value), dtype) if dtype != int64 else idx(value)
    if dtype.is_floating:
        value = float(value)
    elif dtype.is_bool:
        value = bool(value)
    else:
        value = int(value)
    return Const(value, dtype)


def idx(value) -> Expr:
    """An int64 index constant, or the expression of a symbolic size k·N + c."""
    if isinstance(value, SymbolicDim):
        return add(mul(batch_size(), Const(value.coeff, int64)), Const(value.offset, int64))
    return Const(int(value), int64)


def add(a, b):
    if isinstance(b, Const) and b.value == 0:
        return a
    if isinstance(a, Const) and a.value == 0:
        return b
    if isinstance(a, Const) and isinstance(b, Const):
        return Const(a.value + b.value, a.dtype)
    return Binary("add", a, b)


def mul(a, b):
    if isinstance(b, Const) and b.value == 1:
        return a
    if isinstance(a, Const) and a.value == 1:
        return b
    if isinstance(a, Const) and isinstance(b, Const):
        return Const(a.value * b.value, a.dtype)
    if (isinstance(a, Const) and a.value == 0 or isinstance(b, Const) and b.value == 0) \
            and a.dtype == int64:
        return idx(0)
    return Binary("mul", a, b)


def linear_index(indices, strides) -> Expr:
    """Σ index_d · stride_d, skipping zero strides (broadcast axes)."""
    total = idx(0)
    for i, s in zip(indices, strides):
        if s:
            total = add(total, mul(i, idx(s)))
    return total


def row_major_strides(shape) -> tuple[int, ...]:
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= d
    return tuple(reversed(strides))


FLOAT_TYPES = (float32, float64)
