"""Learning-rate schedules as graph ops on `global_step`.

A schedule is an ordinary scalar tensor computed from the int64 variable `global_step`
(the number of finished training steps), so it is evaluated inside the same program as
the update it feeds: pass it as an optimizer's `learning_rate` and `minimize(...,
global_step=step)` advances it. The lecture writes the formulas per epoch t with T
epochs in all; here t counts steps, so give `decay_steps = epochs × steps_per_epoch`.

    step / piecewise  α_t = values[i] for boundaries[i-1] < t <= boundaries[i]
    exponential       α_t = α0 · r^(t / s)        (staircase: r^⌊t / s⌋)
    cosine            α_t = ½ α0 (1 + cos(π t / T)),   t clamped to T
    linear            α_t = α0 (1 − t / T),            t clamped to T
    inverse sqrt      α_t = α0 / √t,  held at α0 for the first warmup steps

The arithmetic is done in float64 (exact for any realistic step count) and the result
is a float32 scalar; optimizers cast it to each variable's dtype.
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Node, float32, float64, get_default_graph, int64
from ..ops import Variable, cast, constant, exp, maximum, minimum, rsqrt, square, where

GLOBAL_STEP = "global_step"


def get_global_step(graph=None) -> Node | None:
    """The graph's global step variable, or None when it has none."""
    graph = graph or get_default_graph()
    steps = graph.get_collection(GLOBAL_STEP)
    return steps[0] if steps else None


def get_or_create_global_step(graph=None) -> Node:
    """The int64 variable "global_step" (0 at start), made once per graph.

    `minimize(loss, global_step=step)` adds 1 to it in the same run as the update;
    reads in that run (a schedule, say) see the count before the step.
    """
    graph = graph or get_default_graph()
    step = get_global_step(graph)
    if step is None:
        with graph.as_default(), graph.name_scope(""), graph.control_dependencies(None):
            step = Variable(np.int64(0), name="global_step", trainable=False)
        graph.add_to_collection(GLOBAL_STEP, step)
    return step


def _step(global_step: Node | None) -> Node:
    """global_step as a float64 scalar (the default graph's when None)."""
    if global_step is None:
        global_step = get_or_create_global_step()
    if not isinstance(global_step, Node):
        raise TypeError(f"global_step must be a graphc tensor, got {global_step!r}")
    if global_step.shape != ():
        raise ValueError(f"global_step '{global_step.name}' must be a scalar")
    return cast(global_step, float64)


def _positive(value, what: str) -> float:
    value = float(value)
    if not value > 0:
        raise ValueError(f"{what} must be > 0, got {value}")
    return value


def _floor_nonneg(x: Node) -> Node:
    """⌊x⌋ for x >= 0 (casting to an integer truncates, which is floor there)."""
    return cast(cast(x, int64), float64)


def _result(x: Node, name: str) -> Node:
    return cast(x, float32, name=name)


def piecewise_constant(global_step, boundaries, values, name="piecewise_constant") -> Node:
    """values[0] while t <= boundaries[0], values[1] while t <= boundaries[1], ...,
    values[-1] after the last boundary (TF1's piecewise_constant)."""
    boundaries = [int(b) for b in boundaries]
    values = [float(v) for v in values]
    if len(values) != len(boundaries) + 1:
        raise ValueError(f"piecewise_constant: {len(boundaries)} boundaries need "
                         f"{len(boundaries) + 1} values, got {len(values)}")
    if any(b1 >= b2 for b1, b2 in zip(boundaries, boundaries[1:])):
        raise ValueError(f"piecewise_constant: boundaries must increase, got {boundaries}")
    t = _step(global_step)
    rate = constant(values[0], float64)
    for boundary, value in zip(boundaries, values[1:]):
        rate = where(t > float(boundary), constant(value, float64), rate)
    return _result(rate, name)


def step_decay(learning_rate, global_step, boundaries, factor=0.1, name="step_decay") -> Node:
    """The lecture's step schedule: multiply α by `factor` after each boundary
    (e.g. 0.1 after epochs 30, 60 and 90, given in steps)."""
    lr = _positive(learning_rate, "step_decay: learning_rate")
    values = [lr * factor ** i for i in range(len(boundaries) + 1)]
    return piecewise_constant(global_step, boundaries, values, name=name)


def exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False,
                      name="exponential_decay") -> Node:
    """α0 · r^(t / s); with `staircase` the exponent is ⌊t / s⌋ (a drop every s steps)."""
    lr = _positive(learning_rate, "exponential_decay: learning_rate")
    s = _positive(decay_steps, "exponential_decay: decay_steps")
    rate = _positive(decay_rate, "exponential_decay: decay_rate")
    p = _step(global_step) / s
    if staircase:
        p = _floor_nonneg(p)
    # r^p = exp(p · ln r): one exp instead of a pow of a constant base
    return _result(exp(p * math.log(rate)) * lr, name)


def _cos_0_to_pi(theta: Node) -> Node:
    """cos θ for θ in [0, π], built from + and ×: cos θ = −sin(θ − π/2), with sin's
    Taylor series to u¹⁷ on |u| <= π/2 (error below 1e-11, far under float32's)."""
    u = theta - math.pi / 2
    u2 = square(u)
    series = constant(1.0, float64)
    for k in range(8, 0, -1):            # sin u = u(1 − u²/(2·3)(1 − u²/(4·5)(1 − ...)))
        series = 1.0 - u2 * series / float((2 * k) * (2 * k + 1))
    return -(u * series)


def cosine_decay(learning_rate, global_step, decay_steps, alpha=0.0,
                 name="cosine_decay") -> Node:
    """½ α0 (1 + cos(π t / T)) for t <= T, then its end value; `alpha` > 0 keeps a floor:
    α0 · ((1 − alpha) · ½(1 + cos) + alpha), TF1's spelling."""
    lr = _positive(learning_rate, "cosine_decay: learning_rate")
    total = _positive(decay_steps, "cosine_decay: decay_steps")
    t = minimum(_step(global_step), total)
    cosine = (_cos_0_to_pi(t * (math.pi / total)) + 1.0) * 0.5
    return _result((cosine * (1.0 - alpha) + alpha) * lr, name)


def linear_decay(learning_rate, global_step, decay_steps, end_learning_rate=0.0,
                 name="linear_decay") -> Node:
    """α0 (1 − t / T) for t <= T (reaching `end_learning_rate`, 0 in the lecture), then held."""
    lr = _positive(learning_rate, "linear_decay: learning_rate")
    total = _positive(decay_steps, "linear_decay: decay_steps")
    t = minimum(_step(global_step), total)
    end = float(end_learning_rate)
    return _result((1.0 - t / total) * (lr - end) + end, name)


def inverse_sqrt_decay(learning_rate, global_step, warmup_steps=1,
                       name="inverse_sqrt_decay") -> Node:
    """α0 / √t after t = warmup_steps, scaled to be continuous: α0 · √(w / max(t, w)).

    With the default w = 1 this is the lecture's α0 / √t, with α0 kept at t = 0.
    """
    lr = _positive(learning_rate, "inverse_sqrt_decay: learning_rate")
    w = _positive(warmup_steps, "inverse_sqrt_decay: warmup_steps")
    t = maximum(_step(global_step), w)
    return _result(rsqrt(t) * (lr * math.sqrt(w)), name)
