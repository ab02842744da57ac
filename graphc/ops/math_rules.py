"""Loop-IR expressions of the math functions the loop IR has no operation for (sin, cos,
tan, the inverse trigonometric and hyperbolic functions, round, ceil), from those it has.

The loop IR has no sin or cos, so they are computed as libm does: the argument is
reduced by the nearest multiple k of π/2 with π/2 split in three parts (Cody–Waite:
k·P1 is exact for |k| < 2²⁰), then Taylor polynomials of sin and cos on [−π/4, π/4]
(to r¹⁷ and r¹⁶: truncation below 1e-17) are combined by the quadrant k mod 4. Float32
arguments are computed in float64 and rounded once. Accurate to a few float64 ulps for
|x| < 1.6e6; beyond, the reduction loses bits (numpy reduces exactly).

atan folds |x| > 1 onto 1/|x| (atan x = π/2 − atan 1/x), halves the angle twice
(atan t = 2·atan(t / (1 + √(1 + t²))), leaving |t| ≤ tan(π/16) < 0.2) and sums its
Taylor series to t²⁵ (truncation below 1e-18). asin and acos are atan of a ratio; the
hyperbolic functions and their inverses are exp / expm1 / log1p forms chosen to avoid
cancellation near 0 and overflow of an intermediate square or exponential.
"""
from __future__ import annotations

import math

from ..ir import float64

P1 = 1.57079632673412561417e+00      # the first 33 bits of π/2
P2 = 6.07710050630396597660e-11      # the next 33
P3 = 2.02226624871116645580e-21      # the rest
SIN = [(-1) ** i / math.factorial(2 * i + 1) for i in range(1, 9)]   # r³ ... r¹⁷
COS = [(-1) ** i / math.factorial(2 * i) for i in range(1, 9)]       # r² ... r¹⁶
ATAN = [(-1) ** i / (2 * i + 1) for i in range(1, 13)]                # t³ ... t²⁵
HUGE = 1e150                       # beyond, x² overflows: log(2x) replaces log(x + √x²±1)


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


@_in_float64
def tan_rule(b, x):
    return b.binary("div", _quadrant_value(b, x, 0), _quadrant_value(b, x, 1))


def _c(b, value):
    return b.const(value, float64)


def _with_sign_of(b, x, magnitude):
    """magnitude with x's sign (an odd function computed on |x|)."""
    return b.select(b.compare("lt", x, _c(b, 0.0)), b.unary("neg", magnitude), magnitude)


def _atan(b, x):
    a = b.unary("abs", x)
    big = b.compare("gt", a, _c(b, 1.0))
    t = b.select(big, b.binary("div", _c(b, 1.0), a), a)
    for _ in range(2):
        root = b.unary("sqrt", b.binary("add", _c(b, 1.0), b.binary("mul", t, t)))
        t = b.binary("div", t, b.binary("add", _c(b, 1.0), root))
    small = b.binary("mul", _c(b, 4.0), b.binary(
        "add", t, b.binary("mul", t, _poly(b, b.binary("mul", t, t), ATAN))))
    return _with_sign_of(b, x, b.select(big, b.binary("sub", _c(b, math.pi / 2), small),
                                        small))


@_in_float64
def atan_rule(b, x):
    return _atan(b, x)


@_in_float64
def asin_rule(b, x):
    """atan(x / √((1 − x)(1 + x))): ±π/2 at ±1 (x / 0), NaN beyond."""
    one = _c(b, 1.0)
    root = b.unary("sqrt", b.binary("mul", b.binary("sub", one, x), b.binary("add", one, x)))
    return _atan(b, b.binary("div", x, root))


@_in_float64
def acos_rule(b, x):
    """2·atan(√((1 − x) / (1 + x))): no cancellation near x = 1, π at −1."""
    one = _c(b, 1.0)
    ratio = b.binary("div", b.binary("sub", one, x), b.binary("add", one, x))
    return b.binary("mul", _c(b, 2.0), _atan(b, b.unary("sqrt", ratio)))


def _half_exp_parts(b, a):
    """(e^a / 2, e^−a / 2) for a ≥ 0; e^a / 2 as e^(a − log 2) where e^a alone would
    overflow (finite up to a ≈ 710, like cosh itself; there, to a relative 1e-13)."""
    up = b.select(b.compare("lt", a, _c(b, 709.0)),
                  b.binary("mul", b.unary("exp", a), _c(b, 0.5)),
                  b.unary("exp", b.binary("sub", a, _c(b, math.log(2.0)))))
    return up, b.binary("mul", b.unary("exp", b.unary("neg", a)), _c(b, 0.5))


@_in_float64
def sinh_rule(b, x):
    """(expm1(x) − expm1(−x)) / 2 for |x| < 1 (no cancellation), e^|x|/2 − e^−|x|/2
    with x's sign beyond."""
    a = b.unary("abs", x)
    near = b.binary("mul", b.binary("sub", b.unary("expm1", x),
                                    b.unary("expm1", b.unary("neg", x))), _c(b, 0.5))
    up, down = _half_exp_parts(b, a)
    far = _with_sign_of(b, x, b.binary("sub", up, down))
    return b.select(b.compare("lt", a, _c(b, 1.0)), near, far)


@_in_float64
def cosh_rule(b, x):
    up, down = _half_exp_parts(b, b.unary("abs", x))
    return b.binary("add", up, down)


def _log_twice(b, a):
    """log(2a), what log(a + √(a² ± 1)) is for a > HUGE."""
    return b.binary("add", b.unary("log", a), _c(b, math.log(2.0)))


@_in_float64
def asinh_rule(b, x):
    """log1p(a + a² / (1 + √(1 + a²))) on a = |x|, with x's sign."""
    one, a = _c(b, 1.0), b.unary("abs", x)
    square = b.binary("mul", a, a)
    near = b.unary("log1p", b.binary("add", a, b.binary(
        "div", square, b.binary("add", one, b.unary("sqrt", b.binary("add", one, square))))))
    return _with_sign_of(b, x, b.select(b.compare("gt", a, _c(b, HUGE)), _log_twice(b, a),
                                        near))


@_in_float64
def acosh_rule(b, x):
    """log1p(t + √(t(t + 2))) with t = x − 1 (exact near 1); NaN below 1."""
    t = b.binary("sub", x, _c(b, 1.0))
    near = b.unary("log1p", b.binary("add", t, b.unary(
        "sqrt", b.binary("mul", t, b.binary("add", t, _c(b, 2.0))))))
    return b.select(b.compare("gt", x, _c(b, HUGE)), _log_twice(b, x), near)


@_in_float64
def atanh_rule(b, x):
    """½·log1p(2a / (1 − a)) on a = |x|, with x's sign: ±inf at ±1, NaN beyond."""
    a = b.unary("abs", x)
    ratio = b.binary("div", b.binary("mul", a, _c(b, 2.0)), b.binary("sub", _c(b, 1.0), a))
    return _with_sign_of(b, x, b.binary("mul", b.unary("log1p", ratio), _c(b, 0.5)))


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
