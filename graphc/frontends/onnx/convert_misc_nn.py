"""ONNX ops from the newer and preview operator sets: CausalConvWithState
(`gc.nn.causal_conv1d`), FlexAttention (ai.onnx.preview; `gc.nn.attention` with its
score and probability modifiers converted from the node's subgraphs), and the
ai.onnx.preview.training update rules Momentum, Adam and Adagrad, which are pure
functions of their inputs (the new tensors), not stateful optimizers."""
from __future__ import annotations

from onnx import TensorProto

from ... import ops
from ...ir import float64
from ...ops.attention import attention
from ...ops.causal_conv import causal_conv1d
from .context import converter

PREVIEW = "ai.onnx.preview"
TRAINING = "ai.onnx.preview.training"


@converter("CausalConvWithState", attrs=("activation",))
def causal_conv_with_state(ctx):
    activation = ctx.require("activation", ("none", "silu", "swish"), "none")
    w = ctx.input(1)
    if w.rank != 3 or w.shape[1] != 1:
        raise ctx.error(f"weight {w.type} must be (channels, 1, k)")
    output, state = causal_conv1d(
        ctx.input(0), w, ctx.input(2) if ctx.has_input(2) else None,
        ctx.input(3) if ctx.has_input(3) else None, activation=activation)
    return [output, state]


# -- FlexAttention --------------------------------------------------------------------------
@converter("FlexAttention", attrs=("prob_mod", "scale", "score_mod", "softmax_precision"),
           domain=PREVIEW)
def flex_attention(ctx):
    """Rank-4 (B, H, S, D) inputs; grouped-query heads when K and V have fewer heads.
    softmax_precision double widens the softmax of float inputs; float16 and bfloat16
    are narrower than any graphc float and float32's is at least as exact."""
    q, k, v = ctx.input(0), ctx.input(1), ctx.input(2)
    if not q.rank == k.rank == v.rank == 4:
        raise ctx.error(f"Q {q.type}, K {k.type} and V {v.type} must be 4-D "
                        "(batch, heads, sequence, features)")
    wide = ctx.attr("softmax_precision", None) == TensorProto.DOUBLE and q.dtype != float64
    return attention(q, k, v, scale=ctx.attr("scale", None),
                     softmax_dtype=float64 if wide else None,
                     score_mod=_modifier(ctx, "score_mod"),
                     prob_mod=_modifier(ctx, "prob_mod")).output


def _modifier(ctx, name: str):
    """The graph attribute `name` as a function of one tensor, or None."""
    body = ctx.attr(name, None)
    if body is None:
        return None
    if len(body.input) != 1 or len(body.output) != 1:
        raise ctx.error(f"{name} must take one input and give one output, its graph "
                        f"'{body.name}' has {len(body.input)} and {len(body.output)}")
    return lambda x: ctx.subgraph(name, [x])[0]


# -- ai.onnx.preview.training ---------------------------------------------------------------
def _update_inputs(ctx, per_tensor: int):
    """R (the learning rate), T (the step count) as the tensors' float type, and the
    variadic inputs split into `per_tensor` groups (X..., G..., V..., ...)."""
    rest = ctx.inputs()[2:]
    if not rest or len(rest) % per_tensor:
        raise ctx.error(f"expects R, T and {per_tensor} groups of equally many tensors, "
                        f"got {len(rest)} tensors after R and T")
    n = len(rest) // per_tensor
    groups = [rest[i * n:(i + 1) * n] for i in range(per_tensor)]
    dtype = groups[0][0].dtype
    return ops.cast(ctx.input(0), dtype), ops.cast(ctx.input(1), dtype), groups


def _regularized(ctx, x, g):
    """g + norm_coefficient · x (the gradient of ½·c·‖x‖² added)."""
    c = float(ctx.attr("norm_coefficient", 0.0))
    return g + x * c if c else g


@converter("Momentum", attrs=("alpha", "beta", "mode", "norm_coefficient"),
           domain=TRAINING)
def momentum(ctx):
    """v' = α·v + β'·g (β' = 1 on the first step, T = 0); standard: x' = x − r·v',
    nesterov: x' = x − r·(g + α·v')."""
    mode = ctx.require("mode", ("standard", "nesterov"), None)
    alpha, beta = float(ctx.attr("alpha")), float(ctx.attr("beta"))
    r, t, (xs, gs, vs) = _update_inputs(ctx, 3)
    beta_t = ops.where(t > 0.0, beta, 1.0)
    new_x, new_v = [], []
    for x, g, v in zip(xs, gs, vs):
        g = _regularized(ctx, x, g)
        v_new = v * alpha + beta_t * g
        step = v_new if mode == "standard" else g + v_new * alpha
        new_x.append(x - r * step)
        new_v.append(v_new)
    return new_x + new_v


@converter("Adam", attrs=("alpha", "beta", "epsilon", "norm_coefficient",
                          "norm_coefficient_post"), domain=TRAINING)
def adam(ctx):
    """v' = α·v + (1 − α)·g, h' = β·h + (1 − β)·g², x' = (1 − c_post)·(x − r'·v' / (√h'
    + ε)), with r' = r·√(1 − β^T) / (1 − α^T) after the first step (T > 0), r before."""
    alpha, beta = float(ctx.attr("alpha", 0.9)), float(ctx.attr("beta", 0.999))
    eps = float(ctx.attr("epsilon", 1e-6))
    post = float(ctx.attr("norm_coefficient_post", 0.0))
    r, t, (xs, gs, vs, hs) = _update_inputs(ctx, 4)
    started = t > 0.0
    t1 = ops.maximum(t, 1.0)            # 1 − α^T stays away from 0 in the unused branch
    corrected = r * ops.sqrt(1.0 - ops.pow(beta, t1)) / (1.0 - ops.pow(alpha, t1))
    rate = ops.where(started, corrected, r)
    new_x, new_v, new_h = [], [], []
    for x, g, v, h in zip(xs, gs, vs, hs):
        g = _regularized(ctx, x, g)
        v_new = v * alpha + g * (1.0 - alpha)
        h_new = h * beta + ops.square(g) * (1.0 - beta)
        x_new = x - rate * v_new / (ops.sqrt(h_new) + eps)
        new_x.append(x_new * (1.0 - post) if post else x_new)
        new_v.append(v_new)
        new_h.append(h_new)
    return new_x + new_v + new_h


@converter("Adagrad", attrs=("decay_factor", "epsilon", "norm_coefficient"),
           domain=TRAINING)
def adagrad(ctx):
    """h' = h + g², x' = x − r / (1 + T·decay) · g / (√h' + ε)."""
    decay, eps = float(ctx.attr("decay_factor", 0.0)), float(ctx.attr("epsilon", 1e-6))
    r, t, (xs, gs, hs) = _update_inputs(ctx, 3)
    rate = r / (t * decay + 1.0)
    new_x, new_h = [], []
    for x, g, h in zip(xs, gs, hs):
        g = _regularized(ctx, x, g)
        h_new = h + ops.square(g)
        new_x.append(x - rate * g / (ops.sqrt(h_new) + eps))
        new_h.append(h_new)
    return new_x + new_h
