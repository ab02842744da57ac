"""Gradient checking against central finite differences (exported as `gc.test`).

Symbolic gradients are checked where they are cheapest to trust: in float64, against
(f(x + δ) − f(x − δ)) / 2δ. Small ops get their full Jacobian compared; large ones the
inner-product check ⟨t, Jᵀc⟩ ≈ ⟨(f(x+εt) − f(x−εt))/2ε, c⟩ for random t and c.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .autodiff import gradients
from .ir import Node
from .ops import placeholder
from .session import Session


class _Inputs:
    """Reads and perturbs the values of xs, which are fed placeholders or variables."""

    def __init__(self, xs: Sequence[Node], feed_dict: dict, session: Session):
        self.xs, self.session = list(xs), session
        self.feeds = {k: np.array(v) for k, v in feed_dict.items()}
        for x in self.xs:
            if x.op.name == "placeholder":
                if x not in self.feeds:
                    raise ValueError(f"x '{x.name}' is a placeholder: give its value in "
                                     "feed_dict")
                self.feeds[x] = np.array(self.feeds[x], dtype=x.dtype.np_type)
            elif x.op.name != "variable":
                raise ValueError(f"x '{x.name}' must be a placeholder or a variable, not a "
                                 f"{x.op.name}")

    def get(self, x: Node) -> np.ndarray:
        return self.feeds[x] if x.op.name == "placeholder" else self.session.variable_value(x)

    def set(self, x: Node, value: np.ndarray) -> None:
        if x.op.name == "placeholder":
            self.feeds[x] = value
        else:
            self.session.set_variable_value(x, value)

    def run(self, fetches, extra=None):
        return self.session.run(fetches, {**self.feeds, **(extra or {})})


def compute_gradient(xs, y: Node, feed_dict=None, delta: float = 1e-6,
                     session: Session | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(theoretical, numerical) Jacobians of y w.r.t. each x, each of shape
    (y.size, x.size). `xs` are placeholders (valued by feed_dict) or variables."""
    xs = list(xs) if isinstance(xs, list | tuple) else [xs]
    session = session or Session(y.graph, backend="numpy")
    inputs = _Inputs(xs, feed_dict or {}, session)
    y_value = np.asarray(inputs.run(y))
    with y.graph.as_default():
        seed = placeholder(y.dtype, y_value.shape, name="gradient_check_seed")
    grads = gradients(y, xs, grad_ys=seed)
    results = []
    for x, g in zip(xs, grads):
        x0 = inputs.get(x).copy()
        theoretical = np.zeros((y_value.size, x0.size))
        if g is not None:
            for k in range(y_value.size):
                e = np.zeros(y_value.size, dtype=y.dtype.np_type)
                e[k] = 1
                theoretical[k] = np.ravel(inputs.run(g, {seed: e.reshape(y_value.shape)}))
        numerical = np.zeros_like(theoretical)
        for j in range(x0.size):
            for sign in (1, -1):
                shifted = x0.copy().ravel()
                shifted[j] += sign * delta
                inputs.set(x, shifted.reshape(x0.shape))
                numerical[:, j] += sign * np.ravel(inputs.run(y)) / (2 * delta)
        inputs.set(x, x0)
        results.append((theoretical, numerical))
    return results


def compute_gradient_error(xs, y: Node, feed_dict=None, delta: float = 1e-6,
                           session: Session | None = None) -> float:
    """Largest absolute difference between symbolic and finite-difference Jacobians."""
    pairs = compute_gradient(xs, y, feed_dict, delta, session)
    return max(float(np.max(np.abs(t - n), initial=0.0)) for t, n in pairs)


def gradient_inner_product_error(xs, y: Node, feed_dict=None, epsilon: float = 1e-5,
                                 seed: int = 0, session: Session | None = None) -> float:
    """Relative error of ⟨t, ∇⟩ against a directional finite difference along a random t,
    for a random cotangent c. Cheap for large tensors (two extra forward runs)."""
    xs = list(xs) if isinstance(xs, list | tuple) else [xs]
    session = session or Session(y.graph, backend="numpy")
    inputs = _Inputs(xs, feed_dict or {}, session)
    rng = np.random.default_rng(seed)
    y_value = np.asarray(inputs.run(y))
    c = rng.standard_normal(y_value.shape).astype(y.dtype.np_type)
    with y.graph.as_default():
        cotangent = placeholder(y.dtype, y_value.shape, name="gradient_check_cotangent")
    grads = gradients(y, xs, grad_ys=cotangent)
    x0 = [inputs.get(x).copy() for x in xs]
    t = [rng.standard_normal(v.shape).astype(v.dtype) for v in x0]
    symbolic = 0.0
    for g, ti in zip(grads, t):
        if g is not None:
            symbolic += float(np.sum(np.asarray(inputs.run(g, {cotangent: c})) * ti))

    def f_along(step):
        for x, v, ti in zip(xs, x0, t):
            inputs.set(x, v + step * ti)
        return np.asarray(inputs.run(y))

    numeric = float(np.sum((f_along(epsilon) - f_along(-epsilon)) / (2 * epsilon) * c))
    for x, v in zip(xs, x0):
        inputs.set(x, v)
    return abs(symbolic - numeric) / max(1.0, abs(numeric))
