"""The export's targets: how each turns the model's lowered programs into the library.

    c             the programs as C99 (codegen/c), one translation unit with the runtime;
                  any C compiler builds it (the Makefile says how); serial
    cpu           the programs as LLVM objects for this machine's CPU (PIC, the default
                  code model), the native GEMM and the thread pool linked in; the runtime
                  and the API in C beside them
    cpu-portable  the same for any x86-64 CPU with AVX2 and FMA (x86-64-v3)
    cuda          the programs as CUDA C (codegen/cuda), the runtime in the same .cu,
                  built with nvcc

Every target writes its sources into the export folder, builds `libNAME.so` and
`libNAME.a` there, and writes a Makefile that rebuilds them from those sources.
Objects are kept in graphc's disk cache, keyed by their source and toolchain.
"""
from __future__ import annotations

import os
import subprocess

from ..codegen.base.cache import ObjectCache, cache_key, generator_version
from ..codegen.c import toolchain as c_toolchain
from ..codegen.c.render import program_body
from ..codegen.cstyle import PRELUDE as C_PRELUDE
from ..lower.target import PORTABLE_C
from .model import ExportError, Model

COMPILE_TIMEOUT_S = 900
C_FLAGS = ("-O2", "-std=c99", "-fPIC", "-fvisibility=hidden")
LIBS = ("-lm",)


def run_tool(argv: list[str], what: str, cwd: str) -> None:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                              timeout=COMPILE_TIMEOUT_S)
    except OSError as err:
        raise ExportError(f"export: {what}: {argv[0]} does not run: {err}") from None
    except subprocess.TimeoutExpired:
        raise ExportError(f"export: {what} took over {COMPILE_TIMEOUT_S} s") from None
    if done.returncode != 0:
        errors = "\n".join((done.stderr or done.stdout).splitlines()[:30])
        raise ExportError(f"export: {what} failed ({' '.join(argv)}):\n{errors}")


def cached_object(folder: str, source_name: str, argv: list[str], output: str,
                  key_parts: list[str], what: str) -> None:
    """Build `output` in `folder` with `argv`, or take it from the disk cache."""
    cache = ObjectCache(suffix=".export.o")
    with open(os.path.join(folder, source_name)) as f:
        source = f.read()
    key = cache_key(source, " ".join(argv), *key_parts)
    data = cache.load(key)
    path = os.path.join(folder, output)
    if data is None:
        run_tool(argv, what, folder)
        with open(path, "rb") as f:
            data = f.read()
        cache.store(key, data)
    else:
        with open(path, "wb") as f:
            f.write(data)


def link(folder: str, name: str, objects: list[str], libs: list[str]) -> None:
    """libNAME.so and libNAME.a from the objects."""
    cc = list(c_toolchain.compiler())
    run_tool(cc + ["-shared", "-o", f"lib{name}.so"] + objects + libs,
             "linking the shared library", folder)
    archive = os.path.join(folder, f"lib{name}.a")
    if os.path.exists(archive):
        os.unlink(archive)
    run_tool(["ar", "rcs", f"lib{name}.a"] + objects, "making the static library", folder)


def makefile(name: str, rules: list[tuple[str, str, str]], libs: list[str]) -> str:
    """A Makefile building libNAME.so and libNAME.a: rules are (object, source, command)."""
    objects = " ".join(o for o, _, _ in rules)
    lines = ["# Rebuilds the graphc export's libraries from its sources.", "CC ?= cc", "",
             f"all: lib{name}.so lib{name}.a", ""]
    for obj, src, command in rules:
        lines += [f"{obj}: {src}", f"\t{command}", ""]
    lines += [f"lib{name}.so: {objects}", f"\t$(CC) -shared -o $@ {objects} {' '.join(libs)}",
              "", f"lib{name}.a: {objects}", f"\trm -f $@ && ar rcs $@ {objects}", "",
              "clean:", f"\trm -f {objects} lib{name}.so lib{name}.a", "",
              ".PHONY: all clean", ""]
    return "\n".join(lines)


class ExportTarget:
    name = ""
    lowering = PORTABLE_C          # the lower/target.py Target its programs are lowered for
    device = False

    def write(self, model: Model, folder: str, graphc_version: str) -> list[str]:
        """Write the sources, build the libraries; the files written."""
        raise NotImplementedError


def _entry(i: int) -> str:
    return f"gx_entry{i}"


class CSource(ExportTarget):
    """`c`: every program's kernels as C (static functions) in the model's source."""

    name = "c"
    lowering = PORTABLE_C

    def programs(self, model: Model) -> str:
        parts = []
        for i, p in enumerate(model.programs):
            stop = p.slots["status"] if p.lowered.failures else None
            parts.append(program_body(p.lowered.kernels, p.slots, None, stop,
                                      prefix=f"gx_p{i}_", entry=_entry(i),
                                      qualifier="static void"))
        return "\n\n".join(parts)

    def target_part(self, model: Model) -> str:
        cases = "\n".join(f"    case {i}: {_entry(i)}(table); break;"
                          for i in range(len(model.programs)))
        return f"""static int gx_target_start(gx_context *ctx) {{
    (void) ctx;
    return GX_OK;
}}

static void gx_target_stop(gx_context *ctx) {{
    (void) ctx;
}}

static int gx_enter(gx_context *ctx, int program, void **table, int64_t batch) {{
    (void) ctx;
    (void) batch;
    switch (program) {{
{cases}
    default: break;
    }}
    return GX_OK;
}}"""

    def write(self, model, folder, graphc_version):
        from .source import model_source
        n = model.name
        source = model_source(model, graphc_version, False, self.programs(model),
                              self.target_part(model), top=C_PRELUDE)
        with open(os.path.join(folder, f"{n}.c"), "w") as f:
            f.write(source)
        flags = list(C_FLAGS) + list(c_toolchain.workaround_flags())
        argv = list(c_toolchain.compiler()) + flags + ["-I.", "-c", f"{n}.c", "-o", f"{n}.o"]
        cached_object(folder, f"{n}.c", argv, f"{n}.o",
                      [c_toolchain.identity(), generator_version()], "compiling the C source")
        link(folder, n, [f"{n}.o"], list(LIBS))
        with open(os.path.join(folder, "Makefile"), "w") as f:
            f.write(makefile(n, [(f"{n}.o", f"{n}.c",
                                  f"$(CC) {' '.join(flags)} -I. -c {n}.c -o {n}.o")],
                             list(LIBS)))
        return [f"{n}.c", f"{n}.o", f"lib{n}.so", f"lib{n}.a", "Makefile"]


TARGETS = {"c": CSource}


def get_target(name: str) -> ExportTarget:
    try:
        return TARGETS[name]()
    except KeyError:
        raise ExportError(f"export: unknown target {name!r}; choose one of "
                          f"{', '.join(sorted(TARGETS))}") from None

