"""Attention: scaled dot-product attention (boolean or additive masks, causal and sliding
windows, soft-capping, grouped-query heads, a key/value cache, padded key lengths) and
rotary position embeddings.

Compositions of matmul, softmax, where and shape ops, so their gradients (and gradients
of those) come from autodiff. Masking is one additive bias (0 where a key may be read,
−inf where not) broadcast against the (..., heads, queries, keys) scores; a query row
that may read no key at all gets zero weights and a zero output, never NaN, and its
softmax runs on zeros so no NaN reaches the gradient either.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..ir import DTypeError, Node, ShapeError, as_dtype
from .base import as_tensor, as_tensors_like, float_tensor
from .elementwise import cast, equal, logical_and, tanh, where
from .indexing import pad
from .linalg import matmul
from .reduce import reduce_max
from .shape import concat, expand_dims, reshape
from .softmax import softmax
from .state import constant, identity


class AttentionResult(NamedTuple):
    """What `attention` computes. `scores`: q·kᵀ·scale after the soft-cap, before the
    mask; `logits`: scores + mask bias; `weights`: the softmax (0 on fully masked rows);
    `present_key` / `present_value`: the past cache with this step's keys appended."""
    output: Node
    present_key: Node
    present_value: Node
    scores: Node
    logits: Node
    weights: Node


def scaled_dot_product_attention(query, key, value, attn_mask=None, is_causal=False,
                                 scale=None, softcap=None, window=None, kv_lengths=None,
                                 name=None) -> Node:
    """softmax(q·kᵀ·scale + mask) · v, PyTorch's `scaled_dot_product_attention`.

    query (..., Hq, Sq, D), key (..., Hk, Skv, D), value (..., Hk, Skv, Dv); Hq a
    multiple of Hk (grouped-query attention: query head h reads key head h // (Hq/Hk)).
    See `attention` for the masks, the soft-cap, windows and key lengths.
    """
    return attention(query, key, value, attn_mask, is_causal, scale, softcap, window,
                     kv_lengths, name=name).output


def attention(query, key, value, attn_mask=None, is_causal=False, scale=None, softcap=None,
              window=None, kv_lengths=None, past_key=None, past_value=None,
              softmax_dtype=None, score_mod=None, prob_mod=None,
              name=None) -> AttentionResult:
    """Scaled dot-product attention with a key/value cache; every intermediate returned.

    - `past_key` / `past_value` (..., Hk, P, D): cached keys and values, put before this
      step's (the present cache is their concatenation along the sequence axis).
    - `scale`: 1/√D by default. `softcap` c > 0: scores become c·tanh(scores / c) before
      the mask is added.
    - `attn_mask`: bool (True: may attend) or additive float, broadcast against
      (..., Hq, Sq, Skv). A mask covering fewer than Skv keys masks the rest.
    - `is_causal`: query i attends key j iff j ≤ i + offset, and `window=(left, right)`
      (None for an unbounded side) iff i + offset − left ≤ j ≤ i + offset + right. The
      offset aligns the queries with the last keys: the past length, or with
      `kv_lengths` the per-batch kv_lengths − Sq; without either it is 0 (PyTorch's
      top-left causal mask).
    - `kv_lengths` (an integer tensor shaped like the batch axes): keys at positions
      ≥ kv_lengths[b] are padding and never read.
    - `softmax_dtype`: a wider float type the softmax runs in.
    - `score_mod` / `prob_mod`: functions of a tensor returning one shaped like it,
      applied to the (..., Hq, Sq, Skv) scores after the soft-cap and before the mask,
      and to the softmax weights before they are cast back and multiply v (ONNX's
      FlexAttention modifiers; a score_mod may write −inf to mask a key).
    """
    q, k, v = (float_tensor(t, f"attention {what}")
               for t, what in ((query, "query"), (key, "key"), (value, "value")))
    for t, what in ((q, "query"), (k, "key"), (v, "value")):
        if t.rank < 3:
            raise ShapeError(f"attention: {what} '{t.name}' {t.type} needs rank >= 3 "
                             "(..., heads, sequence, features)")
    past = 0
    if past_key is not None:
        past_key = as_tensor(past_key)
        past = past_key.shape[-2]
        k = concat([past_key, k], -2, name="present_key")
    if past_value is not None:
        v = concat([as_tensor(past_value), v], -2, name="present_value")
    depth = q.shape[-1]
    if scale is None:
        if depth is None:
            raise ShapeError(f"attention: the default scale 1/√D needs the query's feature "
                             f"size, unknown in {q.type}")
        scale = 1.0 / math.sqrt(depth)
    q_len, kv_len = q.shape[-2], k.shape[-2]
    groups = query_groups(q, k, v)

    scores = grouped_matmul(q * float(scale), k, groups, transpose_b=True)
    if softcap is not None and softcap > 0:
        scores = tanh(scores * (1.0 / softcap)) * float(softcap)
    if score_mod is not None:
        scores = _modified(score_mod, scores, "score_mod")
    bias = _bias(q, attn_mask, is_causal, window, kv_lengths, past, q_len, kv_len)
    logits = scores if bias is None else scores + bias
    wide = logits if softmax_dtype is None else cast(logits, as_dtype(softmax_dtype))
    if bias is None:
        weights = softmax(wide)
    else:
        # rows whose every key is masked: softmax of zeros, then zeroed
        masked_row = equal(reduce_max(bias, -1, keepdims=True), -np.inf)
        weights = softmax(where(masked_row, 0.0, wide))
        weights = where(masked_row, 0.0, weights)
    if prob_mod is not None:
        weights = _modified(prob_mod, weights, "prob_mod")
    weights = cast(weights, q.dtype)
    output = grouped_matmul(weights, v, groups)
    return AttentionResult(identity(output, name=name or "attention"), k, v, scores,
                           logits, weights)


def _modified(fn, x: Node, what: str) -> Node:
    y = as_tensor(fn(x))
    if y.dtype != x.dtype or y.rank != x.rank or any(
            a is not None and b is not None and a != b for a, b in zip(x.shape, y.shape)):
        raise ShapeError(f"attention: {what} turned {x.type} into {y.type}; it must "
                         "keep the shape and dtype")
    return y


def query_groups(q: Node, k: Node, v: Node) -> int:
    """Query heads per key head (1 without grouped-query attention)."""
    hq, hk = q.shape[-3], k.shape[-3]
    if v.shape[-3] != hk or k.rank != q.rank or v.rank != q.rank:
        raise ShapeError(f"attention: key {k.type} and value {v.type} must have the "
                         f"query's rank and one number of heads")
    if hq == hk:
        return 1
    if hq is None or hk is None or hq % hk:
        raise ShapeError(f"attention: {hq} query heads ({q.type}) are not a multiple of "
                         f"{hk} key/value heads ({k.type})")
    return hq // hk


def _dims(shape) -> list[int]:
    dims = [-1 if d is None else d for d in shape]
    if dims.count(-1) > 1:
        raise ShapeError(f"attention: regrouping heads or features needs all but one "
                         f"size of {tuple(shape)} known")
    return dims


def grouped_matmul(a: Node, b: Node, groups: int, transpose_b=False) -> Node:
    """a @ b over (..., Hq, m, k) × (..., Hk, k, n), query head h reading key head
    h // groups: a's heads split into (Hk, groups) against b broadcast over the groups
    (the key and value heads are never copied)."""
    if groups == 1:
        return matmul(a, b, transpose_b=transpose_b)
    hk = b.shape[-3]
    split = reshape(a, _dims(a.shape[:-3] + (hk, groups) + a.shape[-2:]))
    y = matmul(split, expand_dims(b, -3), transpose_b=transpose_b)
    return reshape(y, _dims(a.shape[:-3] + (hk * groups,) + y.shape[-2:]))


def _bias(q, attn_mask, is_causal, window, kv_lengths, past, q_len, kv_len):
    """The additive mask (0 or −inf, or the float mask's values) or None."""
    left, right = window if window is not None else (None, None)
    positional = is_causal or left is not None or right is not None
    if (positional or kv_lengths is not None) and (q_len is None or kv_len is None):
        raise ShapeError("attention: causal, window and key-length masks need the "
                         "query and key sequence lengths")
    if kv_lengths is not None:
        kv_lengths = as_tensor(kv_lengths)
        if not kv_lengths.dtype.is_integer:
            raise DTypeError(f"attention: kv_lengths must be integers, got "
                             f"{kv_lengths.type}")
    terms = [] if attn_mask is None else [_mask_bias(q, as_tensor(attn_mask), kv_len)]
    if positional:
        # (i + offset) − j for query i and key j: a constant unless the offset is
        # per batch (kv_lengths − Sq)
        diff = np.arange(q_len)[:, None] - np.arange(kv_len)[None, :]
        if kv_lengths is None:
            diff = diff + past
        else:
            diff = constant(diff.astype(kv_lengths.dtype.np_type)) \
                + _per_batch(kv_lengths - q_len)
        allowed = [diff >= 0] if is_causal else []
        allowed += [] if left is None else [diff <= int(left)]
        allowed += [] if right is None else [-diff <= int(right)]
        terms.append(_allowed_bias(q, allowed))
    if kv_lengths is not None:
        positions = constant(np.arange(kv_len, dtype=kv_lengths.dtype.np_type))
        terms.append(_allowed_bias(q, [positions < _per_batch(kv_lengths)]))
    if not terms:
        return None
    bias = terms[0]
    for term in terms[1:]:
        bias = bias + term
    return bias


def _per_batch(value: Node) -> Node:
    """A value per batch entry, shaped to broadcast against (..., heads, Sq, Skv)."""
    for _ in range(3):
        value = expand_dims(value, -1)
    return value


def _allowed_bias(q: Node, allowed: list) -> Node:
    """0 where every condition holds, −inf elsewhere (numpy conditions fold to a
    constant)."""
    if all(isinstance(a, np.ndarray) for a in allowed):
        ok = np.logical_and.reduce(allowed)
        return constant(np.where(ok, 0.0, -np.inf).astype(q.dtype.np_type))
    ok = allowed[0]
    for a in allowed[1:]:
        ok = logical_and(ok, a)
    return where(ok, constant(0.0, q.dtype), constant(-np.inf, q.dtype))


def _mask_bias(q: Node, mask: Node, kv_len) -> Node:
    if mask.dtype.is_bool:
        mask = where(mask, constant(0.0, q.dtype), constant(-np.inf, q.dtype))
    elif mask.dtype != q.dtype:
        raise DTypeError(f"attention: attn_mask must be bool or {q.dtype.name}, got "
                          f"{mask.type}")
    short = None if kv_len is None or mask.shape[-1] is None else kv_len - mask.shape[-1]
    if short:
        if short < 0:
            raise ShapeError(f"attention: attn_mask {mask.type} covers more than the "
                             f"{kv_len} keys")
        mask = pad(mask, [(0, 0)] * (mask.rank - 1) + [(0, short)],
                   constant_values=-np.inf)
    return mask


# -- rotary position embeddings ------------------------------------------------------------
def rotary_embedding(x, cos, sin, interleaved=False, rotary_dim=None, name=None) -> Node:
    """Rotate pairs of features of x's last axis by position-dependent angles (RoPE).

    The first `rotary_dim` features (all by default) form rotary_dim/2 pairs: halves
    (x[i], x[i + r/2]), or with `interleaved` neighbours (x[2i], x[2i + 1]); each pair
    (a, b) becomes (a·cos − b·sin, a·sin + b·cos). `cos` and `sin` broadcast against
    x[..., :rotary_dim/2]; the remaining features pass through.
    """
    x = float_tensor(x, "rotary_embedding input")
    cos, sin = as_tensors_like(x, cos, sin)[1:]
    depth = x.shape[-1]
    rotary_dim = depth if not rotary_dim else int(rotary_dim)
    if depth is None or rotary_dim % 2 or rotary_dim > depth:
        raise ShapeError(f"rotary_embedding: rotary_dim {rotary_dim} must be even and at "
                         f"most the known feature size of '{x.name}' {x.type}")
    half = rotary_dim // 2
    if interleaved:
        a, b = x[..., 0:rotary_dim:2], x[..., 1:rotary_dim:2]
    else:
        a, b = x[..., :half], x[..., half:rotary_dim]
    real, imag = a * cos - b * sin, a * sin + b * cos
    if interleaved:
        pairs = concat([expand_dims(real, -1), expand_dims(imag, -1)], -1)
        rotated = reshape(pairs, _dims(x.shape[:-1] + (rotary_dim,)))
    else:
        rotated = concat([real, imag], -1)
    if rotary_dim < depth:
        rotated = concat([rotated, x[..., rotary_dim:]], -1)
    return identity(rotated, name=name or "rotary_embedding")
