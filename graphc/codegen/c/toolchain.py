"""The C backend's toolchain: the system C compiler (`$CC`, else `cc`) builds a program's
source into a shared library, kept in the disk cache (codegen/base/cache.py, keyed by
the source, the compiler's identity and the flags) and loaded with ctypes.

OpenMP is used when the compiler takes `-fopenmp` (checked once per process); without
it the same source builds and runs serially. GCC's SLP vectorizer is turned off where
the compiler has the flag: GCC 12.2 on x86-64 at -O2 dropped the float32 rounding of
`(double) (float) x` in the last pair of a 2×3 loop nest (found by the cast tests).
"""
from __future__ import annotations

import ctypes
import functools
import os
import shlex
import shutil
import subprocess
import tempfile

from ...ir import GraphcError
from ..base.cache import ObjectCache, cache_key
from .render import ENTRY

FLAGS = ("-O2", "-std=c99", "-fPIC", "-shared")
COMPILE_TIMEOUT_S = 600


class CompileError(GraphcError, RuntimeError):
    """The C compiler is missing or refused the generated source."""


@functools.lru_cache(maxsize=1)
def compiler() -> tuple[str, ...]:
    """The compiler command: $CC (may hold flags), else the first of cc, gcc, clang."""
    configured = os.environ.get("CC")
    if configured:
        return tuple(shlex.split(configured))
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return (path,)
    raise CompileError("backend 'c' needs a C compiler: install gcc or clang, or set CC")


@functools.lru_cache(maxsize=1)
def identity() -> str:
    """The compiler's own description of itself (part of every cache key)."""
    try:
        done = subprocess.run(list(compiler()) + ["--version"], capture_output=True, text=True,
                              timeout=60)
    except OSError as err:
        raise CompileError(f"the C compiler {compiler()[0]} does not run: {err}") from None
    return (done.stdout or done.stderr).splitlines()[0] if (done.stdout or done.stderr) else ""


@functools.lru_cache(maxsize=1)
def openmp_flags() -> tuple[str, ...]:
    """("-fopenmp",) when the compiler builds and links an OpenMP loop, else ()."""
    probe = "int main(void) {\n  int s = 0;\n#pragma omp parallel for reduction(+:s)\n" \
            "  for (int i = 0; i < 4; i++) s += i;\n  return s != 6;\n}\n"
    with tempfile.TemporaryDirectory(prefix="graphc-c-") as folder:
        source = os.path.join(folder, "probe.c")
        with open(source, "w") as f:
            f.write(probe)
        try:
            done = subprocess.run(list(compiler()) + ["-fopenmp", source, "-o",
                                                      os.path.join(folder, "probe")],
                                  capture_output=True, timeout=120)
        except OSError:
            return ()
    return ("-fopenmp",) if done.returncode == 0 else ()


@functools.lru_cache(maxsize=1)
def workaround_flags() -> tuple[str, ...]:
    """-fno-tree-slp-vectorize where the compiler takes it (see the module docstring)."""
    return tuple(f for f in ("-fno-tree-slp-vectorize",) if _accepts(f))


def _accepts(flag: str) -> bool:
    with tempfile.TemporaryDirectory(prefix="graphc-c-") as folder:
        source = os.path.join(folder, "probe.c")
        with open(source, "w") as f:
            f.write("int graphc_probe(void) { return 0; }\n")
        try:
            done = subprocess.run(list(compiler()) + ["-Werror", flag, "-c", source, "-o",
                                                      os.path.join(folder, "probe.o")],
                                  capture_output=True, timeout=120)
        except OSError:
            return False
    return done.returncode == 0


def command(source_path: str, output_path: str) -> list[str]:
    return list(compiler()) + list(FLAGS) + list(workaround_flags()) + list(openmp_flags()) + \
        [source_path, "-o", output_path]


class Library:
    """A built program: its ctypes handle and entry point, whether it came from the
    disk cache, and the command that builds it."""

    def __init__(self, source: str, cache: ObjectCache | None = None):
        self.command = " ".join(command("program.c", "program.so"))
        cache = cache if cache is not None else ObjectCache(suffix=".so")
        key = cache_key(source, identity(), self.command)
        data = cache.load(key)
        self.from_cache = data is not None
        if data is None:
            data = _build(source)
            cache.store(key, data, [ENTRY])
        self.handle = _load(data)
        self.entry = self.handle[ENTRY]
        self.entry.argtypes = [ctypes.c_void_p]
        self.entry.restype = None


def _build(source: str) -> bytes:
    """Compile `source` in a private temporary folder; the library's bytes."""
    with tempfile.TemporaryDirectory(prefix="graphc-c-") as folder:
        src, out = os.path.join(folder, "program.c"), os.path.join(folder, "program.so")
        with open(src, "w") as f:
            f.write(source)
        argv = command(src, out)
        try:
            done = subprocess.run(argv, capture_output=True, text=True,
                                  timeout=COMPILE_TIMEOUT_S)
        except OSError as err:
            raise CompileError(f"the C compiler {argv[0]} does not run: {err}") from None
        if done.returncode != 0:
            errors = "\n".join(done.stderr.splitlines()[:20])
            raise CompileError(f"the C compiler refused the generated program "
                               f"({' '.join(argv)}):\n{errors}")
        with open(out, "rb") as f:
            return f.read()


def _load(data: bytes) -> ctypes.CDLL:
    """Load a library from its bytes: written to a private temporary file, opened, and
    the file removed (the mapping stays)."""
    with tempfile.TemporaryDirectory(prefix="graphc-c-") as folder:
        path = os.path.join(folder, "program.so")
        with open(path, "wb") as f:
            f.write(data)
        return ctypes.CDLL(path, mode=getattr(os, "RTLD_LOCAL", 0))
