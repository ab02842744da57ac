"""Backends a Session runs programs on. The numpy interpreter is the reference; the
LLVM backend compiles each program (per concrete feed shapes) to one native call."""
from __future__ import annotations

import time

from .. import log
from ..ir import DTypeError, GraphcError, ShapeError
from .interpreter import ExecutionError, RunContext, execute

DEFAULT_BACKEND = "llvm"
PLANNED = {"cuda": "the CUDA backend"}


class NumpyBackend:
    name = "numpy"

    def __init__(self, check_numerics: bool = False):
        self.check_numerics = check_numerics

    def run(self, program, ctx: RunContext) -> dict:
        return execute(program.nodes, ctx)


class LLVMBackend:
    """Compiles through the pass pipeline and the LLVM code generator; a compiled
    program is reused for every run with the same fetches, feeds and feed shapes."""

    name = "llvm"

    def __init__(self, check_numerics: bool = False):
        self.check_numerics = check_numerics
        self._compiled: dict[tuple, object] = {}
        self._last_shapes: dict[int, dict] = {}   # program -> feed shapes of its last compile
        self.last_from_cache = False     # whether the last compile loaded cached code
        self.compile_count = 0

    def executable(self, program, feed_shapes: dict):
        from .. import passes
        from ..codegen.llvm.executable import LLVMExecutable
        key = (id(program), tuple(sorted((n.id, s) for n, s in feed_shapes.items())))
        exe = self._compiled.get(key)
        if exe is None:
            start = time.perf_counter()
            try:
                pipeline = passes.default_passes(feed_shapes,
                                                 one_op_per_kernel=self.check_numerics)
                result = passes.run_pipeline(program, pipeline, print_after=None)
            except (ShapeError, DTypeError) as err:   # the feeds' shapes do not fit the graph
                raise ExecutionError(str(err)) from None
            passes_done = time.perf_counter()
            exe = LLVMExecutable(result.program, check_numerics=self.check_numerics)
            exe.pipeline = result
            self.last_from_cache = exe.jit.last_from_cache
            self.compile_count += 1
            if log.enabled("compile"):
                log.log("compile", _compile_line(program, feed_shapes,
                                                 self._last_shapes.get(id(program)), exe,
                                                 passes_done - start,
                                                 time.perf_counter() - passes_done))
            self._last_shapes[id(program)] = dict(feed_shapes)
            self._compiled[key] = (program, exe)     # keep the program: its id is the key
        else:
            exe = exe[1]
        return exe

    def run(self, program, ctx: RunContext) -> dict:
        shapes = {ph: value.shape for ph, value in ctx.feeds.items()}
        exe = self.executable(program, shapes)
        compiled = exe.program
        feeds = {compiled.feeds[u]: v for u, v in ctx.feeds.items() if u in compiled.feeds}
        for user in compiled.variables:
            if user not in ctx.variables:
                ctx.read_variable(user)          # raises the uninitialised-variable error
        variables = {node: ctx.variables[user] for user, node in compiled.variables.items()}
        outputs = exe.run(feeds, variables, {node: _draw_key(node, ctx)
                                             for node in exe.random_nodes})
        return dict(zip(program.outputs, outputs))


_BACKENDS = {"numpy": NumpyBackend, "llvm": LLVMBackend}


def get_backend(name: str | None, check_numerics: bool = False):
    name = name or DEFAULT_BACKEND
    if name in _BACKENDS:
        return _BACKENDS[name](check_numerics=check_numerics)
    if name in PLANNED:
        raise GraphcError(f"backend '{name}' ({PLANNED[name]}) is not available in this "
                          f"version of graphc; use backend='numpy' or 'llvm'")
    raise GraphcError(f"unknown backend '{name}'; choose one of "
                      f"{', '.join(sorted(_BACKENDS) + sorted(PLANNED))}")


def _draw_key(node, ctx: RunContext) -> int:
    from ..ops.nn_extra import dropout_key
    return dropout_key(node, None if node.attrs.get("stateless") else ctx.draw_count(node))


def _compile_line(program, shapes, previous, exe, passes_s, codegen_s) -> str:
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
    source = "disk cache" if exe.jit.last_from_cache else "compiled"
    return (f"compiled [{names}] ({why}): {kernels} kernels, passes {passes_s * 1e3:.0f} ms, "
            f"lower+llvm {codegen_s * 1e3:.0f} ms, object from {source}")
