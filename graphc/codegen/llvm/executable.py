"""The LLVM backend's compiled program: one JIT-compiled entry point
`graphc_program(table, pool)` over the shared pointer table (codegen/base), its parts and
the GEMMs it calls compiled side by side on a cold cache, each run on the thread pool or
on the calling thread alone, whichever has been faster lately.
"""
from __future__ import annotations

import ctypes
import functools
import time

import numpy as np

from ...lower.program import lower_program
from ...lower.target import CPU
from ..base.executable import CompiledProgram
from ..base.cache import generator_version
from .jit import JIT, CompileJob, assembly_of, compile_workers, precompile
from .parallel import configured_threads, cycles_per_us, default_pool, install_runtime
from .render import program_module, program_modules
from .templates import TEMPLATES, native_routines, publish_routines, routine_jobs
from .thread_choice import ThreadChoice

ENTRY = "graphc_program"
TARGET = CPU
"""What lowering builds for: this machine's CPU (lower/target.py)."""
PROGRAM_OPT_LEVEL = 3
"""LLVM optimisation level of a program's kernels."""


class LLVMExecutable(CompiledProgram):
    def __init__(self, program, templates=None, threads: bool = True, profile: bool = False,
                 check_numerics: bool = False, adaptive_threads: bool = True, lowered=None):
        """threads: use the process's thread pool; adaptive_threads: each run uses it or
        not, whichever has been faster lately (thread_choice.py; off when profiling);
        lowered: `program` lowered already (the program cache's)."""
        if lowered is None:
            lowered = lower_program(program, check_numerics, TARGET)
        slots = {b.name: i for i, b in enumerate(lowered.buffers)}
        parallel = threads and configured_threads() > 1
        n_kernels = len(lowered.kernels)
        self.profile_cycles = np.zeros(n_kernels, np.int64) if profile else None
        templates = templates or TEMPLATES
        profile_slot = len(slots) if profile else None
        # a run stops after the first kernel whose run-time check failed
        stop_slot = slots["status"] if lowered.failures else None
        tasks = TARGET.tasks if parallel else None
        self._render_args = (lowered.kernels, slots, templates, ENTRY, tasks, profile_slot,
                             stop_slot)
        self._llvm_ir = None
        self.jit = JIT()
        self.pool = None
        key = (f"program:{generator_version()}:{TARGET.name}:{parallel}:{profile_slot}:"
               f"{stop_slot}:{sorted(slots.items())}:{lowered.kernels_digest()}")
        # on a cold cache the program's parts and the GEMMs it needs compile side by side
        workers = compile_workers()
        self.parts = workers if n_kernels >= 2 * workers else 1
        parts = [(f"{key}\n// part {i} of {self.parts}", functools.partial(self._part_ir, i))
                 for i in range(self.parts)]
        level = PROGRAM_OPT_LEVEL
        needed = native_routines(lowered.kernels)
        precompile([CompileJob(self.jit, part_key, source, level) for part_key, source in parts] +
                   routine_jobs(needed),      # the longest jobs first
                   meanwhile=functools.partial(self._start_runtime, parallel or profile,
                                               parallel))
        publish_routines(needed)   # the program links against them
        for part_key, source in parts:           # the entry point's part comes last
            self.jit.add(source, level, key=part_key)
        self.from_cache = self.jit.last_from_cache
        self._entry = self.jit.function(ENTRY, None, ctypes.c_void_p, ctypes.c_void_p)
        self._pool_address = self.pool.address if self.pool else None
        self.thread_choice = ThreadChoice() if self.pool and adaptive_threads and \
            not profile else None
        super().__init__(program, lowered, extra_slots=1)
        if profile:
            self.table[len(lowered.buffers)] = self.profile_cycles.ctypes.data

    def _start_runtime(self, runtime: bool, pool: bool) -> None:
        """The thread-pool runtime in this program's JIT (compiled the first time, while
        the compile workers build the rest), and the process's pool."""
        if runtime:
            install_runtime(self.jit)
        if pool:
            self.pool = default_pool(self.jit)

    def _part_ir(self, index: int) -> str:
        """Part `index` of the program's modules, rendered on demand (by the compile
        worker that compiles it, or here when the disk cache lacks it)."""
        kernels, slots, templates, entry, tasks, profile_slot, stop = self._render_args
        (module,) = program_modules(kernels, slots, templates, entry, tasks=tasks,
                                    profile_slot=profile_slot, stop_slot=stop,
                                    parts=self.parts, only=index)
        return str(module)

    @property
    def llvm_ir(self) -> str:
        """The program's LLVM IR (rendered on demand: a cached compile never needs it)."""
        if self._llvm_ir is None:
            kernels, slots, templates, entry, tasks, profile_slot, stop = self._render_args
            self._llvm_ir = str(program_module(kernels, slots, templates, entry,
                                               tasks=tasks, profile_slot=profile_slot,
                                               stop_slot=stop))
        return self._llvm_ir

    def stages(self) -> dict[str, str]:
        return {"loop IR": str(self.lowered), "LLVM IR": self.llvm_ir,
                "assembly": assembly_of(self.llvm_ir)}

    def _batch_changed(self) -> None:
        if self.thread_choice is not None:
            self.thread_choice.forget()         # run times at another N do not compare

    def _call(self) -> None:
        choice = self.thread_choice
        if choice is None:
            self._entry(self.table_address, self._pool_address)
            return
        pooled = choice.use_pool()
        start = time.perf_counter()
        self._entry(self.table_address, self._pool_address if pooled else None)
        choice.record(pooled, time.perf_counter() - start)


def profile_report(exe: LLVMExecutable, runs: int, rate=None) -> str:
    """Per-kernel share of the time, from an executable compiled with profile=True;
    `rate(fused_kernel, microseconds)` adds a column (bench/profile_kernels.py: GFLOP/s
    or GB/s)."""
    total = max(int(exe.profile_cycles.sum()), 1)
    graph = exe.program.annotations["kernels"]
    lines = []
    order = sorted(range(len(graph.kernels)), key=lambda i: -exe.profile_cycles[i])
    for i in order:
        k = graph.kernels[i]
        us = exe.profile_cycles[i] / cycles_per_us() / runs
        extra = rate(k, us) if rate is not None and us > 0 else ""
        lines.append(f"{us:9.1f} us {100 * exe.profile_cycles[i] / total:5.1f}%  {extra}"
                     f"kernel {i} {k.kind:<12} -> {', '.join(r.name for r in k.roots)}")
    return "\n".join(lines)
