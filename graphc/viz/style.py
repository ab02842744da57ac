"""How each kind of box, edge and frame looks, and what its label says.

One table per element so the picture's visual language is defined in one place and
the legend can be drawn from the same table it explains. Forward ops are white
ellipses; everything the backward pass made is a rounded red box whose label says which
forward node it differentiates; edges that carry backward values are red and thicker.
"""
from __future__ import annotations

from collections import Counter
from typing import Mapping

import graphviz
import numpy as np

from ..ir import Node
from ..ir.types import format_shape
from . import view as v

FONT = "Helvetica"
BACKWARD_FILL = "#fde2e0"
BACKWARD_LINE = "#c53030"

NODE_STYLE = {
    v.PLACEHOLDER: {"shape": "invhouse", "style": "filled", "fillcolor": "#d6eaff",
                    "color": "#2b6cb0"},
    v.VARIABLE: {"shape": "box", "style": "filled,bold", "fillcolor": "#fff1b8",
                 "color": "#b7791f"},
    v.CONSTANT: {"shape": "box", "style": "filled", "fillcolor": "#eeeeee",
                 "color": "#999999", "fontsize": "9"},
    v.OP: {"shape": "ellipse", "style": "filled", "fillcolor": "#ffffff", "color": "#333333"},
    v.UPDATE: {"shape": "box", "style": "filled", "fillcolor": "#e9d8fd", "color": "#6b46c1"},
    v.GROUP: {"shape": "octagon", "style": "filled", "fillcolor": "#e9d8fd",
              "color": "#6b46c1"},
    v.SCOPE: {"shape": "folder", "style": "filled", "fillcolor": "#edf2f7",
              "color": "#4a5568"},
    v.HIDDEN: {"shape": "folder", "style": "filled,dashed", "fillcolor": BACKWARD_FILL,
               "color": BACKWARD_LINE, "fontcolor": "#742a2a"},
}

# what changes when the box holds backward nodes only: the colour always, and the
# shape of plain ops (ellipse -> rounded box) so the difference survives greyscale
BACKWARD_STYLE = {"fillcolor": BACKWARD_FILL, "color": BACKWARD_LINE, "fontcolor": "#742a2a"}
BACKWARD_OP_STYLE = {"shape": "box", "style": "rounded,filled"}

EDGE_STYLE = {
    v.DATA: {"color": "#4a5568"},
    v.GRADIENT: {"color": "#e53e3e", "penwidth": "2"},
    v.SAVED: {"color": "#a0aec0", "style": "dashed"},
    v.WRITE: {"color": "#6b46c1", "style": "dashed", "arrowhead": "empty",
              "constraint": "false"},
    v.CONTROL: {"color": "#a0aec0", "style": "dotted", "arrowhead": "odot"},
}

EDGE_MEANING = {
    v.DATA: "forward value",
    v.GRADIENT: "gradient (backward value)",
    v.SAVED: "forward value read by backward",
    v.WRITE: "update writes the variable",
    v.CONTROL: "runs after (control)",
}

KIND_MEANING = {
    v.PLACEHOLDER: "placeholder (fed)",
    v.VARIABLE: "variable",
    v.CONSTANT: "constant",
    v.OP: "forward op",
    v.UPDATE: "variable update",
    v.GROUP: "group (no_op)",
    v.SCOPE: "collapsed scope",
    v.HIDDEN: "hidden backward graph",
}

SCOPE_CLUSTER_STYLE = {"style": "rounded,filled", "fillcolor": "#f7fafc", "color": "#cbd5e0",
                       "labeljust": "l", "fontcolor": "#2d3748", "fontsize": "11"}
BACKWARD_CLUSTER_STYLE = {"style": "rounded,filled", "fillcolor": "#fff8f7",
                          "color": "#feb2b2", "labeljust": "l", "fontcolor": "#9b2c2c",
                          "fontsize": "11"}
KERNEL_CLUSTER_STYLE = {"style": "dashed,bold,filled", "fillcolor": "#faf5ff",
                        "color": "#805ad5", "labeljust": "l", "fontcolor": "#553c9a",
                        "fontsize": "10"}

def node_attrs(item: v.Item) -> dict[str, str]:
    attrs = dict(NODE_STYLE[item.kind])
    if item.kind != v.HIDDEN and item.backward:
        attrs.update(BACKWARD_STYLE)
        if item.kind in (v.OP, v.UPDATE):
            attrs.update(BACKWARD_OP_STYLE)
    return attrs


def edge_attrs(edge: v.Edge) -> dict[str, str]:
    attrs = dict(EDGE_STYLE[edge.kind])
    if edge.count > 1:
        attrs["xlabel"] = f"×{edge.count}"      # placed after layout: takes no room
        attrs["fontsize"] = "8"
        attrs["fontcolor"] = attrs["color"]
    return attrs


def cluster_attrs(cluster: v.Cluster) -> dict[str, str]:
    if cluster.kind == "kernel":
        attrs = dict(KERNEL_CLUSTER_STYLE)
        count = len(cluster.nodes)
        attrs["label"] = plain(f"kernel {cluster.path} · {count} op" +
                               ("" if count == 1 else "s"))
        return attrs
    nodes = cluster.nodes
    backward = bool(nodes) and all(n.grad_of is not None for n in nodes)
    attrs = dict(BACKWARD_CLUSTER_STYLE if backward else SCOPE_CLUSTER_STYLE)
    attrs["label"] = plain(cluster.path.rsplit("/", 1)[-1] + "/")
    attrs["tooltip"] = plain(f"name scope {cluster.path}/ ({len(nodes)} nodes drawn)")
    return attrs


# -- labels ---------------------------------------------------------------------------------
def plain(*lines: str) -> str:
    """Lines of literal text as one DOT label: backslashes doubled (DOT reads `\\n`,
    `\\l`, a trailing backslash as escapes) and never taken for an HTML-like label
    (text such as `<b>x</b>`), joined by DOT's centred line break."""
    return graphviz.nohtml("\\n".join(line.replace("\\", "\\\\") for line in lines))


def short(node: Node) -> str:
    return node.name.rsplit("/", 1)[-1]


def type_text(node: Node) -> str:
    return f"{node.dtype.short}[{format_shape(node.shape)}]"


def label_lines(item: v.Item, values: Mapping[Node, object] | None = None,
                io=None) -> list[str]:
    """The lines of a box's label (joined by the emitter); `io`, for a collapsed frame,
    the values crossing its border (view.boundary)."""
    if item.kind == v.SCOPE:
        return _scope_lines(item, io)
    if item.kind == v.HIDDEN:
        return ["backward graph", f"{len(item.nodes)} ops hidden",
                "(show_backward=True draws them)"]
    node = item.node
    lines = _node_lines(item.kind, node)
    if node.grad_of is not None:
        lines.append(grad_text(node))
    if values is not None and node in values and not _value_in_name_line(item.kind, node):
        lines.append(value_text(values[node]))
    return lines


def _node_lines(kind: str, node: Node) -> list[str]:
    name = short(node)
    if kind == v.CONSTANT:
        value = node.attrs.get("value")
        if isinstance(value, np.ndarray) and value.size == 1:
            return [f"{name} = {_number(value.reshape(-1)[0])}", type_text(node)]
        return [name, f"constant {type_text(node)}"]
    if kind == v.UPDATE:
        return [name, f"{node.op.name} → {short(node.inputs[0])}"]
    if kind == v.GROUP:
        return [name]
    if kind in (v.PLACEHOLDER, v.VARIABLE):
        if "slot_of" in node.attrs:                # an optimizer's state, not the model's
            optimizer, slot = node.attrs["slot_of"]
            return [name, f"{optimizer} {slot} {type_text(node)}"]
        trainable = node.attrs.get("trainable", True)
        return [name, f"{kind} {type_text(node)}" + ("" if trainable else " (frozen)")]
    op_line = f"{node.op.name} {type_text(node)}"
    if node.auto_named:
        return [op_line]
    return [name, op_line]


def _value_in_name_line(kind: str, node: Node) -> bool:
    """A scalar constant already shows its value: 'Const = 2'."""
    value = node.attrs.get("value")
    return kind == v.CONSTANT and isinstance(value, np.ndarray) and value.size == 1


def grad_text(node: Node) -> str:
    """Which forward node a backward node differentiates, in words: the forward node by
    its full name (scopes tell layers apart), the input by its name inside that scope."""
    info = node.grad_of
    forward = info.forward.name
    if info.input_index is None:
        return f"backward of {forward}"
    target = info.forward.inputs[info.input_index]
    return f"∂/∂{relative_name(target, info.forward)} via {forward}"


def relative_name(node: Node, anchor: Node) -> str:
    """`node`'s name without the scopes it shares with `anchor`."""
    scope = anchor.name.rsplit("/", 1)[0] + "/" if "/" in anchor.name else ""
    return node.name[len(scope):] if scope and node.name.startswith(scope) else node.name


def _scope_lines(item: v.Item, io=None) -> list[str]:
    """A collapsed frame: its name, its op counts, then what it is: a layer's shapes and
    variables, the layer a backward frame differentiates, the variables an update sets.
    `io`: the (inputs, outputs) crossing its border (view.boundary)."""
    ops = Counter(n.op.name for n in item.nodes)
    common = ops.most_common(3)
    parts = [name if count == 1 else f"{name}×{count}" for name, count in common]
    if len(ops) > len(common):
        parts.append("…")
    count = f"{len(item.nodes)} op" + ("" if len(item.nodes) == 1 else "s")
    lines = [item.scope.rsplit("/", 1)[-1] + "/", f"{count}: {', '.join(parts)}"]
    members = set(item.nodes)
    updated = [n.inputs[0] for n in item.nodes if n.op.name in v.UPDATE_OPS
               and n.inputs[0] not in members and "slot_of" not in n.inputs[0].attrs]
    if item.backward:
        lines += _backward_lines(item)
    elif updated:                   # an optimizer's update of a layer drawn elsewhere
        lines.append("updates " + _names([n.name for n in updated], 4))
    elif io is not None:
        lines += _layer_lines(item, *io)
    return lines


def _backward_lines(item: v.Item) -> list[str]:
    forwards = {n.grad_of.forward for n in item.nodes if n.grad_of is not None}
    if len(forwards) == 1:
        return [f"backward of {forwards.pop().name}"]
    layers = {f.name.rsplit("/", 1)[0] for f in forwards if "/" in f.name}
    if len(layers) == 1 and all("/" in f.name for f in forwards):
        return [f"backward of {layers.pop()}/"]
    return []


def _layer_lines(item: v.Item, inputs: list[Node], outputs: list[Node]) -> list[str]:
    """`f32[?,784] → f32[?,256]` and the layer's variables with their shapes."""
    lines = []
    if inputs or outputs:
        lines.append(f"{_types(inputs)} → {_types(outputs)}")
    variables = [n for n in item.nodes if n.op.name == "variable"]
    if variables:
        shown = [f"{short(n)} {type_text(n)}" for n in variables[:3]]
        more = f" +{len(variables) - 3}" if len(variables) > 3 else ""
        lines.append(", ".join(shown) + more)
    return lines


def _types(nodes: list[Node]) -> str:
    if not nodes:
        return "·"
    text = ", ".join(type_text(n) for n in nodes[:2])
    return text + (f" +{len(nodes) - 2}" if len(nodes) > 2 else "")


def _names(names: list[str], limit: int) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" +{len(names) - limit}" if len(names) > limit else "")


def value_text(value) -> str:
    """A value as a label line: the number itself when small, else its norm."""
    if value is None:
        return "= (no value)"
    array = np.asarray(value)
    if array.size <= 4:
        flat = ", ".join(_number(x) for x in array.reshape(-1))
        return f"= {flat}" if array.ndim == 0 else f"= [{flat}]"
    norm = float(np.linalg.norm(array.astype(np.float64).reshape(-1)))
    return f"‖·‖ = {_number(norm)}"


def _number(x) -> str:
    if isinstance(x, np.bool_ | bool):
        return str(bool(x))
    return f"{float(x):.4g}"


def tooltip(item: v.Item) -> str:
    """Hover text in SVG output: full names, types and source lines."""
    return plain(_tooltip_text(item))


def _tooltip_text(item: v.Item) -> str:
    if item.kind in (v.SCOPE, v.HIDDEN):
        names = ", ".join(n.name for n in item.nodes[:12])
        more = f" and {len(item.nodes) - 12} more" if len(item.nodes) > 12 else ""
        return f"{len(item.nodes)} nodes: {names}{more}"
    node = item.node
    text = f"{node.name} = {node.op.name} : {node.type}"
    if node.location:
        text += f" ({node.location})"
    if node.grad_of is not None:
        text += f"; grad of {node.grad_of.forward.name}"
    return text
