"""Session: owns variable values and runs programs on a backend (TF1's define-and-run)."""
from __future__ import annotations

import operator
import threading
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..ir import GraphcError, Node, get_default_graph
from ..ops.state import VARIABLES
from ..runtime.feeds import convert_feed, resolve_feed_key
from ..runtime.fetches import flatten_fetches, rebuild
from ..runtime.interpreter import RunContext, execute
from ..runtime.program import Program
from .backends import get_backend

if TYPE_CHECKING:
    from .inspection import Inspection


class Session:
    """Runs fetches of `graph` on `backend` ("llvm", the default, or "numpy").

    Variables get their initial values when the session is made (and when `initialize`
    is called again); variables created later are initialized on first use. A session
    may be shared by threads: its runs take turns (a compiled program's arena, pointer
    table and outputs serve one run at a time).
    """

    def __init__(self, graph=None, backend: str | None = None, check_numerics: bool = False,
                 static_batch: bool = False, matmul_precision: str = "highest"):
        """check_numerics: stop at the first op that makes a NaN or Inf. static_batch:
        compile a program per batch size instead of one for every batch size.
        matmul_precision: "highest" (float32 products in float32) or "high" (the CUDA
        backend may use TF32 tensor cores for float32 matmuls and convolutions)."""
        self.graph = graph or get_default_graph()
        self.check_numerics = check_numerics
        self.backend = get_backend(backend, check_numerics=check_numerics,
                                   static_batch=static_batch,
                                   matmul_precision=matmul_precision)
        self._variables: dict[Node, np.ndarray] = {}
        self._rng_counters: dict[str, int] = {}
        self._executables: dict[tuple, object] = {}
        self._initialized: set[int] = set()   # programs whose variables all have values
        self._closed = False
        self._run_lock = threading.Lock()
        self.initialize()

    # -- variables ------------------------------------------------------------------------
    def initialize(self, var_list: Sequence[Node] | None = None) -> None:
        """(Re)set variables to their initial values (all of the graph's by default)."""
        var_list = self.graph.get_collection(VARIABLES) if var_list is None else var_list
        for var in var_list:
            self._variables[var] = self._initial_value(var)

    def _initial_value(self, var: Node) -> np.ndarray:
        if "initial_value" in var.attrs:
            return np.array(var.attrs["initial_value"])
        init = var.attrs["initializer"]
        self._sync_variables()
        program = Program.build(self.graph, [init], [])
        ctx = RunContext({}, self._variables, self._rng_counters)
        return np.array(execute(program.nodes, ctx)[init])

    def _ensure_initialized(self, program: Program) -> None:
        """Give every variable the program reads a value (once per program: a variable,
        once set, keeps a value until the session closes)."""
        if id(program) in self._initialized:
            return
        for n in program.variables:        # the user's variables
            if n not in self._variables:
                self._variables[n] = self._initial_value(n)
        self._initialized.add(id(program))

    def _sync_variables(self) -> None:
        """Have the backend bring back the variables it keeps elsewhere (a GPU)."""
        sync = getattr(self.backend, "sync_variables", None)
        if sync is not None:
            sync(self._variables)

    def variable_value(self, var: Node) -> np.ndarray:
        with self._run_lock:          # never a value half-way through a run's update
            self._check_open()
            self._sync_variables()
            if var not in self._variables:
                self._variables[var] = self._initial_value(var)
            return self._variables[var].copy()

    def set_variable_value(self, var: Node, value) -> None:
        value = np.asarray(value, dtype=var.dtype.np_type)
        if value.shape != var.shape:
            raise GraphcError(f"variable '{var.name}' has shape {var.shape}, got {value.shape}")
        with self._run_lock:
            self._check_open()
            self._variables[var] = value.copy()

    # -- random streams -------------------------------------------------------------------
    def random_streams(self) -> dict[str, int]:
        """How many draws each stateful random stream (dropout, the random ops) has made:
        with the variables, the state a checkpoint keeps so a restored run draws what an
        uninterrupted one would."""
        with self._run_lock:
            return dict(self._rng_counters)

    def set_random_streams(self, counts: dict[str, int]) -> None:
        """Set every stream's draw count (a stream not named starts again from 0)."""
        counts = {str(k): int(v) for k, v in counts.items()}
        if any(v < 0 for v in counts.values()):
            raise ValueError(f"random stream counts must not be negative: {counts}")
        with self._run_lock:
            self._check_open()
            self._rng_counters.clear()
            self._rng_counters.update(counts)

    # -- running --------------------------------------------------------------------------
    def run(self, fetches, feed_dict=None):
        """Compute `fetches` (a tensor, a name, or nested lists/tuples/dicts of them)."""
        self._check_open()
        flat = flatten_fetches(self.graph, fetches)
        feeds = self._convert_feeds(feed_dict or {})
        with self._run_lock:
            self._check_open()
            values = self._run_program(self._program(flat, feeds), flat, feeds)
        return rebuild(fetches, values)

    def make_callable(self, fetches, feed_list: Sequence = ()):
        """A function of the values of `feed_list` (in order) returning `fetches`: the
        program is resolved once, not on every call."""
        self._check_open()
        flat = flatten_fetches(self.graph, fetches)
        placeholders = [resolve_feed_key(self.graph, k) for k in feed_list]
        program = None                      # built on the first call, as `run` would
        checked = [None] * len(placeholders)   # (dtype, shape) of arrays passed as they are
        # a plain list of tensors comes back as the list of values, without `rebuild`
        as_list = type(fetches) is list and all(isinstance(f, Node | str) for f in fetches)
        single = isinstance(fetches, Node | str)

        def feed(i, placeholder, value):
            """convert_feed, skipped for an array of the dtype and shape last checked."""
            if type(value) is np.ndarray and (value.dtype, value.shape) == checked[i] and \
                    value.flags.c_contiguous:
                return value
            array = convert_feed(placeholder, value)
            if array is value:              # already right: its kind needs no check again
                checked[i] = (value.dtype, value.shape)
            return array

        # the backend's lean run for the feeds' last (dtype, shape)s, when it has one:
        # (those kinds, the runner, each fetch's position among the program's outputs)
        direct = None

        def run_callable(*values):
            nonlocal program, direct
            if direct is not None and len(values) == len(direct[0]):
                for value, kind in zip(values, direct[0]):
                    if type(value) is not np.ndarray or (value.dtype, value.shape) != kind \
                            or not value.flags.c_contiguous:
                        break
                else:
                    with self._run_lock:
                        self._check_open()
                        outputs = direct[1](values)
                    values = [fetched(outputs) for fetched in direct[2]]
                    return values if as_list else values[0] if single else \
                        rebuild(fetches, values)
            if len(values) != len(placeholders):
                raise TypeError(f"expected {len(placeholders)} feed values "
                                f"({', '.join(p.name for p in placeholders)}), got "
                                f"{len(values)}")
            feeds = {p: feed(i, p, v) for i, (p, v) in enumerate(zip(placeholders, values))}
            with self._run_lock:
                self._check_open()
                if program is None:
                    program = self._program(flat, feeds)
                results = self._run_program(program, flat, feeds)
                direct = self._direct_run(program, flat, feeds, placeholders, values, results)
            return results if as_list else rebuild(fetches, results)

        return run_callable

    def _direct_run(self, program: Program, flat: list[Node], feeds: dict, placeholders,
                    values, results: list) -> tuple | None:
        """make_callable's lean path for feeds of these kinds (when the backend has one
        and every value was passed as the array the program reads): the kinds, the
        runner, and for each fetch a function of the runner's outputs giving what `run`
        gives for it (`results`: what this run gave: None, a scalar or an array)."""
        make = getattr(self.backend, "direct_runner", None)
        if make is None or len(set(flat)) != len(flat) or \
                any(feeds[p] is not v for p, v in zip(placeholders, values)):
            return None
        runner = make(program, {p: a.shape for p, a in feeds.items()}, list(placeholders),
                      self._variables)
        if runner is None:
            return None
        position = {n: k for k, n in enumerate(program.user_outputs)}
        return (tuple((a.dtype, a.shape) for a in (feeds[p] for p in placeholders)), runner,
                [_fetch_of(position[n], result) for n, result in zip(flat, results)])

    def _convert_feeds(self, feed_dict) -> dict[Node, np.ndarray]:
        feeds = {}
        for key, value in feed_dict.items():
            node = resolve_feed_key(self.graph, key)
            feeds[node] = convert_feed(node, value)
        return feeds

    def _program(self, flat: list[Node], feeds: dict[Node, np.ndarray]) -> Program:
        """The program computing `flat` from these fed placeholders (built once)."""
        unique = list(dict.fromkeys(flat))
        key = (tuple(n.id for n in unique), tuple(sorted(n.id for n in feeds)))
        program = self._executables.get(key)
        if program is None:
            program = Program.build(self.graph, unique, sorted(feeds, key=lambda n: n.id))
            self._executables[key] = program
        return program

    def _run_program(self, program: Program, flat: list[Node], feeds) -> list:
        self._ensure_initialized(program)
        ctx = RunContext(feeds, self._variables, self._rng_counters, self.check_numerics)
        values = self.backend.run(program, ctx)
        self._variables.update(ctx.writes)
        output_of = dict(zip(program.user_outputs, program.outputs))
        # a fetch listed twice gets two arrays
        fresh = self.backend.fresh_outputs and len(set(flat)) == len(flat)
        return [_fetched_value(n, values[output_of[n]], fresh) for n in flat]

    def inspect(self, fetches, feed_dict=None) -> "Inspection":
        """Every stage of what `run(fetches, feed_dict)` executes on this session's backend:
        the optimised program and its kernels, and for compiled backends the loop IR, the
        LLVM IR and the assembly."""
        from .inspection import inspect_run
        return inspect_run(self, fetches, feed_dict or {})

    # -- lifetime -------------------------------------------------------------------------
    def as_default(self):
        """`with sess.as_default():` makes `t.eval()` and `op.run()` run in this session."""
        from .default import entered
        return entered(self)

    def close(self) -> None:
        """Free the session's programs and variable values; every later run (through
        `run` or a callable made earlier) raises."""
        self._closed = True
        self._variables.clear()
        self._executables.clear()
        self._initialized.clear()

    def _check_open(self):
        if self._closed:
            raise GraphcError("this session is closed")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _fetch_of(k: int, result):
    """What `run` gives for output k, from a direct run's outputs, like `result`."""
    if result is None:
        return lambda outputs: None
    if isinstance(result, np.ndarray):
        return operator.itemgetter(k)
    return lambda outputs: outputs[k][()]       # a 0-d output: its scalar


def _fetched_value(node: Node, value: np.ndarray, fresh: bool = False):
    """What the user gets for a fetch: a copy (callers may not alter session state),
    unless the backend made the array for this run alone (`fresh`)."""
    if node.op.name == "no_op":
        return None
    if not fresh or not isinstance(value, np.ndarray):
        value = np.array(value)
    return value[()] if value.ndim == 0 else value
