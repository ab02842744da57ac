"""Symbolic sizes: a dimension that depends on the batch size N, known only at run time.

A placeholder declared with a `None` leading dimension is compiled with that dimension
left as `N`; shape inference, the passes and lowering then compute with `SymbolicDim`
values (k·N + c) the way they compute with ints, so one compiled program serves every
batch size. Only affine sizes exist: anything that would need N·N, a comparison with a
number or a concrete value raises `SymbolicShapeError`, and the backend compiles that
program for the concrete batch instead (the compile log says why).
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import GraphcError


class SymbolicShapeError(GraphcError):
    """A computation on a symbolic size that has no symbolic answer."""


@dataclass(frozen=True)
class SymbolicDim:
    """coeff·N + offset, coeff != 0."""

    coeff: int = 1
    offset: int = 0

    # -- arithmetic that stays affine ------------------------------------------------
    def __add__(self, other):
        if isinstance(other, SymbolicDim):
            return make(self.coeff + other.coeff, self.offset + other.offset)
        if isinstance(other, int):
            return make(self.coeff, self.offset + other)
        return NotImplemented

    __radd__ = __add__

    def __neg__(self):
        return make(-self.coeff, -self.offset)

    def __sub__(self, other):
        if isinstance(other, SymbolicDim | int):
            return self + (-other)
        return NotImplemented

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        if isinstance(other, SymbolicDim):
            raise SymbolicShapeError(f"the size {self}·{other} is not affine in N")
        if isinstance(other, int):
            return make(self.coeff * other, self.offset * other)
        return NotImplemented

    __rmul__ = __mul__

    def __floordiv__(self, other):
        if isinstance(other, int) and other and self.coeff % other == 0 \
                and self.offset % other == 0:
            return make(self.coeff // other, self.offset // other)
        raise SymbolicShapeError(f"{self} is not known to divide by {other}")

    def __mod__(self, other):
        if isinstance(other, int) and other and self.coeff % other == 0:
            return self.offset % other
        raise SymbolicShapeError(f"{self} mod {other} depends on N")

    def __bool__(self) -> bool:
        return True                      # a size that is not known to be zero

    # -- what has no symbolic answer -------------------------------------------------
    def _unknown(self, *_):
        raise SymbolicShapeError(f"the size {self} is only known at run time")

    __lt__ = __le__ = __gt__ = __ge__ = __int__ = __float__ = __index__ = _unknown
    __rfloordiv__ = __rmod__ = __truediv__ = __rtruediv__ = _unknown

    def __hash__(self) -> int:
        return hash(("N", self.coeff, self.offset))

    def evaluate(self, n: int) -> int:
        return self.coeff * n + self.offset

    def __str__(self) -> str:
        lead = "N" if self.coeff == 1 else "-N" if self.coeff == -1 else f"{self.coeff}N"
        if self.offset:
            return f"{lead}{'+' if self.offset > 0 else '-'}{abs(self.offset)}"
        return lead

    __repr__ = __str__


BATCH = SymbolicDim(1, 0)
"""N itself: the leading dimension of every batch-polymorphic placeholder."""


def make(coeff: int, offset: int):
    """coeff·N + offset, or a plain int when N drops out."""
    return SymbolicDim(coeff, offset) if coeff else offset


def is_symbolic(d) -> bool:
    return isinstance(d, SymbolicDim)


def evaluate(value, n: int):
    """A size (int or symbolic) or a tuple of sizes at batch size n."""
    if isinstance(value, tuple):
        return tuple(evaluate(v, n) for v in value)
    return value.evaluate(n) if isinstance(value, SymbolicDim) else value


def per_row(size) -> tuple[int, int]:
    """(fixed part, part per batch row) of a size."""
    if isinstance(size, SymbolicDim):
        return size.offset, size.coeff
    return size, 0
