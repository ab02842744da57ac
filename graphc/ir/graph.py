"""Graph: an append-only list of nodes (creation order is a topological order), unique
names under name scopes, collections, control-dependency and gradient contexts."""
from __future__ import annotations

import weakref

import contextlib
import re
import threading
from collections import defaultdict
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np

from .errors import GraphMismatchError, InferError
from .node import GradInfo, Node
from .op import get_op
from .source import SourceLocation, user_location
from .types import TensorType

if TYPE_CHECKING:
    import networkx as nx

_NAME_OK = re.compile(r"^[A-Za-z0-9_.\-/]+$")


class Graph:
    def __init__(self):
        self.nodes: list[Node] = []
        self.collections: dict[str, list] = defaultdict(list)
        self._names: dict[str, Node] = {}
        self._name_counts: dict[str, int] = defaultdict(int)
        self._scope: list[str] = []
        self._control: list[tuple[Node, ...]] = []
        self._grad_of: GradInfo | None = None
        self._location_override: SourceLocation | None = None

    # -- building -------------------------------------------------------------------------
    def create_node(self, op_name: str, inputs: Sequence[Node] = (), attrs: dict | None = None,
                    name: str | None = None) -> Node:
        """Make a node: check inputs, infer its type (errors name op, node, shapes, line)."""
        op = get_op(op_name)
        inputs = tuple(inputs)
        for x in inputs:
            if not isinstance(x, Node):
                raise TypeError(f"{op_name}: input {x!r} is not a graphc tensor")
            if x.graph is not self:
                raise GraphMismatchError(
                    f"{op_name}: input '{x.name}' belongs to another graph; tensors of "
                    "different graphs cannot be combined")
        attrs = {k: freeze_attr(v) for k, v in (attrs or {}).items()}
        location = self._location_override or user_location()
        node_name = self.unique_name(name or op_name)
        in_types = [x.type for x in inputs]
        try:
            attrs = {k: freeze_attr(v) for k, v in op.normalize_attrs(in_types, attrs).items()}
            out_type = op.infer(in_types, attrs)
        except InferError as err:
            where = f" at {location}" if location else ""
            shapes = ", ".join(f"{x.name}: {x.type}" for x in inputs)
            raise err.kind(f"{op_name} '{node_name}'{where}: {err}  [inputs: {shapes}]") from None
        assert isinstance(out_type, TensorType), f"{op_name}.infer returned {out_type!r}"
        node = Node(self, op, inputs, attrs, out_type, node_name, location,
                    self.current_control_dependencies, self._grad_of, len(self.nodes))
        self.nodes.append(node)
        self._names[node_name] = node
        return node

    def in_place_of(self, node: Node) -> "_Place":
        """Nodes made inside take `node`'s source line, backward marker and name scope:
        provenance() and within_scope() in one cheap step (a rebuild enters it for every
        node of a program)."""
        return _Place(self, node.location, node.grad_of, node.name.rpartition("/")[0])

    def copy_node(self, node: Node, inputs: Sequence[Node], attrs: dict | None = None) -> Node:
        """`node` made again in this graph from `inputs` (a pass's rebuild): its name as
        it is, its source line and backward marker kept, its type inferred again. (The
        same as create_node inside provenance() and within_scope(""), in one cheap step:
        a rebuild copies every node of a program.)"""
        with _Place(self, node.location, node.grad_of, ""):
            return self.create_node(node.op.name, inputs,
                                    dict(node.attrs if attrs is None else attrs),
                                    name=node.name)

    def unique_name(self, base: str) -> str:
        if not _NAME_OK.match(base):
            raise ValueError(f"bad node name {base!r}: use letters, digits and _ . - /")
        full = "/".join(self._scope + [base])
        if full not in self._names and self._name_counts[full] == 0:
            self._name_counts[full] = 1
            return full
        while True:
            candidate = f"{full}_{self._name_counts[full]}"
            self._name_counts[full] += 1
            if candidate not in self._names:
                return candidate

    @contextlib.contextmanager
    def name_scope(self, name: str) -> Iterator[str]:
        """Nest node names under `name/`; a reused scope name gets a suffix (TF1 rules)."""
        name = name.rstrip("/")
        scope = self.unique_name(name) if name else ""
        self._names.setdefault(scope, None)  # reserve: no node may take the scope's name
        saved = self._scope
        self._scope = scope.split("/") if scope else []
        try:
            yield scope + "/" if scope else ""
        finally:
            self._scope = saved

    @contextlib.contextmanager
    def within_scope(self, scope: str) -> Iterator[None]:
        """Nest new names under `scope` exactly as given (no suffix): rewrites put the
        nodes of a replacement where the node they replace was."""
        saved = self._scope
        self._scope = scope.split("/") if scope else []
        try:
            yield
        finally:
            self._scope = saved

    def rename(self, node: Node, name: str) -> None:
        """Give `node` the name `name` when no other node has it (a rewrite's
        replacement takes the name of the node it replaces)."""
        if name in self._names or not _NAME_OK.match(name):
            return
        del self._names[node.name]
        node.name = name
        self._names[name] = node

    @property
    def current_scope(self) -> str:
        return "/".join(self._scope)

    @property
    def current_control_dependencies(self) -> tuple[Node, ...]:
        """The nodes that nodes made now will run after."""
        return tuple(dict.fromkeys(c for group in self._control for c in group))

    @contextlib.contextmanager
    def control_dependencies(self, nodes: Iterable[Node] | None) -> Iterator[None]:
        """Nodes made inside run only after `nodes` (None clears outer dependencies)."""
        saved = self._control
        if nodes is None:
            self._control = []
        else:
            group = tuple(nodes)
            for n in group:
                if not isinstance(n, Node) or n.graph is not self:
                    raise GraphMismatchError(f"control dependency {n!r} is not a tensor of "
                                             "this graph")
            self._control = saved + [group]
        try:
            yield
        finally:
            self._control = saved

    @contextlib.contextmanager
    def gradient_context(self, forward: Node, location: SourceLocation | None):
        """Mark every node made inside as part of `forward`'s gradient."""
        with self.provenance(location, GradInfo(forward)), self.control_dependencies(None):
            yield

    @contextlib.contextmanager
    def provenance(self, location: SourceLocation | None, grad_of: GradInfo | None):
        """Nodes made inside get this source location and backward marker (rewrites use
        it so a replacement keeps the user's line of the node it replaces)."""
        saved = (self._grad_of, self._location_override)
        self._grad_of, self._location_override = grad_of, location
        try:
            yield
        finally:
            self._grad_of, self._location_override = saved

    @contextlib.contextmanager
    def as_default(self) -> Iterator["Graph"]:
        _DEFAULT.stack.append(self)
        try:
            yield self
        finally:
            _DEFAULT.stack.pop()

    def add_to_collection(self, key: str, value) -> None:
        if value not in self.collections[key]:
            self.collections[key].append(value)

    def get_collection(self, key: str, scope: str | None = None) -> list:
        items = list(self.collections.get(key, []))
        if scope:
            prefix = scope.rstrip("/") + "/"
            items = [v for v in items if getattr(v, "name", "").startswith(prefix)]
        return items

    # -- queries --------------------------------------------------------------------------
    def get_tensor_by_name(self, name: str) -> Node:
        key = name[:-2] if name.endswith(":0") else name
        node = self._names.get(key)
        if node is None:
            raise KeyError(f"no tensor named '{name}' in this graph")
        return node

    def ancestors(self, roots: Iterable[Node], control: bool = True) -> list[Node]:
        """Every node `roots` depend on (themselves included), in topological order."""
        seen: set[int] = set()
        stack = list(roots)
        while stack:
            n = stack.pop()
            if n.id in seen:
                continue
            seen.add(n.id)
            stack.extend(n.inputs)
            if control:
                stack.extend(n.control_inputs)
        return [n for n in self.nodes if n.id in seen]

    def to_networkx(self, nodes: Iterable[Node] | None = None) -> "nx.DiGraph":
        """A networkx view (data edges carry `index`, control edges `control=True`)."""
        import networkx as nx       # here: 19 MiB a process that never asks does not pay
        nodes = list(self.nodes if nodes is None else nodes)
        keep = {n.id for n in nodes}
        g = nx.DiGraph()
        for n in nodes:
            g.add_node(n.name, node=n)
            for i, x in enumerate(n.inputs):
                if x.id in keep:
                    g.add_edge(x.name, n.name, index=i)
            for c in n.control_inputs:
                if c.id in keep:
                    g.add_edge(c.name, n.name, control=True)
        return g

    def __len__(self) -> int:
        return len(self.nodes)

    def __bool__(self) -> bool:
        """A graph is a graph even before it has nodes (`graph or default` keeps it)."""
        return True

    def __str__(self) -> str:
        from .printer import format_graph
        return format_graph(self.nodes)


class _DefaultStack(threading.local):
    def __init__(self):
        self.stack: list[Graph] = []


_DEFAULT = _DefaultStack()
_GLOBAL_DEFAULT = [Graph()]


def get_default_graph() -> Graph:
    return _DEFAULT.stack[-1] if _DEFAULT.stack else _GLOBAL_DEFAULT[0]


def reset_default_graph() -> Graph:
    """Replace the module-level default graph (not one entered with `as_default`)."""
    if _DEFAULT.stack:
        raise RuntimeError("reset_default_graph() inside a `with graph.as_default()` block")
    _GLOBAL_DEFAULT[0] = Graph()
    return _GLOBAL_DEFAULT[0]


class _Place:
    """The context of Graph.in_place_of (a class: cheaper than a generator's context)."""
    __slots__ = ("graph", "state", "saved")

    def __init__(self, graph, location, grad_of, scope: str):
        self.graph = graph
        self.state = (grad_of, location, scope.split("/") if scope else [])

    def __enter__(self):
        g = self.graph
        self.saved = g._grad_of, g._location_override, g._scope
        g._grad_of, g._location_override, g._scope = self.state

    def __exit__(self, *exc):
        g = self.graph
        g._grad_of, g._location_override, g._scope = self.saved


_FROZEN: "weakref.WeakValueDictionary[int, np.ndarray]" = weakref.WeakValueDictionary()
"""The read-only copies freeze_attr made (by id; an entry dies with its array)."""


def freeze_attr(value):
    """Make attrs hashable and immutable (lists become tuples; arrays are copied read-only,
    once: an array this function made is shared as it is, so the passes' rebuilds of a
    graph do not copy every initial value again)."""
    if isinstance(value, np.ndarray):
        if _FROZEN.get(id(value)) is value:
            return value
        value = value.copy()
        value.flags.writeable = False
        _FROZEN[id(value)] = value
        return value
    if isinstance(value, list | tuple):
        return tuple(freeze_attr(v) for v in value)
    return value
