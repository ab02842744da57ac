"""Backends a Session runs programs on. The numpy interpreter is the reference; the
LLVM backend compiles each program (per concrete feed shapes) to one native call."""
from __future__ import annotations

from ..ir import DTypeError, GraphcError, ShapeError
from .interpreter import ExecutionError, RunContext, execute

DEFAULT_BACKEND = "llvm"
PLANNED = {"cuda": "the CUDA backend"}


class NumpyBackend:
    name = "numpy"

    def run(self, program, ctx: RunContext) -> dict:
        return execute(program.nodes, ctx)


class LLVMBackend:
    """Compiles through the pass pipeline and the LLVM code generator; a compiled
    program is reused for every run with the same fetches, feeds and feed shapes."""

    name = "llvm"

    def __init__(self):
        self._compiled: dict[tuple, object] = {}
        self.last_from_cache = False     # whether the last compile loaded cached code

    def executable(self, program, feed_shapes: dict):
        from .. import passes
        from ..codegen.llvm.executable import LLVMExecutable
        key = (id(program), tuple(sorted((n.id, s) for n, s in feed_shapes.items())))
        exe = self._compiled.get(key)
        if exe is None:
            try:
                result = passes.run_pipeline(program, passes.default_passes(feed_shapes))
            except (ShapeError, DTypeError) as err:   # the feeds' shapes do not fit the graph
                raise ExecutionError(str(err)) from None
            exe = LLVMExecutable(result.program)
            exe.pipeline = result
            self.last_from_cache = exe.jit.last_from_cache
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


def get_backend(name: str | None):
    name = name or DEFAULT_BACKEND
    if name in _BACKENDS:
        return _BACKENDS[name]()
    if name in PLANNED:
        raise GraphcError(f"backend '{name}' ({PLANNED[name]}) is not available in this "
                          f"version of graphc; use backend='numpy' or 'llvm'")
    raise GraphcError(f"unknown backend '{name}'; choose one of "
                      f"{', '.join(sorted(_BACKENDS) + sorted(PLANNED))}")


def _draw_key(node, ctx: RunContext) -> int:
    from ..ops.nn_extra import dropout_key
    return dropout_key(node, None if node.attrs.get("stateless") else ctx.draw_count(node))
