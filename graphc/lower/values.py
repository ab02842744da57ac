"""The value of any node at an element, as a loop IR expression.

`ValueBuilder.value(node, index)` is how a fused kernel computes: a node that lives in
a buffer is loaded; a node computed inside the kernel is built from its inputs' values —
elementwise ops by their scalar rule (inputs broadcast numpy-style), data-movement ops
by mapping the index back to their input's. Results are memoised per (node, index), so
a value used twice in a kernel is built once.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..ir import Node, bool_, int64
from .loopir import (Binary, Cast, Compare, Const, Expr, Load, Select, add, const, idx,
                     linear_index, mul, row_major_strides)
from .scalar import has_scalar_rule, scalar

FLAT_ORDER_OPS = ("reshape", "reshape_like", "expand_dims", "squeeze")


class LoweringError(Exception):
    pass


class Checks:
    """Run-time conditions compiled code verifies (a label in range, ...): a failed one
    writes its code to the status buffer, and the runtime raises its message."""

    BUFFER = "status"

    def __init__(self):
        self.failures: list[tuple[Node, str]] = []

    def require(self, condition: Expr, node: Node, message: str):
        from .loopir import Store
        self.failures.append((node, message))
        code = idx(len(self.failures))
        status = Load(self.BUFFER, idx(0), int64)
        return Store(self.BUFFER, idx(0), Select(condition, status, code))


class ValueBuilder:
    """Builds element values for one kernel.

    buffer_of(node) -> buffer name, or None when the node is computed in the kernel;
    overrides: node -> function(index) for values the kernel provides itself (a
    reduction's accumulator, a template's output).
    """

    def __init__(self, buffer_of: Callable[[Node], str | None], rng_keys=None, checks=None):
        self.buffer_of = buffer_of
        self.rng_keys = rng_keys or {}     # random node -> buffer holding its draw's key
        self.checks = checks or Checks()
        self.overrides: dict[Node, Callable] = {}
        self._memo: dict[tuple, Expr] = {}

    def value(self, node: Node, index: tuple) -> Expr:
        key = (node.id, index)
        if key not in self._memo:
            self._memo[key] = self._build(node, tuple(index))
        return self._memo[key]

    def flat_value(self, node: Node, linear: Expr) -> Expr:
        """The element at row-major position `linear` of `node`."""
        buf = self.buffer_of(node)
        if buf is not None and node not in self.overrides:
            return Load(buf, linear, node.dtype)
        return self.value(node, unravel(linear, node.shape))

    def _build(self, node: Node, index: tuple) -> Expr:
        if node in self.overrides:
            return self.overrides[node](index)
        if node.op.name == "constant" and node.attrs["value"].size == 1:
            return const(node.attrs["value"].reshape(()).item(), node.dtype)   # an immediate
        buf = self.buffer_of(node)
        if buf is not None:
            return Load(buf, linear_index(index, row_major_strides(node.shape)), node.dtype)
        name = node.op.name
        if has_scalar_rule(name):
            return scalar(node, *[self.value(x, broadcast_index(index, node.shape, x.shape))
                                  for x in node.inputs])
        if name in FLAT_ORDER_OPS:
            x = node.inputs[0]
            return self.flat_value(x, linear_index(index, row_major_strides(node.shape)))
        rule = INDEX_RULES.get(name)
        if rule is None:
            raise LoweringError(f"op '{name}' ({node.name}) cannot be computed inside a fused "
                                "kernel yet")
        return rule(self, node, index)


def broadcast_index(index: tuple, out_shape, in_shape) -> tuple:
    """numpy broadcasting: align right, size-1 axes read element 0."""
    lead = len(out_shape) - len(in_shape)
    return tuple(idx(0) if d == 1 and out_shape[lead + i] != 1 else index[lead + i]
                 for i, d in enumerate(in_shape))


def unravel(linear: Expr, shape) -> tuple:
    """Row-major multi-index of a linear position."""
    total = 1
    for d in shape:
        total *= d
    out = []
    for d, s in zip(shape, row_major_strides(shape)):
        if d == 1:
            out.append(idx(0))
            continue
        q = linear if s == 1 else Binary("floordiv", linear, idx(s))
        out.append(q if s * d == total else Binary("mod", q, idx(d)))
    return tuple(out)


def clamp(i: Expr, size: int) -> Expr:
    return Binary("max", Binary("min", i, idx(size - 1)), idx(0))


def in_range(i: Expr, size: int) -> Expr:
    return Binary("and", Compare("ge", i, idx(0)), Compare("lt", i, idx(size)))


# -- data movement: map the output index back to the input's ------------------------------
def _transpose(vb, node, index):
    perm = node.attrs["perm"]
    in_index = [None] * len(perm)
    for out_axis, in_axis in enumerate(perm):
        in_index[in_axis] = index[out_axis]
    return vb.value(node.inputs[0], tuple(in_index))


def _broadcast(vb, node, index):
    x = node.inputs[0]
    return vb.value(x, broadcast_index(index, node.shape, x.shape))


def _fill_like(vb, node, index):
    return const(node.attrs["value"], node.dtype)


def _strided_slice(vb, node, index):
    x = node.inputs[0]
    out = iter(index)
    in_index = []
    axis = 0
    for item in node.attrs["spec"]:
        if item[0] == "new":
            next(out)
            continue
        dim = x.shape[axis]
        if item[0] == "i":
            in_index.append(idx(item[1] % dim))
        else:
            start, _, step = slice(item[1], item[2], item[3]).indices(dim)
            in_index.append(add(idx(start), mul(next(out), idx(step))))
        axis += 1
    return vb.value(x, tuple(in_index))


def _slice_grad(vb, node, index):
    """Zero outside the slice; inside, the gradient element the slice produced there."""
    gy, ref = node.inputs
    inside = Const(True, bool_)
    gy_index = []
    axis = 0
    for item in node.attrs["spec"]:
        if item[0] == "new":
            gy_index.append(idx(0))
            continue
        dim, i = ref.shape[axis], index[axis]
        if item[0] == "i":
            inside = Binary("and", inside, Compare("eq", i, idx(item[1] % dim)))
        else:
            start, stop, step = slice(item[1], item[2], item[3]).indices(dim)
            count = len(range(start, stop, step))
            offset = Binary("sub", i, idx(start))
            k = Binary("floordiv", offset, idx(step)) if step != 1 else offset
            inside = Binary("and", inside, Binary("and", in_range(k, count),
                                                   Compare("eq", Binary("mod", offset, idx(step)),
                                                           idx(0)) if step != 1 else
                                                   Const(True, bool_)))
            gy_index.append(clamp(k, max(count, 1)))
        axis += 1
    return Select(inside, vb.value(gy, tuple(gy_index)), const(0, node.dtype))


def _pad(vb, node, index):
    x = node.inputs[0]
    inside = Const(True, bool_)
    in_index = []
    for i, d, (before, _) in zip(index, x.shape, node.attrs["paddings"]):
        shifted = Binary("sub", i, idx(before)) if before else i
        if before or node.shape[len(in_index)] != d:
            inside = Binary("and", inside, in_range(shifted, d))
            shifted = clamp(shifted, d)
        in_index.append(shifted)
    fill = const(node.attrs["constant_values"], node.dtype)
    return Select(inside, vb.value(x, tuple(in_index)), fill)


def _concat_pieces(vb, node, index, parts, axis):
    """Select among parts along `axis` by the index's range (clamped loads are safe)."""
    offsets, start = [], 0
    for p in parts:
        offsets.append(start)
        start += p.shape[axis]
    result = None
    for p, off in reversed(list(zip(parts, offsets))):
        local = list(index)
        local[axis] = clamp(Binary("sub", index[axis], idx(off)), p.shape[axis])
        v = vb.value(p, tuple(local))
        result = v if result is None else Select(Compare("lt", index[axis],
                                                         idx(off + p.shape[axis])), v, result)
    return result


def _concat(vb, node, index):
    return _concat_pieces(vb, node, index, node.inputs, node.attrs["axis"])


def _concat_part(vb, node, index):
    gy, parts = node.inputs[0], node.inputs[1:]
    axis, which = node.attrs["axis"], node.attrs["index"]
    offset = sum(p.shape[axis] for p in parts[:which])
    local = list(index)
    local[axis] = add(index[axis], idx(offset))
    return vb.value(gy, tuple(local))


def _tile(vb, node, index):
    x = node.inputs[0]
    return vb.value(x, tuple(i if m == 1 else Binary("mod", i, idx(d))
                             for i, d, m in zip(index, x.shape, node.attrs["multiples"])))


def _one_hot(vb, node, index):
    labels = node.inputs[0]
    label = Cast(vb.value(labels, index[:-1]), int64)
    hit = Compare("eq", index[-1], label)
    return Select(hit, const(node.attrs["on_value"], node.dtype),
                  const(node.attrs["off_value"], node.dtype))


def _gather(vb, node, index):
    params, indices = node.inputs
    axis, n = node.attrs["axis"], params.shape[node.attrs["axis"]]
    k = Cast(vb.value(indices, index[axis: axis + indices.rank]), int64)
    k = Select(Compare("lt", k, idx(0)), add(k, idx(n)), k)
    in_index = index[:axis] + (clamp(k, n),) + index[axis + indices.rank:]
    return vb.value(params, in_index)


def _hash_bits(z):
    """splitmix64's finaliser in loop IR (wrapping int64 arithmetic, logical shifts)."""
    from ..ops.random_bits import MIX1, MIX2, as_signed
    for shift, factor in ((30, MIX1), (27, MIX2)):
        z = Binary("mul", Binary("xor", z, Binary("shr", z, idx(shift))), idx(as_signed(factor)))
    return Binary("xor", z, Binary("shr", z, idx(31)))


def _dropout_mask(vb, node, index):
    """keep where the element's uniform ≥ rate (the same bits as random_bits.uniform)."""
    from ..ops.random_bits import GOLDEN, MANTISSA, as_signed
    key = Load(vb.rng_keys[node], idx(0), int64)
    linear = linear_index(index, row_major_strides(node.shape))
    bits = _hash_bits(add(key, mul(linear, idx(as_signed(GOLDEN)))))
    keep_bits = MANTISSA[np.dtype(node.dtype.np_type)]
    u = Binary("mul", Cast(Binary("shr", bits, idx(64 - keep_bits)), node.dtype),
               const(2.0 ** -keep_bits, node.dtype))
    rate = node.attrs["rate"]
    return Select(Compare("ge", u, const(rate, node.dtype)),
                  const(1.0 / (1.0 - rate), node.dtype), const(0, node.dtype))


def _size(vb, node, index):
    """A count of elements: a constant, or an expression of N in a batch-polymorphic
    program (simplify turns static ones into constants before lowering)."""
    shape = node.inputs[0].shape
    count = 1
    for axis in range(len(shape)) if node.attrs["axes"] is None else node.attrs["axes"]:
        count = count * shape[axis]
    return const(count, node.dtype)


INDEX_RULES = {"dropout_mask": _dropout_mask, "size": _size, "transpose": _transpose,
               "broadcast_to": _broadcast, "broadcast_like": _broadcast, "fill_like": _fill_like,
               "strided_slice": _strided_slice, "slice_grad": _slice_grad, "pad": _pad,
               "concat": _concat, "concat_part": _concat_part, "tile": _tile,
               "one_hot": _one_hot, "gather": _gather}
