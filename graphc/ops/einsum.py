"""einsum as a composite: diagonals, sums, transposes, reshapes and (batched) matmuls.

An equation is taken apart into steps graphc already differentiates and lowers, so
einsum needs no op, no lowering and no gradient rule of its own:

1. a letter repeated within one operand (`ii->i`) takes the diagonal: the operand times
   an identity mask, summed over the repeat;
2. a letter that no other operand and not the output uses is summed away;
3. operands are contracted left to right, two at a time: letters of both kept by the
   output (or a later operand) are batch axes, letters of both not kept are contracted;
   each side is transposed to (batch, free, contracted), its free and contracted axes
   merged by a reshape, and the pair is one batched matmul (an outer product, with
   nothing to contract, is a broadcast multiply);
4. the result is transposed to the output's order.

`...` stands for the same leading axes in every operand (no broadcasting between
sizes, as no letter broadcasts).
"""
from __future__ import annotations

import string

import numpy as np

from ..ir import Node, ShapeError
from ..ir.types import dims_compatible
from .base import as_tensor, as_tensors_like
from .elementwise import mul
from .linalg import matmul
from .reduce import reduce_sum
from .shape import expand_dims, reshape, squeeze, transpose
from .state import constant, identity

_ELLIPSIS_LETTERS = string.ascii_letters[::-1]   # `...` takes unused ones: Z, Y, ..., z, ...


class _Term:
    """An operand as a tensor and the letter of each of its axes."""

    def __init__(self, tensor: Node, letters: str):
        self.tensor, self.letters = tensor, letters

    def size(self, letter: str):
        return self.tensor.shape[self.letters.index(letter)]


def einsum(equation: str, *inputs, name=None) -> Node:
    """TF1's einsum ("ij,jk->ik", "bij,bjk->bik", "ij->ji", "ii->i", "i,j->ij", ...)."""
    if len(inputs) == 1 and isinstance(inputs[0], list | tuple):
        inputs = tuple(inputs[0])
    if not inputs:
        raise ValueError("einsum needs at least one operand")
    tensors = as_tensors_like(*inputs) if len(inputs) > 1 else (as_tensor(inputs[0]),)
    specs, output = _parse(equation, tensors)
    terms = [_Term(t, s) for t, s in zip(tensors, specs)]
    _check_sizes(equation, terms)
    terms = [_take_diagonals(t) for t in terms]
    result = _sum_unused(terms[0], _needed(terms[1:], output))
    for k, other in enumerate(terms[1:], 1):
        keep = _needed(terms[k + 1:], output)
        result = _contract(result, _sum_unused(other, keep | set(result.letters)), keep)
    result = _sum_unused(result, set(output))
    perm = tuple(result.letters.index(c) for c in output)
    y = result.tensor if perm == tuple(range(len(perm))) else transpose(result.tensor, perm)
    return identity(y, name=name or "einsum")


# -- parsing ------------------------------------------------------------------------------
def _parse(equation: str, tensors) -> tuple[list[str], str]:
    """The letters of each operand and of the output, with `...` spelled out."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum's equation must be a string, got {equation!r}")
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    specs = lhs.split(",")
    if len(specs) != len(tensors):
        raise ValueError(f"einsum '{equation}' names {len(specs)} operands but was given "
                         f"{len(tensors)}")
    for part in specs + [rhs]:
        if part.count("...") > 1 or part.replace("...", "").strip(string.ascii_letters):
            raise ValueError(f"einsum '{equation}': operands and the output are spelled "
                             "with letters and at most one '...' each, joined by ',' and "
                             "'->'")
    covered = [_dots_covered(equation, s, t) for s, t in zip(specs, tensors)]
    spare = [c for c in _ELLIPSIS_LETTERS if c not in lhs + rhs]
    dots = "".join(spare[:max(covered)][::-1])
    specs = [s.replace("...", dots[len(dots) - n:]) for s, n in zip(specs, covered)]
    if arrow:
        output = rhs.replace("...", dots)
    else:                       # implicit: dots first, then letters seen once, sorted
        joined = "".join(specs)
        output = dots + "".join(sorted(c for c in set(joined) if joined.count(c) == 1
                                       and c not in dots))
    if len(set(output)) != len(output):
        raise ValueError(f"einsum '{equation}': a letter repeats in the output")
    missing = sorted(set(output) - set("".join(specs)))
    if missing:
        raise ValueError(f"einsum '{equation}': output letters {', '.join(missing)} are in "
                         "no operand")
    return specs, output


def _dots_covered(equation: str, spec: str, tensor: Node) -> int:
    """How many axes the operand's `...` covers (0 without one); checks the rank."""
    named = len(spec.replace("...", ""))
    covered = tensor.rank - named
    if covered < 0 or (covered and "..." not in spec):
        raise ShapeError(f"einsum '{equation}': operand '{tensor.name}' {tensor.type} has "
                         f"rank {tensor.rank} but '{spec}' names {named} axes")
    return covered


def _check_sizes(equation: str, terms: list[_Term]) -> None:
    seen: dict[str, tuple] = {}
    for t in terms:
        for axis, c in enumerate(t.letters):
            d = t.tensor.shape[axis]
            if c in seen and not dims_compatible(seen[c][0], d):
                raise ShapeError(f"einsum '{equation}': '{c}' is {seen[c][0]} in "
                                 f"'{seen[c][1]}' {seen[c][2]} but {d} in "
                                 f"'{t.tensor.name}' {t.tensor.type}")
            if c not in seen or seen[c][0] is None:
                seen[c] = (d, t.tensor.name, t.tensor.type)


# -- steps --------------------------------------------------------------------------------
def _needed(later: list[_Term], output: str) -> set[str]:
    return set(output).union(*(t.letters for t in later))


def _take_diagonals(term: _Term) -> _Term:
    """Each letter repeated within the operand once: x · I over the two axes, summed over
    the second (its size must be known)."""
    x, letters = term.tensor, term.letters
    for c in dict.fromkeys(letters):
        while letters.count(c) > 1:
            first = letters.index(c)
            second = letters.index(c, first + 1)
            n = x.shape[first] if x.shape[first] is not None else x.shape[second]
            if n is None:
                raise ShapeError(f"einsum: the diagonal over '{c}' of '{term.tensor.name}' "
                                 f"{term.tensor.type} needs a known size")
            mask_shape = [1] * len(letters)
            mask_shape[first] = mask_shape[second] = n
            eye = constant(np.eye(n).reshape(mask_shape), x.dtype)
            x = reduce_sum(mul(x, eye), second)
            letters = letters[:second] + letters[second + 1:]
    return _Term(x, letters)


def _sum_unused(term: _Term, keep: set[str]) -> _Term:
    axes = tuple(i for i, c in enumerate(term.letters) if c not in keep)
    if not axes:
        return term
    return _Term(reduce_sum(term.tensor, axes),
                 "".join(c for c in term.letters if c in keep))


def _contract(a: _Term, b: _Term, keep: set[str]) -> _Term:
    """a and b joined: batch letters (both, kept), contracted (both, not kept), free."""
    batch = [c for c in a.letters if c in b.letters and c in keep]
    summed = [c for c in a.letters if c in b.letters and c not in keep]
    a_free = [c for c in a.letters if c not in b.letters]
    b_free = [c for c in b.letters if c not in a.letters]
    letters = "".join(batch + a_free + b_free)
    if not summed:          # an outer product over the batch: a broadcast multiply
        x = _arranged(a, batch + a_free + [None] * len(b_free))
        y = _arranged(b, batch + [None] * len(a_free) + b_free)
        return _Term(mul(x, y), letters)
    x = _merged(_arranged(a, batch + a_free + summed), len(batch), [a_free, summed], a)
    y = _merged(_arranged(b, batch + summed + b_free), len(batch), [summed, b_free], b)
    product = matmul(x, y)
    sizes = [a.size(c) for c in batch] + [a.size(c) for c in a_free] + \
        [b.size(c) for c in b_free]
    return _Term(_split(product, len(batch), a_free, b_free, sizes), letters)


def _arranged(term: _Term, order: list) -> Node:
    """The operand's axes in `order`; None entries are new size-1 axes (for broadcasting)."""
    present = [c for c in order if c is not None]
    perm = tuple(term.letters.index(c) for c in present)
    x = term.tensor if perm == tuple(range(len(perm))) else transpose(term.tensor, perm)
    for i, c in enumerate(order):
        if c is None:
            x = expand_dims(x, i)
    return x


def _merged(x: Node, nbatch: int, groups: list[list[str]], term: _Term) -> Node:
    """x's axes after the batch as one axis per group (an empty group: a size-1 axis)."""
    if all(len(g) == 1 for g in groups):
        return x
    if all(len(g) <= 1 for g in groups):
        axis = nbatch
        for g in groups:
            if not g:
                x = expand_dims(x, axis)
            axis += 1
        return x
    shape = list(x.shape[:nbatch]) + [_product([term.size(c) for c in g]) for g in groups]
    return _reshape(x, shape)


def _split(product: Node, nbatch: int, a_free, b_free, sizes) -> Node:
    """The matmul's (batch, M, N) result with M and N split back into their letters."""
    if len(a_free) <= 1 and len(b_free) <= 1:
        empty = [nbatch + i for i, g in enumerate((a_free, b_free)) if not g]
        return squeeze(product, empty) if empty else product
    return _reshape(product, sizes)


def _product(sizes):
    return None if any(d is None for d in sizes) else int(np.prod(sizes, dtype=np.int64))


def _reshape(x: Node, shape: list) -> Node:
    if sum(d is None for d in shape) > 1:
        raise ShapeError(f"einsum: merging axes of '{x.name}' {x.type} into "
                         f"{tuple(shape)} needs all but one of those sizes known")
    return reshape(x, [-1 if d is None else d for d in shape])
