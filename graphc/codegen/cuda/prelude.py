"""The top of every generated CUDA program, from the files in runtime/: CUDA itself under
nvcc, or — with GRAPHC_HOST_BUILD — graphc's own emulation of the CUDA constructs the
programs use (host_emulation.h), so that the *same* source compiles with a C++ compiler
and runs on the CPU (how CI, which has no GPU, executes the generated CUDA code); then
the runtime both builds share (runtime.cuh: memory, a program's stream, CUDA graph and
scratch memory) and the kernel library (kernels.cuh: block folds, the tiled GEMM and
the implicit-GEMM convolutions' operands).
"""
from __future__ import annotations

from importlib import resources

from ..cstyle import HELPERS


def _read(name: str) -> str:
    return resources.files(__package__).joinpath("runtime", name).read_text()


PRELUDE = "\n".join([
    "#include <stdint.h>", "#include <stddef.h>", "#include <stdio.h>", "#include <stdlib.h>",
    "#include <string.h>", "#include <math.h>", "",
    "#ifdef GRAPHC_HOST_BUILD", _read("host_emulation.h"), "#endif", "",
    _read("runtime.cuh"), HELPERS, _read("kernels.cuh")])
