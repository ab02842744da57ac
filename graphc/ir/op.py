"""The op definition pattern: everything about one op lives in one OpDef.

An OpDef says how to infer its result type (with a one-line error on bad input), how
to compute it in numpy (the reference every backend is checked against), how to
differentiate it *in graph ops* (so gradients are ordinary nodes and grad-of-grad
works) and how it lowers to loop IR: an elementwise op's value at one element
(`scalar`), a data-movement op's element from its inputs' (`element`), or the kernel
template that computes it (`lowering`). Its fusion kind tells the pass pipeline how it
may be grouped.
"""
from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    from .node import Node
    from .types import TensorType


class Fusion(enum.IntEnum):
    """How an op may be fused, on TVM's op-pattern scale (lower fuses more freely)."""

    ELEMWISE = 0          # out[i] = f(in[i])
    BROADCAST = 1         # elementwise after broadcasting inputs
    INJECTIVE = 2         # each output element reads one input element (reshape, slice)
    REDUCTION = 3         # sums / maxima along axes
    OUT_ELEMWISE_FUSABLE = 4  # GEMM / conv: an elementwise epilogue can join them
    OPAQUE = 5            # never fused (state, sources, sinks)


class OpDef:
    """Base class of every op. Subclasses set `name` and override what they need."""

    name: str = ""
    fusion: Fusion = Fusion.OPAQUE
    stateful: bool = False       # never merged, folded or removed while fetched
    num_inputs: int | None = None  # None: variadic
    broadcasts: bool = False     # inputs may be stretched numpy-style (autodiff un-does it)
    shape_only_inputs: tuple[int, ...] = ()  # inputs read for their shape, never their data
    source: bool = False         # a placeholder, variable or constant: never computed
    row_major_view: bool = False  # its elements are its input's, in row-major order (a
    #                               reshape): a view of the input's buffer
    random: bool = False         # draws counter-based random bits (a key per run)
    lowering: str | None = None  # the template that computes it as a kernel's anchor
    #                              (lower/program.py: "reduce", "softmax", "matmul", ...)
    index_checks: tuple[int, int] | None = None  # (indices, params) inputs of a gather:
    #                                              compiled code checks every index

    # How it lowers, when it is computed inside a kernel (lower/values.py). `b` is the
    # loop-IR builder (lower/builder.py), so an op module never imports the lowering.
    scalar = None     # def scalar(self, b, node, *values): its value from its inputs'
    #                   values at the same element (elementwise ops)
    element = None    # def element(self, b, vb, node, index): its value at `index`, built
    #                   from inputs' values elsewhere (`vb.value(x, idx)`; data movement)

    def normalize_attrs(self, inputs: Sequence["TensorType"], attrs: dict) -> dict:
        """Canonicalise attrs against the input types (e.g. negative axes); may raise
        InferError like `infer`. Runs once, when the node is made."""
        return attrs

    def printed_attrs(self, attrs: dict) -> dict:
        """The attrs worth showing in the IR text (the type already shows dtype/shape)."""
        return attrs

    def infer(self, inputs: Sequence["TensorType"], attrs: dict) -> "TensorType":
        raise NotImplementedError(f"{self.name}: no type inference")

    def reference(self, node: "Node", *values: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{self.name}: no numpy reference")

    def evaluate(self, node: "Node", values: Sequence[np.ndarray], ctx: Any) -> np.ndarray:
        """Interpreter entry point; ops that need session state (variables, RNG) override it."""
        return self.reference(node, *values)

    def grad(self, node: "Node", gy: "Node") -> list["Node | None"]:
        """Gradients w.r.t. each input as graph nodes; None means a symbolic zero."""
        raise NotImplementedError(f"op '{self.name}' has no gradient rule")

    def __repr__(self) -> str:
        return f"<op {self.name}>"

    def __reduce__(self):
        """A registered op pickles as its name (a compiled program in the program cache
        refers to the live op, not a copy)."""
        if OPS.get(self.name) is self:
            return get_op, (self.name,)
        return super().__reduce__()


OPS: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    """Add an op instance to the registry (table rows of elementwise ops use this)."""
    if not opdef.name:
        raise ValueError(f"{opdef!r} has no name")
    if opdef.name in OPS:
        raise ValueError(f"op '{opdef.name}' is defined twice")
    OPS[opdef.name] = opdef
    return opdef


def register_op(cls: type[OpDef]) -> type[OpDef]:
    """Class decorator: instantiate and register an OpDef subclass."""
    register(cls())
    return cls


def get_op(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"unknown op '{name}'") from None
