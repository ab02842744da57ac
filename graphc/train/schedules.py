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
    polynomial        α_t = (α0 − end) · (1 − t / T)^power + end    (TF1's)
    cosine restarts   cosine decay over periods T, T·t_mul, T·t_mul², ..., the i-th
                      restart from α0 · m_mul^i (TF1's SGDR)

The arithmetic is done in float64 (exact for any realistic step count) and the result
is a float32 scalar; optimizers cast it to each variable's dtype.
"""
from __future__ import annotations

import math

from ..ir import Node, float32, float64, int64
from ..ops import cast, constant, exp, log, maximum, minimum, pow, rsqrt, square, where
from .global_step import get_or_create_global_step

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


def _ceil_nonneg(x: Node) -> Node:
    """⌈x⌉ for x >= 0."""
    floor = _floor_nonneg(x)
    return where(x > floor, floor + 1.0, floor)


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


def polynomial_decay(learning_rate, global_step, decay_steps, end_learning_rate=0.0001,
                     power=1.0, cycle=False, name="polynomial_decay") -> Node:
    """TF1's polynomial_decay: (α0 − end) · (1 − t / T)^power + end, t clamped to T;
    with `cycle`, T grows to the next multiple of decay_steps past t instead
    (T · ⌈t / T⌉, and T at t = 0), so the rate decays again after each period."""
    lr = _positive(learning_rate, "polynomial_decay: learning_rate")
    total = _positive(decay_steps, "polynomial_decay: decay_steps")
    t = _step(global_step)
    if cycle:
        periods = _ceil_nonneg(t / total)
        horizon = maximum(periods, 1.0) * total
    else:
        t, horizon = minimum(t, total), constant(total, float64)
    remaining = 1.0 - t / horizon
    if float(power) != 1.0:
        remaining = pow(remaining, constant(float(power), float64))
    end = float(end_learning_rate)
    return _result(remaining * (lr - end) + end, name)


def cosine_decay_restarts(learning_rate, global_step, first_decay_steps, t_mul=2.0,
                          m_mul=1.0, alpha=0.0, name="cosine_decay_restarts") -> Node:
    """TF1's cosine decay with warm restarts (SGDR, Loshchilov & Hutter).

    Period i lasts first_decay_steps · t_mul^i steps and starts from α0 · m_mul^i; within
    it the rate is α0 · ((1 − alpha) · m_mul^i · ½(1 + cos(π f)) + alpha), f the
    fraction of the period done. The restart index is TF1's closed form
    ⌊log(1 − t/T·(1 − t_mul)) / log t_mul⌋, with a 1e-9 guard so that rounding never
    places a restart step at the end of the period before it.
    """
    lr = _positive(learning_rate, "cosine_decay_restarts: learning_rate")
    first = _positive(first_decay_steps, "cosine_decay_restarts: first_decay_steps")
    t_mul = _positive(t_mul, "cosine_decay_restarts: t_mul")
    m_mul = float(m_mul)
    if m_mul < 0:
        raise ValueError(f"cosine_decay_restarts: m_mul must be >= 0, got {m_mul}")
    done = _step(global_step) / first                  # periods of the first length done
    if t_mul == 1.0:
        restart = _floor_nonneg(done)
        fraction = done - restart
    else:
        restart = _floor_nonneg(log(1.0 - done * (1.0 - t_mul)) / math.log(t_mul) + 1e-9)
        length = pow(constant(t_mul, float64), restart)             # t_mul^i
        fraction = (done - (1.0 - length) / (1.0 - t_mul)) / length
    fraction = maximum(fraction, 0.0)                  # the guard's −1e-9 at a restart
    cosine = (_cos_0_to_pi(fraction * math.pi) + 1.0) * 0.5
    decayed = pow(constant(m_mul, float64), restart) * cosine * (1.0 - alpha) + alpha
    return _result(decayed * lr, name)
