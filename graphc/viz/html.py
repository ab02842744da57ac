"""`render(..., "graph.html")`: one self-contained page to explore a graph in a browser.

The page holds everything inline (SVG pictures, their node data as JSON, the viewer's
own small script and style sheet): no server, no network. Graphviz lays the pictures
out here, in Python, so the browser only shows them:

- the picture at three levels of detail (every top-level frame shut, the default
  picture, every frame open); clicking a collapsed box opens the next level at that
  frame, "collapse" goes back — expanding and collapsing scopes without a layout engine
  in the page;
- for each box, what clicking it shows: op, dtype and shape, the user's source line,
  for a backward node the forward node it differentiates, for a collapsed box its ops;
- with `history=` (from `gc.train.fit(..., record_gradients=k)`): the gradient-flow
  picture and a slider over the recorded steps that recolours each gradient edge and
  rewrites each variable's norms, so vanishing or exploding over training shows.
"""
from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path

from ..ir import Node
from . import gradflow, style
from . import view as v
from .drawing import emit
from .renderers import render_source, write_atomic

LEVELS = (("overview", 0), ("default", v.AUTO), ("everything", None))
MEMBERS_SHOWN = 40


def render_html(target, path: Path, *, history=None, title: str | None = None,
                **options) -> Path:
    """Write the interactive page for `target` (anything `to_dot` draws) to `path`.

    options: those of `to_dot` except collapse_depth (the page holds every level).
    history: a `gc.train.History` with recorded gradient norms adds the flow view.
    """
    if "collapse_depth" in options:
        raise TypeError("render to .html: the page holds every level of detail; "
                        "collapse_depth applies to .svg/.png/.pdf/.dot")
    pictures = _levels(target, title, options)
    if history is not None:
        pictures.append(_flow_picture(target, history))
    page = _page(title or "graphc graph", pictures)
    write_atomic(path, page.encode("utf-8"))
    return path


def _levels(target, title, options) -> list[dict]:
    """The graph at each level of detail, leaving out a level that draws the same."""
    pictures, seen = [], set()
    draw = {k: options.pop(k) for k in ("values", "notes", "legend", "rankdir",
                                         "backward_up") if k in options}
    notes = draw.pop("notes", None) or {}
    extra = {n: [t] if isinstance(t, str) else list(t) for n, t in notes.items()}
    for name, depth in LEVELS:
        view = v.build_view(target, depth, **options)
        dot = emit(view, title=title, extra_lines=extra, **draw)
        if dot.source in seen:
            continue
        seen.add(dot.source)
        pictures.append(_picture(name, view, dot.source))
    return pictures


def _picture(name: str, view: v.View, source: str, flow=None) -> dict:
    svg = render_source(source, "svg").decode("utf-8")
    return {"name": name, "svg": svg[svg.index("<svg"):], "items": item_data(view),
            "frames": {c.key: c.path for c in view.clusters if c.kind == "scope"},
            "flow": flow}


def item_data(view: v.View) -> dict[str, dict]:
    """What the page shows when a box is clicked, by the box's DOT name."""
    return {item.key: _describe(item) for item in view.items}


def _describe(item: v.Item) -> dict:
    if item.kind in (v.SCOPE, v.HIDDEN):
        names = [n.name for n in item.nodes]
        return {"title": (item.scope + "/") if item.scope else "backward graph",
                "kind": item.kind, "scope": item.scope,
                "rows": [["ops", str(len(names))],
                         ["op counts", style.label_lines(item)[1].split(": ", 1)[-1]]],
                "members": names[:MEMBERS_SHOWN], "more": max(0, len(names) - MEMBERS_SHOWN)}
    node = item.node
    rows = [["op", node.op.name], ["dtype", node.dtype.name],
            ["shape", style.type_text(node)],
            ["source", str(node.location) if node.location else "(graphc)"]]
    if node.grad_of is not None:
        rows.append(["forward node", node.grad_of.forward.name])
        rows.append(["gradient", style.grad_text(node)])
    if node.inputs:
        rows.append(["inputs", ", ".join(x.name for x in node.inputs)])
    return {"title": node.name, "kind": item.kind, "rows": rows}


def _flow_picture(target, history) -> dict:
    """The gradient flow at the last recorded step, with every step's numbers."""
    record = getattr(history, "gradients", None)
    if not record:
        raise ValueError("render to .html: history has no recorded gradient norms; train "
                         "with gc.train.fit(..., record_gradients=k)")
    graph = _graph_of(target)
    loss = graph.get_tensor_by_name(record.loss)
    wrt, grads = gradflow.flow_gradients(loss, [graph.get_tensor_by_name(n)
                                                for n in record.grad_norms])
    steps = [_stats(record, i) for i in range(len(record.steps))]
    view = gradflow.flow_view(loss, wrt, grads)
    losses = history.step_loss
    last = record.steps[-1]
    loss_value = losses[last - 1] if len(losses) >= last else float("nan")
    dot = gradflow.draw_flow(view, loss, wrt, grads, steps[-1], loss_value,
                             title=f"gradient flow of {loss.name}")
    flow = {"steps": record.steps, "loss_node": view.item_of[loss].key, "loss": [losses[s - 1] if s <= len(losses) else None
                                            for s in record.steps],
            "tensors": [_flow_tensor(view, x, g, [s[x.name] for s in steps])
                        for x, g in zip(wrt, grads) if g is not None]}
    return _picture("gradient flow", view, dot.source, flow)


def _stats(record, i: int) -> dict:
    return {name: gradflow.from_norms(name, record.grad_norms[name][i],
                                      record.weight_norms[name][i])
            for name in record.grad_norms}


def _flow_tensor(view: v.View, x: Node, g: Node, stats: list) -> dict:
    t = gradflow.Thresholds()
    return {"name": x.name, "node": view.item_of[x].key, "grad": view.item_of[g].key,
            "colour": [gradflow.scale_colour(gradflow.scale_position(s, t)) for s in stats],
            "lines": [gradflow.annotation(s) for s in stats],
            "edge": [gradflow.edge_label(s) for s in stats],
            "status": [s.status for s in stats]}


def _graph_of(target):
    graph, _, _ = v.select_nodes(target)
    return graph


def _page(title: str, pictures: list[dict]) -> str:
    assets = resources.files(__package__) / "assets"
    script = (assets / "viewer.js").read_text(encoding="utf-8")
    css = (assets / "viewer.css").read_text(encoding="utf-8")
    data = json.dumps({"title": title, "pictures": pictures}, ensure_ascii=False)
    data = data.replace("</", "<\\/")           # never closes the script element early
    return PAGE.format(title=html.escape(title), css=css, data=data, script=script)


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
{css}
</style>
</head>
<body>
<header>
  <strong>{title}</strong>
  <span id="tabs"></span>
  <span id="slider-box" hidden>step <input id="slider" type="range" min="0" value="0">
    <output id="step"></output></span>
  <button id="collapse" hidden>collapse</button>
  <button id="fit">fit</button>
</header>
<main>
  <div id="canvas"><div id="stage"></div></div>
  <aside id="details"><p class="hint">Click a box to see its op, shape, dtype and
  source line. Wheel: zoom. Drag: pan. Click a folder box to open it.</p></aside>
</main>
<script id="graphc-data" type="application/json">{data}</script>
<script>
{script}
</script>
</body>
</html>
"""
