"""`gc.nn.rnn_cell`: TF1's recurrent cells (BasicRNNCell, LSTMCell, GRUCell), one time
step each, built from matmul, slices and elementwise ops so their gradients and lowering
come from those. `gc.nn.static_rnn` unrolls a cell over a sequence of known length.

A cell's weights are an `RNNWeights` (Keras's split: `kernel` [input, gates·units],
`recurrent_kernel` [units, gates·units], `bias`, an optional separate `recurrent_bias`,
LSTM `peepholes`). They are given (an imported model's), or made as variables on the
first call. Gate order along the gates·units axis: LSTM (i, j, f, o) as TF1's LSTMCell
(input gate, cell candidate, forget gate, output gate); GRU (z, r, h) as Keras (update
gate, reset gate, candidate).
"""
from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from ..ir import Node, ShapeError, as_dtype, float32, get_default_graph
from .base import as_tensor
from .clip import clip_by_value
from .elementwise import sigmoid, tanh, zeros_like
from .linalg import matmul
from .random import random_uniform
from .shape import split
from .state import Variable, constant

LSTMStateTuple = namedtuple("LSTMStateTuple", ["c", "h"])
LSTMStateTuple.__doc__ = "An LSTM's state: the cell state c and the output h (TF1's)."


@dataclass
class RNNWeights:
    """A cell's weights; `recurrent_bias` is added with `bias` except for a GRU with
    reset_after, where it sits inside the reset gate's product. `peepholes` [3, units]:
    the LSTM's input, forget and output gates' diagonal weights on the cell state."""
    kernel: Node
    recurrent_kernel: Node
    bias: Node | None = None
    recurrent_bias: Node | None = None
    peepholes: Node | None = None


class RNNCell:
    """One step of a recurrence: `cell(inputs, state) -> (output, new_state)`."""
    gates = 1

    def __init__(self, num_units, activation=None, weights: RNNWeights | None = None,
                 gate_clip=None, dtype=float32, seed=None, name=None):
        self.num_units = int(num_units)
        self.activation = activation or tanh
        self.weights, self.gate_clip = weights, gate_clip
        self.dtype, self.seed = as_dtype(dtype), seed
        self.name = name or type(self).__name__.replace("Cell", "_cell").lower()

    @property
    def state_size(self):
        return self.num_units

    @property
    def output_size(self) -> int:
        return self.num_units

    def zero_state(self, batch_size, dtype=None):
        """Zeros [batch_size, units] (a tuple of them for an LSTM); `batch_size` an int or a
        tensor whose first axis gives it (an input step, for an unknown batch)."""
        dtype = as_dtype(dtype or self.dtype)
        if isinstance(batch_size, Node):
            zero = zeros_like(batch_size[:, :1]) + constant(
                np.zeros((1, self.num_units), batch_size.dtype.np_type))
        else:
            zero = constant(np.zeros((int(batch_size), self.num_units), dtype.np_type))
        return self._state_of(zero)

    def _state_of(self, zero):
        return zero

    def __call__(self, inputs, state, scope=None):
        inputs = as_tensor(inputs)
        if self.weights is None:
            self.weights = self._build(inputs, scope)
        w = self.weights
        x = matmul(inputs, w.kernel)
        if w.bias is not None:
            x = x + w.bias
        return self.step(x, state, w)

    def step(self, x, state, w: RNNWeights):
        """The new (output, state) from x = inputs·kernel + bias."""
        raise NotImplementedError

    def _clip(self, z):
        c = self.gate_clip
        return z if c is None else clip_by_value(z, -c, c)

    def _recurrent(self, h, w: RNNWeights, with_bias=True):
        r = matmul(h, w.recurrent_kernel)
        return r + w.recurrent_bias if with_bias and w.recurrent_bias is not None else r

    def _build(self, inputs, scope) -> RNNWeights:
        """Variables uniform in ±1/√units (as Keras's and torch's recurrent layers)."""
        depth = inputs.shape[-1]
        if depth is None:
            raise ShapeError(f"{type(self).__name__}: the input depth of '{inputs.name}' "
                             f"{inputs.type} must be known to create the cell's variables")
        graph, n, units = get_default_graph(), self.gates * self.num_units, self.num_units
        bound = float(1.0 / np.sqrt(units))
        seeds = iter(range(4)) if self.seed is None else iter(range(self.seed, self.seed + 4))

        def variable(name, shape):
            init = random_uniform(shape, -bound, bound, dtype=self.dtype,
                                  seed=None if self.seed is None else next(seeds))
            return Variable(init, name=name)

        with graph.name_scope(scope or self.name):
            return RNNWeights(variable("kernel", (depth, n)),
                              variable("recurrent_kernel", (units, n)),
                              Variable(np.zeros(n, self.dtype.np_type), name="bias"),
                              peepholes=self._peephole_variable(variable))

    def _peephole_variable(self, variable):
        return None


class BasicRNNCell(RNNCell):
    """h' = activation(x·W + h·R + b) (TF1's BasicRNNCell; `gate_clip` bounds the
    activation's input, as ONNX's clip)."""

    def step(self, x, state, w):
        h = self.activation(self._clip(x + self._recurrent(state, w)))
        return h, h


class LSTMCell(RNNCell):
    """TF1's LSTMCell: c' = f·c + i·activation(j), h' = o·output_activation(c').

    Gates i, f, o go through `recurrent_activation` (sigmoid) after adding `forget_bias`
    to f and, with peepholes, the diagonal terms on c (on c' for o). `gate_clip` bounds
    every activation's input (ONNX's clip), `cell_clip` the cell state (TF1's);
    `coupled_input_forget` sets f = 1 − i (ONNX's input_forget).
    """
    gates = 4

    def __init__(self, num_units, use_peepholes=False, cell_clip=None, forget_bias=1.0,
                 activation=None, recurrent_activation=None, output_activation=None,
                 coupled_input_forget=False, **kwargs):
        super().__init__(num_units, activation, **kwargs)
        self.use_peepholes, self.cell_clip = use_peepholes, cell_clip
        self.forget_bias = forget_bias
        self.recurrent_activation = recurrent_activation or sigmoid
        self.output_activation = output_activation or self.activation
        self.coupled_input_forget = coupled_input_forget

    @property
    def state_size(self):
        return LSTMStateTuple(self.num_units, self.num_units)

    def _state_of(self, zero):
        return LSTMStateTuple(zero, zero)

    def _peephole_variable(self, variable):
        return variable("peepholes", (3, self.num_units)) if self.use_peepholes else None

    def step(self, x, state, w):
        c, h = state
        i, j, f, o = split(x + self._recurrent(h, w), 4, axis=-1)
        p = None if w.peepholes is None else [w.peepholes[k] for k in range(3)]
        gate = self.recurrent_activation
        i = gate(self._clip(i + p[0] * c if p else i))
        if self.coupled_input_forget:
            f = 1.0 - i
        else:
            f = f + self.forget_bias if self.forget_bias else f
            f = gate(self._clip(f + p[1] * c if p else f))
        c = f * c + i * self.activation(self._clip(j))
        if self.cell_clip is not None:
            c = clip_by_value(c, -self.cell_clip, self.cell_clip)
        o = gate(self._clip(o + p[2] * c if p else o))
        h = o * self.output_activation(c)
        return h, LSTMStateTuple(c, h)


class GRUCell(RNNCell):
    """h' = z·h + (1 − z)·activation(x_h + (r·h)·R_h) with z, r = recurrent_activation of
    their sums (TF1's GRUCell, Keras's gate order). `reset_after` applies the reset gate
    after the recurrent product, r·(h·R_h + recurrent_bias_h) (Keras's reset_after,
    ONNX's linear_before_reset, cuDNN's GRU)."""
    gates = 3

    def __init__(self, num_units, activation=None, recurrent_activation=None,
                 reset_after=False, **kwargs):
        super().__init__(num_units, activation, **kwargs)
        self.recurrent_activation = recurrent_activation or sigmoid
        self.reset_after = reset_after

    def step(self, x, state, w):
        h, units = state, self.num_units
        xz, xr, xh = split(x, 3, axis=-1)
        if self.reset_after:
            rz, rr, rh = split(self._recurrent(h, w), 3, axis=-1)
        else:
            rz, rr = split(matmul(h, w.recurrent_kernel[:, :2 * units]), 2, axis=-1)
            if w.recurrent_bias is not None:
                bz, br, bh = split(w.recurrent_bias, 3, axis=-1)
                rz, rr, xh = rz + bz, rr + br, xh + bh
        z = self.recurrent_activation(self._clip(xz + rz))
        r = self.recurrent_activation(self._clip(xr + rr))
        if self.reset_after:
            candidate = xh + r * rh
        else:
            candidate = xh + matmul(r * h, w.recurrent_kernel[:, 2 * units:])
        hh = self.activation(self._clip(candidate))
        h = z * h + (1.0 - z) * hh
        return h, h
