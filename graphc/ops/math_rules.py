"""Loop-IR expressions of the math functions the loop IR has no operation for (sin, cos,
round, ceil), from those it has.

The loop IR has no sin or cos, so they are computed as libm does: the argument is
reduced by the nearest multiple k of π/2 with π/2 split in three parts (Cody–Waite:
k·P1 is exact for |k| < 2²⁰), then Taylor polynomials of sin and cos on [−π/4, π/4]
(to r¹⁷ and r¹⁶: truncation below 1e-17) are combined by the quadrant k mod 4. Float32
arguments are computed in float64 and rounded once. Accurate to a few float64 ulps for
|x| < 1.6e6; beyond, the reduction loses bits (numpy reduces exactly).
"""
from __future__ import annotations

import math

from ..ir import float64

P1 = 1.57079632673412561417e+00      # the first 33 bits of π/2
P2 = 6.07710050630396597660e-11      # the next 33
P3 = 2.02226624871116645580e-21      # the rest
SIN = [(-1) ** i / math.factorial(2 * i + 1) for i in range(1, 9)]   # r³ ... r¹⁷
COS = [(-1) ** i / math.factorial(2 * i) for i in range(1, 9)]       # r² ... r¹⁶


def _poly(b, z, coefficients):
    """Σ cᵢ zⁱ⁺¹ by Horner's rule (no constant term)."""
    acc = b.const(coefficients[-1], float64)
    for c in reversed(coefficients[:-1]):
        acc = b.binary("add", b.const(c, float64), b.binary("mul", z, acc))
    return b.binary("mul", z, acc)


def _reduced(b, x):
    """(r, quadrant): x = k·π/2 + r with |r| ≤ π/4 and quadrant = k mod 4, as floats."""
    k = b.unary("floor", b.binary("add", b.binary("mul", x, b.const(2 / math.pi, float64)),
                                  b.const(0.5, float64)))
    r = x
    for part in (P1, P2, P3):
        r = b.binary("sub", r, b.binary("mul", k, b.const(part, float64)))
    return r, b.binary("mod", k, b.const(4.0, float64))


def _quadrant_value(b, x, shift):
    """sin(x + shift·π/2) for x in float64."""
    r, quadrant = _reduced(b, x)
    if shift:
        quadrant = b.binary("mod", b.binary("add", quadrant, b.const(shift, float64)),
                            b.const(4.0, float64))
    z = b.binary("mul", r, r)
    sin_r = b.binary("add", r, b.binary("mul", r, _poly(b, z, SIN)))
    cos_r = b.binary("add", b.const(1.0, float64), _poly(b, z, COS))
    q = [b.compare("eq", quadrant, b.const(float(i), float64)) for i in range(3)]
    return b.select(q[0], sin_r, b.select(q[1], cos_r, b.select(
        q[2], b.unary("neg", sin_r), b.unary("neg", cos_r))))


def _in_float64(rule):
    def in_float64(b, node, x):
        wide = x if x.dtype == float64 else b.cast(x, float64)
        y = rule(b, wide)
        return y if x.dtype == float64 else b.cast(y, x.dtype)
    in_float64.__name__ = rule.__name__
    return in_float64


@_in_float64
def sin_rule(b, x):
    return _quadrant_value(b, x, 0)


@_in_float64
def cos_rule(b, x):
    return _quadrant_value(b, x, 1)


def round_rule(b, node, x):
    """Half to even, as numpy and TF1: floor, plus one above the half or at an exact
    half when the floor is odd (x − floor(x) is exact)."""
    f = b.unary("floor", x)
    d = b.binary("sub", x, f)
    half = b.like(x, 0.5)
    odd = b.compare("eq", b.binary("mod", f, b.like(x, 2.0)), b.like(x, 1.0))
    up = b.binary("or", b.compare("gt", d, half),
                  b.binary("and", b.compare("eq", d, half), odd))
    return b.binary("add", f, b.select(up, b.like(x, 1.0), b.like(x, 0.0)))


def ceil_rule(b, node, x):
    return b.unary("neg", b.unary("floor", b.unary("neg", x)))
