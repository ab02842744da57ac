"""A direct Python interpreter of the loop IR: checks lowering before any backend is
involved (slow — element by element — so tests use small shapes)."""
from __future__ import annotations

import operator

import numpy as np

from ..ir.symbolic import evaluate
from .loopir import (SIZES, Assign, Binary, Cast, Compare, Const, Declare, Kernel, Load, Local,
                     Loop, Select, Store, Unary, Var)
from .routines import Routine


def _rsqrt(x):
    return 1 / np.sqrt(x)


def _logical_shift_right(a, b):
    return (np.int64(a).view(np.uint64) >> np.uint64(b)).view(np.int64)


def _shift_left(a, b):
    return np.left_shift(a, type(a)(b))


def _shift_right(a, b):
    return np.right_shift(a, type(a)(b))


_UNARY = {"neg": operator.neg, "abs": abs, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
          "rsqrt": _rsqrt, "tanh": np.tanh, "log1p": np.log1p,
          "expm1": np.expm1, "floor": np.floor, "not": operator.not_}
_BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
           "div": operator.truediv, "max": max, "min": min, "pow": operator.pow,
           "floordiv": operator.floordiv, "mod": operator.mod, "and": operator.and_,
           "or": operator.or_, "xor": operator.xor, "shr": _logical_shift_right,
           "shl": _shift_left, "sar": _shift_right}
_COMPARE = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
            "gt": operator.gt, "ge": operator.ge}


class _Env:
    def __init__(self, buffers):
        self.buffers = buffers
        self.scalars: dict[str, object] = {}


def _eval(e, env):
    if isinstance(e, Const):
        return e.dtype.np_type(e.value)
    if isinstance(e, Var | Local):
        return env.scalars[e.name]
    if isinstance(e, Load):
        return env.buffers[e.buffer][int(_eval(e.index, env))]
    if isinstance(e, Unary):
        return e.dtype.np_type(_UNARY[e.op](_eval(e.x, env)))
    if isinstance(e, Binary):
        with np.errstate(all="ignore"):
            return e.dtype.np_type(_BINARY[e.op](_eval(e.a, env), _eval(e.b, env)))
    if isinstance(e, Compare):
        return bool(_COMPARE[e.op](_eval(e.a, env), _eval(e.b, env)))
    if isinstance(e, Select):
        return _eval(e.a, env) if _eval(e.cond, env) else _eval(e.b, env)
    if isinstance(e, Cast):
        x = _eval(e.x, env)
        if e.bits:
            return np.asarray(x, e.x.dtype.np_type).view(e.dtype.np_type)[()]
        return e.dtype.np_type(x)
    raise TypeError(f"not a loop IR expression: {e!r}")


def _run(stmts, env):
    for s in stmts:
        if isinstance(s, Loop):
            for i in range(int(_eval(s.extent, env))):
                env.scalars[s.var.name] = np.int64(i)
                _run(s.body, env)
        elif isinstance(s, Store):
            if s.when is not None and not _eval(s.when, env):
                continue
            env.buffers[s.buffer][int(_eval(s.index, env))] = _eval(s.value, env)
        elif isinstance(s, Declare | Assign):
            value = _eval(s.init if isinstance(s, Declare) else s.value, env)
            env.scalars[s.name] = value
        elif isinstance(s, Routine):
            s.run_numpy(env.buffers, lambda e: int(_eval(e, env)))
            _run(s.nested(), env)            # a GEMM's epilogue, after the whole product
        else:
            raise TypeError(f"not a loop IR statement: {s!r}")


def run_kernel(kernel: Kernel, buffers: dict[str, np.ndarray]) -> None:
    """Execute `kernel` on flat numpy arrays (modified in place); a batch-polymorphic
    kernel runs at the batch size in buffers["sizes"]."""
    n = int(buffers[SIZES][0]) if SIZES in buffers else 0
    for p in kernel.params:
        array = buffers[p.name]
        if not isinstance(array, np.ndarray):
            continue                       # a runtime routine's handle (print callback)
        if array.ndim != 1 or array.size < evaluate(p.size, n):
            raise ValueError(f"buffer {p.name} must be flat with at least {p.size} elements")
    _run(kernel.body, _Env(buffers))
