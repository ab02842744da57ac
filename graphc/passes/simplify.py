"""Algebraic simplification: local rewrites, each a named function of (node, inputs)
returning a replacement or None, indexed by op name.

What it does, with the backward graph in mind (most of a train step is gradient code):
  x*1, x+0, x-0, x/1 → x           (never x*0 → 0: that would hide NaN and inf)
  neg(neg x) → x, identity / stop_gradient → x, cast to the same dtype → x
  transpose∘transpose → one transpose (or none); reshape chains → one reshape
  *_like ops with known shapes → static reshape / broadcast_to / reduce_sum (or nothing)
  a uniform operand of a broadcasting op (fill_like, broadcast of a scalar) → a scalar
  reduce_sum of a broadcast along the summed axes → x · count   (gradients of sums)
  log(softmax z) → log_softmax z
  −Σ one_hot(y) · log_softmax(z) → sparse_softmax_cross_entropy(z, y)
A rewrite only fires when the result keeps the node's exact type.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..ir.symbolic import is_symbolic
from ..ops.state import constant
from .rewrite import rebuild

RULES: dict[str, list] = {}


def rule(*op_names):
    def register(fn):
        for name in op_names:
            RULES.setdefault(name, []).append(fn)
        return fn
    return register


def uniform_value(node):
    """The single value every element of `node` has, when that is known statically."""
    if node.op.name == "constant":
        v = node.attrs["value"]
        if v.size and np.all(v == v.flat[0]):
            return v.flat[0].item()
        return None
    if node.op.name == "fill_like":
        return node.attrs["value"]
    if node.op.name in ("broadcast_to", "broadcast_like", "reshape", "expand_dims", "squeeze"):
        return uniform_value(node.inputs[0])
    return None


def _same_type(a, node):
    return a.type == node.type


def _drop_neutral(node, inputs, neutral, sides):
    """x ∘ e → x for the op's neutral element e, on the sides where it is neutral."""
    for keep, other in ((0, 1), (1, 0)):
        if other in sides and uniform_value(inputs[other]) == neutral \
                and _same_type(inputs[keep], node):
            return inputs[keep]
    return None


@rule("mul")
def mul_by_one(node, inputs):
    return _drop_neutral(node, inputs, 1, sides=(0, 1))


@rule("add")
def add_zero(node, inputs):
    return _drop_neutral(node, inputs, 0, sides=(0, 1))


@rule("sub")
def sub_zero(node, inputs):
    return _drop_neutral(node, inputs, 0, sides=(1,))


@rule("div")
def div_by_one(node, inputs):
    return _drop_neutral(node, inputs, 1, sides=(1,))


@rule("neg")
def double_negation(node, inputs):
    (x,) = inputs
    return x.inputs[0] if x.op.name == "neg" else None


@rule("identity", "stop_gradient")
def drop_identity(node, inputs):
    return inputs[0]


@rule("add_n")
def single_term(node, inputs):
    return inputs[0] if len(inputs) == 1 and _same_type(inputs[0], node) else None


@rule("transpose")
def transpose_chain(node, inputs):
    (x,) = inputs
    perm = node.attrs["perm"]
    if x.op.name == "transpose":
        inner = x.attrs["perm"]
        perm = tuple(inner[p] for p in perm)
        x = x.inputs[0]
    if perm == tuple(range(len(perm))):
        return x
    if x is not inputs[0]:
        return ops.transpose(x, perm)
    return None


@rule("reshape", "reshape_like", "expand_dims", "squeeze")
def reshape_chain(node, inputs):
    x = inputs[0]
    if not node.type.is_fully_defined:
        return None
    while x.op.name in ("reshape", "reshape_like", "expand_dims", "squeeze"):
        x = x.inputs[0]
    if x.shape == node.shape:
        return x
    if x is not inputs[0] or node.op.name == "reshape_like":
        return ops.reshape(x, node.shape)
    return None


@rule("broadcast_like")
def static_broadcast(node, inputs):
    x = inputs[0]
    if not node.type.is_fully_defined:
        return None
    return x if x.shape == node.shape else ops.broadcast_to(x, node.shape)


@rule("sum_like")
def static_unbroadcast(node, inputs):
    x, ref = inputs
    if not (x.type.is_fully_defined and ref.type.is_fully_defined):
        return None
    if x.shape == ref.shape:
        return x
    lead = x.rank - ref.rank
    inner = tuple(lead + i for i, d in enumerate(ref.shape) if d == 1 and x.shape[lead + i] != 1)
    if not inner:          # only leading axes were added by the broadcast: no reshape needed
        return ops.reduce_sum(x, tuple(range(lead)))
    summed = ops.reduce_sum(x, tuple(range(lead)) + inner, keepdims=True)
    return summed if summed.shape == ref.shape else ops.reshape(summed, ref.shape)


@rule("reduce_sum")
def sum_of_broadcast(node, inputs):
    """Σ over axes along which x was only copied = x times the number of copies."""
    (b,) = inputs
    if b.op.name not in ("broadcast_to", "broadcast_like") or not b.type.is_fully_defined:
        return None
    x = b.inputs[0]
    if not x.type.is_fully_defined:
        return None
    axes, keepdims = node.attrs["axes"], node.attrs["keepdims"]
    aligned = [1] * (b.rank - x.rank) + list(x.shape)
    if any(aligned[i] != 1 for i in axes):
        return None       # a summed axis holds distinct values
    kept = tuple(1 if i in axes else aligned[i] for i in range(b.rank)
                 if keepdims or i not in axes)
    if any(is_symbolic(b.shape[i]) for i in axes):
        return None       # a count known only at run time: left to the reduction
    count = int(np.prod([b.shape[i] for i in axes]))
    if count == 0:         # a sum of no copies is 0, even of an inf (inf · 0 would be NaN)
        return constant(np.zeros(node.shape, x.dtype.np_type))
    scaled = (x if x.shape == kept else ops.reshape(x, kept)) * \
        constant(np.asarray(count, dtype=x.dtype.np_type))
    return scaled if scaled.shape == node.shape else ops.broadcast_to(scaled, node.shape)


@rule("log")
def log_of_softmax(node, inputs):
    (s,) = inputs
    if s.op.name == "softmax":
        return ops.log_softmax(s.inputs[0], axis=s.attrs["axis"])
    return None


@rule("neg")
def cross_entropy_pattern(node, inputs):
    """−Σ_c one_hot(y)_c · log_softmax(z)_c over the class axis → the stable fused op."""
    (total,) = inputs
    if total.op.name != "reduce_sum" or total.attrs["keepdims"]:
        return None
    (prod,) = total.inputs
    if prod.op.name != "mul" or total.attrs["axes"] != (prod.rank - 1,):
        return None
    for hot, logp in (prod.inputs, prod.inputs[::-1]):
        if hot.op.name == "one_hot" and logp.op.name == "log_softmax" \
                and logp.attrs["axis"] == logp.rank - 1 and hot.type == logp.type \
                and hot.attrs["on_value"] == 1 and hot.attrs["off_value"] == 0:
            z, labels = logp.inputs[0], hot.inputs[0]
            return ops.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=z)
    return None


@rule("add", "sub", "mul", "div", "maximum", "minimum", "where", "pow")
def uniform_operand_to_scalar(node, inputs):
    """A full-size operand holding one value becomes a scalar constant."""
    changed = list(inputs)
    for i, x in enumerate(inputs):
        if x.rank == 0 or x.op.name == "constant" and x.attrs["value"].size == 1:
            continue
        v = uniform_value(x)
        if v is not None and not x.dtype.is_bool:
            changed[i] = constant(np.asarray(v, dtype=x.dtype.np_type))
    if changed == inputs:
        return None
    result = ops.apply(node.op.name, changed, name=None, **node.attrs)
    return result if result.type == node.type else None


class Simplify:
    name = "simplify"

    def __init__(self, max_rounds: int = 4):
        self.max_rounds = max_rounds

    def run(self, program):
        fired: dict[str, int] = {}

        def simplify(node, inputs):
            for fn in RULES.get(node.op.name, ()):
                out = fn(node, inputs)
                if out is not None:
                    fired[fn.__name__] = fired.get(fn.__name__, 0) + 1
                    return out
            return None

        for _ in range(self.max_rounds):
            before = sum(fired.values())
            program, _ = rebuild(program, simplify)
            if sum(fired.values()) == before:
                break
        return program, {"rewrites": sum(fired.values()), **fired}
