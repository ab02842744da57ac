"""What an export holds, target by target the same: the session's programs (inference,
and the train step when asked), optimised and lowered for the export's target, their
inputs and outputs, the model's variables and their values, the random streams and the
model's hash.

A program is compiled as the session would compile it for these feeds — one program for
every batch size where the graph allows (the batch a run-time argument of the C API),
else for the `batch_size` given.
"""
from __future__ import annotations

import hashlib
import json
import re
import zlib
from dataclasses import dataclass, field

import numpy as np

from ..ir import DTypeError, GraphcError, Node, ShapeError
from ..ir.symbolic import BATCH, SymbolicShapeError, evaluate
from ..lower.program import LoweredProgram, lower_program
from ..lower.target import Target
from ..ops.random_bits import GOLDEN, MASK64, MIX1, stream_key
from ..runtime.feeds import resolve_feed_key
from ..runtime.program import Program
from .. import passes

ABI_VERSION = 1
"""The version of the exported C API and its weights file (`NAME_ABI_VERSION`)."""

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ExportError(GraphcError, ValueError):
    """A model that cannot be exported as asked, or an export that did not build."""


@dataclass
class Tensor:
    """An input, output or variable of the exported model."""

    name: str
    dtype: object                 # DType
    shape: tuple                  # None where the batch size goes
    node: Node | None = None      # the user's node

    @property
    def batched(self) -> bool:
        return bool(self.shape) and self.shape[0] is None

    def count(self) -> tuple[int, int]:
        """Elements as (k, c): k·N + c at batch size N."""
        rest = int(np.prod([d for d in self.shape if d is not None], dtype=np.int64))
        return (rest, 0) if self.batched else (0, rest)

    def describe(self) -> dict:
        return {"name": self.name, "dtype": self.dtype.name,
                "shape": [None if d is None else int(d) for d in self.shape]}


@dataclass
class ExportedProgram:
    """One entry point of the library: `run` or `train_step`."""

    name: str
    inputs: list[Tensor]
    outputs: list[Tensor]
    optimized: Program
    lowered: LoweredProgram
    fixed_batch: int | None            # None: any batch size
    output_nodes: list[Node] = field(default_factory=list)   # in `optimized`
    user_fetches: list[Node] = field(default_factory=list)   # what the program computes

    @property
    def batched(self) -> bool:
        return any(t.batched for t in self.inputs)

    @property
    def slots(self) -> dict[str, int]:
        return {b.name: i for i, b in enumerate(self.lowered.buffers)}


@dataclass
class Stream:
    """A random stream the model draws from, and how many draws the session made."""

    name: str
    count: int


@dataclass
class Model:
    name: str
    target: str
    programs: list[ExportedProgram]
    variables: list[Tensor]
    values: dict[str, np.ndarray]
    streams: list[Stream]
    hash: str
    loss: str | None = None

    def program(self, name: str) -> ExportedProgram | None:
        return next((p for p in self.programs if p.name == name), None)

    def variable_index(self) -> dict[Node, int]:
        return {t.node: i for i, t in enumerate(self.variables)}


def describe(session, inputs, outputs, target: Target, name: str, train_step=None,
             loss=None, train_inputs=None, batch_size: int | None = None) -> Model:
    """The model to export from `session`: `outputs` computed from `inputs`, and with
    `train_step` (a train op of the session's graph, `loss` the value it minimises) a
    train step taking `train_inputs` (default: the placeholders it needs, `inputs`'
    order first)."""
    if not IDENTIFIER.match(name or ""):
        raise ExportError(f"export: name {name!r} must be a C identifier "
                          "(letters, digits and _, not starting with a digit)")
    graph = session.graph
    inputs = [_placeholder(graph, key) for key in _as_list(inputs, "inputs")]
    outputs = _outputs(graph, outputs)
    programs = [_program(session, "run", inputs, outputs, target, batch_size)]
    loss_name = None
    if train_step is not None:
        if loss is None:
            raise ExportError("export: train_step= needs loss= (the value the train op "
                              "minimises, which NAME_train_step returns)")
        loss_node = _tensor(graph, loss, "loss")
        train_node = _tensor(graph, train_step, "train_step")
        feeds = [_placeholder(graph, k) for k in _as_list(train_inputs, "train_inputs")] \
            if train_inputs is not None else _needed_placeholders(graph, [loss_node, train_node],
                                                                  inputs)
        programs.append(_program(session, "train_step", feeds, [("loss", loss_node)], target,
                                 batch_size, extra_fetches=[train_node]))
        loss_name = loss_node.name
    variables = _variables(programs)
    values = {t.name: session.variable_value(t.node) for t in variables}
    streams = _streams(session, programs)
    model = Model(name, target.name, programs, variables, values, streams, "", loss_name)
    model.hash = model_hash(model)
    return model


def _as_list(value, what: str) -> list:
    if isinstance(value, (list, tuple)):
        return list(value)
    if value is None:
        raise ExportError(f"export: {what}= is required")
    return [value]


def _placeholder(graph, key) -> Node:
    try:
        node = resolve_feed_key(graph, key)
    except GraphcError as err:
        raise ExportError(f"export: {err}") from None
    shape = node.attrs.get("shape", node.shape)
    if any(d is None for d in tuple(shape)[1:]):
        raise ExportError(f"export: input {node.describe()} has shape {tuple(shape)}: only its "
                          "leading (batch) dimension may be None")
    return node


def _tensor(graph, key, what: str) -> Node:
    node = graph.get_tensor_by_name(key) if isinstance(key, str) else key
    if not isinstance(node, Node) or node.graph is not graph:
        raise ExportError(f"export: {what} {key!r} is not a tensor of the session's graph")
    return node


def _outputs(graph, outputs) -> list[tuple[str, Node]]:
    """(name, node) of each output: a dict's keys, else the nodes' names."""
    if isinstance(outputs, dict):
        pairs = [(str(k), _tensor(graph, v, "output")) for k, v in outputs.items()]
    else:
        pairs = [(n.name, n) for n in (_tensor(graph, v, "output")
                                       for v in _as_list(outputs, "outputs"))]
    if not pairs:
        raise ExportError("export: outputs= names no tensor")
    names = [n for n, _ in pairs]
    if len(set(names)) != len(names):
        raise ExportError(f"export: two outputs are named alike: {names}")
    return pairs


def _needed_placeholders(graph, fetches, first: list[Node]) -> list[Node]:
    needed = {n for n in graph.ancestors(fetches) if n.op.name == "placeholder"}
    return [n for n in first if n in needed] + \
        sorted((n for n in needed if n not in first), key=lambda n: n.id)


def _program(session, name, inputs: list[Node], outputs: list[tuple[str, Node]], target,
             batch_size, extra_fetches=()) -> ExportedProgram:
    graph = session.graph
    fetches = [n for _, n in outputs] + list(extra_fetches)
    try:
        program = Program.build(graph, fetches, inputs)
    except GraphcError as err:
        raise ExportError(f"export: the {name} program: {err}") from None
    if name == "run" and program.updates:
        raise ExportError(f"export: computing the outputs updates variables "
                          f"({', '.join(u.inputs[0].name for u in program.updates)}); "
                          "export a train op with train_step=, not as an output")
    updated = {u.inputs[0] for u in program.updates}
    for out_name, node in outputs:
        if node.op.name == "variable" and node in updated:
            raise ExportError(f"export: output '{out_name}' is a variable the {name} program "
                              "updates")
    session._ensure_initialized(program)
    polymorphic = batch_size is None
    shapes = {ph: _feed_shape(ph, None if polymorphic else batch_size) for ph in inputs}
    try:
        optimized, lowered = _compile(program, shapes, target)
    except (SymbolicShapeError, ShapeError, DTypeError) as err:
        if polymorphic:
            raise ExportError(f"export: the {name} program cannot run at every batch size "
                              f"({err}); pass batch_size= to export it for one") from None
        raise ExportError(f"export: the {name} program: {err}") from None
    tensors = [Tensor(ph.name, ph.dtype, tuple(None if d is None and polymorphic else
                                               batch_size if d is None else d
                                               for d in ph.attrs.get("shape", ph.shape)), ph)
               for ph in inputs]
    output_nodes = list(optimized.outputs[: len(outputs)])
    out_tensors = []
    for (out_name, user), node in zip(outputs, output_nodes):
        buffer = lowered.value_buffer.get(node)
        if buffer is None:
            raise ExportError(f"export: output '{out_name}' ({user.describe()}) has no value")
        shape = tuple(None if not isinstance(d, int) else d for d in node.shape)
        if any(d is None for d in shape[1:]):
            raise ExportError(f"export: output '{out_name}' has shape {node.shape}: only its "
                              "leading dimension may depend on the batch size")
        if shape and shape[0] is None and evaluate(node.shape[0], 1) != 1 or \
                shape and shape[0] is None and evaluate(node.shape[0], 0) != 0:
            raise ExportError(f"export: output '{out_name}' has shape {node.shape}: its "
                              "leading dimension must be the batch size itself")
        out_tensors.append(Tensor(out_name, node.dtype, shape, user))
    return ExportedProgram(name, tensors, out_tensors, optimized, lowered,
                           None if polymorphic else batch_size, output_nodes, fetches)


def _feed_shape(placeholder: Node, batch_size) -> tuple:
    shape = tuple(placeholder.attrs.get("shape", placeholder.shape))
    if shape and shape[0] is None:
        return ((BATCH if batch_size is None else batch_size),) + shape[1:]
    return shape


def _compile(program: Program, shapes: dict, target: Target):
    result = passes.run_pipeline(program, passes.default_passes(shapes), print_after=None)
    return result.program, lower_program(result.program, False, target)


def _variables(programs: list[ExportedProgram]) -> list[Tensor]:
    users = {}
    for p in programs:
        for user in p.optimized.variables:
            users[user.id] = user
    return [Tensor(v.name, v.dtype, tuple(v.shape), v) for _, v in sorted(users.items())]


def _streams(session, programs) -> list[Stream]:
    names = []
    for p in programs:
        for b in p.lowered.buffers:
            if b.kind == "rng" and not b.node.attrs.get("stateless"):
                stream = b.node.attrs.get("rng_key") or b.node.name
                if stream not in names:
                    names.append(stream)
    return [Stream(s, session._rng_counters.get(s, 0)) for s in names]


def random_draw(node: Node, streams: list[Stream]) -> tuple[int, int, int]:
    """(stream index or -1, base, key) of a random node: a draw's key is
    mix64(base + count·MIX2), or `key` for a stateless one (ops/random_bits.py)."""
    if node.attrs.get("stateless"):
        return -1, 0, stream_key(node.attrs["seed"], "stateless", 0)
    stream = node.attrs.get("rng_key") or node.name
    base = ((node.attrs["seed"] or 0) * GOLDEN + zlib.crc32(stream.encode()) * MIX1) & MASK64
    return [s.name for s in streams].index(stream), base, 0


def model_hash(model: Model) -> str:
    """What makes two exports the same model: their variables and programs, as the
    user's graph defines them (not the target's code), so weights move between targets."""
    facts = {"variables": [t.describe() for t in model.variables],
             "programs": [{"name": p.name, "inputs": [t.describe() for t in p.inputs],
                           "outputs": [t.describe() for t in p.outputs],
                           "graph": _program_text(p)} for p in model.programs]}
    text = json.dumps(facts, sort_keys=True).encode()
    return hashlib.sha256(text).hexdigest()[:32]


def _program_text(p: ExportedProgram) -> str:
    fetches = p.user_fetches
    return Program.build(fetches[0].graph, fetches, [t.node for t in p.inputs]).format(
        locations=False)
