"""Activations composed of elementwise primitives (relu6, gelu, swish / silu, selu,
softsign) and erf, so autodiff differentiates them and every backend runs them fused.

erf has no loop-IR operation: it is Numerical Recipes' Chebyshev fit of erfc
(exp(−z² + a polynomial in t = 1/(1 + z/2)), relative error below 1.2e-7 everywhere):
float32-exact, not float64-exact. gelu's exact form uses it; approximate=True is the tanh
form, exact in either precision.
"""
from __future__ import annotations

import math

from ..ir import Node
from .base import as_tensor
from .elementwise import abs, elu, exp, minimum, relu, sigmoid, tanh, where
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
