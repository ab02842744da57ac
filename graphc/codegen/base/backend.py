"""What every compiling backend does around its code generator: run the pass pipeline,
keep one compiled program per (program, feed shapes) — batch-polymorphic where the graph
allows, so every batch size runs the same program — and say in the compile log what
compiled, why and how long it took.

A backend subclasses CompiledBackend with a `name` and `make_executable(program)`, which
lowers and compiles an optimised program into a CompiledProgram (executable.py).
"""
from __future__ import annotations

import time

from ... import log
from ...ir import DTypeError, ExecutionError, ShapeError
from ...ir.symbolic import BATCH, SymbolicShapeError
from ... import passes
from ...ops.nn_extra import dropout_key
from ...runtime.interpreter import RunContext
from .program_cache import PROGRAMS


class CompiledBackend:
    """Compiles through the pass pipeline and a code generator; a compiled program is
    reused for every run with the same fetches, feeds and static feed dimensions: a
    `None` leading dimension (the batch) stays symbolic, so every batch size runs the
    same program (unless the graph needs it concrete, or static_batch)."""

    name = "compiled"
    fresh_outputs = True      # run's values are copies made for the caller

    def __init__(self, check_numerics: bool = False, static_batch: bool = False,
                 matmul_precision: str = "highest"):
        self.check_numerics = check_numerics
        self.static_batch = static_batch
        self.matmul_precision = matmul_precision
        self._compiled: dict[tuple, object] = {}
        self._last_shapes: dict[int, dict] = {}   # program -> feed shapes of its last compile
        self._needs_static: set = set()   # batch-polymorphic keys that did not compile
        self._seen: dict[tuple, tuple] = {}     # (program id, feed shapes) -> (program, exe)
        self.last_from_cache = False     # whether the last compile loaded cached code
        self.compile_count = 0

    def executable(self, program, feed_shapes: dict):
        """The compiled program for these feed shapes: batch-polymorphic (one for every
        batch size) unless the graph needs a concrete batch, then one per batch size."""
        seen = (id(program), tuple(feed_shapes.items()))
        entry = self._seen.get(seen)        # the fast path: feed shapes met before
        if entry is None or entry[0] is not program:
            entry = self._seen[seen] = (program, self._executable(program, feed_shapes))
        return entry[1]

    def _executable(self, program, feed_shapes: dict):
        shapes = feed_shapes if self.static_batch else batch_polymorphic_shapes(feed_shapes)
        key = _shapes_key(program, shapes)
        if shapes is not feed_shapes and key in self._needs_static:
            shapes, key = feed_shapes, _shapes_key(program, feed_shapes)
        entry = self._compiled.get(key)
        if entry is not None:
            return entry[1]
        start = time.perf_counter()
        note = ""
        if shapes is not feed_shapes:
            try:
                result, exe = self._compile(program, shapes)
                note = "one program for every batch size N"
            except (SymbolicShapeError, ShapeError, DTypeError) as err:
                # e.g. N broadcast against a static size: fine for this batch only
                self._needs_static.add(key)
                note = f"compiled for batch {_batch_of(feed_shapes)} only: {err}"
                shapes, key = feed_shapes, _shapes_key(program, feed_shapes)
        if shapes is feed_shapes:
            try:
                result, exe = self._compile(program, shapes)
            except (ShapeError, DTypeError) as err:   # the feeds' shapes do not fit the graph
                raise ExecutionError(str(err)) from None
        passes_s = sum(r.seconds for r in result.records)
        exe.pipeline = result
        self.last_from_cache = exe.from_cache
        self.compile_count += 1
        if log.enabled("compile"):
            log.log("compile", _compile_line(program, shapes, self._last_shapes.get(id(program)),
                                             exe, passes_s,
                                             time.perf_counter() - start - passes_s, note))
        self._last_shapes[id(program)] = dict(shapes)
        self._compiled[key] = (program, exe)     # keep the program: its id is the key
        return exe

    def make_executable(self, program, lowered=None):
        """The CompiledProgram of an optimised program (the backend's code generator);
        `lowered`: the program already lowered (from the program cache)."""
        raise NotImplementedError

    program_cache = False
    """Whether its optimised and lowered programs are kept on disk (program_cache.py)."""

    def cache_identity(self) -> str:
        """What else than the program decides its lowering: the backend, its options."""
        return (f"{self.name}:{self.check_numerics}:{self.static_batch}:"
                f"{self.matmul_precision}")

    def _compile(self, program, shapes):
        key = PROGRAMS.key(program, shapes, self.cache_identity()) \
            if self.program_cache else None
        cached = PROGRAMS.load(key, program) if key is not None else None
        if cached is not None:
            optimized, lowered = cached
            exe = self.make_executable(optimized, lowered)
            exe.program_from_cache = True
            return passes.PipelineResult(optimized), exe
        pipeline = passes.default_passes(shapes, one_op_per_kernel=self.check_numerics)
        result = passes.run_pipeline(program, pipeline, print_after=None)
        exe = self.make_executable(result.program)
        if key is not None:
            PROGRAMS.store(key, program, result.program, exe.lowered)
        return result, exe

    direct_runs = False
    """Whether its programs offer `direct_runner` (variables in the session's arrays)."""

    def direct_runner(self, program, feed_shapes: dict, users: list, variables: dict):
        """A lean run of `program` for repeated calls with exactly these feed shapes
        (CompiledProgram.direct_runner), or None."""
        if not self.direct_runs:
            return None
        return self.executable(program, feed_shapes).direct_runner(users, variables)

    def run(self, program, ctx: RunContext) -> dict:
        exe = self.executable(program, {ph: value.shape for ph, value in ctx.feeds.items()})
        rng_keys = {node: _draw_key(node, ctx) for node in exe.random_nodes} \
            if exe.random_nodes else None
        return dict(zip(program.outputs, exe.run(ctx.feeds, ctx.variables, rng_keys)))


def _draw_key(node, ctx: RunContext) -> int:
    return dropout_key(node, None if node.attrs.get("stateless") else ctx.draw_count(node))


def batch_polymorphic_shapes(feed_shapes: dict) -> dict:
    """The feed shapes with the batch size left symbolic: every fed placeholder declared
    with a `None` leading dimension gets N there, when they were all fed the same size
    (else the shapes as given)."""
    batched = [ph for ph, shape in feed_shapes.items() if ph.shape and ph.shape[0] is None]
    if not batched or len({feed_shapes[ph][0] for ph in batched}) != 1:
        return feed_shapes
    return {ph: (BATCH,) + tuple(shape[1:]) if ph in batched else tuple(shape)
            for ph, shape in feed_shapes.items()}


def _shapes_key(program, shapes: dict) -> tuple:
    return id(program), tuple(sorted((n.id, tuple(s)) for n, s in shapes.items()))


def _batch_of(feed_shapes: dict):
    return next((s[0] for ph, s in feed_shapes.items() if ph.shape and ph.shape[0] is None),
                None)


def _compile_line(program, shapes, previous, exe, passes_s, codegen_s, note="") -> str:
    names = ", ".join(n.name for n in program.outputs[:4]) + \
        (", ..." if len(program.outputs) > 4 else "")
    if previous is None:
        why = "new fetches/feeds"
    else:
        changes = [f"{ph.name} dim {i}: {old[i]} -> {new[i]}"
                   for ph, new in shapes.items() if ph in previous
                   for old in [previous[ph]] for i in range(len(new)) if old[i] != new[i]]
        why = "new static shape: " + "; ".join(changes)
    kernels = len(exe.lowered.kernels)
    source = "disk cache" if exe.from_cache else "compiled"
    if exe.program_from_cache:
        passes = "passes and lowering skipped (program from disk cache)"
    else:
        passes = f"passes {passes_s * 1e3:.0f} ms"
    return (f"compiled [{names}] ({why}): {kernels} kernels, {passes}, "
            f"lower+codegen {codegen_s * 1e3:.0f} ms, object from {source}"
            + (f"; {note}" if note else ""))
