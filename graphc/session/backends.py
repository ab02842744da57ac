"""The backends a Session runs programs on: the numpy interpreter (the reference) and
the compiling backends (codegen/base/backend.py), by name."""
from __future__ import annotations

from ..codegen.c.backend import CBackend
from ..codegen.cuda.backend import CUDABackend, CUDAHostBackend
from ..codegen.llvm.backend import LLVMBackend
from ..codegen.loopir.backend import LoopIRBackend
from ..ir import GraphcError
from ..runtime.interpreter import RunContext, execute

DEFAULT_BACKEND = "llvm"
PLANNED: dict[str, str] = {}        # backends named before they land


class NumpyBackend:
    name = "numpy"
    fresh_outputs = False     # run's values may be the session's own arrays

    def __init__(self, check_numerics: bool = False, static_batch: bool = False,
                 matmul_precision: str = "highest"):
        self.check_numerics = check_numerics

    def run(self, program, ctx: RunContext) -> dict:
        if program.is_bound_to_user_nodes:
            return execute(program.nodes, ctx)
        # a program cut at its feeds (runtime/cut.py) has nodes of its own
        feeds, variables = program.bind(ctx.feeds, ctx.variables)
        inner = RunContext(feeds, variables, ctx.rng_counters, ctx.check_numerics)
        values = execute(program.nodes, inner)
        ctx.writes.update(program.user_writes(inner.writes))
        return values


_BACKENDS = {"numpy": NumpyBackend, "llvm": LLVMBackend, "c": CBackend,
             "loopir": LoopIRBackend, "cuda": CUDABackend, "cuda-host": CUDAHostBackend}


MATMUL_PRECISIONS = ("highest", "high")
"""float32 products: "highest" in float32 everywhere; "high" lets a backend use faster
reduced-precision units (the CUDA backend: TF32 tensor cores, 10-bit mantissas in,
float32 sums), as PyTorch's set_float32_matmul_precision("high")."""


def get_backend(name: str | None, check_numerics: bool = False, static_batch: bool = False,
                matmul_precision: str = "highest"):
    name = name or DEFAULT_BACKEND
    if matmul_precision not in MATMUL_PRECISIONS:
        raise GraphcError(f"matmul_precision {matmul_precision!r} is not one of "
                          f"{', '.join(MATMUL_PRECISIONS)}")
    if name in _BACKENDS:
        return _BACKENDS[name](check_numerics=check_numerics, static_batch=static_batch,
                               matmul_precision=matmul_precision)
    if name in PLANNED:
        raise GraphcError(f"backend '{name}' ({PLANNED[name]}) is not available in this "
                          f"version of graphc; use backend='numpy', 'llvm' or 'c'")
    raise GraphcError(f"unknown backend '{name}'; choose one of "
                      f"{', '.join(sorted(_BACKENDS) + sorted(PLANNED))}")
