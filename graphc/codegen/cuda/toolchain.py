"""The CUDA backend's toolchain: nvcc builds a program's source into a shared library
for the GPU (sm_80 and sm_90 by default, GRAPHC_CUDA_ARCHS to change), or the system
C++ compiler builds the same source with GRAPHC_HOST_BUILD into a library that runs it
on the CPU (the host build, prelude.py). Libraries are kept in the disk cache
(codegen/base/cache.py) and loaded with ctypes; `runtime()` is a program with no
kernels, whose memory functions every program's buffers go through.
"""
from __future__ import annotations

import atexit
import ctypes
import functools
import os
import shlex
import shutil
import subprocess
import tempfile

from ...ir import GraphcError
from ..base.cache import ObjectCache, cache_key
from .prelude import PRELUDE

DEFAULT_ARCHS = ("80", "90")
COMPILE_TIMEOUT_S = 900


class CUDACompileError(GraphcError, RuntimeError):
    """nvcc or the C++ compiler is missing, or refused the generated source."""


def archs() -> tuple[str, ...]:
    configured = os.environ.get("GRAPHC_CUDA_ARCHS")
    return tuple(a.strip() for a in configured.split(",")) if configured else DEFAULT_ARCHS


@functools.lru_cache(maxsize=1)
def nvcc() -> str:
    found = shutil.which("nvcc") or (os.path.join(os.environ["CUDA_HOME"], "bin", "nvcc")
                                     if os.environ.get("CUDA_HOME") else None)
    if not found or not os.path.exists(found):
        raise CUDACompileError("backend 'cuda' needs nvcc, the CUDA compiler: install the "
                               "CUDA toolkit or put nvcc on PATH (or set CUDA_HOME)")
    return found


@functools.lru_cache(maxsize=1)
def host_compiler() -> tuple[str, ...]:
    configured = os.environ.get("CXX")
    if configured:
        return tuple(shlex.split(configured))
    for name in ("c++", "g++", "clang++"):
        path = shutil.which(name)
        if path:
            return (path,)
    raise CUDACompileError("the CUDA host build needs a C++ compiler: install g++ or set CXX")


def device_command(source: str, output: str) -> list[str]:
    gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs()]
    return [nvcc(), "-O3", "-std=c++17", "-shared", "-Xcompiler", "-fPIC", *gencode,
            source, "-o", output]


HOST_FLAGS = ("-O1", "-std=c++17", "-fPIC", "-pthread", "-DGRAPHC_HOST_BUILD")


def host_command(source: str, output: str) -> list[str]:
    return [*host_compiler(), *HOST_FLAGS, "-shared", "-x", "c++", source, "-o", output]


@functools.lru_cache(maxsize=1)
def _precompiled_prelude() -> str | None:
    """The prelude as a header with its precompiled form beside it, in a folder of this
    process's own (built once per process: most host builds are small programs whose
    compile the prelude's C++ headers dominated, 0.50 s → 0.17 s); None where the
    compiler cannot precompile it (the programs then compile whole)."""
    folder = tempfile.mkdtemp(prefix="graphc-prelude-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)      # about 40 MB
    header = os.path.join(folder, "graphc_prelude.h")
    with open(header, "w") as f:
        f.write(PRELUDE)
    try:
        run_compiler([*host_compiler(), *HOST_FLAGS, "-x", "c++-header", header, "-o",
                      header + ".gch"], "the C++ compiler")
    except CUDACompileError:
        return None
    return header


def _host_build(source: str) -> tuple[str, object]:
    """(the text to compile, its command) for a host build: the program without its
    prelude, against the precompiled one, when it starts with the prelude."""
    header = _precompiled_prelude()
    if header is None or not source.startswith(PRELUDE):
        return source, host_command

    def against_prelude(src: str, output: str) -> list[str]:
        return [*host_compiler(), *HOST_FLAGS, "-shared", "-include", header, "-x", "c++",
                src, "-o", output]
    return source[len(PRELUDE):], against_prelude


def ptx_command(source: str, output: str, arch: str = "90") -> list[str]:
    return [nvcc(), f"-arch=sm_{arch}", "-std=c++17", "-ptx", source, "-o", output]


@functools.lru_cache(maxsize=4)
def _identity(program: str) -> str:
    try:
        done = subprocess.run([program, "--version"], capture_output=True, text=True,
                              timeout=60)
    except OSError as err:
        raise CUDACompileError(f"{program} does not run: {err}") from None
    return (done.stdout or done.stderr).strip().splitlines()[-1:][0] if (done.stdout or
                                                                        done.stderr) else ""


def run_compiler(argv: list[str], what: str) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
    except OSError as err:
        raise CUDACompileError(f"{argv[0]} does not run: {err}") from None
    if done.returncode != 0:
        errors = "\n".join((done.stderr or done.stdout).splitlines()[:30])
        raise CUDACompileError(f"{what} refused the generated program ({' '.join(argv)}):"
                               f"\n{errors}")
    return done


def ptx(source: str, arch: str = "90") -> tuple[str, str]:
    """(the PTX of `source` for sm_`arch`, nvcc's warnings)."""
    with tempfile.TemporaryDirectory(prefix="graphc-cuda-") as folder:
        src, out = os.path.join(folder, "program.cu"), os.path.join(folder, "program.ptx")
        with open(src, "w") as f:
            f.write(source)
        done = run_compiler(ptx_command(src, out, arch), "nvcc")
        with open(out) as f:
            return f.read(), done.stderr


class Library:
    """A built program: its ctypes handle, whether it came from the disk cache, and the
    command that builds it."""

    def __init__(self, source: str, host_build: bool, symbols=("graphc_alloc",),
                 cache: ObjectCache | None = None):
        make = host_command if host_build else device_command
        self.command = " ".join(make("program.cu", "program.so"))
        tool = host_compiler()[0] if host_build else nvcc()
        cache = cache if cache is not None else ObjectCache(suffix=".so")
        key = cache_key(source, _identity(tool), self.command)
        data = cache.load(key)
        self.from_cache = data is not None
        if data is None:
            text, command = _host_build(source) if host_build else (source, make)
            data = _build(text, command, "the C++ compiler" if host_build else "nvcc")
            cache.store(key, data, list(symbols))
        self.handle = _load(data)

    def new_state(self) -> int:
        """A program state (its stream, CUDA graph and scratch memory: runtime.cuh)."""
        create = self.handle.graphc_state_create
        create.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_int]
        error = ctypes.create_string_buffer(512)
        state = ctypes.c_void_p()
        if create(ctypes.byref(state), error, len(error)):
            raise GraphcError(f"CUDA: {error.value.decode(errors='replace')} (creating a "
                              "program's stream)")
        return state.value

    def replays(self, state: int) -> int:
        """How many runs replayed the state's CUDA graph."""
        count = self.handle.graphc_state_replays
        count.argtypes, count.restype = [ctypes.c_void_p], ctypes.c_int64
        return count(state)

    def free_state(self, state: int) -> None:
        destroy = self.handle.graphc_state_destroy
        destroy.argtypes = [ctypes.c_void_p]
        destroy(state)


def _build(source: str, make, what: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="graphc-cuda-") as folder:
        src, out = os.path.join(folder, "program.cu"), os.path.join(folder, "program.so")
        with open(src, "w") as f:
            f.write(source)
        run_compiler(make(src, out), what)
        with open(out, "rb") as f:
            return f.read()


def _load(data: bytes) -> ctypes.CDLL:
    with tempfile.TemporaryDirectory(prefix="graphc-cuda-") as folder:
        path = os.path.join(folder, "program.so")
        with open(path, "wb") as f:
            f.write(data)
        return ctypes.CDLL(path, mode=getattr(os, "RTLD_LOCAL", 0))


class Memory:
    """Device memory through the memory functions every generated program carries (a
    program without kernels built once per process and build kind)."""

    ERROR_BYTES = 512

    def __init__(self, host_build: bool):
        self.host_build = host_build
        lib = Library(PRELUDE, host_build).handle
        self._alloc, self._free, self._copy = lib.graphc_alloc, lib.graphc_free, lib.graphc_copy
        self._alloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t,
                                ctypes.c_char_p, ctypes.c_int]
        self._free.argtypes = [ctypes.c_void_p]
        self._copy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                               ctypes.c_char_p, ctypes.c_int]
        self._devices = lib.graphc_devices
        self._devices.argtypes = [ctypes.c_char_p, ctypes.c_int]
        self._error = ctypes.create_string_buffer(self.ERROR_BYTES)

    def devices(self) -> tuple[int, str]:
        """(number of GPUs, why none when 0)."""
        count = self._devices(self._error, self.ERROR_BYTES)
        return max(count, 0), self._error.value.decode(errors="replace")

    def alloc(self, nbytes: int) -> int:
        ptr = ctypes.c_void_p()
        if self._alloc(ctypes.byref(ptr), nbytes, self._error, self.ERROR_BYTES):
            raise GraphcError(f"CUDA: {self._error.value.decode(errors='replace')} "
                              f"(allocating {nbytes} bytes on the device)")
        return ptr.value

    def free(self, ptr: int) -> None:
        if ptr:
            self._free(ptr)

    def copy(self, dst: int, src: int, nbytes: int, kind: int) -> None:
        """kind: 0 host → device, 1 device → host, 2 device → device."""
        if nbytes and self._copy(dst, src, nbytes, kind, self._error, self.ERROR_BYTES):
            raise GraphcError(f"CUDA: {self._error.value.decode(errors='replace')}")


@functools.lru_cache(maxsize=2)
def memory(host_build: bool) -> Memory:
    return Memory(host_build)
