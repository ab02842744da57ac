"""Helpers that build loop nests: fresh index variables, nests over a shape."""
from __future__ import annotations

import itertools

from ..ir.symbolic import SymbolicDim
from .loopir import Loop, Var, idx


class Names:
    """Fresh names for loop variables and scalars within one kernel; a `prefix` keeps
    the names of a second source (expanded routines) apart from the kernel's own."""

    def __init__(self, prefix: str = ""):
        self._counter = itertools.count()
        self._prefix = prefix

    def var(self, hint: str = "i") -> Var:
        return Var(f"{self._prefix}{hint}{next(self._counter)}")

    def scalar(self, hint: str = "t") -> str:
        return f"{self._prefix}{hint}{next(self._counter)}"


def extent(d):
    """A loop extent from a size: an int, a symbolic size, or already an expression."""
    return idx(d) if isinstance(d, int | SymbolicDim) else d


def nest(names: Names, shape, body_fn, inner_kind: str = "vector", outer_kind: str = "serial",
         middle_kind: str = "serial"):
    """Loops over `shape` (outermost first; sizes or extent expressions); body_fn(index
    tuple) gives the innermost body. Size-1 axes get no loop (their index is 0).
    middle_kind: of the loops between the outermost and the innermost ("parallel" when
    every iteration is independent, so a GPU grid may take the whole nest)."""
    variables = [names.var() if d != 1 else None for d in shape]
    index = tuple(v if v is not None else idx(0) for v in variables)
    body = body_fn(index)
    looped = [(v, d) for v, d in zip(variables, shape) if v is not None]
    for depth, (v, d) in enumerate(reversed(looped)):
        if depth == 0:
            kind = inner_kind
        elif depth == len(looped) - 1:
            kind = outer_kind
        else:
            kind = middle_kind
        body = [Loop(v, extent(d), body, kind)]
    return body


def fill(names: Names, buffer: str, count: int, value, start=None) -> list:
    """buffer[start + i] = value for i < count (a parallel loop)."""
    from .loopir import Store, add
    base = start if start is not None else idx(0)

    def store(index):
        return [Store(buffer, add(base, index[0]), value)]
    return nest(names, (count,), store, outer_kind="parallel")
