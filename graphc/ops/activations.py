"""Activations composed of elementwise primitives (relu6, gelu, swish / silu, selu,
softsign, mish, hard_swish, celu, thresholded_relu), hardmax, and erf, so autodiff
differentiates them and every backend runs them fused.

erf has no loop-IR operation: it is Numerical Recipes' Chebyshev fit of erfc
(exp(−z² + a polynomial in t = 1/(1 + z/2)), relative error below 1.2e-7 everywhere):
float32-exact, not float64-exact. gelu's exact form uses it; approximate=True is the tanh
form, exact in either precision.
"""
from __future__ import annotations

import math

from ..ir import Node
from .base import as_tensor
from .base import normalize_axis
from .elementwise import abs, elu, exp, minimum, relu, sigmoid, softplus, tanh, where, zeros_like
from .indexing import one_hot
from .reduce import argmax
from .shape import transpose
from .state import identity

_ERFC = [-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807,
         -1.13520398, 1.48851587, -0.82215223, 0.17087277]
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _named(y: Node, name) -> Node:
    return identity(y, name=name) if name else y


def erf(x, name=None) -> Node:
    """The error function, to a relative 1.2e-7 in erfc (see the module's docstring)."""
    x = as_tensor(x)
    z = abs(x)
    t = 1.0 / (z * 0.5 + 1.0)
    poly = t * _ERFC[-1] + _ERFC[-2]
    for c in reversed(_ERFC[:-2]):
        poly = poly * t + c
    erfc_z = t * exp(-z * z + poly)
    return _named(where(x >= 0.0, 1.0 - erfc_z, erfc_z - 1.0), name or "erf")


def relu6(features, name=None) -> Node:
    """min(max(x, 0), 6)."""
    return _named(minimum(relu(as_tensor(features)), 6.0), name or "relu6")


def gelu(features, approximate=False, name=None) -> Node:
    """x·Φ(x); approximate: ½x(1 + tanh(√(2/π)(x + 0.044715x³)))."""
    x = as_tensor(features)
    if approximate:
        inner = (x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)
        return _named(x * (tanh(inner) + 1.0) * 0.5, name or "gelu")
    return _named(x * (erf(x * (1 / math.sqrt(2))) + 1.0) * 0.5, name or "gelu")


def swish(features, beta=1.0, name=None) -> Node:
    """x·σ(βx) (silu for β = 1)."""
    x = as_tensor(features)
    return _named(x * sigmoid(x * beta if beta != 1.0 else x), name or "swish")


def silu(features, beta=1.0, name=None) -> Node:
    return swish(features, beta, name=name or "silu")


def selu(features, name=None) -> Node:
    """scale·elu(x, α) with the self-normalising constants (Klambauer et al., TF's)."""
    return _named(elu(as_tensor(features), SELU_ALPHA) * SELU_SCALE, name or "selu")


def softsign(features, name=None) -> Node:
    """x / (1 + |x|)."""
    x = as_tensor(features)
    return _named(x / (abs(x) + 1.0), name or "softsign")


def mish(features, name=None) -> Node:
    """x·tanh(softplus(x)) (Misra, 2019)."""
    x = as_tensor(features)
    return _named(x * tanh(softplus(x)), name or "mish")


def hard_swish(features, name=None) -> Node:
    """x·relu6(x + 3)/6 (MobileNetV3)."""
    x = as_tensor(features)
    return _named(x * relu6(x + 3.0) * (1 / 6), name or "hard_swish")


def celu(features, alpha=1.0, name=None) -> Node:
    """x for x > 0, alpha·(exp(x/alpha) − 1) otherwise: alpha·elu(x/alpha)."""
    x = as_tensor(features)
    return _named(elu(x / alpha) * alpha if alpha != 1.0 else elu(x), name or "celu")


def thresholded_relu(features, theta=1.0, name=None) -> Node:
    """x where x > theta, else 0."""
    x = as_tensor(features)
    return _named(where(x > theta, x, zeros_like(x)), name or "thresholded_relu")


def hardmax(logits, axis=-1, name=None) -> Node:
    """1 at the (first) largest element along `axis`, 0 elsewhere: one_hot of argmax
    (TF1's tf.contrib.seq2seq.hardmax, on any axis). Piecewise constant: no gradient."""
    x = as_tensor(logits)
    axis = normalize_axis(int(axis), x.rank)
    if x.shape[axis] is None:
        raise ValueError(f"hardmax of '{x.name}' {x.type}: axis {axis} needs a known size")
    hot = one_hot(argmax(x, axis), x.shape[axis], dtype=x.dtype)
    if axis != x.rank - 1:
        perm = list(range(x.rank - 1))
        perm.insert(axis, x.rank - 1)
        hot = transpose(hot, perm)
    return _named(hot, name or "hardmax")
