"""Where each node is drawn: the path of frames it sits in.

A node's frames are its name scopes, except where the scopes split what a reader sees
as one thing:

- a backward node sits under its gradients scope in a frame named after the *layer* it
  differentiates (`gradients/dense_3/matmul_grad_3/...` for the gradient of
  `dense_3/matmul`), so a deep net's backward pass folds into one box per layer instead
  of one frame per differentiated op;
- an optimizer's update of a variable (`Momentum/update_dense_3_kernel/...`) and the
  optimizer's slot variables for it sit in one frame per layer,
  `Momentum/update_dense_3/update_dense_3_kernel/...`, which pictures draw as one box
  unless asked for the updates (`show_updates=True`).

The IR keeps its names; only the picture's frames change (tooltips and the HTML view
show each node's full name).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..ir import Node

UPDATE_OPS = frozenset({"assign", "assign_add", "assign_sub"})
GRAD_SCOPE = re.compile(r".+_grad(_\d+)?$")
UPDATE_PREFIX = "update_"


@dataclass(frozen=True)
class Placement:
    """The frames of each node, and which frames hold one layer's optimizer updates."""

    path: dict[Node, tuple[str, ...]]
    update_frames: frozenset[tuple[str, ...]]


def scope_of(node: Node) -> tuple[str, ...]:
    """The name scopes a node sits in, outermost first ('a/b/mul' -> ('a', 'b'))."""
    return tuple(node.name.split("/")[:-1])


def place(nodes: list[Node]) -> Placement:
    """Frames for `nodes` (in topological order): layers for backward and update nodes."""
    updates = _UpdateScopes(nodes)
    path: dict[Node, tuple[str, ...]] = {}
    for node in nodes:
        scope = scope_of(node)
        moved = updates.path(node, scope)
        if moved is not None:
            scope = moved
        elif node.grad_of is not None and node.grad_of.forward.grad_of is None:
            scope = _in_layer_gradients(scope, scope_of(node.grad_of.forward))
        path[node] = scope
    return Placement(path, frozenset(updates.frames.values()))


class _UpdateScopes:
    """The optimizers' update scopes, found by their convention: a scope named
    `update_<variable>` holding an assign to that (model) variable."""

    def __init__(self, nodes: list[Node]):
        self.variable: dict[tuple, Node] = {}       # update scope -> variable it updates
        for node in nodes:
            if node.op.name in UPDATE_OPS:
                target, scope = node.inputs[0], scope_of(node)
                if "slot_of" not in target.attrs and scope and \
                        scope[-1] == UPDATE_PREFIX + flat_name(target.name):
                    self.variable[scope] = target
        self.frames = {scope: scope[:-1] + (UPDATE_PREFIX + _layer_name(var),)
                       for scope, var in self.variable.items()}
        self.slot_scope: dict[Node, tuple] = {}      # slot variable -> update scope
        for node in nodes:
            if node.op.name in UPDATE_OPS and "slot_of" in node.inputs[0].attrs:
                scope = self._update_scope(scope_of(node))
                if scope is not None:
                    self.slot_scope.setdefault(node.inputs[0], scope)

    def path(self, node: Node, scope: tuple) -> tuple | None:
        """The node's frames when it belongs to a variable's update (a node in the
        update scope, or a slot variable the update writes): under its layer's frame."""
        update = self._update_scope(scope)
        rest = scope[len(update):] if update is not None else ()
        if update is None:
            update = self.slot_scope.get(node)
        if update is None:
            return None
        frame = self.frames[update]
        inner = () if frame[-1] == update[-1] else (update[-1],)
        return frame + inner + rest

    def _update_scope(self, scope: tuple) -> tuple | None:
        for k in range(len(scope), 0, -1):
            if scope[:k] in self.variable:
                return scope[:k]
        return None


def flat_name(name: str) -> str:
    """A name as one scope name (conv1/kernel -> conv1_kernel)."""
    return name.replace("/", "_")


def _layer_name(variable: Node) -> str:
    """The layer a variable belongs to, as one scope name: its scopes (dense_3), or the
    variable itself when it sits in none."""
    scope = scope_of(variable)
    return flat_name("/".join(scope)) if scope else flat_name(variable.name)


def _in_layer_gradients(scope: tuple, layer: tuple) -> tuple:
    """`gradients/matmul_grad_3/x` for a node of layer `dense_3/` ->
    `gradients/dense_3/matmul_grad_3/x`: the gradients root, the layer, the rest."""
    for i, part in enumerate(scope):
        if GRAD_SCOPE.match(part):
            return scope[:i] + layer + scope[i:]
    return scope + layer
