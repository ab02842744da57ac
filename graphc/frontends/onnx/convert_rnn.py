"""ONNX's recurrent ops (RNN, GRU, LSTM) onto gc.nn.rnn_cell's cells unrolled by
gc.nn.static_rnn: the sequence length is known when the graph is built.

The converter only adapts layouts: ONNX's weights W [dirs, gates·H, in] and
R [dirs, gates·H, H] become each direction's kernel [in, gates·H] and recurrent kernel
in the cell's gate order, B splits into the input and recurrent biases, P into the
peepholes, and the activations named by the node become graphc functions.
"""
from __future__ import annotations

import numpy as np

from ... import ops
from ...ops import activations as act
from ...ops.rnn import static_rnn
from ...ops.rnn_cell import BasicRNNCell, GRUCell, LSTMCell, LSTMStateTuple, RNNWeights
from .context import converter, static_value

# ONNX's activation functions for recurrent ops: name → (fn(alpha, beta), alpha, beta)
ACTIVATIONS = {
    "relu": (lambda a, b: ops.relu, None, None),
    "tanh": (lambda a, b: ops.tanh, None, None),
    "sigmoid": (lambda a, b: ops.sigmoid, None, None),
    "softsign": (lambda a, b: act.softsign, None, None),
    "softplus": (lambda a, b: ops.softplus, None, None),
    "affine": (lambda a, b: lambda x: x * a + b, 1.0, 0.0),
    "leakyrelu": (lambda a, b: lambda x: ops.leaky_relu(x, a), 0.01, None),
    "thresholdedrelu": (lambda a, b: lambda x: ops.where(x > a, x, ops.zeros_like(x)),
                        1.0, None),
    "scaledtanh": (lambda a, b: lambda x: ops.tanh(x * b) * a, 1.0, 1.0),
    "hardsigmoid": (lambda a, b: lambda x: ops.clip_by_value(x * a + b, 0.0, 1.0), 0.2, 0.5),
    "elu": (lambda a, b: lambda x: ops.elu(x, a), 1.0, None),
}
COMMON_ATTRS = ("activation_alpha", "activation_beta", "activations", "clip", "direction",
                "hidden_size", "layout")


def _activations(ctx, defaults: list[str], directions: int) -> list[list]:
    """Each direction's activation functions; alphas and betas are consumed in order
    by the functions that take them."""
    names = ctx.attr("activations", None) or defaults * directions
    if len(names) != len(defaults) * directions:
        raise ctx.error(f"activations lists {len(names)} functions; {ctx.op_type} with "
                        f"{directions} direction(s) takes {len(defaults) * directions}")
    alphas = list(ctx.attr("activation_alpha", []))
    betas = list(ctx.attr("activation_beta", []))
    fns = []
    for name in names:
        name = name.decode() if isinstance(name, bytes) else name
        if name.lower() not in ACTIVATIONS:
            raise ctx.error(f"activation '{name}' is not supported (supported: "
                            f"{', '.join(sorted(ACTIVATIONS))})")
        make, alpha, beta = ACTIVATIONS[name.lower()]
        if alpha is not None and alphas:
            alpha = alphas.pop(0)
        if beta is not None and betas:
            beta = betas.pop(0)
        fns.append(make(alpha, beta))
    n = len(defaults)
    return [fns[d * n:(d + 1) * n] for d in range(directions)]


def _reorder(w, gates: int, order: list[int]):
    """w's gate blocks along axis 0 in the cell's order."""
    if order == list(range(gates)):
        return w
    parts = ops.split(w, gates, axis=0)
    return ops.concat([parts[k] for k in order], 0)


def _weights(ctx, d: int, gates: int, order: list[int]) -> RNNWeights:
    w, r = ctx.input(1)[d], ctx.input(2)[d]
    kernel = ops.transpose(_reorder(w, gates, order))
    recurrent = ops.transpose(_reorder(r, gates, order))
    bias = recurrent_bias = None
    if ctx.has_input(3):
        wb, rb = ops.split(ctx.input(3)[d], 2, axis=0)
        bias, recurrent_bias = _reorder(wb, gates, order), _reorder(rb, gates, order)
    peepholes = None
    if ctx.op_type == "LSTM" and ctx.has_input(7):
        p = ops.reshape(ctx.input(7)[d], (3, -1))   # ONNX's P: i, o, f → the cell's i, f, o
        peepholes = ops.stack([p[0], p[2], p[1]])
    return RNNWeights(kernel, recurrent, bias, recurrent_bias, peepholes)


def _recurrence(ctx, gates: int, order: list[int], make_cell, activations: list[str],
                states: int = 1):
    """Y, Y_h (and Y_c): the node's directions, each a cell unrolled by static_rnn.
    `make_cell(weights, activation functions)`; `activations`: ONNX's default names;
    `states`: 1 (h) or 2 (LSTM's c and h)."""
    layout = ctx.require("layout", (0, 1), 0)
    direction = ctx.require("direction", ("forward", "reverse", "bidirectional"), "forward")
    x = ctx.input(0)
    time_axis = 1 if layout else 0
    if x.shape[time_axis] is None:
        raise ctx.error(f"the sequence length (axis {time_axis} of X {x.type}) must be "
                        "known: graphc unrolls the recurrence when the graph is built")
    steps = ops.unstack(x, axis=time_axis)
    hidden = ctx.input(2).shape[-1]
    if ctx.attr("hidden_size", hidden) != hidden:
        raise ctx.error(f"hidden_size={ctx.attr('hidden_size')} does not match R "
                        f"{ctx.input(2).type}")
    reverse = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}
    reverse = reverse[direction]
    functions = _activations(ctx, activations, len(reverse))
    lengths = _sequence_lengths(ctx, len(steps))
    outputs, finals = [], []
    for d, backward in enumerate(reverse):
        cell = make_cell(_weights(ctx, d, gates, order), functions[d])
        initial = [_initial(ctx, 5 + k, d, layout) for k in range(states)]
        if states == 1:
            state = initial[0]
        elif initial[0] is None and initial[1] is None:
            state = None
        else:
            zero = cell.zero_state(steps[0]).h
            h, c = (zero if s is None else s for s in initial)
            state = LSTMStateTuple(c, h)
        out, final = static_rnn(cell, steps, state, sequence_length=lengths,
                                scope=f"direction_{d}", reverse=backward)
        outputs.append(ops.stack(out, axis=time_axis))
        finals.append([final] if states == 1 else [final.h, final.c])
    y = ops.stack(outputs, axis=2 if layout else 1)
    # Y_h, Y_c: [dirs, batch, H], or [batch, dirs, H] with layout 1
    return [y] + [ops.stack([f[k] for f in finals], axis=layout) for k in range(states)]


def _initial(ctx, i, d, layout):
    if not ctx.has_input(i):
        return None
    value = ctx.input(i)
    return value[:, d] if layout else value[d]


def _sequence_lengths(ctx, steps: int):
    """sequence_lens, or None when absent or all the full length (known now)."""
    if not ctx.has_input(4):
        return None
    value = static_value(ctx.input(4))
    if value is not None and np.all(np.asarray(value) == steps):
        return None
    return ctx.input(4)


def _clip(ctx):
    return ctx.attr("clip", None)


@converter("RNN", attrs=COMMON_ATTRS)
def rnn(ctx):
    def make(weights, fns):
        return BasicRNNCell(weights.recurrent_kernel.shape[0], activation=fns[0],
                            weights=weights, gate_clip=_clip(ctx))
    return _recurrence(ctx, 1, [0], make, ["Tanh"])


@converter("GRU", attrs=COMMON_ATTRS + ("linear_before_reset",))
def gru(ctx):
    reset_after = bool(ctx.attr("linear_before_reset", 0))

    def make(weights, fns):
        return GRUCell(weights.recurrent_kernel.shape[0], recurrent_activation=fns[0],
                       activation=fns[1], reset_after=reset_after, weights=weights,
                       gate_clip=_clip(ctx))
    # ONNX's z, r, h: the cell's order
    return _recurrence(ctx, 3, [0, 1, 2], make, ["Sigmoid", "Tanh"])


@converter("LSTM", attrs=COMMON_ATTRS + ("input_forget",))
def lstm(ctx):
    coupled = bool(ctx.attr("input_forget", 0))

    def make(weights, fns):
        return LSTMCell(weights.recurrent_kernel.shape[0], forget_bias=0.0,
                        recurrent_activation=fns[0], activation=fns[1],
                        output_activation=fns[2], coupled_input_forget=coupled,
                        weights=weights, gate_clip=_clip(ctx))
    # ONNX's gate blocks i, o, f, c → the cell's i, j (= c), f, o
    return _recurrence(ctx, 4, [0, 3, 2, 1], make, ["Sigmoid", "Tanh", "Tanh"], states=2)
