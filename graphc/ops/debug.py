"""`gc.print`: an identity that prints its value when the run computes it (TF1's
tf.Print). It runs in data-dependency order on every backend; compiled code calls back
into `format_print` through the runtime, inside the single native call."""
from __future__ import annotations

import sys

import numpy as np

from ..ir import Fusion, Node, OpDef, register
from .base import apply, as_tensor


def format_print(node: Node, value: np.ndarray) -> str:
    """What a print op writes: its message, shape and the first `summarize` elements."""
    flat = np.asarray(value).reshape(-1)
    n = node.attrs["summarize"]
    shown = np.array2string(flat[:n], separator=", ", threshold=n + 1, max_line_width=1 << 16)
    more = " ..." if flat.size > n else ""
    return f"{node.attrs['message']}{list(np.shape(value))} {shown[:-1]}{more}]"


class Print(OpDef):
    name = "print"
    lowering = "print"
    fusion = Fusion.OPAQUE
    stateful = True          # a side effect: never folded, merged or removed
    num_inputs = 1

    def infer(self, inputs, attrs):
        return inputs[0]

    def reference(self, node, x):
        sys.stdout.write(format_print(node, x) + "\n")
        sys.stdout.flush()
        return x

    def grad(self, node, gy):
        return [gy]


register(Print())


def print_(x, message: str = "", summarize: int = 3, name=None) -> Node:
    """x, printed (message, shape, first `summarize` elements) each time a run needs it."""
    return apply("print", [as_tensor(x)], name=name or "print", message=str(message),
                 summarize=int(summarize))
