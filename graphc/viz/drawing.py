"""`to_dot` and `render`: a graph, some tensors or a program as a Graphviz picture.

The view (view.py) decides what is drawn; this module turns it into a
`graphviz.Digraph`, nesting one DOT cluster per name scope and per kernel, and writes
pictures through the renderer that render.py finds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Hashable, Mapping

import graphviz

from ..ir import Node
from . import style
from . import view as v
from .legend import draw_legend
from .renderers import (format_for, render_source, use_renderer_for_graphviz_package,
                        write_atomic)

GRAPH_ATTRS = {"fontname": style.FONT, "fontsize": "11", "nodesep": "0.25", "ranksep": "0.35",
               "newrank": "true"}
NODE_ATTRS = {"fontname": style.FONT, "fontsize": "10", "margin": "0.08,0.04", "height": "0.3"}
HUB_FAN_IN = 12
EDGE_ATTRS = {"fontname": style.FONT, "fontsize": "9", "arrowsize": "0.7"}


def to_dot(target, *, collapse_depth: int | str | None = v.AUTO, show_backward: bool = True,
           kernels: Mapping[Node, Hashable] | None = None,
           values: Mapping[Node, object] | None = None,
           notes: Mapping[Node, str | list[str]] | None = None, rankdir: str = "TB",
           backward_up: bool = True, legend: bool = False, title: str | None = None,
           max_items: int = v.DEFAULT_MAX_ITEMS, show_updates: bool = False
           ) -> graphviz.Digraph:
    """The picture of `target` as a graphviz.Digraph (its DOT text is `.source`).

    target: a gc.Graph (every node), a tensor or list of tensors (them and everything
        they depend on: pass `[loss, train_op]` for a whole train step), or a Program.
    collapse_depth: name scopes nested deeper than this are drawn as one box with op
        counts; 0 collapses every top-level scope, None never collapses, "auto" (the
        default) opens scopes, outermost and smallest first, while the picture keeps
        within `max_items` boxes.
    show_backward: False replaces the backward graph by one box (fetched gradients
        are still drawn).
    show_updates: let "auto" open each layer's optimizer update (by default one box
        per layer: its slot variables and update ops).
    kernels: node -> kernel id, or the fusion pass's kernel graph; each kernel is
        framed as a cluster of its member ops. A fused Program's own kernels by default.
    backward_up: lay the backward pass out climbing back up beside the forward pass
        (False: below the loss, in creation order).
    values: node -> array, e.g. from `sess.run`; small values are printed in the
        label, larger ones as their norm.
    notes: node -> extra label line(s), e.g. {dx: "df/dx"}.
    legend: add a legend explaining the shapes and edge styles used.
    """
    view = v.build_view(target, collapse_depth, show_backward, kernels, max_items,
                        show_updates)
    extra = {node: [text] if isinstance(text, str) else list(text)
             for node, text in (notes or {}).items()}
    return emit(view, values=values, rankdir=rankdir, legend=legend, title=title,
                backward_up=backward_up, extra_lines=extra)


def emit(view: v.View, *, values: Mapping[Node, object] | None = None, rankdir: str = "TB",
         legend: bool = False, title: str | None = None, backward_up: bool = True,
         extra_lines: Mapping[Node, list[str]] | None = None,
         extra_attrs: Mapping[Node, dict] | None = None,
         hidden_edges: bool = True) -> graphviz.Digraph:
    """Turn a view into DOT. `extra_lines` / `extra_attrs` (keyed by the IR node a box
    stands for) let other views, such as the gradient flow, annotate boxes;
    `hidden_edges=False` leaves out the edges out of the hidden backward box."""
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"rankdir must be TB, LR, BT or RL, got {rankdir!r}")
    use_renderer_for_graphviz_package()       # so Digraph.render and notebooks work too
    graph_attrs = dict(GRAPH_ATTRS, rankdir=rankdir)
    if title:
        graph_attrs.update(label=style.plain(title), labelloc="t", fontsize="14")
    dot = graphviz.Digraph("graphc", graph_attr=graph_attrs, node_attr=NODE_ATTRS,
                           edge_attr=EDGE_ATTRS)
    emitter = _Emitter(values, extra_lines or {}, extra_attrs or {}, v.boundary(view))
    for item in view.top_items:
        emitter.item(dot, item)
    for cluster in view.roots:
        emitter.cluster(dot, cluster)
    hubs = _hubs(view)
    for edge in view.edges:
        if edge.src.kind == v.HIDDEN and not hidden_edges:
            continue
        attrs = style.edge_attrs(edge)
        if edge.dst in hubs or edge.src.kind == v.HIDDEN or _ranks_update_by_state(view, edge):
            attrs["constraint"] = "false"
        if backward_up and edge.kind == v.GRADIENT and edge.dst.backward:
            # laid out head-first, drawn pointing the right way: the backward pass then
            # climbs back up beside the forward pass instead of hanging below the loss
            dot.edge(edge.dst.key, edge.src.key, dir="back", **attrs)
        else:
            dot.edge(edge.src.key, edge.dst.key, **attrs)
    if legend:
        draw_legend(dot, view)
    return dot


class _Emitter:
    def __init__(self, values, extra_lines, extra_attrs, io):
        self.values = values
        self.io = io
        self.extra_lines = extra_lines
        self.extra_attrs = extra_attrs

    def item(self, graph: graphviz.Digraph, item: v.Item) -> None:
        lines = style.label_lines(item, self.values, self.io.get(item))
        attrs = style.node_attrs(item)
        if item.kind not in (v.SCOPE, v.HIDDEN):
            lines += self.extra_lines.get(item.node, [])
            attrs.update(self.extra_attrs.get(item.node, {}))
        graph.node(item.key, label=style.plain(*lines), tooltip=style.tooltip(item), **attrs)

    def cluster(self, graph: graphviz.Digraph, cluster: v.Cluster) -> None:
        with graph.subgraph(name=cluster.key) as sub:
            sub.attr(**style.cluster_attrs(cluster))
            for item in cluster.items:
                self.item(sub, item)
            for child in cluster.children:
                self.cluster(sub, child)


def _ranks_update_by_state(view: v.View, edge: v.Edge) -> bool:
    """An edge into a layer's update box from anything but a gradient (an optimizer's
    shared step state, such as Adam's β powers): left out of the ranking, so each update
    box sits beside its layer's gradient instead of all in one row below the state."""
    return edge.kind != v.GRADIENT and view.is_update_box(edge.dst) \
        and not view.is_update_box(edge.src)


def _hubs(view: v.View) -> set[v.Item]:
    """Boxes with so many inputs (an optimizer scope collapsed into one box) that laying
    them out below every input would stretch the picture; their inputs do not rank."""
    fan_in: dict[v.Item, int] = {}
    for edge in view.edges:
        fan_in[edge.dst] = fan_in.get(edge.dst, 0) + 1
    return {item for item, n in fan_in.items() if n > HUB_FAN_IN}


def render(target, path, **options) -> Path:
    """Draw `target` (anything `to_dot` takes, or a Digraph already made) to `path`.

    The format comes from the extension: .svg, .png, .pdf, .dot/.gv for DOT text, or
    .html for an interactive page (html.py; it also takes `history=` for the gradient
    flow over training).
    The file is written whole or not at all. Raises RenderError, naming the fix, when
    no installed renderer writes that format.
    """
    path = Path(path)
    if path.suffix.lower() == ".html":
        from .html import render_html
        return render_html(target, path, **options)
    fmt = format_for(path)
    if isinstance(target, graphviz.Digraph | graphviz.Graph | graphviz.Source):
        if options:
            raise TypeError(f"render: options {sorted(options)} apply only when drawing a "
                            "graph, not a Digraph already made")
        source = target.source
    else:
        source = to_dot(target, **options).source
    write_atomic(path, render_source(source, fmt))
    return path
