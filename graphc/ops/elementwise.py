"""Elementwise ops: unary math, broadcasting binary arithmetic, comparisons, where, cast.

Unary and binary ops are rows of a table: a name, a numpy reference, a gradient rule
written in graph ops and a lowering — the loop-IR op it maps to one for one (`loop=`),
or a rule building its loop-IR expression (`rule=`, given the builder `b`). Gradients of
broadcast inputs are reduced back to the input's shape once, in autodiff, so the rules
here ignore broadcasting.
"""
from __future__ import annotations

import numpy as np

from ..ir import Fusion, Node, OpDef, TensorType, as_dtype, bool_, register
from ..ir.errors import dtype_error
from .base import apply, as_tensor, as_tensors_like, broadcast_shapes, same_dtype
from .math_rules import ceil_rule, cos_rule, round_rule, sin_rule


# ---------------------------------------------------------------------------------------
# unary
class UnaryOp(OpDef):
    fusion = Fusion.ELEMWISE
    num_inputs = 1

    def __init__(self, name, fn, grad_rule, float_only=True, out_dtype=None, loop=None,
                 rule=None):
        self.name = name
        self.fn = fn
        self.grad_rule = grad_rule
        self.float_only = float_only
        self.out_dtype = out_dtype
        self.loop, self.rule = loop, rule

    def scalar(self, b, node, x):
        return b.unary(self.loop, x) if self.loop else self.rule(b, node, x)

    def infer(self, inputs, attrs):
        (x,) = inputs
        if self.float_only and not x.dtype.is_floating:
            raise dtype_error(f"{self.name} needs a float32 or float64 input, got {x} "
                              "(use gc.cast)")
        if x.dtype.is_bool and self.out_dtype is None:
            raise dtype_error(f"{self.name} does not take bool input")
        return TensorType(self.out_dtype or x.dtype, x.shape)

    def reference(self, node, x):
        return np.asarray(self.fn(x, **node.attrs), dtype=node.dtype.np_type)

    def grad(self, node, gy):
        if self.grad_rule is None:
            return [None]
        return [self.grad_rule(node, node.inputs[0], gy)]


def _stable_sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _leaky_relu(x, alpha):
    return np.where(x > 0, x, x * np.asarray(alpha, x.dtype))


def _elu(x, alpha):
    return np.where(x > 0, x, np.asarray(alpha, x.dtype) * np.expm1(np.minimum(x, 0)))


def _rsqrt(x):
    return 1 / np.sqrt(x)


def _relu(x):
    return np.maximum(x, 0)


def _softplus(x):
    return np.logaddexp(0, x)


def _g_neg(n, x, gy): return negative(gy)
def _g_abs(n, x, gy): return gy * sign(x)
def _g_sign(n, x, gy): return zeros_like(x)
def _g_exp(n, x, gy): return gy * n
def _g_log(n, x, gy): return gy / x
def _g_sqrt(n, x, gy): return gy / (n * 2)
def _g_rsqrt(n, x, gy): return gy * (n * n * n) * -0.5
def _g_square(n, x, gy): return gy * (x * 2)
def _g_reciprocal(n, x, gy): return negative(gy * (n * n))
def _g_sigmoid(n, x, gy): return gy * (n * (1 - n))
def _g_tanh(n, x, gy): return gy * (1 - n * n)
# relu-like masks test the output (y > 0 exactly when x > 0): the forward kernel then
# need not keep its pre-activation alive for the backward pass
def _g_relu(n, x, gy): return where(n > 0, gy, zeros_like(gy))
def _g_leaky_relu(n, x, gy): return where(n > 0, gy, gy * n.attrs["alpha"])
def _g_elu(n, x, gy): return where(n > 0, gy, gy * (n + n.attrs["alpha"]))
def _g_softplus(n, x, gy): return gy * sigmoid(x)
def _g_log1p(n, x, gy): return gy / (x + 1)
def _g_expm1(n, x, gy): return gy * (n + 1)
def _g_sin(n, x, gy): return gy * cos(x)
def _g_cos(n, x, gy): return negative(gy * sin(x))


# scalar rules of the unary ops that are not one loop-IR op
def _s_sign(b, n, x):
    zero = b.like(x, 0)
    return b.select(b.compare("gt", x, zero), b.like(x, 1),
                    b.select(b.compare("lt", x, zero), b.like(x, -1), zero))


def _s_square(b, n, x): return b.binary("mul", x, x)
def _s_reciprocal(b, n, x): return b.binary("div", b.like(x, 1), x)
def _s_relu(b, n, x): return b.binary("max", x, b.like(x, 0))


def _s_sigmoid(b, n, x):
    # e = exp(−|x|) never overflows: 1/(1 + e) for x ≥ 0, e/(1 + e) below
    e = b.unary("exp", b.unary("neg", b.unary("abs", x)))
    denominator = b.binary("add", b.like(x, 1), e)
    return b.select(b.compare("ge", x, b.like(x, 0)), b.binary("div", b.like(x, 1), denominator),
                    b.binary("div", e, denominator))


def _s_leaky_relu(b, n, x):
    return b.select(b.compare("gt", x, b.like(x, 0)), x,
                    b.binary("mul", x, b.like(x, n.attrs["alpha"])))


def _s_elu(b, n, x):
    negative_part = b.binary("mul", b.like(x, n.attrs["alpha"]),
                             b.unary("expm1", b.binary("min", x, b.like(x, 0))))
    return b.select(b.compare("gt", x, b.like(x, 0)), x, negative_part)


def _s_softplus(b, n, x):
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large |x|
    return b.binary("add", b.binary("max", x, b.like(x, 0)),
                    b.unary("log1p", b.unary("exp", b.unary("neg", b.unary("abs", x)))))


def _s_is_nan(b, n, x): return b.compare("ne", x, x)
def _s_is_inf(b, n, x): return b.compare("eq", b.unary("abs", x), b.like(x, float("inf")))


for _row in [
    UnaryOp("neg", np.negative, _g_neg, float_only=False, loop="neg"),
    UnaryOp("abs", np.abs, _g_abs, float_only=False, loop="abs"),
    UnaryOp("sign", np.sign, _g_sign, float_only=False, rule=_s_sign),
    UnaryOp("exp", np.exp, _g_exp, loop="exp"),
    UnaryOp("log", np.log, _g_log, loop="log"),
    UnaryOp("sqrt", np.sqrt, _g_sqrt, loop="sqrt"),
    UnaryOp("rsqrt", _rsqrt, _g_rsqrt, loop="rsqrt"),
    UnaryOp("square", np.square, _g_square, float_only=False, rule=_s_square),
    UnaryOp("reciprocal", np.reciprocal, _g_reciprocal, rule=_s_reciprocal),
    UnaryOp("sigmoid", _stable_sigmoid, _g_sigmoid, rule=_s_sigmoid),
    UnaryOp("tanh", np.tanh, _g_tanh, loop="tanh"),
    UnaryOp("relu", _relu, _g_relu, float_only=False, rule=_s_relu),
    UnaryOp("leaky_relu", _leaky_relu, _g_leaky_relu, rule=_s_leaky_relu),
    UnaryOp("elu", _elu, _g_elu, rule=_s_elu),
    UnaryOp("softplus", _softplus, _g_softplus, rule=_s_softplus),
    UnaryOp("logical_not", np.logical_not, None, float_only=False, out_dtype=bool_,
            loop="not"),
    UnaryOp("is_nan", np.isnan, None, out_dtype=bool_, rule=_s_is_nan),
    UnaryOp("is_inf", np.isinf, None, out_dtype=bool_, rule=_s_is_inf),
    UnaryOp("log1p", np.log1p, _g_log1p, loop="log1p"),
    UnaryOp("expm1", np.expm1, _g_expm1, loop="expm1"),
    UnaryOp("sin", np.sin, _g_sin, rule=sin_rule),
    UnaryOp("cos", np.cos, _g_cos, rule=cos_rule),
    # piecewise constant: a zero gradient, as sign
    UnaryOp("floor", np.floor, _g_sign, loop="floor"),
    UnaryOp("ceil", np.ceil, _g_sign, rule=ceil_rule),
    UnaryOp("round", np.round, _g_sign, rule=round_rule),
]:
    register(_row)


def _unary(op_name):
    def op(x, name=None):
        return apply(op_name, [as_tensor(x)], name=name)
    op.__name__ = op_name
    op.__doc__ = f"Elementwise {op_name}."
    return op


negative = neg = _unary("neg")
abs = _unary("abs")  # noqa: A001 - TF1 name
sign = _unary("sign")
exp = _unary("exp")
log = _unary("log")
sqrt = _unary("sqrt")
rsqrt = _unary("rsqrt")
square = _unary("square")
reciprocal = _unary("reciprocal")
sigmoid = _unary("sigmoid")
tanh = _unary("tanh")
relu = _unary("relu")
softplus = _unary("softplus")
log1p = _unary("log1p")
expm1 = _unary("expm1")
sin = _unary("sin")
cos = _unary("cos")
floor = _unary("floor")
ceil = _unary("ceil")
round = _unary("round")  # noqa: A001 - TF1 name (half to even)
is_nan = _unary("is_nan")
is_inf = _unary("is_inf")


def leaky_relu(x, alpha=0.2, name=None):
    """max(x, alpha·x) for 0 < alpha < 1 (TF1's default alpha is 0.2)."""
    return apply("leaky_relu", [as_tensor(x)], name=name, alpha=float(alpha))


def elu(x, alpha=1.0, name=None):
    """x for x > 0, alpha·(exp(x) − 1) otherwise."""
    return apply("elu", [as_tensor(x)], name=name, alpha=float(alpha))


def logical_not(x, name=None):
    x = as_tensor(x)
    if not x.dtype.is_bool:
        raise TypeError(f"logical_not needs a bool tensor, got {x.type}")
    return apply("logical_not", [x], name=name)


# ---------------------------------------------------------------------------------------
# binary, with numpy broadcasting
class BinaryOp(OpDef):
    fusion = Fusion.BROADCAST
    broadcasts = True
    num_inputs = 2

    def __init__(self, name, fn, grad_rule, kinds="numeric", out_dtype=None, loop=None,
                 compare=None, rule=None):
        self.name = name
        self.fn = fn
        self.grad_rule = grad_rule
        self.kinds = kinds          # "numeric" | "float" | "any" | "bool" | "integer"
        self.out_dtype = out_dtype
        self.loop, self.compare = loop, compare    # its loop-IR op, or compare op
        self.rule = rule                           # or a rule building its value

    def scalar(self, b, node, x, y):
        if self.rule:
            return self.rule(b, node, x, y)
        return b.compare(self.compare, x, y) if self.compare else b.binary(self.loop, x, y)

    def infer(self, inputs, attrs):
        dtype = same_dtype(inputs)
        if self.kinds == "float" and not dtype.is_floating:
            raise dtype_error(f"{self.name} needs float inputs, got {inputs[0]} (use gc.cast)")
        if self.kinds == "numeric" and dtype.is_bool:
            raise dtype_error(f"{self.name} does not take bool inputs")
        if self.kinds == "bool" and not dtype.is_bool:
            raise dtype_error(f"{self.name} needs bool inputs, got {inputs[0]}")
        if self.kinds == "integer" and not dtype.is_integer:
            raise dtype_error(f"{self.name} needs int32 or int64 inputs, got {inputs[0]}")
        shape = broadcast_shapes(inputs[0].shape, inputs[1].shape)
        return TensorType(self.out_dtype or dtype, shape)

    def reference(self, node, a, b):
        return np.asarray(self.fn(a, b), dtype=node.dtype.np_type)

    def grad(self, node, gy):
        if self.grad_rule is None:
            return [None, None]
        return list(self.grad_rule(node, *node.inputs, gy))


def _g_add(n, a, b, gy): return gy, gy
def _g_sub(n, a, b, gy): return gy, negative(gy)
def _g_mul(n, a, b, gy): return gy * b, gy * a
def _g_div(n, a, b, gy): return gy / b, negative(gy) * n / b


def _g_pow(n, a, b, gy):
    # d/da a^b = b·a^(b-1); d/db = a^b·log a, taken as 0 where a <= 0 (as TF does)
    safe_log = where(a > 0, log(where(a > 0, a, ones_like(a))), zeros_like(a))
    return gy * b * pow(a, b - 1), gy * n * safe_log


def _g_floormod(n, a, b, gy):   # a − floor(a/b)·b
    return gy, negative(gy) * floor(a / b)


def _floor_division(op):
    """a // b or a mod b with the loop IR's floor semantics (numpy's for integers; for
    floats, floor(a / b) and a − floor(a / b)·b, but a mod ±∞ as numpy's: a, or the
    divisor when a's sign differs), and numpy's 0 for an integer divisor of 0 (compiled
    code must not trap, nor on INT_MIN // −1)."""
    def reference(a, b):
        if np.issubdtype(np.result_type(a, b), np.floating):
            with np.errstate(invalid="ignore", divide="ignore"):
                quotient = np.floor(a / b)
                if op == "floordiv":
                    return quotient
                # an infinite divisor: a itself when a is 0 or has b's sign, else b
                # (numpy's; a − 0·∞ would be NaN)
                keep = (a == 0) | ((a > 0) == (b > 0))
                return np.where(np.isinf(b) & np.isfinite(a), np.where(keep, a, b),
                                a - quotient * b)
        with np.errstate(divide="ignore", over="ignore"):
            return np.floor_divide(a, b) if op == "floordiv" else np.mod(a, b)

    def rule(b, node, x, y):
        if node.dtype.is_floating:
            if op == "floordiv":
                return b.binary(op, x, y)
            zero, inf = b.like(y, 0), b.like(y, float("inf"))
            keep = b.binary("or", b.compare("eq", x, zero),
                            b.compare("eq", b.compare("gt", x, zero), b.compare("gt", y, zero)))
            infinite = b.binary("and", b.compare("eq", b.unary("abs", y), inf),
                                b.compare("lt", b.unary("abs", x), inf))
            return b.select(infinite, b.select(keep, x, y), b.binary(op, x, y))
        zero, one, minus_one = b.like(y, 0), b.like(y, 1), b.like(y, -1)
        awkward = b.binary("or", b.compare("eq", y, zero), b.compare("eq", y, minus_one))
        value = b.binary(op, x, b.select(awkward, one, y))
        by_minus_one = b.binary("sub", zero, x) if op == "floordiv" else zero
        return b.select(b.compare("eq", y, zero), zero,
                        b.select(b.compare("eq", y, minus_one), by_minus_one, value))
    return reference, rule


_MOD_REFERENCE, _MOD_RULE = _floor_division("mod")
_FLOORDIV_REFERENCE, _FLOORDIV_RULE = _floor_division("floordiv")


def _truncated(op):
    """C's a / b and fmod (TF1's truncatediv / truncatemod): the quotient rounded
    toward zero and the remainder with the dividend's sign. Integers: the floor result
    corrected where the remainder is nonzero and the signs differ (so an integer divisor
    of 0 gives 0, as floordiv); floats: trunc(a / b) and a − trunc(a / b)·b, with a mod
    ±∞ = a as C's fmod."""
    def reference(a, b):
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            if np.issubdtype(np.result_type(a, b), np.floating):
                quotient = np.trunc(a / b)
                if op == "truncatediv":
                    return quotient
                return np.where(np.isinf(b) & np.isfinite(a), a, a - quotient * b)
            remainder = np.mod(a, b)
            across = (remainder != 0) & ((a < 0) != (b < 0))
            if op == "truncatediv":
                return np.floor_divide(a, b) + across
            return remainder - np.where(across, b, 0)

    def rule(b, node, x, y):
        if node.dtype.is_floating:
            q = b.binary("div", x, y)
            down = b.unary("floor", q)
            up = b.unary("neg", b.unary("floor", b.unary("neg", q)))
            quotient = b.select(b.compare("lt", q, b.like(q, 0)), up, down)
            if op == "truncatediv":
                return quotient
            infinite = b.binary("and", b.compare("eq", b.unary("abs", y), b.like(y, float("inf"))),
                                b.compare("lt", b.unary("abs", x), b.like(x, float("inf"))))
            return b.select(infinite, x, b.binary("sub", x, b.binary("mul", quotient, y)))
        zero = b.like(y, 0)
        remainder = _MOD_RULE(b, node, x, y)
        across = b.binary("and", b.compare("ne", remainder, zero),
                          b.compare("ne", b.compare("lt", x, zero), b.compare("lt", y, zero)))
        if op == "truncatediv":
            return b.binary("add", _FLOORDIV_RULE(b, node, x, y),
                            b.select(across, b.like(y, 1), zero))
        return b.binary("sub", remainder, b.select(across, y, zero))
    return reference, rule


_TRUNCATEDIV_REFERENCE, _TRUNCATEDIV_RULE = _truncated("truncatediv")
_TRUNCATEMOD_REFERENCE, _TRUNCATEMOD_RULE = _truncated("truncatemod")


def _g_truncatemod(n, a, b, gy):   # a − trunc(a/b)·b
    return gy, negative(gy) * truncatediv(a, b)


def _g_maximum(n, a, b, gy):  # ties go to the first input
    take_a = a >= b
    return where(take_a, gy, zeros_like(gy)), where(take_a, zeros_like(gy), gy)


def _g_minimum(n, a, b, gy):
    take_a = a <= b
    return where(take_a, gy, zeros_like(gy)), where(take_a, zeros_like(gy), gy)


_BINARY = [
    BinaryOp("add", np.add, _g_add, loop="add"),
    BinaryOp("sub", np.subtract, _g_sub, loop="sub"),
    BinaryOp("mul", np.multiply, _g_mul, loop="mul"),
    BinaryOp("div", np.divide, _g_div, kinds="float", loop="div"),
    BinaryOp("pow", np.power, _g_pow, kinds="float", loop="pow"),
    BinaryOp("maximum", np.maximum, _g_maximum, loop="max"),
    BinaryOp("minimum", np.minimum, _g_minimum, loop="min"),
    BinaryOp("equal", np.equal, None, kinds="any", out_dtype=bool_, compare="eq"),
    BinaryOp("not_equal", np.not_equal, None, kinds="any", out_dtype=bool_, compare="ne"),
    BinaryOp("less", np.less, None, out_dtype=bool_, compare="lt"),
    BinaryOp("less_equal", np.less_equal, None, out_dtype=bool_, compare="le"),
    BinaryOp("greater", np.greater, None, out_dtype=bool_, compare="gt"),
    BinaryOp("greater_equal", np.greater_equal, None, out_dtype=bool_, compare="ge"),
    BinaryOp("logical_and", np.logical_and, None, kinds="bool", loop="and"),
    BinaryOp("logical_or", np.logical_or, None, kinds="bool", loop="or"),
    BinaryOp("floormod", _MOD_REFERENCE, _g_floormod, rule=_MOD_RULE),
    BinaryOp("floordiv", _FLOORDIV_REFERENCE, None, rule=_FLOORDIV_RULE),
    BinaryOp("truncatemod", _TRUNCATEMOD_REFERENCE, _g_truncatemod, rule=_TRUNCATEMOD_RULE),
    BinaryOp("truncatediv", _TRUNCATEDIV_REFERENCE, None, rule=_TRUNCATEDIV_RULE),
]
for _row in _BINARY:
    register(_row)


def _binary(op_name):
    def op(a, b, name=None):
        return apply(op_name, as_tensors_like(a, b), name=name)
    op.__name__ = op_name
    op.__doc__ = f"Elementwise {op_name} with numpy broadcasting."
    return op


add = _binary("add")
subtract = sub = _binary("sub")
multiply = mul = _binary("mul")
divide = div = truediv = _binary("div")
pow = _binary("pow")  # noqa: A001 - TF1 name
maximum = _binary("maximum")
minimum = _binary("minimum")
equal = _binary("equal")
not_equal = _binary("not_equal")
less = _binary("less")
less_equal = _binary("less_equal")
greater = _binary("greater")
greater_equal = _binary("greater_equal")
logical_and = _binary("logical_and")
logical_or = _binary("logical_or")
floormod = mod = _binary("floormod")
floordiv = _binary("floordiv")
truncatemod = _binary("truncatemod")
truncatediv = _binary("truncatediv")


# ---------------------------------------------------------------------------------------
class Where(OpDef):
    name = "where"
    fusion = Fusion.BROADCAST
    broadcasts = True
    num_inputs = 3

    def infer(self, inputs, attrs):
        cond, a, b = inputs
        if not cond.dtype.is_bool:
            raise dtype_error(f"where: condition must be bool, got {cond}")
        dtype = same_dtype([a, b], "where's branches")
        return TensorType(dtype, broadcast_shapes(cond.shape, a.shape, b.shape))

    def reference(self, node, cond, a, b):
        return np.where(cond, a, b).astype(node.dtype.np_type, copy=False)

    def scalar(self, b, node, cond, x, y):
        return b.select(cond, x, y)

    def grad(self, node, gy):
        cond = node.inputs[0]
        zero = zeros_like(gy)
        return [None, where(cond, gy, zero), where(cond, zero, gy)]


register(Where())


def where(condition, x=None, y=None, name=None) -> Node:
    """Elementwise choice: x where condition, else y (all three broadcast). With the
    condition alone (TF1's), the indices of its true elements, which needs a constant
    condition (`data_dependent.where_indices`)."""
    if x is None and y is None:
        from .data_dependent import where_indices
        return where_indices(condition, name=name)
    if x is None or y is None:
        raise ValueError("where takes both x and y, or neither")
    condition = as_tensor(condition)
    x, y = as_tensors_like(x, y)
    return apply("where", [condition, x, y], name=name)


class Cast(OpDef):
    name = "cast"
    fusion = Fusion.ELEMWISE
    num_inputs = 1

    def infer(self, inputs, attrs):
        return TensorType(attrs["dtype"], inputs[0].shape)

    def reference(self, node, x):
        return x.astype(node.dtype.np_type)

    def scalar(self, b, node, x):
        return b.cast(x, node.dtype)

    def grad(self, node, gy):
        x = node.inputs[0]
        if x.dtype.is_floating and node.dtype.is_floating:
            return [cast(gy, x.dtype)]
        return [None]


register(Cast())


def cast(x, dtype, name=None) -> Node:
    x = as_tensor(x)
    dtype = as_dtype(dtype)
    if x.dtype == dtype:
        return x
    return apply("cast", [x], name=name, dtype=dtype)


class AddN(OpDef):
    """Sum of any number of same-typed tensors (gradient accumulation uses it)."""

    name = "add_n"
    fusion = Fusion.BROADCAST
    broadcasts = True

    def infer(self, inputs, attrs):
        if not inputs:
            raise dtype_error("add_n needs at least one input")
        dtype = same_dtype(inputs)
        return TensorType(dtype, broadcast_shapes(*[t.shape for t in inputs]))

    def reference(self, node, *xs):
        total = xs[0]
        for x in xs[1:]:
            total = total + x
        return np.asarray(total, dtype=node.dtype.np_type)

    def scalar(self, b, node, *xs):
        total = xs[0]
        for x in xs[1:]:
            total = b.binary("add", total, x)
        return total

    def grad(self, node, gy):
        return [gy] * len(node.inputs)


register(AddN())


def add_n(inputs, name=None) -> Node:
    inputs = as_tensors_like(*inputs)
    if len(inputs) == 1:
        return inputs[0]
    return apply("add_n", inputs, name=name)


class FillLike(OpDef):
    """A tensor of `ref`'s run-time shape and dtype filled with one value."""

    name = "fill_like"
    fusion = Fusion.ELEMWISE
    num_inputs = 1
    shape_only_inputs = (0,)

    def infer(self, inputs, attrs):
        return inputs[0]

    def reference(self, node, ref):
        return np.full(ref.shape, node.attrs["value"], dtype=node.dtype.np_type)

    def element(self, b, vb, node, index):
        return b.const(node.attrs["value"], node.dtype)

    def grad(self, node, gy):
        return [None]


register(FillLike())


def zeros_like(x, name=None) -> Node:
    return apply("fill_like", [as_tensor(x)], name=name, value=0)


def ones_like(x, name=None) -> Node:
    return apply("fill_like", [as_tensor(x)], name=name, value=1)
