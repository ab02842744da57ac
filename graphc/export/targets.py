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
from dataclasses import replace

from ..codegen.base.cache import ObjectCache, cache_key, generator_version
from ..codegen.c import toolchain as c_toolchain
from ..codegen.c.render import program_body
from ..codegen.cstyle import PRELUDE as C_PRELUDE
from ..lower.target import CPU, CUDA, PORTABLE_C
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


def makefile(name: str, rules: list[tuple[str, str, str]], libs: list[str],
             prebuilt=(), shared_link: str | None = None, variables=()) -> str:
    """A Makefile building libNAME.so and libNAME.a: rules are (object, source, command);
    `prebuilt` objects ship built (LLVM's, for this export's CPU)."""
    objects = " ".join([o for o, _, _ in rules] + list(prebuilt))
    shared = f"{shared_link} -o $@ {objects}" if shared_link else \
        f"$(CC) -shared -o $@ {objects} {' '.join(libs)}"
    lines = ["# Rebuilds the graphc export's libraries from its sources.",
             f"# A program linking lib{name}.a adds: {' '.join(libs)}", "CC ?= cc",
             *variables, "", f"all: lib{name}.so lib{name}.a", ""]
    for obj, src, command in rules:
        lines += [f"{obj}: {src}", f"\t{command}", ""]
    lines += [f"lib{name}.so: {objects}", f"\t{shared}",
              "", f"lib{name}.a: {objects}", f"\trm -f $@ && ar rcs $@ {objects}", "",
              "clean:", f"\trm -f {' '.join(o for o, _, _ in rules)} lib{name}.so lib{name}.a",
              "",
              ".PHONY: all clean", ""]
    return "\n".join(lines)


class ExportTarget:
    name = ""
    lowering = PORTABLE_C          # the lower/target.py Target its programs are lowered for
    device = False
    link_flags = ("-lm",)          # what a program linking libNAME.a adds

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


CPU_CHECKS = ("sse4.2", "avx", "avx2", "fma", "bmi", "bmi2", "avx512f", "avx512dq",
              "avx512bw", "avx512vl")
"""CPU features the library checks for at NAME_create (where the compiler can), so a
library built for a newer CPU refuses to load instead of stopping on an illegal
instruction."""
PORTABLE_CPU = ("x86-64-v3", ("avx", "avx2", "fma", "bmi", "bmi2"))


class LLVMObjects(ExportTarget):
    """`cpu` / `cpu-portable`: the programs, the GEMMs they call and the thread pool as
    one LLVM module, every function internal but the entry points and the pool's worker
    loop (renamed NAME_gx_*), compiled to a PIC object; the C glue starts the pool's
    threads with pthreads."""

    name = "cpu"
    lowering = CPU
    portable = False
    link_flags = ("-lm", "-pthread")

    def machine(self):
        """(target machine, description, vector bits, fma, features to check)."""
        import llvmlite.binding as llvm
        from ..codegen.llvm.jit import _init
        _init()
        target = llvm.Target.from_default_triple()
        if self.portable:
            if not target.triple.startswith("x86_64"):
                raise ExportError("export: target 'cpu-portable' is x86-64-v3; on this "
                                  f"{target.triple} machine export target 'cpu' or 'c'")
            cpu, checks = PORTABLE_CPU
            features, bits, fma = "", 256, True
        else:
            host = llvm.get_host_cpu_features()
            cpu, features = llvm.get_host_cpu_name(), host.flatten()
            bits = 512 if host.get("avx512f") else 256 if host.get("avx2") else 128
            fma = bool(host.get("fma"))
            checks = tuple(f for f in CPU_CHECKS if host.get(f))
        tm = target.create_target_machine(cpu=cpu, features=features, opt=3, reloc="pic",
                                          codemodel="default")
        return tm, f"{target.triple};{cpu};{features}", bits, fma, checks

    def module_text(self, model: Model, bits: int, fma: bool) -> str:
        """The LLVM IR of every part, each module's text (linked in `object`)."""
        import llvmlite.ir as ir
        from ..codegen.llvm.gemm import define_gemm_family, gemm_config
        from ..codegen.llvm.parallel import runtime_ir
        from ..codegen.llvm.render import program_module
        from ..codegen.llvm.templates import (TEMPLATES, convolution_module_text,
                                              native_routines)
        texts = [runtime_ir()]
        kernels = [k for p in model.programs for k in p.lowered.kernels]
        needed = native_routines(kernels)
        for dtype in sorted({d for d, _, _ in needed.gemms}):
            module = ir.Module(name=f"gemm_{dtype}")
            define_gemm_family(module, dtype, gemm_config(dtype, bits, fma))
            texts.append(str(module))
        texts += [convolution_module_text(key) for key in needed.convolutions]
        for i, p in enumerate(model.programs):
            stop = p.slots["status"] if p.lowered.failures else None
            renamed = [replace(k, name=f"gx_p{i}_{k.name}") for k in p.lowered.kernels]
            texts.append(str(program_module(renamed, p.slots, TEMPLATES,
                                            entry=f"{model.name}_gx_entry{i}",
                                            tasks=CPU.tasks, stop_slot=stop)))
        return "\n;---- module ----\n".join(texts)

    def object(self, model: Model, tm, texts: str) -> bytes:
        import llvmlite.binding as llvm
        from ..codegen.llvm.jit import optimize, parse
        keep = {f"{model.name}_gx_entry{i}" for i in range(len(model.programs))}
        renames = {f"graphc_{f}": f"{model.name}_gx_{f}"
                   for f in ("worker_loop", "pool_shutdown", "cycles")}
        parts = [parse(t) for t in texts.split("\n;---- module ----\n")]
        main = parts[0]
        for other in parts[1:]:
            main.link_in(other)
        for fn in main.functions:
            if fn.is_declaration:
                continue
            if fn.name in renames:
                fn.name = renames[fn.name]
            elif fn.name not in keep:
                fn.linkage = "internal"
                continue
            fn.visibility = "hidden"         # the glue's, not the shared library's
        for g in main.global_variables:
            if not g.is_declaration:
                g.linkage = "internal"
        main.triple = tm.triple
        main.data_layout = str(tm.target_data)
        main.verify()
        optimize(main, 3, tm)
        return tm.emit_object(main)

    def target_part(self, model: Model, checks) -> str:
        from ..codegen.llvm import parallel as pool
        n = model.name
        decls = "\n".join(f"void {n}_gx_entry{i}(void **table, void *pool);"
                           for i in range(len(model.programs)))
        cases = "\n".join(f"    case {i}: {n}_gx_entry{i}(table, pool); break;"
                           for i in range(len(model.programs)))
        features = " && ".join(f'__builtin_cpu_supports("{f}")' for f in checks) or "1"
        return f"""#include <pthread.h>
#include <time.h>

{decls}
void {n}_gx_worker_loop(void *pool);
void {n}_gx_pool_shutdown(void *pool);
int64_t {n}_gx_cycles(void);

#define GX_POOL_BYTES {pool.POOL_BYTES}
#define GX_POOL_THREADS {pool.OFF_NTHREADS}
#define GX_POOL_SPIN {pool.OFF_SPIN}
#define GX_POOL_STARTED {pool.OFF_STARTED}
#define GX_SPIN_US {pool.DEFAULT_SPIN_US}

typedef struct {{
    unsigned char *memory;       /* the pool's words, as the worker loop reads them */
    pthread_t *threads;
    int n_workers;
}} gx_pool;

static void *gx_worker(void *memory) {{
    {n}_gx_worker_loop(memory);
    return NULL;
}}

/* GRAPHC_NUM_THREADS, else the CPUs online */
static int gx_thread_count(void) {{
    const char *configured = getenv("GRAPHC_NUM_THREADS");
    long n = configured && *configured ? strtol(configured, NULL, 10)
                                       : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int) n;
}}

static double gx_microseconds(void) {{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double) t.tv_sec * 1e6 + (double) t.tv_nsec * 1e-3;
}}

/* the cycle counter's ticks in GX_SPIN_US, measured over 2 ms */
static int64_t gx_spin_cycles(void) {{
    double t0 = gx_microseconds(), t1;
    int64_t c0 = {n}_gx_cycles(), c1;
    do t1 = gx_microseconds(); while (t1 - t0 < 2000.0);
    c1 = {n}_gx_cycles();
    return (int64_t) ((double) (c1 - c0) / (t1 - t0) * GX_SPIN_US);
}}

static int gx_cpu_supported(void) {{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    return {features};
#else
    return 1;
#endif
}}

static int gx_target_start(gx_context *ctx) {{
    int n, i;
    gx_pool *pool;
    if (!gx_cpu_supported())
        return gx_fail(ctx, GX_ERROR_STATE, "this library was built for a CPU with %s; this "
                       "one lacks some of them", "{', '.join(checks) or 'no extensions'}");
    n = gx_thread_count();
    if (n < 2) return GX_OK;             /* no pool: every task runs on the caller */
    pool = (gx_pool *) calloc(1, sizeof(gx_pool));
    if (!pool) return gx_fail(ctx, GX_ERROR_MEMORY, "out of memory starting threads");
    pool->memory = (unsigned char *) gx_host_alloc(GX_POOL_BYTES);
    pool->threads = (pthread_t *) calloc((size_t) n, sizeof(pthread_t));
    if (!pool->memory || !pool->threads) {{
        free(pool->memory);
        free(pool->threads);
        free(pool);
        return gx_fail(ctx, GX_ERROR_MEMORY, "out of memory starting threads");
    }}
    {{
        int64_t threads = n, spin = gx_spin_cycles();
        memcpy(pool->memory + GX_POOL_THREADS, &threads, 8);
        memcpy(pool->memory + GX_POOL_SPIN, &spin, 8);
    }}
    for (i = 0; i < n - 1; i++) {{
        if (pthread_create(&pool->threads[i], NULL, gx_worker, pool->memory) != 0) break;
        pool->n_workers++;
    }}
    while (__atomic_load_n((int32_t *) (pool->memory + GX_POOL_STARTED), __ATOMIC_ACQUIRE)
           < pool->n_workers) {{
        struct timespec pause = {{0, 100000}};
        nanosleep(&pause, NULL);
    }}
    ctx->target = pool;
    return GX_OK;
}}

static void gx_target_stop(gx_context *ctx) {{
    gx_pool *pool = (gx_pool *) ctx->target;
    int i;
    {n}_gx_pool_shutdown(pool->memory);
    for (i = 0; i < pool->n_workers; i++) pthread_join(pool->threads[i], NULL);
    free(pool->threads);
    free(pool->memory);
    free(pool);
    ctx->target = NULL;
}}

static int gx_enter(gx_context *ctx, int program, void **table, int64_t batch) {{
    void *pool = ctx->target ? ((gx_pool *) ctx->target)->memory : NULL;
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
        tm, description, bits, fma, checks = self.machine()
        texts = self.module_text(model, bits, fma)
        cache = ObjectCache(suffix=".export.o")
        key = cache_key(texts, description, generator_version(), "export-llvm-object")
        data = cache.load(key)
        if data is None:
            data = self.object(model, tm, texts)
            cache.store(key, data)
        with open(os.path.join(folder, f"{n}_programs.o"), "wb") as f:
            f.write(data)
        with open(os.path.join(folder, f"{n}_programs.ll"), "w") as f:
            f.write(texts)
        source = model_source(model, graphc_version, False, "", self.target_part(model, checks))
        with open(os.path.join(folder, f"{n}.c"), "w") as f:
            f.write(source)
        flags = list(C_FLAGS) + ["-pthread"]
        argv = list(c_toolchain.compiler()) + flags + ["-I.", "-c", f"{n}.c", "-o", f"{n}.o"]
        cached_object(folder, f"{n}.c", argv, f"{n}.o",
                      [c_toolchain.identity(), generator_version()], "compiling the C glue")
        libs = list(self.link_flags)
        link(folder, n, [f"{n}.o", f"{n}_programs.o"], libs)
        with open(os.path.join(folder, "Makefile"), "w") as f:
            f.write(makefile(n, [(f"{n}.o", f"{n}.c",
                                  f"$(CC) {' '.join(flags)} -I. -c {n}.c -o {n}.o")], libs,
                             prebuilt=[f"{n}_programs.o"]))
        return [f"{n}.c", f"{n}.o", f"{n}_programs.o", f"{n}_programs.ll", f"lib{n}.so",
                f"lib{n}.a", "Makefile"]


class PortableLLVMObjects(LLVMObjects):
    name = "cpu-portable"
    portable = True


CUDA_SYMBOLS = ("graphc_alloc", "graphc_free", "graphc_copy", "graphc_devices",
                "graphc_host_build", "graphc_state_create", "graphc_state_destroy",
                "graphc_state_replays")
"""The CUDA prelude's C functions, renamed NAME_gx_* so two models link together."""


class CUDASource(ExportTarget):
    """`cuda`: each program's kernels and host launcher (codegen/cuda) in a namespace of
    its own, in one .cu with the runtime; its buffers live on the GPU, the inputs are
    copied there and the outputs back. `cuda-host` builds the same source with the
    CUDA host emulation (codegen/cuda/prelude.py) and a C++ compiler: how the generated
    CUDA runs where there is no GPU (tests, CI)."""

    name = "cuda"
    lowering = CUDA
    device = True
    host_build = False
    link_flags = ("-lcudart", "-lm", "-pthread", "-lstdc++")

    def programs(self, model: Model) -> str:
        from ..codegen.cuda.render import program_parts
        parts = []
        for i, p in enumerate(model.programs):
            stop = p.slots["status"] if p.lowered.failures else None
            sizes = {j: node.type.num_elements for j, node in enumerate(p.lowered.prints or [])}
            device, entry = program_parts(p.lowered.kernels, p.slots, stop, sizes,
                                          entry=f"{model.name}_gx_entry{i}")
            parts.append(f"namespace gx_program{i} {{\n\n" + "\n\n".join(device + [entry])
                         + f"\n\n}}  // namespace gx_program{i}")
        return "\n\n".join(parts)

    def top(self, model: Model) -> str:
        from ..codegen.cuda.prelude import PRELUDE
        renames = "\n".join(f"#define {s} {model.name}_gx_{s[len('graphc_'):]}"
                             for s in CUDA_SYMBOLS)
        return "\n\n".join([renames, PRELUDE])

    def target_part(self, model: Model) -> str:
        n = model.name
        cases = "\n".join(f"    case {i}: failed = gx_program{i}::{n}_gx_entry{i}(table, &sizes, "
                           f"states[{i}], gx_print_value, ctx->error, (int) sizeof ctx->error); "
                           "break;" for i in range(len(model.programs)))
        return f"""/* the target's state: one graphc_state per program (its stream, CUDA graph and
   scratch memory), so contexts never share one */
static int gx_target_start(gx_context *ctx) {{
    int devices = graphc_devices(ctx->error, (int) sizeof ctx->error);
    if (devices < 0) return GX_ERROR_DEVICE;
    if (devices == 0) return gx_fail(ctx, GX_ERROR_DEVICE, "no CUDA device is present");
    graphc_state **states = (graphc_state **) calloc(GX_N_PROGRAMS, sizeof *states);
    if (!states) return gx_fail(ctx, GX_ERROR_MEMORY, "out of memory for the CUDA state");
    ctx->target = states;
    for (int i = 0; i < GX_N_PROGRAMS; i++)
        if (graphc_state_create(&states[i], ctx->error, (int) sizeof ctx->error))
            return GX_ERROR_DEVICE;
    return GX_OK;
}}

static void gx_target_stop(gx_context *ctx) {{
    graphc_state **states = (graphc_state **) ctx->target;
    for (int i = 0; i < GX_N_PROGRAMS; i++) graphc_state_destroy(states[i]);
    free(states);
    ctx->target = NULL;
}}

static int gx_enter(gx_context *ctx, int program, void **table, int64_t batch) {{
    graphc_state **states = (graphc_state **) ctx->target;
    int64_t sizes = batch;
    int failed = 0;
    switch (program) {{
{cases}
    default: break;
    }}
    return failed ? GX_ERROR_DEVICE : GX_OK;
}}"""

    def commands(self, n: str) -> tuple[list[str], list[str], list[str]]:
        """(compile argv, the libraries a program linking libNAME needs, key parts)."""
        from ..codegen.cuda import toolchain as cuda
        if self.host_build:
            argv = [*cuda.host_compiler(), "-O1", "-std=c++17", "-fPIC", "-fvisibility=hidden",
                    "-pthread", "-DGRAPHC_HOST_BUILD", "-I.", "-x", "c++", "-c", f"{n}.cu",
                    "-o", f"{n}.o"]
            return argv, list(self.link_flags), [cuda._identity(argv[0])]
        gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in cuda.archs()]
        argv = [cuda.nvcc(), "-O3", "-std=c++17", "-Xcompiler", "-fPIC", "-Xcompiler",
                "-fvisibility=hidden", *gencode, "-I.", "-c", f"{n}.cu", "-o", f"{n}.o"]
        return argv, list(self.link_flags), [cuda._identity(argv[0])]

    def write(self, model, folder, graphc_version):
        from .source import model_source
        n = model.name
        source = model_source(model, graphc_version, True, self.programs(model),
                              self.target_part(model), top=self.top(model))
        with open(os.path.join(folder, f"{n}.cu"), "w") as f:
            f.write(source)
        argv, libs, key = self.commands(n)
        cached_object(folder, f"{n}.cu", argv, f"{n}.o", key + [generator_version()],
                      "compiling the CUDA source")
        if self.host_build:
            link(folder, n, [f"{n}.o"], libs)
        else:
            from ..codegen.cuda import toolchain as cuda
            run_tool([cuda.nvcc(), "-shared", "-o", f"lib{n}.so", f"{n}.o"],
                     "linking the shared library", folder)
            run_tool(["ar", "rcs", f"lib{n}.a", f"{n}.o"], "making the static library", folder)
        compile_line = " ".join(a if a != argv[0] else ("$(NVCC)" if not self.host_build
                                                         else "$(CXX)") for a in argv)
        with open(os.path.join(folder, "Makefile"), "w") as f:
            f.write(makefile(n, [(f"{n}.o", f"{n}.cu", compile_line)], libs,
                             shared_link=None if self.host_build else "$(NVCC) -shared",
                             variables=["NVCC ?= nvcc", "CXX ?= c++"]))
        return [f"{n}.cu", f"{n}.o", f"lib{n}.so", f"lib{n}.a", "Makefile"]


class CUDAHostSource(CUDASource):
    name = "cuda-host"
    host_build = True
    link_flags = ("-lm", "-pthread", "-lstdc++")


TARGETS = {"c": CSource, "cpu": LLVMObjects, "cpu-portable": PortableLLVMObjects,
           "cuda": CUDASource, "cuda-host": CUDAHostSource}


def get_target(name: str) -> ExportTarget:
    try:
        return TARGETS[name]()
    except KeyError:
        raise ExportError(f"export: unknown target {name!r}; choose one of "
                          f"{', '.join(sorted(TARGETS))}") from None

