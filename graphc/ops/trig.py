"""tan, the inverse trigonometric functions and the hyperbolic functions with their
inverses (TF1's tf.tan, tf.asin, tf.acos, tf.atan, tf.sinh, tf.cosh, tf.asinh,
tf.acosh, tf.atanh): more rows of the unary table, whose loop-IR rules are in
math_rules.py (the loop IR has none of these functions)."""
from __future__ import annotations

import numpy as np

from ..ir import register
from .elementwise import UnaryOp, _unary, reciprocal, rsqrt
from .math_rules import (acos_rule, acosh_rule, asin_rule, asinh_rule, atan_rule,
                         atanh_rule, cosh_rule, sinh_rule, tan_rule)


def _g_tan(n, x, gy): return gy * (n * n + 1)
def _g_asin(n, x, gy): return gy * rsqrt(1 - x * x)
def _g_acos(n, x, gy): return -(gy * rsqrt(1 - x * x))
def _g_atan(n, x, gy): return gy * reciprocal(x * x + 1)
def _g_sinh(n, x, gy): return gy * cosh(x)
def _g_cosh(n, x, gy): return gy * sinh(x)
def _g_asinh(n, x, gy): return gy * rsqrt(x * x + 1)
def _g_acosh(n, x, gy): return gy * rsqrt(x * x - 1)
def _g_atanh(n, x, gy): return gy * reciprocal(1 - x * x)


for _row in [
    UnaryOp("tan", np.tan, _g_tan, rule=tan_rule),
    UnaryOp("asin", np.arcsin, _g_asin, rule=asin_rule),
    UnaryOp("acos", np.arccos, _g_acos, rule=acos_rule),
    UnaryOp("atan", np.arctan, _g_atan, rule=atan_rule),
    UnaryOp("sinh", np.sinh, _g_sinh, rule=sinh_rule),
    UnaryOp("cosh", np.cosh, _g_cosh, rule=cosh_rule),
    UnaryOp("asinh", np.arcsinh, _g_asinh, rule=asinh_rule),
    UnaryOp("acosh", np.arccosh, _g_acosh, rule=acosh_rule),
    UnaryOp("atanh", np.arctanh, _g_atanh, rule=atanh_rule),
]:
    register(_row)

tan = _unary("tan")
asin = _unary("asin")
acos = _unary("acos")
atan = _unary("atan")
sinh = _unary("sinh")
cosh = _unary("cosh")
asinh = _unary("asinh")
acosh = _unary("acosh")
atanh = _unary("atanh")
