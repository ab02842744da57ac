"""Backends a Session can run a Program on. The numpy interpreter is the reference."""
from __future__ import annotations

from ..ir import GraphcError
from .interpreter import RunContext, execute

DEFAULT_BACKEND = "numpy"   # becomes "llvm" when the compiled CPU backend lands
PLANNED = {"llvm": "the LLVM CPU backend", "cuda": "the CUDA backend"}


class NumpyBackend:
    name = "numpy"

    def run(self, program, ctx: RunContext) -> dict:
        return execute(program.nodes, ctx)


_BACKENDS = {"numpy": NumpyBackend()}


def get_backend(name: str | None):
    name = name or DEFAULT_BACKEND
    if name in _BACKENDS:
        return _BACKENDS[name]
    if name in PLANNED:
        raise GraphcError(f"backend '{name}' ({PLANNED[name]}) is not available in this "
                          f"version of graphc; use backend='numpy'")
    raise GraphcError(f"unknown backend '{name}'; choose one of "
                      f"{', '.join(sorted(_BACKENDS) + sorted(PLANNED))}")
