"""Causal depthwise 1-D convolution with a carried state: Mamba's `causal_conv1d` and
ONNX's CausalConvWithState, the short per-channel filter that state-space and linear
attention models run over a prompt, then one decode step at a time.

Each output step reads the k − 1 steps before it, which at the start of a call come
from the previous call's state (zeros for the first call), so running a sequence in
pieces gives what running it whole gives. Composed, like depthwise_conv2d, of a
concat (or pad), one slice per filter tap times that tap's per-channel weights, and a
sum, so gradients (into the input, weights, bias and state) come from autodiff and
every backend runs it.
"""
from __future__ import annotations

from ..ir import Node, ShapeError
from .activations import silu
from .base import as_tensors_like, float_tensor
from .elementwise import add_n
from .indexing import pad
from .shape import concat, expand_dims
from .state import identity

_ACTIVATIONS = {None: None, "none": None, "silu": silu, "swish": silu}
_TIME_AXIS = {"NCW": 2, "NWC": 1}


def causal_conv1d(x, weight, bias=None, state=None, activation=None, data_format="NCW",
                  name=None) -> tuple[Node, Node]:
    """y[b, c, t] = act(Σ_j w[c, j] · xp[b, c, t + j] + bias[c]), with xp the input
    after the k − 1 steps of `state` (zeros when None).

    - x: (batch, channels, length) for data_format "NCW" (PyTorch's and Mamba's layout)
      or (batch, length, channels) for "NWC" (TF's).
    - weight: (channels, k), or PyTorch's depthwise Conv1d weight (channels, 1, k).
    - bias: (channels,) or None; activation: None, "silu" or "swish" (the same).
    - state: the k − 1 steps before x, (batch, channels, k − 1) in x's layout.

    Returns (output, new_state): the output shaped like x, and the last k − 1 steps of
    state followed by x, which is the state to pass to the next call.
    """
    if data_format not in _TIME_AXIS:
        raise ValueError(f"causal_conv1d: data_format must be 'NCW' or 'NWC', "
                         f"got {data_format!r}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"causal_conv1d: activation must be None, 'silu' or 'swish', "
                         f"got {activation!r}")
    x = float_tensor(x, "causal_conv1d input")
    w, b, s = _operands(x, weight, bias, state)
    time = _TIME_AXIS[data_format]
    _check_shapes(x, w, b, s, time, data_format)
    k = w.shape[1]
    if s is None:
        padded = pad(x, [(k - 1, 0) if axis == time else (0, 0) for axis in range(3)])
    else:
        padded = concat([s, x], time)
    taps = []
    for j in range(k):
        stop = j - (k - 1) or None
        tap = w[:, j] if time == 1 else expand_dims(w[:, j], -1)
        taps.append(padded[_along(time, slice(j, stop))] * tap)
    y = add_n(taps) if k > 1 else taps[0]
    if b is not None:
        y = y + (b if time == 1 else expand_dims(b, -1))
    if _ACTIVATIONS[activation] is not None:
        y = _ACTIVATIONS[activation](y)
    start = -(k - 1) if k > 1 else padded.shape[time]
    if start is None:
        raise ShapeError(f"causal_conv1d: with a width-1 filter the empty state needs "
                         f"the input's length, unknown in {x.type}")
    new_state = padded[_along(time, slice(start, None))]
    name = name or "causal_conv1d"
    return identity(y, name=name), identity(new_state, name=f"{name}_state")


def _operands(x, weight, bias, state):
    w, = as_tensors_like(x, weight)[1:]
    if w.rank == 3 and w.shape[1] == 1:
        w = w[:, 0]                      # PyTorch's (C, 1, k)
    b = None if bias is None else as_tensors_like(x, bias)[1]
    s = None if state is None else as_tensors_like(x, state)[1]
    return w, b, s


def _along(axis: int, index: slice) -> tuple:
    return tuple(index if a == axis else slice(None) for a in range(3))


def _check_shapes(x, w, b, s, time, data_format):
    channel = 1 if time == 2 else 2
    channels, k = w.shape if w.rank == 2 else (None, None)
    if x.rank != 3 or w.rank != 2 or k is None or k < 1 \
            or x.shape[channel] not in (None, channels):
        raise ShapeError(f"causal_conv1d: input {x.type} must be rank 3 ({data_format}) "
                         f"and weight {w.type} (channels, k) or (channels, 1, k) with a "
                         f"known k and the input's channels")
    if b is not None and (b.rank != 1 or b.shape[0] not in (None, channels)):
        raise ShapeError(f"causal_conv1d: bias {b.type} must be ({channels},)")
    if s is not None:
        want = [x.shape[0], None, None]
        want[channel], want[time] = channels, k - 1
        if s.rank != 3 or any(d is not None and e is not None and d != e
                              for d, e in zip(s.shape, want)):
            raise ShapeError(f"causal_conv1d: state {s.type} must be the k - 1 = {k - 1} "
                             f"steps before the input {x.type} ({data_format})")
