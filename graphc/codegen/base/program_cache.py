"""The on-disk cache of optimised and lowered programs, so a process that compiles a model
it has compiled before skips the pass pipeline and lowering as well as the compiler.

The native code is cached by a hash of what it is made from (cache.py); finding that
hash needs the lowered program, and building it (passes, then lowering) is most of a
warm start. This cache is keyed by the program *before* the passes: every node it
runs (op, attrs — arrays by a hash of their bytes —, type, name, source line, gradient
mark, inputs, control inputs), its roots, feeds and variables, the feed shapes, the
backend and its options, a hash of graphc's compiler source (`compiler_version`), and
Python's and numpy's versions.
An entry holds the pickled (optimised program, lowered program) pair, whose references
to the user's graph — placeholders, variables, nodes a gradient mark points at — are
kept by id and checked on load against the live graph (op and name), so the loaded
program is bound to the caller's nodes, not to copies.

Loading a pickle runs code, so entries live in the same folder as the native code and
under the same rules (ObjectCache: created 0700, anything another user could write is
ignored, writes are temporary files renamed into place, a damaged entry is a miss).
"""
from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
import sys
from pathlib import Path

import numpy as np

from ...ir import Graph, Node
from .cache import ObjectCache, cache_key, generator_version, tree_version

PIPELINE_PACKAGES = ("ops", "passes", "runtime")
"""With the code generator's (cache.GENERATOR_PACKAGES: ir, lower, codegen), the packages
whose source decides what the pipeline and lowering make of a program."""

_SYMBOL = "graphc-program"   # an entry's first pickled object (and the text ObjectCache
#                              checks an entry contains)


@functools.lru_cache(maxsize=1)
def compiler_version() -> str:
    """generator_version (read once per process for the object cache too) and a hash of
    the pipeline's packages."""
    pipeline = tree_version(Path(__file__).resolve().parents[2], PIPELINE_PACKAGES)
    return f"{generator_version()}:{pipeline}"


@functools.lru_cache(maxsize=1)
def _runtime_versions() -> str:
    """Python's and numpy's versions: folding runs numpy, and the entries are pickles."""
    return f"{sys.version}:{np.__version__}"


class ProgramCache:
    """Optimised + lowered programs on disk (one process-wide instance: `PROGRAMS`)."""

    def __init__(self, objects: ObjectCache | None = None):
        self.objects = objects or ObjectCache(suffix=".program")

    def key(self, program, shapes: dict, options: str) -> str | None:
        """The entry's key, or None for a program this cache does not keep (one cut
        into a graph of its own, or one whose attrs cannot be described)."""
        if self.objects.root() is None or os.environ.get("GRAPHC_PRINT_AFTER"):
            return None
        if program.fetched is not None or not program.is_bound_to_user_nodes:
            return None
        try:
            text = program_text(program, shapes)
        except _Undescribable:
            return None
        return cache_key("program-cache-1", compiler_version(), _runtime_versions(), options,
                         text)

    def load(self, key: str, program):
        """(optimised program, lowered program) stored under `key`, bound to the graph
        of `program`; None when missing or when it does not fit that graph."""
        data = self.objects.load(key)
        if data is None:
            return None
        try:
            marker, optimized, lowered = _Loader(io.BytesIO(data), program.graph).load()
        except Exception:  # noqa: BLE001 - anything odd in an entry is a miss
            return None
        return (optimized, lowered) if marker == _SYMBOL else None

    def store(self, key: str, program, optimized, lowered) -> None:
        buffer = io.BytesIO()
        try:
            _Saver(buffer, program.graph).dump((_SYMBOL, optimized, lowered))
        except Exception:  # noqa: BLE001 - a program that does not pickle is not kept
            return
        self.objects.store(key, buffer.getvalue(), [_SYMBOL])     # the marker's text is in it


PROGRAMS = ProgramCache()


class _Undescribable(Exception):
    """An attr value whose text would not tell two different values apart."""


def program_text(program, shapes: dict) -> str:
    """Everything about `program` (before the passes) that the pipeline and lowering
    read, as text: equal texts make equal compiled programs."""
    lines = []
    for n in program.nodes:
        lines.append(f"{n.id} {n.op.name} {n.name} {n.type.dtype.name}{n.type.shape} "
                     f"{[x.id for x in n.inputs]} {[c.id for c in n.control_inputs]} "
                     f"{_location(n)} {_grad_mark(n)} {_describe(n.attrs)}")
    ids = lambda nodes: [n.id for n in nodes]         # noqa: E731
    lines.append(f"outputs {ids(program.outputs)} updates {ids(program.updates)} "
                 f"effects {ids(program.effects)} feeds {ids(program.feeds)} "
                 f"variables {ids(program.variables)}")
    lines.append("shapes " + repr(sorted((n.id, tuple(s)) for n, s in shapes.items())))
    return "\n".join(lines)


def _location(node: Node) -> str:
    loc = node.location
    return "-" if loc is None else f"{loc.filename}:{loc.lineno}:{loc.function}"


def _grad_mark(node: Node) -> str:
    mark = node.grad_of
    return "-" if mark is None else f"d{mark.forward.id}:{mark.input_index}"


def _describe(value) -> str:
    """Text that differs whenever `value` does (arrays by a hash of their bytes)."""
    if isinstance(value, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()[:32]
        return f"array({value.dtype},{value.shape},{digest})"
    if isinstance(value, Node):
        return f"%{value.id}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_describe(k)}:{_describe(v)}"
                              for k, v in sorted(value.items(), key=lambda kv: repr(kv[0])))\
            + "}"
    if isinstance(value, (list, tuple)):
        return type(value).__name__ + "(" + ",".join(_describe(v) for v in value) + ")"
    if value is None or isinstance(value, (bool, int, float, str, bytes, np.generic)):
        return repr(value)
    text = repr(value)
    if callable(value) or " at 0x" in text:   # a function, or an object's address
        raise _Undescribable(type(value).__name__)
    return f"{type(value).__name__}:{text}"


class _Saver(pickle.Pickler):
    """Pickles a compiled program, keeping the user's graph, its nodes and the arrays of
    their attrs (variables' initial values, constants, which the passes' copies share)
    by reference: an entry holds no weights, and a loaded program no second copy."""

    def __init__(self, file, graph: Graph):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.graph = graph
        self.arrays = {id(value): (node.id, key) for node in graph.nodes
                       for key, value in node.attrs.items() if type(value) is np.ndarray}

    def persistent_id(self, obj):
        if obj is self.graph:
            return ("graph",)
        if type(obj) is Node and obj.graph is self.graph:
            return ("node", obj.id, obj.op.name, obj.name)
        if type(obj) is np.ndarray and id(obj) in self.arrays:
            node_id, key = self.arrays[id(obj)]
            return ("array", node_id, key, obj.dtype.str, obj.shape)
        return None


class _Loader(pickle.Unpickler):
    def __init__(self, file, graph: Graph):
        super().__init__(file)
        self.graph = graph

    def persistent_load(self, pid):
        if pid == ("graph",):
            return self.graph
        if pid[0] == "array":
            _, node_id, key, dtype, shape = pid
            value = self.graph.nodes[node_id].attrs.get(key)
            if type(value) is not np.ndarray or value.dtype.str != dtype or \
                    value.shape != shape:
                raise pickle.UnpicklingError(f"node {node_id} has no {dtype}{shape} {key}")
            return value
        kind, node_id, op_name, name = pid
        node = self.graph.nodes[node_id]
        if kind != "node" or node.op.name != op_name or node.name != name:
            raise pickle.UnpicklingError(f"node {node_id} is not {op_name} '{name}'")
        return node
