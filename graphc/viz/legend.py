"""Legends: one compact table box explaining what a picture's styles mean.

A table (a Graphviz HTML-like label) rather than sample nodes and edges, so the legend
takes one box's room however many entries it has, in both `dot` and graphviz-pure.
Edge styles are shown as coloured ASCII arrows, which every renderer measures right.
"""
from __future__ import annotations

import html

from . import style
from . import view as v

# how each edge kind reads in a legend row: the arrow drawn in the edge's colour
EDGE_SAMPLE = {
    v.DATA: "------>",
    v.GRADIENT: "======>",
    v.SAVED: "- - - ->",
    v.WRITE: "<- - - -",
    v.CONTROL: "......o",
}


def table(title: str, rows: list[tuple[str, str, str]]) -> str:
    """An HTML-like label: a title row, then (swatch fill, swatch text, meaning) rows.

    A swatch text starting with '#' is drawn as text in that colour on the fill (used
    for edge arrows); otherwise the fill is a colour chip with the text inside.
    """
    out = ['<<table border="0" cellborder="0" cellspacing="2" cellpadding="2">',
           f'<tr><td colspan="2" align="left"><b>{html.escape(title)}</b></td></tr>']
    for fill, sample, meaning in rows:
        if not sample:
            chip = "<td></td>"
        elif sample.startswith("#"):
            colour, text = sample[:7], sample[7:]
            chip = (f'<td align="center" bgcolor="{fill}"><font color="{colour}">'
                    f'<b>{html.escape(text)}</b></font></td>')
        else:
            chip = (f'<td align="center" bgcolor="{fill}" border="1" color="#718096">'
                    f'{html.escape(sample)}</td>')
        out.append(f'<tr>{chip}<td align="left">{html.escape(meaning)}</td></tr>')
    out.append("</table>>")
    return "".join(out)


def view_rows(view: v.View) -> list[tuple[str, str, str]]:
    """Legend rows for the box and edge kinds that appear in `view`."""
    rows = []
    for kind, meaning in style.KIND_MEANING.items():
        if any(i.kind == kind and (kind == v.HIDDEN or not i.backward) for i in view.items):
            rows.append((style.NODE_STYLE[kind]["fillcolor"], _shape_word(kind), meaning))
    if any(i.backward and i.kind != v.HIDDEN for i in view.items):
        rows.append((style.BACKWARD_FILL, "rounded box",
                     "made by the backward pass; says which forward node it differentiates"))
    for kind in v.EDGE_PRIORITY:
        if any(e.kind == kind for e in view.edges):
            colour = style.EDGE_STYLE[kind]["color"]
            rows.append(("#ffffff", colour + EDGE_SAMPLE[kind], style.EDGE_MEANING[kind]))
    if any(e.count > 1 for e in view.edges):
        rows.append(("#ffffff", "×n", "n edges merged into one"))
    if any(c.kind == "kernel" for c in view.clusters):
        rows.append((style.KERNEL_CLUSTER_STYLE["fillcolor"], "dashed frame",
                     "one kernel: the ops it computes"))
    return rows


def _shape_word(kind: str) -> str:
    shape = style.NODE_STYLE[kind]["shape"]
    return {"invhouse": "pentagon", "ellipse": "ellipse", "octagon": "octagon",
            "folder": "folder"}.get(shape, "box")


def draw_legend(dot, view: v.View, title: str = "legend") -> None:
    """Add the legend box for `view` to `dot` (nothing when the picture is empty)."""
    rows = view_rows(view)
    if rows:
        dot.node("legend", label=table(title, rows), shape="plaintext", margin="0")
