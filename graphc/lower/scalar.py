"""Scalar rules: each elementwise op as a loop IR expression of its inputs' values.

One line per op. Broadcasting is not handled here: `values.py` hands each rule the
inputs' values at the element being computed.
"""
from __future__ import annotations

from .loopir import Binary, Cast, Compare, Select, Unary, const


def _c(x, value):
    return const(value, x.dtype)


def _sigmoid(n, x):
    # e = exp(−|x|) never overflows: 1/(1 + e) for x ≥ 0, e/(1 + e) below
    e = Unary("exp", Unary("neg", Unary("abs", x)))
    denominator = Binary("add", _c(x, 1), e)
    return Select(Compare("ge", x, _c(x, 0)), Binary("div", _c(x, 1), denominator),
                  Binary("div", e, denominator))


def _relu(n, x):
    return Binary("max", x, _c(x, 0))


def _sign(n, x):
    return Select(Compare("gt", x, _c(x, 0)), _c(x, 1),
                  Select(Compare("lt", x, _c(x, 0)), _c(x, -1), _c(x, 0)))


def _leaky_relu(n, x):
    return Select(Compare("gt", x, _c(x, 0)), x, Binary("mul", x, _c(x, n.attrs["alpha"])))


def _elu(n, x):
    neg = Binary("mul", _c(x, n.attrs["alpha"]), Unary("expm1", Binary("min", x, _c(x, 0))))
    return Select(Compare("gt", x, _c(x, 0)), x, neg)


def _softplus(n, x):
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large |x|
    return Binary("add", Binary("max", x, _c(x, 0)),
                  Unary("log1p", Unary("exp", Unary("neg", Unary("abs", x)))))


def _add_n(n, *xs):
    total = xs[0]
    for x in xs[1:]:
        total = Binary("add", total, x)
    return total


# graph op -> loop IR op, for ops that map one to one
UNARY = {"neg": "neg", "abs": "abs", "exp": "exp", "log": "log", "sqrt": "sqrt",
         "rsqrt": "rsqrt", "tanh": "tanh", "logical_not": "not"}
BINARY = {"add": "add", "bias_add": "add", "sub": "sub", "mul": "mul", "div": "div",
          "pow": "pow", "maximum": "max", "minimum": "min", "logical_and": "and",
          "logical_or": "or"}
COMPARE = {"equal": "eq", "not_equal": "ne", "less": "lt", "less_equal": "le",
           "greater": "gt", "greater_equal": "ge"}


def _square(n, x):
    return Binary("mul", x, x)


def _reciprocal(n, x):
    return Binary("div", _c(x, 1), x)


def _where(n, c, a, b):
    return Select(c, a, b)


def _cast(n, x):
    return Cast(x, n.dtype)


def _identity(n, x):
    return x


def _assign(n, old, value):
    return value


def _assign_add(n, old, value):
    return Binary("add", old, value)


def _assign_sub(n, old, value):
    return Binary("sub", old, value)


SPECIAL = {"sigmoid": _sigmoid, "assign": _assign, "assign_add": _assign_add,
           "assign_sub": _assign_sub,
           "sign": _sign, "square": _square, "reciprocal": _reciprocal, "relu": _relu,
           "leaky_relu": _leaky_relu, "elu": _elu, "softplus": _softplus, "where": _where,
           "cast": _cast, "add_n": _add_n, "identity": _identity, "stop_gradient": _identity}


def has_scalar_rule(op_name: str) -> bool:
    return op_name in UNARY or op_name in BINARY or op_name in COMPARE or op_name in SPECIAL


def scalar(node, *values):
    """The loop IR expression of elementwise `node` given its inputs' values."""
    name = node.op.name
    if name in UNARY:
        return Unary(UNARY[name], values[0])
    if name in BINARY:
        return Binary(BINARY[name], *values)
    if name in COMPARE:
        return Compare(COMPARE[name], *values)
    return SPECIAL[name](node, *values)
