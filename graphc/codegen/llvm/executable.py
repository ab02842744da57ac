"""A compiled program: one JIT-compiled entry point over a planned arena.

`run` fills the pointer table with this run's feeds and the session's variable arrays
(updated in place by the program), crosses into native code once, and copies the
fetched values out. It takes them keyed by the user's nodes, as the session holds them:
a run builds no dictionaries.
"""
from __future__ import annotations

import ctypes
import functools
import math
import time

import numpy as np

from ...ir import ExecutionError, NumericsError
from ...ir.symbolic import evaluate
from ...ops.random_bits import as_signed
from ...lower.program import LoweredProgram, lower_program
from ...lower.target import CPU
from .cache import generator_version
from .jit import JIT, CompileJob, compile_workers, precompile
from .render import program_module, program_modules
from .templates import TEMPLATES, publish_routines, routine_jobs
from .thread_choice import ThreadChoice

ENTRY = "graphc_program"
TARGET = CPU
"""What lowering builds for: this machine's CPU (lower/target.py)."""
PROGRAM_OPT_LEVEL = 3
"""LLVM optimisation level of a program's kernels."""


def aligned_zeros(nbytes: int, align: int = 64) -> np.ndarray:
    raw = np.zeros(nbytes + align, np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start: start + nbytes]


class LLVMExecutable:
    def __init__(self, program, templates=None, threads: bool = True, profile: bool = False,
                 check_numerics: bool = False, adaptive_threads: bool = True):
        """threads: use the process's thread pool; adaptive_threads: each run uses it or
        not, whichever has been faster lately (thread_choice.py; off when profiling)."""
        from .parallel import configured_threads
        self.lowered: LoweredProgram = lower_program(program, check_numerics, TARGET)
        self.program = program
        slots = {b.name: i for i, b in enumerate(self.lowered.buffers)}
        parallel = threads and configured_threads() > 1
        n_kernels = len(self.lowered.kernels)
        self.profile_cycles = np.zeros(n_kernels, np.int64) if profile else None
        templates = templates or TEMPLATES
        profile_slot = len(slots) if profile else None
        # a run stops after the first kernel whose run-time check failed
        stop_slot = slots["status"] if self.lowered.failures else None
        tasks = TARGET.tasks if parallel else None
        self._render_args = (self.lowered.kernels, slots, templates, ENTRY, tasks,
                             profile_slot, stop_slot)
        self._llvm_ir = None
        self.jit = JIT()
        self.pool = None
        key = (f"program:{generator_version()}:{TARGET.name}:{parallel}:{profile_slot}:{stop_slot}:"
               f"{sorted(slots.items())}"
               + "\n".join(str(k) for k in self.lowered.kernels))
        # on a cold cache the program's parts and the GEMMs it needs compile side by side
        workers = compile_workers()
        self.parts = workers if n_kernels >= 2 * workers else 1
        parts = [(f"{key}\n// part {i} of {self.parts}", functools.partial(self._part_ir, i))
                 for i in range(self.parts)]
        level = PROGRAM_OPT_LEVEL
        precompile([CompileJob(self.jit, part_key, source, level) for part_key, source in parts] +
                   routine_jobs(self.lowered.kernels),      # the longest jobs first
                   meanwhile=functools.partial(self._start_runtime, parallel or profile,
                                               parallel))
        publish_routines(self.lowered.kernels)   # the program links against them
        for part_key, source in parts:           # the entry point's part comes last
            self.jit.add(source, level, key=part_key)
        self._entry = self.jit.function(ENTRY, None, ctypes.c_void_p, ctypes.c_void_p)
        self.arena = None
        self.batch = None                  # N the table's arena pointers are set for
        self._sizes = np.zeros(1, np.int64)
        self.table = (ctypes.c_void_p * (len(self.lowered.buffers) + 1))()
        if profile:
            self.table[len(self.lowered.buffers)] = self.profile_cycles.ctypes.data
        # the user's graph nodes behind this program's feeds and variables
        self.user_feeds = list(program.feeds.items())
        self.user_variables = list(program.variables.items())
        self._user_of = {node: user for user, node in self.user_feeds + self.user_variables}
        batched = {b.name for b in self.lowered.batch_feeds}
        self._feed_slots, self._var_slots, self._rng_slots = [], [], []
        self._constants = []
        self._arena_slots = []
        for i, b in enumerate(self.lowered.buffers):
            if b.kind == "arena":
                self._arena_slots.append((i, b))
            elif b.kind == "sizes":
                self.table[i] = self._sizes.ctypes.data
            elif b.kind == "constant":
                value = np.ascontiguousarray(b.value, dtype=b.dtype.np_type)
                self._constants.append(value)
                self.table[i] = value.ctypes.data
            elif b.kind == "feed":     # (slot, buffer, user's node, a batch feed)
                self._feed_slots.append((i, b, self._user_of[b.node], b.name in batched))
            elif b.kind == "workspace":
                space = aligned_zeros(b.size * b.dtype.itemsize).view(b.dtype.np_type)
                self._constants.append(space)
                self.table[i] = space.ctypes.data
            elif b.kind == "callback":
                self._print_callback = _print_callback(self.lowered.prints, self)
                self.table[i] = ctypes.cast(self._print_callback, ctypes.c_void_p).value
            elif b.kind == "status":
                self._status = np.zeros(1, np.int64)
                self.table[i] = self._status.ctypes.data
            elif b.kind == "rng":
                key = np.zeros(1, np.int64)
                self._constants.append(key)
                self.table[i] = key.ctypes.data
                self._rng_slots.append((b.node, key))
            else:
                self._var_slots.append((i, b, self._user_of[b.node]))
        self.random_nodes = [node for node, _ in self._rng_slots]
        self._outputs = [self._output_reader(n) for n in program.outputs]
        self._views = []          # each output's array at the current batch (arena: a view)
        self._shapes = []         # and its shape
        self._bound = [None] * len(self.lowered.buffers)     # array of each feed/var slot
        self._batch_feed = self.lowered.batch_feeds[0] if self.lowered.batch_feeds else None
        self._table_address = ctypes.addressof(self.table)
        self._pool_address = self.pool.address if self.pool else None
        self.thread_choice = ThreadChoice() if self.pool and adaptive_threads and \
            not profile else None
        self._set_batch(0)
        updated = {u.inputs[0] for u in program.updates}
        # a fetched variable (or a view of one) that this run updates must show its old
        # value: read it before the native call
        # variables a failed run-time check must find as they were: copied before a run
        # and put back when it fails (none in a train step whose checks all run before
        # its first update)
        self._restore = [(self._user_of[v], np.empty(v.shape, v.dtype.np_type))
                         for v in self.lowered.variables_updated_before_a_check()]
        self._read_before = {i for i, (b, node) in enumerate(zip(self._outputs, program.outputs))
                             if b is not None and b.kind == "variable" and b.node in updated
                             and node.op.name not in ("assign", "assign_add", "assign_sub")}

    def _start_runtime(self, runtime: bool, pool: bool) -> None:
        """The thread-pool runtime in this program's JIT (compiled the first time, while
        the compile workers build the rest), and the process's pool."""
        from .parallel import default_pool, install_runtime
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

    def _output_reader(self, node):
        name = self.lowered.value_buffer.get(node)
        if name is None:
            return None
        return self.lowered.buffer(name)

    def _set_batch(self, n: int) -> None:
        """Point the arena buffers at their places for batch size n (the arena grows to
        the largest batch seen; a static program sets them once)."""
        if n == self.batch:
            return
        need = max(evaluate(self.lowered.arena_bytes, n), 64)
        if self.arena is None or self.arena.nbytes < need:
            self.arena = aligned_zeros(need)
        for i, b in self._arena_slots:
            self.table[i] = self.arena.ctypes.data + evaluate(b.offset, n)
        self._sizes[0] = n
        self.batch = n
        if self.thread_choice is not None:
            self.thread_choice.forget()         # run times at another N do not compare
        self._shapes = [evaluate(node.shape, n) if self._batch_feed is not None else
                        node.shape for node in self.program.outputs]
        self._views = [self._arena_view(b, shape) for b, shape in
                       zip(self._outputs, self._shapes)]

    def _arena_view(self, b, shape):
        """An output held in the arena, as an array viewing it (None for other outputs)."""
        if b is None or b.kind != "arena":
            return None
        return b.in_arena(self.arena, self.batch)[: math.prod(shape)].reshape(shape)

    def run(self, feeds: dict, variables: dict, rng_keys: dict | None = None) -> list:
        """feeds / variables keyed by the user's placeholder / variable nodes (the
        variables' arrays are updated in place); rng_keys: this run's key of each random
        node (`random_nodes`)."""
        for node, key in self._rng_slots:
            key[0] = as_signed(rng_keys[node])
        table = self.table
        keep = []
        sizes = []
        for i, b, user, batched in self._feed_slots:
            array = feeds[user]
            if type(array) is not np.ndarray or array.dtype != b.dtype.np_type or \
                    not array.flags.c_contiguous:
                array = np.ascontiguousarray(array, dtype=b.dtype.np_type)
            if batched:
                sizes.append(array.shape[0])
            keep.append(array)
            if self._bound[i] is not array:    # the same array fed again: same address
                table[i] = array.__array_interface__["data"][0]
                self._bound[i] = array
        if self._batch_feed is not None:
            self._set_batch(self.lowered.agreed_batch(sizes))
        for i, b, user in self._var_slots:
            array = variables.get(user)
            if array is None:
                raise ExecutionError(f"variable {user.describe()} is not initialized")
            if self._bound[i] is not array:       # the session's arrays rarely change
                if not array.flags.c_contiguous or array.dtype != b.dtype.np_type:
                    raise ValueError(f"variable {b.node.name} needs a C-contiguous "
                                     f"{b.dtype.name} array")
                table[i] = array.__array_interface__["data"][0]
                self._bound[i] = array
        early = {i: self._read(self._outputs[i], self.program.outputs[i], self._shapes[i],
                               feeds, variables)
                 for i in self._read_before} if self._read_before else ()
        for user, saved in self._restore:
            np.copyto(saved, variables[user])
        self._status[0] = 0
        choice = self.thread_choice
        if choice is None:
            self._entry(self._table_address, self._pool_address)
        else:
            pooled = choice.use_pool()
            start = time.perf_counter()
            self._entry(self._table_address, self._pool_address if pooled else None)
            choice.record(pooled, time.perf_counter() - start)
        if self._status[0]:
            for user, saved in self._restore:
                np.copyto(variables[user], saved)
            node, message = self.lowered.failures[self._status[0] - 1]
            if message.startswith(node.describe()):        # a numerics check
                raise NumericsError(message)
            raise ExecutionError(f"{node.describe()}: {message}")
        return [early[i] if i in early else None if b is None else
                view.copy() if view is not None else
                self._read(b, node, self._shapes[i], feeds, variables)
                for i, (b, node, view) in enumerate(zip(self._outputs, self.program.outputs,
                                                        self._views))]

    def _read(self, b, node, shape, feeds, variables) -> np.ndarray:
        """An output not held in the arena (those are copied from `_views`)."""
        if b.kind == "variable":
            flat = variables[self._user_of[b.node]].reshape(-1)
        elif b.kind == "feed":
            flat = np.asarray(feeds[self._user_of[b.node]]).reshape(-1)
        else:
            flat = b.value
        return flat[: math.prod(shape)].reshape(shape).copy()


def profile_report(exe: LLVMExecutable, runs: int) -> str:
    """Per-kernel share of the time, from an executable compiled with profile=True."""
    from .parallel import cycles_per_us
    total = max(int(exe.profile_cycles.sum()), 1)
    graph = exe.program.annotations["kernels"]
    lines = []
    order = sorted(range(len(graph.kernels)), key=lambda i: -exe.profile_cycles[i])
    for i in order:
        k = graph.kernels[i]
        us = exe.profile_cycles[i] / cycles_per_us() / runs
        lines.append(f"{us:9.1f} us {100 * exe.profile_cycles[i] / total:5.1f}%  kernel {i} "
                     f"{k.kind:<12} -> {', '.join(r.name for r in k.roots)}")
    return "\n".join(lines)


PRINT_FUNCTION = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p)


def _print_callback(prints, executable):
    """The function compiled code calls for `gc.print` (ctypes takes the GIL for it)."""
    from ...ops.debug import format_print

    def print_value(index, address):
        node = prints[index]
        shape = evaluate(node.shape, executable.batch)
        count = int(np.prod(shape))
        raw = (ctypes.c_char * (count * node.dtype.itemsize)).from_address(address)
        value = np.frombuffer(raw, dtype=node.dtype.np_type, count=count).reshape(shape)
        print(format_print(node, value), flush=True)
    return PRINT_FUNCTION(print_value)
