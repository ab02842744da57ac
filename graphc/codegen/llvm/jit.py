"""The LLVM toolchain in one place: target machine for the host CPU, the O3 pipeline
(new pass manager), and a JIT engine whose symbols are checked before anything runs.

Toolchain facts this module works around (llvmlite 0.50 / LLVM 22):
- `llvm.initialize()` is deprecated and raises: only the native target is initialised;
- only the new pass manager exists (`PipelineTuningOptions` + `PassBuilder`);
- an unresolved external makes `finalize_object()` succeed and the first call crash, so
  every declared function is resolved with `address_of_symbol` before use.
"""
from __future__ import annotations

import ctypes
import functools

from typing import NamedTuple

import llvmlite
import llvmlite.binding as llvm

from ...ir import GraphcError
from ..base.cache import ObjectCache, cache_key


class CodegenError(GraphcError, RuntimeError):
    """The generated LLVM IR did not verify, compile or link."""


@functools.lru_cache(maxsize=1)
def _init() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()
    import ctypes.util
    libm = ctypes.util.find_library("m")
    if libm:                                     # expf, tanhf, ... for generated code
        llvm.load_library_permanently(libm)


@functools.lru_cache(maxsize=4)
def target_machine(reloc: str = "default") -> llvm.TargetMachine:
    """The host CPU with all its features (AVX2 / AVX-512 where present); shared by the
    optimiser and the assembly printer (an engine gets a machine of its own)."""
    return new_target_machine(reloc)


def new_target_machine(reloc: str = "default") -> llvm.TargetMachine:
    _init()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
        opt=3, reloc=reloc, codemodel="jitdefault" if reloc == "default" else "default")


@functools.lru_cache(maxsize=1)
def host_description() -> str:
    """CPU name and features: part of every disk-cache key."""
    _init()
    return f"{llvm.get_host_cpu_name()};{llvm.get_host_cpu_features().flatten()}"


def parse(ir_text: str) -> llvm.ModuleRef:
    _init()
    try:
        module = llvm.parse_assembly(ir_text)
        module.verify()
    except RuntimeError as err:
        raise CodegenError(f"generated LLVM IR does not verify: {err}") from None
    return module


def optimize(module: llvm.ModuleRef, speed_level: int = 3, tm=None) -> None:
    tm = tm or target_machine()
    pto = llvm.create_pipeline_tuning_options(speed_level=speed_level)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_unrolling = True
    builder = llvm.PassBuilder(tm, pto)
    builder.getModulePassManager().run(module, builder)


class JIT:
    """One MCJIT engine; modules added to it may call each other's functions. Object
    code is cached on disk (cache.py): a module seen before skips optimisation and
    code generation."""

    def __init__(self, cache: ObjectCache | None = None):
        _init()
        backing = llvm.parse_assembly("")
        # the engine takes ownership of its target machine: never hand it the shared one
        self.engine = llvm.create_mcjit_compiler(backing, new_target_machine())
        # compile the empty backing module now, before the cache hooks are set: else it
        # would be the first object stored (and looked up) under the first module's key
        self.engine.finalize_object()
        self._modules: list[llvm.ModuleRef] = []
        self.cache = cache if cache is not None else ObjectCache()
        self._pending: _Pending | None = None
        self._ready: dict[str, bytes] = {}      # objects compiled ahead (`precompile`)
        self.engine.set_object_cache(self._object_compiled, self._cached_object)
        self.last_from_cache = False

    def _cached_object(self, module):
        pending = self._pending
        return pending.cached if pending and module.name == pending.module else None

    def _object_compiled(self, module, data: bytes) -> None:
        pending = self._pending
        if pending and module.name == pending.module and pending.cached is None:
            self.cache.store(pending.key, data, defined_functions(module))

    def add(self, ir_text, optimize_level: int = 3, key: str | None = None) -> llvm.ModuleRef:
        """Compile and link a module. `ir_text` may be a function producing the text; with
        a `key` (a hash of everything the text is made from) a cache hit never builds it."""
        ready = None
        if key is not None:
            key = self.full_key(key, optimize_level)
            ready = self._ready.pop(key, None)       # compiled just now, ahead of time
            cached = ready or self.cache.load(key)
            text = "" if cached is not None else _text(ir_text)
        else:
            text = _text(ir_text)
            key = self.full_key(text, optimize_level)
            cached = self.cache.load(key)
        module = parse(text)
        module.triple = target_machine().triple
        module.data_layout = str(target_machine().target_data)
        if optimize_level and cached is None:
            optimize(module, optimize_level)
        module.name = f"graphc.{len(self._modules)}"       # what the cache hooks match
        self._pending = _Pending(key, cached, module.name)
        self.last_from_cache = cached is not None and ready is None
        try:
            self.engine.add_module(module)
            self.engine.finalize_object()
        finally:
            self._pending = None
        self.engine.run_static_constructors()
        self._modules.append(module)
        self._check_symbols(module)
        return module

    @staticmethod
    def full_key(key: str, optimize_level: int = 3) -> str:
        """The disk-cache key of a module: its own key plus toolchain and host."""
        return cache_key(key, str(optimize_level), llvmlite.__version__,
                         ".".join(map(str, llvm.llvm_version_info)), host_description())

    def _check_symbols(self, module: llvm.ModuleRef) -> None:
        for fn in module.functions:
            if fn.is_declaration and not fn.name.startswith("llvm."):
                if not llvm.address_of_symbol(fn.name) and \
                        not self.engine.get_function_address(fn.name):
                    raise CodegenError(f"generated code calls '{fn.name}', which is not "
                                       "defined in this process")

    def address(self, name: str) -> int:
        addr = self.engine.get_function_address(name)
        if not addr:
            raise CodegenError(f"no compiled function '{name}'")
        return addr

    def function(self, name: str, restype, *argtypes):
        """A ctypes callable for a compiled function (ctypes releases the GIL)."""
        return ctypes.CFUNCTYPE(restype, *argtypes)(self.address(name))


class _Pending(NamedTuple):
    """The module `JIT.add` is finalizing: its cache key, its object when it came from
    the cache (else None), and the module name the cache hooks answer for."""
    key: str
    cached: bytes | None
    module: str


def defined_functions(module: llvm.ModuleRef) -> list[str]:
    return [fn.name for fn in module.functions if not fn.is_declaration]


def compile_object(text: str, optimize_level: int = 3) -> tuple[bytes, list[str]]:
    """Parse, optimise and emit one module's object code, as `JIT.add` would: the object
    and the functions it defines."""
    tm = new_target_machine()
    module = parse(text)
    module.triple = tm.triple
    module.data_layout = str(tm.target_data)
    if optimize_level:
        optimize(module, optimize_level, tm)
    return tm.emit_object(module), defined_functions(module)


def compile_workers() -> int:
    """Processes that compile modules side by side (GRAPHC_COMPILE_WORKERS; default: the
    cores, at most 4). llvmlite serialises LLVM behind one lock, so threads cannot."""
    import os
    configured = os.environ.get("GRAPHC_COMPILE_WORKERS")
    if configured:
        return max(1, int(configured))
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


class CompileJob(NamedTuple):
    """One module to compile ahead: `jit.add(source, optimize_level, key)` loads it."""
    jit: "JIT"
    key: str
    source: object                   # IR text, or a function making it
    optimize_level: int = 3


def precompile(jobs, meanwhile=None) -> None:
    """Compile the jobs (CompileJob, or (jit, key, ir_source) at O3) that miss the disk
    cache in forked worker processes, side by side; each object then waits in its JIT
    (and in the disk cache) for `jit.add(ir_source, optimize_level, key=key)`, which only
    loads it. Workers take the next job as they finish one (list the longest first), so
    a worker that drew short jobs is not left idle. A module that fails to compile, or
    every module of a worker that dies, is left to `add`, which compiles it (and reports
    any error). `meanwhile()`, if given, runs in this process once the workers are
    started (or at once, when nothing needs them)."""
    import os
    meanwhile = meanwhile or (lambda: None)
    workers = compile_workers()
    pending = []
    for jit, key, source, level in (CompileJob(*job) for job in jobs):
        full = jit.full_key(key, level)
        if full not in jit._ready and not jit.cache.has(full):   # add() will load a hit
            pending.append((jit, full, (source, level)))
    if len(pending) < 2 or workers < 2 or not hasattr(os, "fork"):
        meanwhile()
        return
    # the children build the IR text too (Python work that would otherwise run here, one
    # module after another) and run LLVM, so this process, whose peak memory is what
    # training keeps, never holds a module or the optimiser's memory
    queue_out, queue_in = os.pipe()
    os.write(queue_in, b"".join(i.to_bytes(JOB_BYTES, "little") for i in range(len(pending))))
    children: list[_Child] = []
    try:
        try:
            for _ in range(min(workers, len(pending))):
                children.append(_fork_compiler([source for _, _, source in pending],
                                               queue_out, queue_in))
        finally:
            os.close(queue_in)
            os.close(queue_out)
        meanwhile()
        for child in children:            # hand each object to its JIT and the disk cache
            for i, data, symbols in child.collect():
                jit, full, _ = pending[i]
                jit._ready[full] = data
                jit.cache.store(full, data, symbols)
    finally:              # an interrupt (Ctrl-C) or error: no worker or file is left behind
        for child in children:
            child.discard()


JOB_BYTES = 4
"""A job number in the queue pipe: reads this short are atomic, so each job goes to
exactly one worker."""


def _fork_compiler(sources: list, queue_out: int, queue_in: int) -> "_Child":
    """A child process that takes job numbers from the queue pipe until it is empty,
    builds and compiles those `sources` ((IR text or a function making it, optimisation
    level) pairs), and writes (number, object, defined functions) records to a
    temporary file."""
    import os
    import tempfile
    import warnings
    fd, path = tempfile.mkstemp(prefix="graphc-obj-")
    os.close(fd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # fork with threads running
        pid = os.fork()
    if pid == 0:                       # the child: LLVM only, then leave without cleanup
        status = 1
        try:
            os.close(queue_in)         # the queue ends (EOF) once every writer closed it
            with open(path, "wb") as f:
                while len(job := os.read(queue_out, JOB_BYTES)) == JOB_BYTES:
                    i = int.from_bytes(job, "little")
                    source, level = sources[i]
                    try:
                        data, symbols = compile_object(_text(source), level)
                    except Exception:      # left to JIT.add, which reports the error
                        continue
                    names = "\0".join(symbols).encode()
                    f.write(b"".join(n.to_bytes(8, "little") for n in
                                     (i, len(data), len(names))) + data + names)
            status = 0
        finally:
            os._exit(status)
    return _Child(pid, path)


CHILD_TIMEOUT_S = 600.0


class _Child:
    """A compile worker: its pid and the file it writes its objects to."""

    def __init__(self, pid: int, path: str):
        self.pid, self.path = pid, path
        self.reaped = False

    def collect(self) -> list[tuple[int, bytes, list[str]]]:
        """The (job number, object, functions it defines) the child compiled, once it
        has exited; none when it failed (or hung: a lock another thread held at the fork
        would never be released in the child), and its jobs are left to `JIT.add`."""
        import os
        import signal
        import time
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        while True:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                _, status = os.waitpid(self.pid, 0)
                break
            time.sleep(0.001)
        self.reaped = True            # (set at once: its pid may be another's from now on)
        objects = []
        if status == 0:
            with open(self.path, "rb") as f:
                while header := f.read(24):
                    i, size, names = (int.from_bytes(header[k: k + 8], "little")
                                      for k in (0, 8, 16))
                    data = f.read(size)
                    objects.append((i, data, f.read(names).decode().split("\0")))
        return objects

    def discard(self) -> None:
        """Stop the child if it still runs, reap it, and remove its file (its pid stays
        ours until reaped, so the kill cannot reach another process)."""
        import os
        import signal
        if not self.reaped:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.reaped = True
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _text(source) -> str:
    return source() if callable(source) else source


def assembly_of(ir_text: str, optimize_level: int = 3) -> str:
    """The host assembly of LLVM IR text, optimised as a compile would."""
    module = parse(ir_text)
    module.triple = target_machine().triple
    module.data_layout = str(target_machine().target_data)
    if optimize_level:
        optimize(module, optimize_level)
    return assembly(module)


def assembly(module: llvm.ModuleRef) -> str:
    return target_machine().emit_assembly(module)
