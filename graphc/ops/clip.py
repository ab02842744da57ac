"""TF1's clipping functions, composed of differentiable primitives.

They are used on gradients before `apply_gradients` (no gradient of them is needed
there), but autodiff goes through them like any composite: clip_by_value passes the
gradient where lo <= t <= hi, as TF1's ClipByValue does.
"""
from __future__ import annotations

from ..ir import Node
from .base import as_tensor
from .elementwise import add_n, cast, maximum, minimum, ones_like, sqrt, square, where
from .reduce import reduce_sum


def clip_by_value(t, clip_value_min, clip_value_max, name=None) -> Node:
    """min(max(t, lo), hi), elementwise; lo and hi are scalars or broadcast against t."""
    t = as_tensor(t)
    with t.graph.as_default(), t.graph.name_scope(name or "clip_by_value"):
        lo = as_tensor(clip_value_min, dtype=t.dtype, graph=t.graph)
        hi = as_tensor(clip_value_max, dtype=t.dtype, graph=t.graph)
        return minimum(maximum(t, lo), hi, name="clipped")


def _l2_norm(t: Node, axes=None, keepdims=False) -> Node:
    """√Σt², with a gradient that stays finite at t = 0 (TF1's safe-norm trick: the root
    is taken of 1 where the sum is 0)."""
    sum_sq = reduce_sum(square(t), axes, keepdims=keepdims)
    positive = sum_sq > 0
    return where(positive, sqrt(where(positive, sum_sq, ones_like(sum_sq))), sum_sq)


def clip_by_norm(t, clip_norm, axes=None, name=None) -> Node:
    """t · c / max(‖t‖₂, c): t unchanged when its L2 norm (over `axes`, all by default)
    is at most c, else rescaled to norm c."""
    t = as_tensor(t)
    with t.graph.as_default(), t.graph.name_scope(name or "clip_by_norm"):
        c = as_tensor(_positive(clip_norm, "clip_by_norm"), dtype=t.dtype, graph=t.graph)
        return t * c / maximum(_l2_norm(t, axes, keepdims=True), c)


def global_norm(t_list, name=None) -> Node:
    """√(Σ over the tensors of Σt²): the L2 norm of all of them as one vector; None
    entries (variables without a gradient) are skipped."""
    tensors = [as_tensor(t) for t in _as_list(t_list, "global_norm") if t is not None]
    if not tensors:
        raise ValueError("global_norm: t_list holds no tensors")
    graph = tensors[0].graph
    with graph.as_default(), graph.name_scope(name or "global_norm"):
        return sqrt(add_n([reduce_sum(square(t)) for t in tensors]), name="global_norm")


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None):
    """Every tensor scaled by c / max(N, c), N = global_norm(t_list) (or `use_norm`).

    Returns (the clipped list, N) as TF1 does; None entries stay None. When N is
    infinite or NaN every clipped value is NaN (TF1's rule: a step with a diverged
    gradient must not pass unnoticed).
    """
    t_list = [None if t is None else as_tensor(t)
              for t in _as_list(t_list, "clip_by_global_norm")]
    norm = global_norm(t_list) if use_norm is None else as_tensor(use_norm)
    with norm.graph.as_default(), norm.graph.name_scope(name or "clip_by_global_norm"):
        c = as_tensor(_positive(clip_norm, "clip_by_global_norm"), dtype=norm.dtype,
                      graph=norm.graph)
        scale = c / maximum(norm, c) + (norm - norm)      # norm − norm: NaN unless finite
        clipped = [None if t is None else t * _as_dtype(scale, t) for t in t_list]
    return clipped, norm


def _as_dtype(scale: Node, t: Node) -> Node:
    return scale if scale.dtype == t.dtype else cast(scale, t.dtype)


def _as_list(t_list, what: str) -> list:
    if isinstance(t_list, Node) or not isinstance(t_list, list | tuple):
        raise TypeError(f"{what}: t_list must be a list or tuple of tensors, got "
                        f"{type(t_list).__name__}")
    return list(t_list)


def _positive(value, what: str):
    """A Python clip norm must be > 0 (a tensor is taken as it is)."""
    if not isinstance(value, Node) and not float(value) > 0:
        raise ValueError(f"{what}: clip_norm must be > 0, got {value}")
    return value
