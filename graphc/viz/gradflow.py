"""The gradient-flow picture: where, for one batch, gradients vanish or explode.

One forward and backward pass is run at the variables' current values (no update is
applied). For every variable w the picture shows ‖∂loss/∂w‖ and ‖∂loss/∂w‖ / ‖w‖ (L2
norms over all elements) on the variable's box and on a gradient edge drawn from the
gradient back to the variable; the edge's colour runs from blue (vanishing) through
green to red (exploding) on a log scale, and a legend lists the flagged variables.

The ratio is the relative step plain SGD takes per unit learning rate, so it compares
layers of any size; the absolute norm catches what the ratio cannot (a zero weight).
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..autodiff import gradients
from ..ir import Node
from ..ops.state import TRAINABLE_VARIABLES
from . import style
from . import view as v
from .drawing import emit, render
from .legend import table

OK = "ok"
VANISHING = "vanishing"
EXPLODING = "exploding"
NO_GRADIENT = "no gradient"

# the colour scale's stops, evenly spaced from vanishing (0) to exploding (1)
SCALE = ((0x2b, 0x6c, 0xb0), (0x31, 0x97, 0x95), (0x38, 0xa1, 0x69), (0xd6, 0x9e, 0x2e),
         (0xc5, 0x30, 0x30))


@dataclass(frozen=True)
class Thresholds:
    """When a gradient counts as vanishing or exploding (either test flags it).

    vanishing: ‖g‖/‖w‖ < vanish_ratio or ‖g‖ < vanish_norm;
    exploding: ‖g‖/‖w‖ > explode_ratio or ‖g‖ > explode_norm (or not finite).
    The ratio tests are skipped for a weight whose norm is zero.
    """

    vanish_ratio: float = 1e-5
    vanish_norm: float = 1e-7
    explode_ratio: float = 10.0
    explode_norm: float = 1e3


@dataclass(frozen=True)
class GradNorm:
    """The numbers behind one variable's annotation."""

    name: str
    grad_norm: float | None         # None: the loss does not depend on it
    weight_norm: float
    ratio: float | None             # None: no gradient, or ‖w‖ = 0
    status: str                     # "ok", "vanishing", "exploding" or "no gradient"


# gradient nodes made for (loss, wrt) are reused, so drawing the same flow again does
# not grow the graph
_GRADIENT_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
GRADIENT_SCOPE = "gradient_flow"
FLOW_MAX_ITEMS = 40


def render_gradient_flow(loss: Node, wrt=None, feed_dict=None, session=None,
                         path: str | Path | None = "grad.svg", *,
                         thresholds: Thresholds = Thresholds(), show_backward: bool = False,
                         collapse_depth: int | str | None = v.AUTO, rankdir: str = "TB",
                         title: str | None = None, max_items: int = FLOW_MAX_ITEMS):
    """Draw the gradient flow of `loss`; returns (graphviz.Digraph, {name: GradNorm}).

    wrt: the tensors to measure (default: the graph's trainable variables); activations
        work too, then ‖w‖ is the norm of the activation.
    feed_dict / session: what one run needs; a new numpy-backed Session of the loss's
        graph is made when none is given.
    path: the picture to write (.svg, .png, .pdf, .dot); None writes nothing.
    show_backward: draw every backward op instead of one box for the backward graph.
    max_items: the box budget of collapse_depth="auto" (smaller than a plain picture's:
        every variable and its gradient are boxes of their own).
    The gradients are built once per (loss, wrt), under the name scope 'gradient_flow/'.
    """
    if not isinstance(loss, Node):
        raise TypeError(f"render_gradient_flow: loss must be a graphc tensor, got {loss!r}")
    graph = loss.graph
    wrt = _resolve_wrt(graph, wrt)
    grads = _gradients(loss, wrt)
    if session is None:
        from ..session import Session
        session = Session(graph)
    elif session.graph is not graph:
        raise ValueError("render_gradient_flow: the session runs another graph than the "
                         f"one of '{loss.name}'")
    present = [g for g in grads if g is not None]
    values = session.run([loss, present, wrt], feed_dict)
    grad_values = iter(values[1])
    stats = {}
    for x, g, w_value in zip(wrt, grads, values[2]):
        g_value = next(grad_values) if g is not None else None
        stats[x.name] = measure(x.name, g_value, w_value, thresholds)
    view = flow_view(loss, wrt, grads, collapse_depth, show_backward, max_items)
    dot = draw_flow(view, loss, wrt, grads, stats, float(values[0]), thresholds, rankdir,
                    title)
    if path is not None:
        render(dot, path)
    return dot, stats


def flow_view(loss: Node, wrt: list[Node], grads: list[Node | None],
              collapse_depth=v.AUTO, show_backward: bool = False,
              max_items: int = FLOW_MAX_ITEMS) -> v.View:
    """What the gradient-flow picture draws: the loss, each tensor and its gradient."""
    present = [g for g in grads if g is not None]
    return v.build_view([loss] + present + list(wrt), collapse_depth, show_backward,
                        max_items=max_items)


def flow_gradients(loss: Node, wrt=None) -> tuple[list[Node], list[Node | None]]:
    """(the tensors measured, their gradient nodes), built once per (loss, wrt)."""
    wrt = _resolve_wrt(loss.graph, wrt)
    return wrt, _gradients(loss, wrt)


def measure(name: str, grad, weight, thresholds: Thresholds = Thresholds()) -> GradNorm:
    """Norms, ratio and verdict for one tensor (grad None: no gradient reaches it)."""
    return from_norms(name, None if grad is None else _norm(grad), _norm(weight), thresholds)


def from_norms(name: str, g_norm: float | None, w_norm: float,
               thresholds: Thresholds = Thresholds()) -> GradNorm:
    """Ratio and verdict from the two norms (g_norm None: no gradient reaches it)."""
    if g_norm is None:
        return GradNorm(name, None, w_norm, None, NO_GRADIENT)
    ratio = g_norm / w_norm if w_norm > 0 else None
    return GradNorm(name, g_norm, w_norm, ratio, classify(g_norm, ratio, thresholds))


def classify(g_norm: float, ratio: float | None, t: Thresholds) -> str:
    if not math.isfinite(g_norm) or g_norm > t.explode_norm or (
            ratio is not None and ratio > t.explode_ratio):
        return EXPLODING
    if g_norm < t.vanish_norm or (ratio is not None and ratio < t.vanish_ratio):
        return VANISHING
    return OK


def scale_position(stat: GradNorm, t: Thresholds) -> float:
    """Where a gradient sits between the vanishing (0) and exploding (1) thresholds, on a
    log scale of the ratio (of the norm when there is no ratio); clamped to [0, 1]."""
    if stat.status == VANISHING:
        return 0.0
    if stat.status == EXPLODING:
        return 1.0
    if stat.ratio is not None:
        x, lo, hi = stat.ratio, t.vanish_ratio, t.explode_ratio
    else:
        x, lo, hi = stat.grad_norm, t.vanish_norm, t.explode_norm
    if x <= 0:
        return 0.0
    pos = (math.log10(x) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    return min(1.0, max(0.0, pos))


def scale_colour(pos: float) -> str:
    """Blue at 0, teal, green at 0.5, amber, red at 1 (linear between the stops)."""
    pos = min(1.0, max(0.0, pos)) * (len(SCALE) - 1)
    i = min(int(pos), len(SCALE) - 2)
    a, b, f = SCALE[i], SCALE[i + 1], pos - i
    return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(a, b))


def _norm(value) -> float:
    return float(np.linalg.norm(np.asarray(value, dtype=np.float64).reshape(-1)))


def _resolve_wrt(graph, wrt) -> list[Node]:
    if wrt is None:
        wrt = graph.get_collection(TRAINABLE_VARIABLES)
        if not wrt:
            raise ValueError("render_gradient_flow: the graph has no trainable variables; "
                             "pass wrt=[tensors] to measure")
        return list(wrt)
    wrt = [wrt] if isinstance(wrt, Node) else list(wrt)
    for x in wrt:
        if not isinstance(x, Node) or x.graph is not graph:
            raise ValueError(f"render_gradient_flow: {x!r} is not a tensor of the loss's "
                             "graph")
    if len({x.name for x in wrt}) != len(wrt):
        raise ValueError("render_gradient_flow: wrt names a tensor twice")
    return wrt


def _gradients(loss: Node, wrt: list[Node]) -> list[Node | None]:
    per_graph = _GRADIENT_CACHE.setdefault(loss.graph, {})
    key = (loss.id, tuple(x.id for x in wrt))
    if key not in per_graph:
        per_graph[key] = gradients(loss, wrt, name=GRADIENT_SCOPE)
    return per_graph[key]


def _number(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def edge_label(stat: GradNorm) -> str:
    """The gradient edge's label: the ratio, or the norm when there is no ratio."""
    if stat.ratio is None:
        return f"‖g‖ {_number(stat.grad_norm)}"
    return f"ratio {_number(stat.ratio)}"


def annotation(stat: GradNorm) -> list[str]:
    """The lines a measured tensor's box gets."""
    if stat.status == NO_GRADIENT:
        return ["no gradient reaches it"]
    lines = [f"‖g‖ = {_number(stat.grad_norm)}", f"‖g‖/‖w‖ = {_number(stat.ratio)}"]
    if stat.status != OK:
        lines.append(stat.status.upper())
    return lines


def draw_flow(view, loss, wrt, grads, stats, loss_value, thresholds=Thresholds(),
              rankdir="TB", title=None):
    """The gradient-flow picture of `view` annotated with `stats` ({name: GradNorm})."""
    lines: dict[Node, list[str]] = {loss: [f"= {loss_value:.4g}"]}
    attrs: dict[Node, dict] = {}
    for x, g in zip(wrt, grads):
        stat = stats[x.name]
        lines[x] = annotation(stat)
        if stat.status == NO_GRADIENT:
            continue
        colour = scale_colour(scale_position(stat, thresholds))
        attrs[x] = {"color": colour, "penwidth": "3" if stat.status != OK else "2"}
        lines[g] = [f"‖g‖ = {_number(stat.grad_norm)}"]
    # the hidden backward box's edges into every gradient say only what the gradients'
    # red boxes already do; left out, the picture keeps to its coloured gradient edges
    dot = emit(view, extra_lines=lines, extra_attrs=attrs, rankdir=rankdir,
               title=title or f"gradient flow of {loss.name}", hidden_edges=False)
    for x, g in zip(wrt, grads):
        stat = stats[x.name]
        if g is None:
            continue
        pos = scale_position(stat, thresholds)
        colour = scale_colour(pos)
        # laid out from the variable down to its gradient, so each gradient sits just
        # below its variable, beside its layer; drawn pointing at the variable
        dot.edge(view.item_of[x].key, view.item_of[g].key, dir="back",
                 color=colour, fontcolor=colour, penwidth=f"{1.5 + 3 * pos:.1f}",
                 xlabel=edge_label(stat), style="bold")
    dot.node("legend", label=_legend(stats, thresholds), shape="plaintext", margin="0")
    return dot


def _legend(stats: dict[str, GradNorm], t: Thresholds) -> str:
    """The colour scale with its threshold values, then the flagged tensors."""
    rows = []
    for pos, word in ((0.0, "vanishing"), (0.25, ""), (0.5, "healthy"), (0.75, ""),
                      (1.0, "exploding")):
        ratio = 10 ** (math.log10(t.vanish_ratio)
                       + pos * (math.log10(t.explode_ratio) - math.log10(t.vanish_ratio)))
        text = f"‖g‖/‖w‖ ≈ {ratio:.2g}" + (f"  {word}" if word else "")
        rows.append((scale_colour(pos), "    ", text))
    rows.append(("#ffffff", "", f"vanishing: ratio < {t.vanish_ratio:g} or ‖g‖ < "
                                f"{t.vanish_norm:g}"))
    rows.append(("#ffffff", "", f"exploding: ratio > {t.explode_ratio:g} or ‖g‖ > "
                                f"{t.explode_norm:g}"))
    for status in (VANISHING, EXPLODING, NO_GRADIENT):
        names = [s for s in stats.values() if s.status == status]
        for s in names:
            detail = "" if status == NO_GRADIENT else \
                f" (‖g‖ = {_number(s.grad_norm)}, ratio {_number(s.ratio)})"
            fill = style.BACKWARD_FILL if status != NO_GRADIENT else "#eeeeee"
            rows.append((fill, status.upper(), f"{s.name}{detail}"))
    if not any(s.status != OK for s in stats.values()):
        rows.append(("#ffffff", "", "no vanishing or exploding gradients"))
    return table("gradient flow: L2 norms, one batch", rows)
