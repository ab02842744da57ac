"""TF1's static_rnn and static_bidirectional_rnn: a cell unrolled over a Python list of
time steps (graphc's shapes are static, so the sequence length is known when the graph
is built). Each step is ordinary graph ops, so gradients flow through the unrolled
steps (backpropagation through time) and every backend runs it.
"""
from __future__ import annotations

from ..ir import get_default_graph
from .base import as_tensor
from .elementwise import less, where, zeros_like
from .shape import concat, expand_dims
from .state import constant


def _map(fn, state, *others):
    """fn over a state's tensors (a tensor, or a tuple of them as an LSTM's)."""
    if isinstance(state, tuple):
        return type(state)(*(fn(s, *(o[k] for o in others)) for k, s in enumerate(state)))
    return fn(state, *others)


def static_rnn(cell, inputs, initial_state=None, dtype=None, sequence_length=None,
               scope=None, reverse=False):
    """(outputs, state): `cell` applied to each of `inputs` (a list of [batch, depth]
    tensors) in turn. With `sequence_length` ([batch] integers), batch entry b stops
    after its first sequence_length[b] steps: later outputs are zero and its state
    stays the last one (TF1's). `reverse` (graphc's): run from the end of each entry's
    sequence (its own length) back to the start, outputs aligned with `inputs` — the
    backward half of a bidirectional RNN.
    """
    inputs = [as_tensor(x) for x in inputs]
    if not inputs:
        raise ValueError("static_rnn needs at least one input step")
    state = cell.zero_state(inputs[0], dtype) if initial_state is None else initial_state
    lengths = None if sequence_length is None else as_tensor(sequence_length)
    outputs = [None] * len(inputs)
    order = range(len(inputs))
    # backward, entry b's steps from its length on come first and are masked (its
    # state stays the initial one), so it starts from its own last step
    with get_default_graph().name_scope(scope or "rnn"):
        for t in (reversed(order) if reverse else order):
            output, new_state = cell(inputs[t], state)
            if lengths is not None:
                live = expand_dims(less(constant(t, lengths.dtype), lengths), -1)
                output = where(live, output, zeros_like(output))
                new_state = _map(lambda n, o: where(live, n, o), new_state, state)
            outputs[t] = output
            state = new_state
    return outputs, state


def static_bidirectional_rnn(cell_fw, cell_bw, inputs, initial_state_fw=None,
                             initial_state_bw=None, dtype=None, sequence_length=None,
                             scope=None):
    """(outputs, state_fw, state_bw): `cell_fw` run forward and `cell_bw` backward over
    `inputs` (each batch entry from its own last step with `sequence_length`), each
    output the two directions' outputs concatenated (TF1's)."""
    with get_default_graph().name_scope(scope or "bidirectional_rnn"):
        out_fw, state_fw = static_rnn(cell_fw, inputs, initial_state_fw, dtype,
                                      sequence_length, scope="fw")
        out_bw, state_bw = static_rnn(cell_bw, inputs, initial_state_bw, dtype,
                                      sequence_length, scope="bw", reverse=True)
        outputs = [concat([f, b], -1) for f, b in zip(out_fw, out_bw)]
    return outputs, state_fw, state_bw
