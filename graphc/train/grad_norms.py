"""Gradient norms recorded during training: what the gradient-flow view and
`History.plot_gradients` show over time.

The norms are extra fetches of the compiled train step: every k-th step runs a callable
whose fetches are the step's own plus one scalar per variable (‖∂loss/∂w‖ and ‖w‖). The
gradients are built once more in the graph, under `gradient_norms/`; the pass
pipeline's common-subexpression elimination merges them with the optimizer's, so a
recorded step computes each gradient once and costs a few reductions more, never a
second run.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from ..autodiff import gradients
from ..ir import Node
from ..ops import reduce_sum, sqrt, trainable_variables

SCOPE = "gradient_norms"
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@dataclass
class GradientRecord:
    """Norms per variable name at each recorded step (steps count from 1)."""

    loss: str = ""                  # the name of the loss differentiated
    steps: list[int] = field(default_factory=list)
    grad_norms: dict[str, list[float]] = field(default_factory=dict)
    weight_norms: dict[str, list[float]] = field(default_factory=dict)

    def add(self, step: int, names: list[str], values) -> None:
        """Append one step's values: ‖g‖ for each name, then ‖w‖ for each name."""
        self.steps.append(step)
        for name, g, w in zip(names, values[:len(names)], values[len(names):]):
            self.grad_norms.setdefault(name, []).append(float(g))
            self.weight_norms.setdefault(name, []).append(float(w))

    def __bool__(self) -> bool:
        return bool(self.steps)


def norm_fetches(loss: Node, variables=None) -> tuple[list[str], list[Node]]:
    """(variable names, [‖g‖ per variable] + [‖w‖ per variable]) as graph nodes, built once
    per (loss, variables). Variables the loss does not depend on are left out."""
    variables = list(variables) if variables is not None else trainable_variables(loss.graph)
    key = (loss.id, tuple(v.id for v in variables))
    per_graph = _CACHE.setdefault(loss.graph, {})
    if key not in per_graph:
        with loss.graph.as_default():
            grads = gradients(loss, variables, name=SCOPE)
            pairs = [(v, g) for v, g in zip(variables, grads) if g is not None]
            with loss.graph.name_scope(SCOPE):
                g_norms = [_norm(g) for _, g in pairs]
                w_norms = [_norm(v) for v, _ in pairs]
        per_graph[key] = ([v.name for v, _ in pairs], g_norms + w_norms)
    return per_graph[key]


def _norm(x: Node) -> Node:
    return sqrt(reduce_sum(x * x))
