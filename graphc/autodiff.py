"""Symbolic reverse-mode differentiation: gradients are new nodes in the same graph.

Algorithm:
1. Find the nodes on a path from some x in `xs` to some y in `ys` (forward reach of xs
   intersected with backward reach of ys, following data edges only).
2. Seed each y with grad_ys (default ones_like(y)).
3. Walk those nodes in reverse creation order (a topological order). For each node with
   an incoming gradient, sum its partial gradients (add_n, once), ask its op's rule
   for the gradients of its inputs, and reduce each one back to its input's shape
   (`sum_like`) when the op broadcast that input.
4. Every node made while differentiating node n is tagged `grad_of=GradInfo(n)` and
   named under `gradients/`, so passes and the visualiser can tell backward from
   forward. Rules are written in graph ops, so `gradients` of a gradient works.
"""
from __future__ import annotations

from typing import Sequence

from .ir import GradInfo, Node, user_location
from .ops import add_n, as_tensor, ones_like, sum_like


def gradients(ys, xs, grad_ys=None, name: str = "gradients") -> list[Node | None]:
    """d(sum of ys)/d(each x); None for an x that ys do not depend on (TF1 behaviour)."""
    ys = _as_list(ys)
    xs_list = _as_list(xs)
    if not ys or not xs_list:
        raise ValueError("gradients needs at least one y and one x")
    graph = ys[0].graph
    for t in ys + xs_list:
        if not isinstance(t, Node) or t.graph is not graph:
            raise ValueError(f"gradients: {t!r} is not a tensor of the graph of '{ys[0].name}'")
    grad_ys = [None] * len(ys) if grad_ys is None else _as_list(grad_ys)
    if len(grad_ys) != len(ys):
        raise ValueError(f"gradients: {len(grad_ys)} grad_ys for {len(ys)} ys")

    on_path = _between(graph, xs_list, ys)
    location = user_location()
    partials: dict[Node, list[Node]] = {}
    with graph.name_scope(name):
        for y, gy in zip(ys, grad_ys):
            if not y.dtype.is_floating:
                continue
            if gy is None:
                with graph.gradient_context(y, location):
                    gy = ones_like(y, name=f"{_base(y)}_seed")
            partials.setdefault(y, []).append(as_tensor(gy, dtype=y.dtype))
        for node in reversed(graph.nodes[: max(n.id for n in ys) + 1]):
            if node.id not in on_path or node not in partials:
                continue
            if not any(x.id in on_path and x.dtype.is_floating for x in node.inputs):
                continue
            with graph.gradient_context(node, location), graph.name_scope(f"{_base(node)}_grad"):
                gy = _total(partials[node])
                partials[node] = [gy]
                input_grads = node.op.grad(node, gy)
                if len(input_grads) != len(node.inputs):
                    raise RuntimeError(f"{node.op.name}.grad returned {len(input_grads)} "
                                       f"gradients for {len(node.inputs)} inputs")
                for i, (x, gx) in enumerate(zip(node.inputs, input_grads)):
                    if gx is None or x.id not in on_path or not x.dtype.is_floating:
                        continue
                    gx = _unbroadcast(gx, x, node)
                    if gx.grad_of is not None and gx.grad_of.forward is node:
                        gx.grad_of = GradInfo(node, i)
                    partials.setdefault(x, []).append(gx)

        results = []
        for x in xs_list:
            if x not in partials or not x.dtype.is_floating:
                results.append(None)
                continue
            with graph.gradient_context(x, location):
                results.append(_total(partials[x]))
            partials[x] = [results[-1]]
    return results


def _as_list(v) -> list:
    return list(v) if isinstance(v, list | tuple) else [v]


def _base(node: Node) -> str:
    return node.name.rsplit("/", 1)[-1]


def _total(parts: Sequence[Node]) -> Node:
    return parts[0] if len(parts) == 1 else add_n(list(parts))


def _unbroadcast(gx: Node, x: Node, node: Node) -> Node:
    """Sum a gradient over the axes along which a broadcasting op stretched x.

    Only broadcasting ops can hand back a gradient larger than their input. Their
    gradient is left alone when x alone fixes the result's shape: same static shape
    as the result, and every unknown dim of x faces only 1s or nothing in the other
    inputs. Otherwise `sum_like` decides at run time, when sizes are known.
    """
    if not node.op.broadcasts:
        return gx
    if gx.shape != x.shape:
        return sum_like(gx, x)
    for other in node.inputs:
        offset = x.rank - other.rank   # >= 0: gx, shaped like x, has the result's rank
        for i, d in enumerate(x.shape):
            if d is None and other is not x and i >= offset and other.shape[i - offset] != 1:
                return sum_like(gx, x)
    return gx


def _between(graph, xs: list[Node], ys: list[Node]) -> set[int]:
    """Ids of nodes on a data path from some x to some y (both ends included)."""
    reaches_y: set[int] = set()
    stack = list(ys)
    while stack:
        n = stack.pop()
        if n.id in reaches_y:
            continue
        reaches_y.add(n.id)
        stack.extend(n.inputs)
    from_x = {x.id for x in xs}
    lo = min(from_x)
    for n in graph.nodes[lo:]:
        if n.id in reaches_y and any(i.id in from_x for i in n.inputs):
            from_x.add(n.id)
    return from_x & reaches_y
