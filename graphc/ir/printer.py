"""Readable text form of a graph: one SSA-style line per node.

    %dense/matmul = matmul(%x, %dense/W) : f32[?,256]  # model.py:14
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from .node import Node


def format_attr(value) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= 4:
            return np.array2string(value, separator=",").replace("\n", "")
        return f"<{value.dtype}{list(value.shape)}>"
    if hasattr(value, "name") and hasattr(value, "short"):
        return value.name
    return repr(value)


def format_node(node: Node, locations: bool = True) -> str:
    args = ", ".join(f"%{x.name}" for x in node.inputs)
    shown = node.op.printed_attrs(node.attrs)
    attrs = ", ".join(f"{k}={format_attr(v)}" for k, v in shown.items())
    text = f"%{node.name} = {node.op.name}({args})"
    if attrs:
        text += f" {{{attrs}}}"
    if node.control_inputs:
        text += " after " + ", ".join(f"%{c.name}" for c in node.control_inputs)
    text += f" : {node.type}"
    notes = []
    if node.location and locations:
        notes.append(str(node.location))
    if node.grad_of is not None:
        which = "" if node.grad_of.input_index is None else f"[{node.grad_of.input_index}]"
        notes.append(f"grad of %{node.grad_of.forward.name}{which}")
    if notes:
        text += "  # " + "; ".join(notes)
    return text


def format_graph(nodes: Iterable[Node], locations: bool = True) -> str:
    return "\n".join(format_node(n, locations) for n in nodes)
