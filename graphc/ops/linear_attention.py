"""Linear attention: a (key features × value features) state per key head that each step
decays, corrects and writes, and that each query reads — the linear, gated (decaying),
delta-rule and gated delta-rule recurrences of linear-attention models.

The sequence axis has a known length and the recurrence is unrolled over it (as TF1's
static_rnn): each step is a few small matmuls and elementwise ops, so gradients come
from autodiff. Meant for short sequences and decoding steps; a long prefill is better
served by a chunked formulation.
"""
from __future__ import annotations

import math

from ..ir import Node, ShapeError
from .attention import grouped_matmul, query_groups
from .base import as_tensors_like, float_tensor
from .elementwise import exp
from .linalg import matmul
from .shape import concat, transpose
from .state import identity


def linear_attention(query, key, value, initial_state=None, decay=None, beta=None,
                     scale=None, name=None) -> tuple[Node, Node]:
    """(output, final state) of linear attention over (..., heads, T, features) inputs.

    query (..., Hq, T, Dk), key (..., Hk, T, Dk), value (..., Hk, T, Dv), Hq a multiple
    of Hk (query head h reads key head h // (Hq/Hk)); the state S is (..., Hk, Dk, Dv),
    zeros unless `initial_state` is given. At each step t:

    - `decay` g (log-space, broadcast against (..., Hk, T, Dk): per key feature, or
      size 1 per head): S ← S · exp(g_t) along the key features;
    - `beta` (broadcast against (..., Hk, T, 1)): the delta rule's write
      v_t ← beta_t · (v_t − Sᵀk_t) (only what S does not already recall);
    - S ← S + k_t ⊗ v_t, and the output o_t = scale · Sᵀq_t (scale 1/√Dk by default).

    Neither decay nor beta: plain (causal) linear attention.
    """
    q, k, v = (float_tensor(t, f"linear_attention {what}")
               for t, what in ((query, "query"), (key, "key"), (value, "value")))
    groups = query_groups(q, k, v)
    steps = q.shape[-2]
    if not steps or k.shape[-2] != steps or v.shape[-2] != steps:
        raise ShapeError(f"linear_attention: query {q.type}, key {k.type} and value "
                         f"{v.type} need one known sequence length (the recurrence is "
                         "unrolled over it)")
    if scale is None:
        if q.shape[-1] is None:
            raise ShapeError(f"linear_attention: the default scale needs the feature size "
                             f"of {q.type}")
        scale = 1.0 / math.sqrt(q.shape[-1])
    decay, beta = (None if t is None else as_tensors_like(q, t)[1] for t in (decay, beta))
    swap = tuple(range(q.rank - 2)) + (q.rank - 1, q.rank - 2)
    # no initial state: zeros, which the first step's decay and recall leave alone
    state = None if initial_state is None else as_tensors_like(q, initial_state)[1]
    outputs = []
    for t in range(steps):
        k_t, v_t = k[..., t:t + 1, :], v[..., t:t + 1, :]
        if decay is not None and state is not None:
            state = state * transpose(exp(decay[..., t:t + 1, :]), swap)
        if beta is not None:
            v_t = beta[..., t:t + 1, :] * (v_t if state is None
                                           else v_t - matmul(k_t, state))
        write = matmul(k_t, v_t, transpose_a=True)
        state = write if state is None else state + write
        outputs.append(grouped_matmul(q[..., t:t + 1, :], state, groups))
    output = concat(outputs, -2) if steps > 1 else outputs[0]
    return identity(output * float(scale), name=name or "linear_attention"), state
