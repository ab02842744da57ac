"""What a drawing shows: which IR nodes, grouped into which boxes, joined by which edges.

The grouping rules (which scopes collapse, where kernel clusters sit, whether the
backward graph is hidden) live here, apart from DOT emission, so they can be tested
without Graphviz and reused by every view (plain graph, gradient flow, fused program).

Vocabulary:
- an *item* is one box in the picture: one IR node, a collapsed name scope standing for
  all the nodes under it, or the hidden backward graph;
- a *cluster* is a frame around items: a name scope, or a kernel (a fused group);
- an *edge* joins two items and has a kind: `data` (forward value), `gradient` (a
  value computed by the backward pass), `saved` (a forward value read by the backward
  pass), `write` (an assign op to the variable it sets: drawn from the update to the
  variable, since the variable is its target, not a value it reads) or `control`
  (run-after, no value).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Hashable, Iterable, Mapping

from ..ir import Graph, Node
from .grouping import UPDATE_OPS, Placement, place, scope_of  # noqa: F401  (scope_of: for callers)

# item kinds
PLACEHOLDER = "placeholder"
VARIABLE = "variable"
CONSTANT = "constant"
OP = "op"
UPDATE = "update"
GROUP = "group"
SCOPE = "scope"
HIDDEN = "hidden_backward"

# edge kinds, strongest first: when edges of several kinds join the same two items,
# the strongest is drawn
DATA = "data"
GRADIENT = "gradient"
SAVED = "saved"
WRITE = "write"
CONTROL = "control"
EDGE_PRIORITY = (GRADIENT, DATA, SAVED, WRITE, CONTROL)

AUTO = "auto"
DEFAULT_MAX_ITEMS = 60


@dataclass(eq=False)
class Cluster:
    """A frame: a name scope (`path` is the scope) or a kernel (`path` is its id)."""

    key: str
    kind: str                       # "scope" or "kernel"
    path: str
    parent: "Cluster | None"
    items: list["Item"] = field(default_factory=list)
    children: list["Cluster"] = field(default_factory=list)

    @property
    def nodes(self) -> list[Node]:
        """Every IR node drawn inside this frame, nested frames included."""
        out = [n for item in self.items for n in item.nodes]
        for child in self.children:
            out.extend(child.nodes)
        return out


@dataclass(eq=False)
class Item:
    """One box of the picture and the IR nodes it stands for."""

    key: str
    kind: str
    nodes: list[Node]
    cluster: Cluster | None
    scope: str = ""                 # for SCOPE items: the collapsed scope path

    @property
    def node(self) -> Node:
        return self.nodes[0]

    @property
    def backward(self) -> bool:
        return all(n.grad_of is not None for n in self.nodes)


@dataclass(frozen=True)
class Edge:
    src: Item
    dst: Item
    kind: str
    count: int = 1                  # IR edges merged into this one


@dataclass
class View:
    graph: Graph
    items: list[Item]
    edges: list[Edge]
    clusters: list[Cluster]         # every frame, parents before children
    item_of: dict[Node, Item]       # every drawn or hidden IR node -> its box
    collapse_depth: int | str | None  # as asked: an int, None or "auto"
    expanded: frozenset[tuple]      # the frames drawn open, not as one box
    path: dict[Node, tuple]         # every node's frames (grouping.py)
    update_frames: frozenset[tuple] = frozenset()   # one layer's optimizer update each

    def is_update_box(self, item: Item) -> bool:
        """A collapsed frame holding one layer's optimizer update."""
        return item.kind == SCOPE and tuple(item.scope.split("/")) in self.update_frames

    @property
    def roots(self) -> list[Cluster]:
        return [c for c in self.clusters if c.parent is None]

    @property
    def top_items(self) -> list[Item]:
        return [i for i in self.items if i.cluster is None]


def build_view(target, collapse_depth: int | str | None = AUTO, show_backward: bool = True,
               kernels: Mapping[Node, Hashable] | None = None,
               max_items: int = DEFAULT_MAX_ITEMS, show_updates: bool = False) -> View:
    """Decide what to draw for `target` (a Graph, a tensor, tensors, or a Program).

    collapse_depth: name scopes nested deeper than this become one summary box each
    (0: every top-level scope is one box; None: never collapse; "auto": open scopes,
    outermost and smallest first, while the picture keeps within `max_items` boxes).
    show_backward: False draws the backward graph as one box (fetched gradients stay).
    kernels: node -> kernel id, or the kernel graph of the fusion pass (anything with a
    `.kernels` list of objects with `.members`); each kernel is framed as a cluster of
    its member ops, which are always drawn one by one. For a fused Program it defaults
    to the program's own kernels (pass `kernels={}` to draw none).
    show_updates: let "auto" open the optimizer's update frames (one per layer, see
    grouping.py); without it each layer's update is one box. An explicit
    collapse_depth opens them like any frame.
    Fetched tensors are always drawn as boxes of their own, never inside a summary.
    """
    graph, nodes, fetched = select_nodes(target)
    placement = place(nodes)
    if kernels is None and _is_program(target):
        kernels = getattr(target, "annotations", {}).get("kernels")
    hidden = set() if show_backward else {n for n in nodes if n.is_backward
                                          and n not in fetched}
    kernel_of = _check_kernels(kernels, graph, nodes, hidden)
    shown = [n for n in nodes if n not in hidden]
    keep = set(kernel_of) | fetched
    expanded = _expanded_scopes(collapse_depth, shown, placement, keep, bool(hidden),
                                max_items, show_updates)
    builder = _Builder(graph, kernel_of, keep, expanded, collapse_depth, placement.path)
    for n in shown:
        builder.place(n)
    if hidden:
        builder.hide(sorted(hidden, key=_node_id))
    builder.connect([n for n in nodes if n not in hidden], set(nodes))
    view = builder.view()
    view.update_frames = placement.update_frames
    return view


def select_nodes(target) -> tuple[Graph, list[Node], set[Node]]:
    """(graph, nodes to draw in topological order, fetched nodes) for any drawable target.

    A Graph draws all its nodes; tensors draw themselves and everything they depend on
    (control dependencies included); a Program draws the nodes it runs.
    """
    if isinstance(target, Graph):
        return target, list(target.nodes), set()
    if isinstance(target, Node):
        target = [target]
    if _is_program(target):
        roots = getattr(target, "roots", None) or getattr(target, "fetches", ())
        return target.graph, list(target.nodes), set(roots)
    if isinstance(target, Iterable) and not isinstance(target, str | bytes):
        fetches = list(_flatten(target))
        if not fetches:
            raise ValueError("nothing to draw: the list of tensors is empty")
        graph = fetches[0].graph
        for f in fetches:
            if f.graph is not graph:
                raise ValueError(f"cannot draw tensors of two graphs together "
                                 f"('{fetches[0].name}' and '{f.name}')")
        return graph, graph.ancestors(fetches), set(fetches)
    raise TypeError(f"cannot draw {target!r}: expected a gc.Graph, a tensor, a list of "
                    "tensors or a Program")


def _is_program(target) -> bool:
    """A runtime Program (or a pass's rewrite of one): a graph, the nodes it runs in
    order, and its roots (`roots`, or `fetches` in its first form)."""
    return (isinstance(getattr(target, "graph", None), Graph)
            and isinstance(getattr(target, "nodes", None), tuple | list)
            and (hasattr(target, "roots") or hasattr(target, "fetches")))


def _flatten(values) -> Iterable[Node]:
    for v in values:
        if isinstance(v, Node):
            yield v
        elif v is None:
            continue                # gc.gradients gives None for unconnected inputs
        elif isinstance(v, list | tuple):
            yield from _flatten(v)
        elif isinstance(v, dict):
            yield from _flatten(list(v.values()))
        else:
            raise TypeError(f"cannot draw {v!r}: not a graphc tensor")


def _node_id(node: Node) -> int:
    return node.id


def _check_kernels(kernels, graph: Graph, nodes: list[Node], hidden: set[Node]) -> dict:
    """Validate the node -> kernel id mapping; keep only nodes that are drawn."""
    if kernels is None:
        return {}
    if not isinstance(kernels, Mapping):
        kernels = _kernel_graph_mapping(kernels)
    drawn = set(nodes) - hidden
    out = {}
    for node, kernel in kernels.items():
        if not isinstance(node, Node):
            raise TypeError(f"kernels: key {node!r} is not a graphc tensor")
        if node.graph is not graph:
            raise ValueError(f"kernels: '{node.name}' belongs to another graph")
        if node in drawn:
            out[node] = kernel
    return out


def _kernel_graph_mapping(kernel_graph) -> dict:
    """node -> "i kind" for the fusion pass's kernel graph (kernels in run order)."""
    groups = getattr(kernel_graph, "kernels", None)
    if groups is None or isinstance(kernel_graph, str | bytes):
        raise TypeError("kernels must map each fused node to a kernel id, e.g. "
                        "{node: 0, other: 0, third: 1}, or be the fusion pass's kernel graph")
    out = {}
    for i, kernel in enumerate(groups):
        kernel_id = f"{i} {getattr(kernel, 'kind', '')}".strip()
        for member in kernel.members:
            out[member] = kernel_id
    return out


def _expanded_scopes(depth, shown: list[Node], placement: Placement, keep: set[Node],
                     has_hidden: bool, max_items: int, show_updates: bool
                     ) -> frozenset[tuple]:
    """The frames to draw open; every other frame is one summary box."""
    path = placement.path
    scopes = {path[n][:k] for n in shown for k in range(1, len(path[n]) + 1)}
    if depth is None:
        return frozenset(scopes)
    if depth == AUTO:
        if not show_updates:
            scopes -= placement.update_frames
        return _auto_expand(scopes, shown, placement, keep, has_hidden, max_items)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"collapse_depth must be an int >= 0, None or 'auto', got {depth!r}")
    return frozenset(s for s in scopes if len(s) <= depth)


def _auto_expand(scopes: set[tuple], shown: list[Node], placement: Placement,
                 keep: set[Node], has_hidden: bool, max_items: int) -> frozenset[tuple]:
    """Open frames level by level, the cheapest first, while the boxes fit the budget.

    Frames open in groups, so a picture never shows one layer open beside another shut:
    at each level, the frames of the model (its layers) open together or not at all,
    and so do those of training (gradients and optimizers). Opening a frame costs (boxes its members
    become) - 1, independent of other frames.
    """
    path = placement.path
    members: dict[tuple, list[Node]] = {}
    for n in shown:
        if n not in keep:
            scope = path[n]
            for k in range(1, len(scope) + 1):
                members.setdefault(scope[:k], []).append(n)

    def cost(scope: tuple) -> int:
        inner = {path[n][: len(scope) + 1] if len(path[n]) > len(scope) else n
                 for n in members.get(scope, [])}
        return max(len(inner) - 1, 0)       # a scope of kept nodes only has no box

    part = _parts(members, placement)
    drawn = set(shown)
    top = {path[n][:1] or n for n in shown if n not in keep}
    total = len(top) + len(keep & drawn) + has_hidden
    expanded: set[tuple] = set()
    deepest = max((len(s) for s in scopes), default=0)
    for level in range(1, deepest + 1):
        frontier = [s for s in scopes if len(s) == level and s[:-1] in expanded | {()}]
        groups: dict[str, list[tuple]] = {}
        for s in frontier:
            groups.setdefault(part(s[0]), []).append(s)
        priced = sorted((sum(cost(s) for s in group), sorted(group))
                        for group in groups.values())
        for price, group in priced:
            if total + price <= max_items:
                expanded.update(group)
                total += price
    return frozenset(expanded)


def _parts(members: dict[tuple, list[Node]], placement: Placement):
    """A function from a top-level scope to the part of the picture it belongs to: the
    training part (gradients scopes, with backward nodes only, and optimizers, which
    hold update frames: an update box is laid out beside its layer's gradient, so the
    two open together) or the model (every other top-level scope: its layers)."""
    optimizers = {frame[0] for frame in placement.update_frames}

    def part(top: str) -> str:
        nodes = members.get((top,), [])
        if top in optimizers or (nodes and all(n.grad_of is not None for n in nodes)):
            return "training"
        return "model"
    return part


class _Builder:
    """Places nodes into items and clusters, then joins the items with edges."""

    def __init__(self, graph: Graph, kernel_of: dict, keep: set[Node],
                 expanded: frozenset[tuple], collapse_depth, path: dict[Node, tuple]):
        self.graph = graph
        self.path = path
        self.kernel_of = kernel_of
        self.keep = keep
        self.expanded = expanded
        self.collapse_depth = collapse_depth
        self.items: list[Item] = []
        self.edges: list[Edge] = []
        self.clusters: list[Cluster] = []
        self.item_of: dict[Node, Item] = {}
        self._scope_items: dict[tuple, Item] = {}
        self._scope_clusters: dict[tuple, Cluster] = {}
        self._kernel_clusters: dict[Hashable, Cluster] = {}
        self._kernel_members: dict[Hashable, list[Node]] = {}
        for node, kernel in kernel_of.items():
            self._kernel_members.setdefault(kernel, []).append(node)

    # -- placing nodes ----------------------------------------------------------------------
    def place(self, node: Node) -> None:
        scope = self.path[node]
        open_scope = self._open_part(scope)
        if node in self.kernel_of:
            self._add_item(f"n{node.id}", _node_kind(node), [node],
                           self._kernel_cluster(self.kernel_of[node]))
        elif open_scope != scope and node not in self.keep:
            key = scope[: len(open_scope) + 1]
            item = self._scope_items.get(key)
            if item is None:
                item = self._add_item(f"s{len(self._scope_items)}", SCOPE, [],
                                      self._scope_cluster(key[:-1]), "/".join(key))
                self._scope_items[key] = item
            item.nodes.append(node)
            self.item_of[node] = item
        else:
            self._add_item(f"n{node.id}", _node_kind(node), [node],
                           self._scope_cluster(open_scope))

    def _open_part(self, scope: tuple) -> tuple:
        """The longest prefix of `scope` whose frames are all drawn open."""
        k = 0
        while k < len(scope) and scope[: k + 1] in self.expanded:
            k += 1
        return scope[:k]

    def hide(self, nodes: list[Node]) -> None:
        """Stand for the whole (unfetched) backward graph with one box."""
        item = self._add_item(HIDDEN, HIDDEN, [], None)
        for n in nodes:
            item.nodes.append(n)
            self.item_of[n] = item

    def _add_item(self, key, kind, nodes, cluster, scope="") -> Item:
        item = Item(key, kind, list(nodes), cluster, scope)
        self.items.append(item)
        if cluster is not None:
            cluster.items.append(item)
        for n in nodes:
            self.item_of[n] = item
        return item

    def _scope_cluster(self, scope: tuple) -> Cluster | None:
        if not scope:
            return None
        cluster = self._scope_clusters.get(scope)
        if cluster is None:
            parent = self._scope_cluster(scope[:-1])
            cluster = self._add_cluster("scope", "/".join(scope), parent)
            self._scope_clusters[scope] = cluster
        return cluster

    def _kernel_cluster(self, kernel: Hashable) -> Cluster:
        """A kernel's frame sits in the innermost drawn scope holding all its members."""
        cluster = self._kernel_clusters.get(kernel)
        if cluster is None:
            common = _common_prefix([self.path[n] for n in self._kernel_members[kernel]])
            common = self._open_part(common)
            cluster = self._add_cluster("kernel", str(kernel), self._scope_cluster(common))
            self._kernel_clusters[kernel] = cluster
        return cluster

    def _add_cluster(self, kind: str, path: str, parent: Cluster | None) -> Cluster:
        cluster = Cluster(f"cluster_{kind[0]}{len(self.clusters)}", kind, path, parent)
        self.clusters.append(cluster)
        if parent is not None:
            parent.children.append(cluster)
        return cluster

    # -- edges ------------------------------------------------------------------------------
    def connect(self, consumers: list[Node], drawn: set[Node]) -> None:
        """Edges into every consumer from its drawn inputs; merged per pair of boxes.

        Edges into the hidden backward box are left out: they would tie the box to every
        forward activation and say nothing the box's label does not.
        """
        counts: Counter = Counter()
        for node in consumers:
            dst = self.item_of[node]
            writes = node.op.name in UPDATE_OPS
            for i, x in enumerate(node.inputs):
                if x not in drawn:
                    continue
                if writes and i == 0:
                    counts[(dst, self.item_of[x], WRITE)] += 1
                else:
                    counts[(self.item_of[x], dst, edge_kind(x, node))] += 1
            for c in node.control_inputs:
                if c in drawn:
                    counts[(self.item_of[c], dst, CONTROL)] += 1
        best: dict[tuple, tuple[str, int]] = {}
        for (src, dst, kind), count in counts.items():
            if src is dst:
                continue
            pair = (src, dst)
            total = best.get(pair, (kind, 0))[1] + count
            strongest = min(kind, best.get(pair, (kind, 0))[0], key=EDGE_PRIORITY.index)
            best[pair] = (strongest, total)
        self.edges = [Edge(src, dst, kind, count) for (src, dst), (kind, count) in best.items()]

    def view(self) -> View:
        return View(self.graph, self.items, self.edges, self.clusters, self.item_of,
                    self.collapse_depth, self.expanded, self.path)


def boundary(view: View) -> dict[Item, tuple[list[Node], list[Node]]]:
    """For each collapsed forward frame: (the values flowing in, the values flowing out)
    through its border, variables and constants left out; what a layer's box shows as
    its shapes, `f32[?,784] → f32[?,256]`."""
    boxes = {i for i in view.items if i.kind == SCOPE and not i.backward}
    out: dict[Item, tuple[list[Node], list[Node]]] = {i: ([], []) for i in boxes}
    for node, item in view.item_of.items():
        if node.grad_of is not None:
            continue                    # what the backward pass reads is not the layer's
        for x in node.data_inputs:
            source = view.item_of.get(x)
            if source is item or x.op.name in ("variable", "constant"):
                continue
            if item in out and x not in out[item][0]:
                out[item][0].append(x)
            if source in out and x not in out[source][1]:
                out[source][1].append(x)
    return out


def edge_kind(src: Node, dst: Node) -> str:
    """A value made by the backward pass is a gradient edge wherever it goes; a forward
    value read by a backward node is a saved activation; the rest is forward data."""
    if src.grad_of is not None:
        return GRADIENT
    if dst.grad_of is not None:
        return SAVED
    return DATA


def _node_kind(node: Node) -> str:
    op = node.op.name
    if op in (PLACEHOLDER, VARIABLE, CONSTANT):
        return op
    if op in UPDATE_OPS:
        return UPDATE
    if op == "no_op":
        return GROUP
    return OP


def _common_prefix(scopes: list[tuple]) -> tuple:
    first = scopes[0]
    n = len(first)
    for s in scopes[1:]:
        n = min(n, len(s))
        for i in range(n):
            if s[i] != first[i]:
                n = i
                break
    return first[:n]
