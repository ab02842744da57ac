"""Targets: what lowering needs to know about the machine a program runs on.

Lowering asks its Target — never a module constant — for the schedule it builds:
vector lanes, which routines the backend implements natively (the others are expanded
into loops before rendering), how parallel loops are split (CPU threads with a task
policy; a GPU grid later), the convolution panels' sizes and the channel count up to
which a convolution runs direct. A backend names its target; `adding a backend` in
docs/architecture.md says what else it writes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import DType
from .access import loop_work
from .loopir import Loop
from .routines import (Allreduce, BlockSum, ConvDirect, ConvFilterDirect, ConvGemm, Gemm, Print,
                       Routine)


@dataclass(frozen=True)
class TaskPolicy:
    """How a top-level parallel loop is split into tasks for a pool of threads: not at
    all below `min_work` innermost iterations, else about one task per `min_work`,
    at most `max_tasks` and at most one per iteration."""

    min_work: int = 1 << 15
    max_tasks: int = 64

    def task_count(self, loop: Loop) -> int:
        """Tasks for a parallel loop with static extents (0: run it inline); a loop whose
        work depends on N decides at run time, by the same rule (`dynamic_task_count`)."""
        work = loop_work(loop)
        if loop.kind != "parallel" or not isinstance(work, int):
            return 0
        if work < self.min_work or loop.extent.value < 2:
            return 0
        return int(min(loop.extent.value, self.max_tasks, max(2, work // self.min_work)))


FLOAT_ROUTINES = (Gemm, ConvDirect, ConvFilterDirect, ConvGemm, BlockSum)
"""Routines whose native versions are vector code for float data only."""


@dataclass(frozen=True)
class Target:
    name: str
    vector_bytes: int                        # one vector register
    native: frozenset = field(default_factory=frozenset)   # routine classes it implements
    tasks: TaskPolicy | None = None          # threads and how loops split; None: serial
    conv_panel_elements: int = 1 << 14       # an im2col chunk's panel, to stay in cache
    conv_input_grad_panel_elements: int = 1 << 17   # larger: its GEMM is only C_out deep
    conv_lanes: int = 4                      # chunks of images in flight at once
    column_lanes: int = 16                   # a column sum's accumulators: a multiple of this
    column_sum_period: int = 256             # and at most this many
    direct_conv_vectors: int = 8             # output channels of a direct conv: this many
    #                                          vectors of the dtype at most

    def lanes(self, dtype: DType) -> int:
        return self.vector_bytes // dtype.itemsize

    def direct_conv_channels(self, dtype: DType) -> int:
        """The most output channels a convolution (or filter gradient) runs direct with."""
        return self.direct_conv_vectors * self.lanes(dtype)

    def implements(self, routine: Routine | type, dtype: DType) -> bool:
        """Whether the backend runs `routine` (or that routine class) natively on data of
        `dtype` (else lowering expands it, or does not build it)."""
        kind = routine if isinstance(routine, type) else type(routine)
        if kind not in self.native:
            return False
        return dtype.is_floating or not issubclass(kind, FLOAT_ROUTINES)


CPU = Target("cpu", vector_bytes=64,
             native=frozenset({Gemm, ConvDirect, ConvFilterDirect, BlockSum, Print, Allreduce}),
             tasks=TaskPolicy())
"""The LLVM backend on this machine: AVX-512-wide vectors (the direct convolutions keep
a position's C_out channels in one: 16 in float32, 8 in float64), the native GEMM,
direct convolutions and column sums, MPI's allreduce, and the thread pool."""


PORTABLE_C = Target("c", vector_bytes=64, native=frozenset({Print}), tasks=TaskPolicy())
"""The C backend: every routine expanded into loops (any C compiler builds them), the
parallel loops the CPU would split run as OpenMP loops, the CPU's schedule otherwise."""


CUDA = Target("cuda", vector_bytes=16, native=frozenset({Gemm, ConvGemm, Print}), tasks=None)
"""The CUDA backend: parallel loops become grids (no thread pool, no task policy); the
GEMM (with its epilogue) and every convolution and convolution gradient run as the
kernel library's tiled GEMM (codegen/cuda/runtime/kernels.cuh), a convolution as one
implicit GEMM over the whole batch (`ConvGemm`); the other routines are expanded."""
