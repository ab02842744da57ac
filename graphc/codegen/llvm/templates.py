"""How the LLVM renderer emits the loop IR's routines natively (`NATIVE`).

The GEMM of a dtype (its four transpose variants over one core, and the micro-kernels)
is compiled once per process (and cached on disk) in a JIT of its own, then published
with `llvm.add_symbol`, so every program module only declares it: a program's compile
never pays for the GEMM again.
"""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import llvmlite.binding as llvm
import llvmlite.ir as ir

from ...lower.access import statements
from ...ir import float32, float64
from ...lower.routines import Allreduce, BlockSum, ConvDirect, ConvFilterDirect, Gemm, Print
from .gemm import (EPILOGUE_TYPE, TRANSPOSES, define_gemm_family, define_micro_kernels,
                   gemm_name, gemm_type, host_config, micro_kernels_name)
from ..base.cache import generator_version
from .jit import JIT, CompileJob
from . import conv_direct
from .mpi import allreduce_native, link_mpi
from .parallel import install_runtime
from .render import value_type

I32, I64 = ir.IntType(32), ir.IntType(64)
_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _routines_jit() -> JIT:
    """The JIT of the GEMM routines; the variants link against the thread-pool runtime,
    installed in it before the first one loads (`gemm_symbol`)."""
    return JIT()


ROUTINE_OPT_LEVEL = 1
"""The GEMM is vector code already (explicit vectors, registers chosen by construction):
O1 runs it as fast as O3 (measured on f32 products from 64×100×10 to 512³, two threads)
and compiles in about two thirds of the time."""


def _routine_job(name: str, dtype: str, define) -> CompileJob:
    """A module of the routines' JIT holding what `define(module, dtype, config)` adds,
    keyed by its name, the host blocking and the code generator's source."""
    config = host_config(dtype)

    def build() -> str:
        module = ir.Module(name=name)
        define(module, dtype, config)
        return str(module)
    return CompileJob(_routines_jit(), f"{name}:{config}:{generator_version()}", build,
                      ROUTINE_OPT_LEVEL)


def gemm_job(dtype: str) -> CompileJob:
    """What compiling the four GEMM variants of a dtype takes; their micro-kernels are
    another job (`kernels_job`), compiled side by side."""
    return _routine_job(f"graphc_gemm_{dtype}", dtype,
                        lambda module, dtype, config: define_gemm_family(
                            module, dtype, config, shared_kernels=True))


def kernels_job(dtype: str) -> CompileJob:
    """What compiling the micro-kernels of the host blocking takes."""
    return _routine_job(micro_kernels_name(dtype, host_config(dtype)), dtype,
                        define_micro_kernels)


def _load(job: CompileJob) -> None:
    """Compile a routine module (or load it from the disk cache) into its JIT."""
    job.jit.add(job.source, job.optimize_level, key=job.key)


def gemm_symbol(dtype: str, trans_a: bool, trans_b: bool) -> str:
    """The global symbol of a GEMM variant, its dtype's GEMM compiled first (once per
    process; from the disk cache when seen before)."""
    _load_gemm(dtype)
    return gemm_name(dtype, trans_a, trans_b)


@functools.lru_cache(maxsize=None)
def _load_gemm(dtype: str) -> None:
    """The micro-kernels, then the variants that call them, in the routines' JIT; every
    variant's symbol made global."""
    with _LOCK:
        _load(kernels_job(dtype))
        job = gemm_job(dtype)
        install_runtime(job.jit)
        _load(job)
        for trans_a, trans_b in TRANSPOSES:
            name = gemm_name(dtype, trans_a, trans_b)
            llvm.add_symbol(name, job.jit.address(name))
        _LOADED.add(dtype)


_LOADED: set = set()


def gemm_native(em, g: Gemm, epilogue=None) -> None:
    """A call of the compiled variant; `epilogue`: (function, ctx) it calls on each final
    block of C (render.py, for a GEMM's pointwise epilogue)."""
    dtype = em.dtypes[g.a]
    # declared only: publish_routines links the compiled variant before the program
    name = gemm_name(dtype.short, g.trans_a, g.trans_b)
    fn = em.module.globals.get(name) or ir.Function(em.module, gemm_type(dtype.short), name)
    bld = em.builder

    def at(buf, off):
        return bld.gep(em.buffers[buf], [em.expr(off)])

    finish, ctx = epilogue or (ir.Constant(EPILOGUE_TYPE.as_pointer(), None),
                               ir.Constant(ir.IntType(8).as_pointer(), None))
    bld.call(fn, [em.pool, em.expr(g.m), em.expr(g.n), em.expr(g.k), at(g.a, g.a_offset),
                  ir.Constant(I64, g.lda), at(g.b, g.b_offset), ir.Constant(I64, g.ldb),
                  at(g.c, g.c_offset), ir.Constant(I64, g.ldc),
                  ir.Constant(value_type(dtype), float(g.beta)),
                  ir.Constant(value_type(dtype), float(g.alpha)), finish, ctx])


def print_native(em, p: Print) -> None:
    """Call the runtime's print function (a table slot) with the print's index and data."""
    target, callback, index = p.target, p.callback, p.index
    fnty = ir.FunctionType(ir.VoidType(), [I64, ir.IntType(8).as_pointer()])
    bld = em.builder
    fn = bld.bitcast(em.buffers[callback], fnty.as_pointer())
    bld.call(fn, [ir.Constant(I64, index), bld.bitcast(em.buffers[target],
                                                      ir.IntType(8).as_pointer())])


def block_sum_native(em, s: BlockSum) -> None:
    """out[t] = Σ x[e] over e ≡ t (mod period): period/lanes vector accumulators in
    registers over the whole periods of one contiguous pass, then the last partial period
    element by element (written here because LLVM, given the loop-IR form, unrolls the
    accumulator loop and keeps 48+ scalar sums)."""
    x, count, period, out = s.x, s.count, s.period, s.out
    dtype = em.dtypes[x]
    elem = value_type(dtype)
    lanes = 64 // dtype.itemsize
    vec = ir.VectorType(elem, lanes)
    b = em.builder
    total = em.expr(count)
    blocks = b.sdiv(total, ir.Constant(I64, period))
    done_elements = b.mul(blocks, ir.Constant(I64, period))
    zero = ir.Constant(vec, [0.0] * lanes)
    accs = _counted_loop(em, "block_sum", blocks, [zero] * (period // lanes),
                         lambda i, accs: _add_block(em, x, vec, dtype.itemsize, b.mul(
                             i, ir.Constant(I64, period)), accs))
    for v, acc in enumerate(accs):
        ptr = b.gep(em.buffers[out], [ir.Constant(I64, v * lanes)])
        b.store(acc, b.bitcast(ptr, vec.as_pointer()), align=dtype.itemsize)

    def add_left_over(t, _):
        slot = b.gep(em.buffers[out], [t])
        value = b.load(b.gep(em.buffers[x], [b.add(done_elements, t)]))
        b.store(b.fadd(b.load(slot), value), slot)
        return []
    _counted_loop(em, "block_sum.tail", b.sub(total, done_elements), [], add_left_over)


def _add_block(em, x, vec, align, base, accs) -> list:
    """accs[v] + the v-th vector of x from element `base` on."""
    b = em.builder
    lanes = vec.count
    out = []
    for v, acc in enumerate(accs):
        ptr = b.gep(em.buffers[x], [b.add(base, ir.Constant(I64, v * lanes))])
        loaded = b.load(b.bitcast(ptr, vec.as_pointer()), align=align)
        out.append(b.fadd(acc, loaded, flags=("reassoc",)))
    return out


def _counted_loop(em, name, count, initial, body) -> list:
    """for i in [0, count): carried = body(i, carried); the carried values at the end
    (phis, so that accumulators stay in registers)."""
    b = em.builder
    pre = b.block
    head = em.fn.append_basic_block(name + ".head")
    step = em.fn.append_basic_block(name + ".body")
    done = em.fn.append_basic_block(name + ".done")
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64)
    i.add_incoming(ir.Constant(I64, 0), pre)
    carried = []
    for value in initial:
        phi = b.phi(value.type)
        phi.add_incoming(value, pre)
        carried.append(phi)
    b.cbranch(b.icmp_signed("<", i, count), step, done)
    b.position_at_end(step)
    updated = body(i, carried)
    last = b.block
    for phi, value in zip(carried, updated):
        phi.add_incoming(value, last)
    i.add_incoming(b.add(i, ir.Constant(I64, 1)), last)
    b.branch(head)
    b.position_at_end(done)
    return carried


TEMPLATES = {Gemm: gemm_native, BlockSum: block_sum_native, ConvDirect: conv_direct.conv_native,
             ConvFilterDirect: conv_direct.conv_native, Print: print_native,
             Allreduce: allreduce_native}
"""How each routine the CPU target implements (lower/target.py) is emitted; lowering has
expanded every other one into loops."""


@dataclass(frozen=True)
class NativeRoutines:
    """What a program's kernels call natively: GEMM variants (dtype, trans_a, trans_b) and
    distinct direct convolutions (conv_direct.routine_key), each listed once; whether it
    calls MPI."""
    gemms: tuple
    convolutions: tuple
    mpi: bool = False


def native_routines(kernels) -> NativeRoutines:
    """One walk over the kernels (a ResNet's 200: a tenth of its start from the cache,
    when each list took a walk of its own)."""
    dtypes = {p.name: p.dtype for k in kernels for p in k.params}
    gemms, convolutions, mpi = {}, {}, False
    for item in statements([s for k in kernels for s in k.body]):
        if isinstance(item, Gemm) and dtypes[item.c].is_floating:
            gemms[(dtypes[item.c].short, item.trans_a, item.trans_b)] = None
        elif isinstance(item, (ConvDirect, ConvFilterDirect)):
            convolutions[conv_direct.routine_key(item, dtypes[item.x])] = None
        mpi = mpi or isinstance(item, Allreduce)
    return NativeRoutines(tuple(gemms), tuple(convolutions), mpi)


def convolution_module_text(key: tuple) -> str:
    """The LLVM IR of one direct-convolution routine's module."""
    module = ir.Module(name=conv_direct.routine_symbol(key))
    conv_direct.define(module, key, _DTYPES)
    return str(module)


_DTYPES = {d.short: d for d in (float32, float64)}
CONV_OPT_LEVEL = 3
"""The direct convolutions' index arithmetic and accumulator allocas need the full
pipeline (unlike the GEMM's explicit code)."""


def _conv_job(key: tuple) -> CompileJob:
    return CompileJob(_routines_jit(), f"{conv_direct.routine_symbol(key)}:{key}:"
                      f"{generator_version()}", lambda: convolution_module_text(key),
                      CONV_OPT_LEVEL)


def routine_jobs(needed: NativeRoutines) -> list[tuple]:
    """Compile jobs (`jit.precompile`) of the routines a program calls that this process
    has not loaded: for each dtype, the GEMM variants and micro-kernels; each distinct
    direct convolution."""
    dtypes = sorted({dtype for dtype, _, _ in needed.gemms} - _LOADED)
    return [job for dtype in dtypes for job in (gemm_job(dtype), kernels_job(dtype))] + \
        [_conv_job(key) for key in needed.convolutions if key not in _CONVS]


_CONVS: set = set()


def publish_routines(needed: NativeRoutines) -> None:
    """Make every routine a program calls available to the linker (a program loaded
    from the disk cache calls them without being rendered)."""
    if needed.mpi:
        link_mpi()
    for variant in needed.gemms:
        gemm_symbol(*variant)
    for key in needed.convolutions:
        if key in _CONVS:
            continue
        with _LOCK:
            job = _conv_job(key)
            _load(job)
            name = conv_direct.routine_symbol(key)
            llvm.add_symbol(name, job.jit.address(name))
            _CONVS.add(key)
