"""ONNX's transformer ops: Attention (`gc.nn.attention`), LinearAttention
(`gc.nn.linear_attention`), RotaryEmbedding (`gc.nn.rotary_embedding`) and SwiGLU
(swish · gate).

ONNX's 3-D form (batch, sequence, heads · features) is graphc's (batch, heads, sequence,
features) through a reshape and a transpose on each side; everything else (masks, the
cache, grouped heads, windows) is the graphc function's."""
from __future__ import annotations

from onnx import TensorProto

from ... import ops
from ...ir import float64
from ...ops.activations import swish
from ...ops.attention import attention as attention_
from ...ops.attention import rotary_embedding as rotary_embedding_
from ...ops.linear_attention import linear_attention as linear_attention_
from .context import converter

_QK_OUTPUTS = ("scores", "scores", "logits", "weights")   # by qk_matmul_output_mode


def _heads(ctx, x, num_heads: str):
    """(B, S, H·D) → (B, H, S, D) with H the attribute `num_heads`."""
    heads = ctx.attr(num_heads, None)
    if not heads:
        raise ctx.error(f"3-D inputs need the attribute '{num_heads}'")
    if x.shape[2] is None or x.shape[2] % heads:
        raise ctx.error(f"input {x.type} does not split into {heads} heads")
    batch = -1 if x.shape[0] is None else x.shape[0]
    return ops.transpose(ops.reshape(x, (batch, x.shape[1], heads, x.shape[2] // heads)),
                         (0, 2, 1, 3))


def _merge_heads(y):
    """(B, H, S, D) → (B, S, H·D)."""
    y = ops.transpose(y, (0, 2, 1, 3))
    batch = -1 if y.shape[0] is None else y.shape[0]
    return ops.reshape(y, (batch, y.shape[1], y.shape[2] * y.shape[3]))


def _window_side(ctx, name: str):
    size = ctx.attr(name, -1)
    if size < -1:
        raise ctx.error(f"attribute {name}={size} must be -1 (unbounded) or >= 0")
    return None if size == -1 else size


@converter("Attention", attrs=("is_causal", "kv_num_heads", "q_num_heads",
                               "qk_matmul_output_mode", "scale", "softcap",
                               "softmax_precision", "left_window_size", "right_window_size"))
def attention(ctx):
    q, k, v = ctx.input(0), ctx.input(1), ctx.input(2)
    three_d = q.rank == 3
    if three_d:
        q, k, v = _heads(ctx, q, "q_num_heads"), _heads(ctx, k, "kv_num_heads"), \
            _heads(ctx, v, "kv_num_heads")
    elif q.rank != 4:
        raise ctx.error(f"query {q.type} must be 3-D or 4-D")
    if ctx.has_input(4) != ctx.has_input(5):
        raise ctx.error("past_key and past_value must be given together")
    if ctx.has_input(6) and ctx.has_input(4):
        raise ctx.error("nonpad_kv_seqlen cannot be combined with past_key / past_value")
    mode = ctx.require("qk_matmul_output_mode", (0, 1, 2, 3), 0)
    softcap = ctx.attr("softcap", 0.0)
    window = (_window_side(ctx, "left_window_size"), _window_side(ctx, "right_window_size"))
    # a wider softmax when asked for double; a narrower precision than the inputs'
    # (float16, bfloat16) is not one graphc has, and float32's is at least as exact
    wide = ctx.attr("softmax_precision", None) == TensorProto.DOUBLE and q.dtype != float64
    result = attention_(
        q, k, v, ctx.input(3) if ctx.has_input(3) else None,
        is_causal=bool(ctx.attr("is_causal", 0)), scale=ctx.attr("scale", None),
        softcap=softcap if softcap > 0 else None,
        window=None if window == (None, None) else window,
        kv_lengths=ctx.input(6) if ctx.has_input(6) else None,
        past_key=ctx.input(4) if ctx.has_input(4) else None,
        past_value=ctx.input(5) if ctx.has_input(5) else None,
        softmax_dtype=float64 if wide else None)
    output = _merge_heads(result.output) if three_d else result.output
    return [output, result.present_key, result.present_value,
            getattr(result, _QK_OUTPUTS[mode])]


_UPDATE_RULES = {"linear": (False, False), "gated": (True, False), "delta": (False, True),
                 "gated_delta": (True, True)}     # (decay, beta) each rule takes


def _per_step(ctx, i, heads: int):
    """Input i, (B, T, heads·n or heads or 1) → (B, heads or 1, T, n or 1)."""
    x = ctx.input(i)
    width = x.shape[2]
    split = heads if width is not None and width % heads == 0 and width != 1 else 1
    batch = -1 if x.shape[0] is None else x.shape[0]
    return ops.transpose(ops.reshape(x, (batch, x.shape[1], split, width // split)),
                         (0, 2, 1, 3))


@converter("LinearAttention", attrs=("chunk_size", "kv_num_heads", "q_num_heads", "scale",
                                     "update_rule"))
def linear_attention(ctx):
    """3-D (B, T, heads · features) inputs as graphc's (B, heads, T, features); decay
    per key feature (B, T, Hk·Dk) or per head (B, T, Hk), beta per head or shared
    (B, T, Hk or 1). chunk_size is a tuning hint with no effect on the result."""
    rule = ctx.require("update_rule", tuple(_UPDATE_RULES), "gated_delta")
    for i, (wanted, what) in zip((4, 5), zip(_UPDATE_RULES[rule], ("decay", "beta"))):
        if ctx.has_input(i) != wanted:
            raise ctx.error(f"update_rule '{rule}' {'needs' if wanted else 'forbids'} "
                            f"the {what} input")
    q, k, v = ctx.input(0), ctx.input(1), ctx.input(2)
    if q.rank != 3:
        raise ctx.error(f"query {q.type} must be 3-D (batch, sequence, heads · features)")
    hk = ctx.attr("kv_num_heads")
    q, k, v = _heads(ctx, q, "q_num_heads"), _heads(ctx, k, "kv_num_heads"), \
        _heads(ctx, v, "kv_num_heads")
    scale = ctx.attr("scale", 0.0)
    output, state = linear_attention_(
        q, k, v, ctx.input(3) if ctx.has_input(3) else None,
        decay=_per_step(ctx, 4, hk) if ctx.has_input(4) else None,
        beta=_per_step(ctx, 5, hk) if ctx.has_input(5) else None,
        scale=scale or None)
    return [_merge_heads(output), state]


@converter("RotaryEmbedding", attrs=("interleaved", "num_heads", "rotary_embedding_dim"))
def rotary_embedding(ctx):
    """cos/sin caches (max positions, D/2) gathered at position_ids, or given per
    (batch, sequence) already, broadcast over the heads."""
    x, cos, sin = ctx.input(0), ctx.input(1), ctx.input(2)
    if ctx.has_input(3):
        positions = ctx.input(3)
        cos, sin = ops.gather(cos, positions), ops.gather(sin, positions)
    three_d = x.rank == 3
    if three_d:
        heads = ctx.attr("num_heads", 0)
        if not heads or x.shape[2] is None or x.shape[2] % heads:
            raise ctx.error(f"3-D input {x.type} needs num_heads dividing its last axis")
        xs = ops.reshape(x, (-1 if x.shape[0] is None else x.shape[0], x.shape[1], heads,
                             x.shape[2] // heads))
        head_axis = 2                     # (B, S, H, D)
    elif x.rank == 4:
        xs, head_axis = x, 1              # (B, H, S, D)
    else:
        raise ctx.error(f"input {x.type} must be 3-D or 4-D")
    cos, sin = ops.expand_dims(cos, head_axis), ops.expand_dims(sin, head_axis)
    y = rotary_embedding_(xs, cos, sin, interleaved=bool(ctx.attr("interleaved", 0)),
                          rotary_dim=ctx.attr("rotary_embedding_dim", 0) or None)
    return ops.reshape_like(y, x) if three_d else y


@converter("SwiGLU", attrs=("alpha",))
def swiglu(ctx):
    a, b = ctx.input(0), ctx.input(1)
    if a.shape != b.shape:
        raise ctx.error(f"inputs {a.type} and {b.type} must have one shape")
    return swish(a, float(ctx.attr("alpha", 1.0))) * b
