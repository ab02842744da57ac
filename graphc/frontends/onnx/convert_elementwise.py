"""Elementwise ONNX ops: unary and binary math, comparisons, logic, bitwise ops,
activations with attributes, Where, Clip, Cast, BitCast, IsInf, ai.onnx.ml's Binarizer.
Most are one table row: ONNX op type → graphc function."""
from __future__ import annotations

import functools

import numpy as np

from ... import ops
from ...ops import activations as act
from ...ops import bitwise
from ...ops import cast
from .context import converter
from .dtypes import TO_GRAPHC, onnx_type_name
from .layout import through_transpose

UNARY = {
    "Abs": ops.abs, "Neg": ops.neg, "Exp": ops.exp, "Log": ops.log, "Sqrt": ops.sqrt,
    "Reciprocal": ops.reciprocal, "Sigmoid": ops.sigmoid, "Tanh": ops.tanh, "Relu": ops.relu,
    "Softplus": ops.softplus, "Floor": ops.floor, "Ceil": ops.ceil, "Round": ops.round,
    "Sign": ops.sign, "Sin": ops.sin, "Cos": ops.cos, "Not": ops.logical_not,
    "Erf": act.erf, "Softsign": act.softsign, "Identity": ops.identity,
    "Tan": ops.tan, "Asin": ops.asin, "Acos": ops.acos, "Atan": ops.atan, "Sinh": ops.sinh,
    "Cosh": ops.cosh, "Asinh": ops.asinh, "Acosh": ops.acosh, "Atanh": ops.atanh,
    "IsNaN": ops.is_nan, "Mish": act.mish, "HardSwish": act.hard_swish,
    "BitwiseNot": bitwise.invert,
}
BINARY = {
    "Add": ops.add, "Sub": ops.sub, "Mul": ops.mul,
    "Equal": ops.equal, "Less": ops.less, "LessOrEqual": ops.less_equal,
    "Greater": ops.greater, "GreaterOrEqual": ops.greater_equal,
    "And": ops.logical_and, "Or": ops.logical_or, "Xor": ops.not_equal,
    "BitwiseAnd": bitwise.bitwise_and, "BitwiseOr": bitwise.bitwise_or,
    "BitwiseXor": bitwise.bitwise_xor,
}
VARIADIC = {"Max": ops.maximum, "Min": ops.minimum, "Sum": ops.add}


def _unary(fn, ctx):
    return through_transpose(ctx.input(0), lambda x, _: fn(x))


def _binary(fn, ctx):
    return fn(ctx.input(0), ctx.input(1))


def _variadic(fn, ctx):
    return functools.reduce(fn, ctx.inputs())


for _type, _fn in UNARY.items():
    converter(_type)(functools.partial(_unary, _fn))
for _type, _fn in BINARY.items():
    converter(_type)(functools.partial(_binary, _fn))
for _type, _fn in VARIADIC.items():
    converter(_type)(functools.partial(_variadic, _fn))


@converter("Div")
def div(ctx):
    """Integer Div truncates toward zero (C's `/`): graphc's truncatediv."""
    a, b = ctx.input(0), ctx.input(1)
    return ops.div(a, b) if a.dtype.is_floating else ops.truncatediv(a, b)


@converter("Pow")
def pow_(ctx):
    """The exponent may have another dtype than the base (the result's)."""
    a, b = ctx.input(0), ctx.input(1)
    if not a.dtype.is_floating:
        x, y = ctx.static(0, None), ctx.static(1, None)
        if x is None or y is None:
            raise ctx.error(f"pow of run-time {a.dtype.name} values: graphc's pow is "
                            "float-only")
        return ops.constant(np.power(x, y).astype(x.dtype))
    return ops.pow(a, cast(b, a.dtype))


@converter("Mean")
def mean(ctx):
    return _variadic(ops.add, ctx) / float(ctx.num_inputs)


@converter("Mod", attrs=("fmod",))
def mod(ctx):
    """fmod=0: the divisor's sign (floormod); fmod=1: the dividend's (C's fmod and
    integer %, truncatemod). ONNX requires fmod=1 for floats."""
    fmod = ctx.require("fmod", (0, 1), 0)
    return (ops.truncatemod if fmod else ops.floormod)(ctx.input(0), ctx.input(1))


@converter("LeakyRelu", attrs=("alpha",))
def leaky_relu(ctx):
    alpha = ctx.attr("alpha", 0.01)
    return through_transpose(ctx.input(0), lambda x, _: ops.leaky_relu(x, alpha))


@converter("Elu", attrs=("alpha",))
def elu(ctx):
    alpha = ctx.attr("alpha", 1.0)
    return through_transpose(ctx.input(0), lambda x, _: ops.elu(x, alpha))


@converter("Selu", attrs=("alpha", "gamma"))
def selu(ctx):
    return ops.elu(ctx.input(0), ctx.attr("alpha", 1.67326319217681884765625)) * \
        ctx.attr("gamma", 1.05070102214813232421875)


@converter("HardSigmoid", attrs=("alpha", "beta"))
def hard_sigmoid(ctx):
    x = ctx.input(0)
    return ops.clip_by_value(x * ctx.attr("alpha", 0.2) + ctx.attr("beta", 0.5), 0.0, 1.0)


@converter("Celu", attrs=("alpha",))
def celu(ctx):
    return act.celu(ctx.input(0), ctx.attr("alpha", 1.0))


@converter("ThresholdedRelu", attrs=("alpha",))
def thresholded_relu(ctx):
    return act.thresholded_relu(ctx.input(0), ctx.attr("alpha", 1.0))


@converter("IsInf", attrs=("detect_negative", "detect_positive"))
def is_inf(ctx):
    x = ctx.input(0)
    positive, negative = ctx.attr("detect_positive", 1), ctx.attr("detect_negative", 1)
    if positive and negative:
        return ops.is_inf(x)
    if not (positive or negative):
        return ops.zeros_like(ops.is_inf(x))
    return ops.logical_and(ops.is_inf(x), ops.greater(x, 0.0) if positive
                           else ops.less(x, 0.0))


@converter("BitShift", attrs=("direction",))
def bit_shift(ctx):
    direction = ctx.require("direction", ("LEFT", "RIGHT"), None)
    shift = bitwise.left_shift if direction == "LEFT" else bitwise.right_shift
    return shift(ctx.input(0), ctx.input(1))


@converter("Binarizer", attrs=("threshold",), domain="ai.onnx.ml")
def binarizer(ctx):
    x = ctx.input(0)
    return cast(ops.greater(x, ops.constant(ctx.attr("threshold", 0.0), x.dtype)), x.dtype)


@converter("Gelu", attrs=("approximate",))
def gelu(ctx):
    approximate = ctx.require("approximate", ("none", "tanh"), "none")
    return act.gelu(ctx.input(0), approximate=approximate == "tanh")


@converter("Swish", attrs=("alpha",))
def swish(ctx):
    alpha = ctx.attr("alpha", 1.0)
    return through_transpose(ctx.input(0), lambda x, _: act.swish(x, beta=alpha))


@converter("PRelu")
def prelu(ctx):
    x, slope = ctx.input(0), ctx.input(1)
    return ops.where(x < 0, x * slope, x)


@converter("Where")
def where(ctx):
    return ops.where(ctx.input(0), ctx.input(1), ctx.input(2))


@converter("Clip")
def clip(ctx):
    x = ctx.input(0)
    if ctx.has_input(1):
        x = ops.maximum(x, ctx.input(1))
    if ctx.has_input(2):
        x = ops.minimum(x, ctx.input(2))
    return x


@converter("Cast", attrs=("to", "saturate"))
def cast_(ctx):
    to = ctx.attr("to")
    if to not in TO_GRAPHC:
        raise ctx.error(f"cast to {onnx_type_name(to)}: graphc lacks that dtype")
    return cast(ctx.input(0), TO_GRAPHC[to])


@converter("CastLike", attrs=("saturate",))
def cast_like(ctx):
    return cast(ctx.input(0), ctx.input(1).dtype)


@converter("BitCast", attrs=("to",))
def bit_cast(ctx):
    to = ctx.attr("to")
    if to not in TO_GRAPHC:
        raise ctx.error(f"bitcast to {onnx_type_name(to)}: graphc lacks that dtype")
    return ops.bitcast(ctx.input(0), TO_GRAPHC[to])
