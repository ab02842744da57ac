"""Node: one op applied to its inputs, producing one typed tensor.

Every op in graphc has exactly one result, so a node *is* the tensor users hold
(exported as `gc.Tensor`). Ops that return several tensors in other frameworks
(split, batch-norm statistics) return several nodes here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .source import SourceLocation
from .types import TensorType

if TYPE_CHECKING:
    from .graph import Graph
    from .op import OpDef


OPERATORS: dict[str, Any] = {}
"""The op functions behind a tensor's operators (`t + 1` is OPERATORS["add"](t, 1)),
filled by graphc.ops when it is imported: the IR does not import the ops."""

_AUTO_NAME = re.compile(r"^(?P<base>.+?)(_\d+)?$")


@dataclass(frozen=True)
class GradInfo:
    """Marks a backward node: which forward node it differentiates, and for the node that
    is the finished gradient of an input, which input (else None)."""

    forward: "Node"
    input_index: int | None = None


class Node:
    __slots__ = ("graph", "op", "inputs", "attrs", "type", "name", "location",
                 "control_inputs", "grad_of", "id", "__weakref__")

    def __init__(self, graph: "Graph", op: "OpDef", inputs: tuple["Node", ...], attrs: dict,
                 type: TensorType, name: str, location: SourceLocation | None,
                 control_inputs: tuple["Node", ...], grad_of: GradInfo | None, id: int):
        self.graph = graph
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        self.type = type
        self.name = name
        self.location = location
        self.control_inputs = control_inputs
        self.grad_of = grad_of
        self.id = id

    # -- tensor-like view ---------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.type.shape

    @property
    def dtype(self):
        return self.type.dtype

    @property
    def rank(self) -> int:
        return self.type.rank

    @property
    def data_inputs(self) -> tuple["Node", ...]:
        """Inputs whose values the op reads (not those it reads only for their shape)."""
        skip = self.op.shape_only_inputs
        if not skip:
            return self.inputs
        return tuple(x for i, x in enumerate(self.inputs) if i not in skip)

    @property
    def is_backward(self) -> bool:
        return self.grad_of is not None

    @property
    def auto_named(self) -> bool:
        """True for names graphc made up from the op type ('matmul', 'dense/matmul_3')."""
        base = self.name.rpartition("/")[2]
        match = _AUTO_NAME.match(base)
        return match is not None and match.group("base") == self.op.name

    def get_shape(self) -> tuple:
        return self.type.shape

    def describe(self) -> str:
        """'matmul' node 'dense/matmul' (model.py:14): used in error messages."""
        where = f" ({self.location})" if self.location else ""
        return f"{self.op.name} '{self.name}'{where}"

    def __repr__(self) -> str:
        return f"<gc.Tensor '{self.name}' {self.op.name} {self.type}>"

    # a numpy array on the left of an operator hands the operation to the tensor
    # (np.ones(3) * t is t.__rmul__), instead of making an object array of tensors
    __array_ufunc__ = None

    # identity semantics: nodes are dict keys (feeds, fetches, gradients)
    __hash__ = object.__hash__

    def __eq__(self, other: Any) -> bool:
        return self is other

    def __bool__(self) -> bool:
        raise TypeError(f"a graphc tensor ({self.name}) has no truth value while the graph is "
                        "built; use gc.where or a comparison op")

    # -- operators: the op functions graphc.ops puts in OPERATORS --------------------------
    def __add__(self, o): return OPERATORS["add"](self, o)
    def __radd__(self, o): return OPERATORS["add"](o, self)
    def __sub__(self, o): return OPERATORS["subtract"](self, o)
    def __rsub__(self, o): return OPERATORS["subtract"](o, self)
    def __mul__(self, o): return OPERATORS["multiply"](self, o)
    def __rmul__(self, o): return OPERATORS["multiply"](o, self)
    def __truediv__(self, o): return OPERATORS["divide"](self, o)
    def __rtruediv__(self, o): return OPERATORS["divide"](o, self)
    def __floordiv__(self, o): return OPERATORS["floordiv"](self, o)
    def __rfloordiv__(self, o): return OPERATORS["floordiv"](o, self)
    def __mod__(self, o): return OPERATORS["floormod"](self, o)
    def __rmod__(self, o): return OPERATORS["floormod"](o, self)
    def __pow__(self, o): return OPERATORS["pow"](self, o)
    def __rpow__(self, o): return OPERATORS["pow"](o, self)
    def __matmul__(self, o): return OPERATORS["matmul"](self, o)
    def __rmatmul__(self, o): return OPERATORS["matmul"](o, self)
    def __neg__(self): return OPERATORS["negative"](self)
    def __abs__(self): return OPERATORS["abs"](self)
    def __lt__(self, o): return OPERATORS["less"](self, o)
    def __le__(self, o): return OPERATORS["less_equal"](self, o)
    def __gt__(self, o): return OPERATORS["greater"](self, o)
    def __ge__(self, o): return OPERATORS["greater_equal"](self, o)
    def __getitem__(self, index): return OPERATORS["getitem"](self, index)

    def __iter__(self):
        raise TypeError(f"a graphc tensor ({self.name}) is not iterable; use gc.split or slices")

    # -- TF1's t.eval() / op.run(): in the default session (graphc.session puts "run" here)
    def eval(self, feed_dict=None, session=None):
        """This tensor's value, run in `session` or the default one (InteractiveSession)."""
        return OPERATORS["run"](self, feed_dict, session)

    def run(self, feed_dict=None, session=None) -> None:
        """Run this op (e.g. a train op) in `session` or the default one."""
        OPERATORS["run"](self, feed_dict, session)
