"""A generated GEMM: C = op(A)·op(B) (+ C), row-major, f32/f64, in LLVM IR.

`define_gemm(module, dtype, trans_a, trans_b)` adds `graphc_gemm_<dtype>_<ta><tb>`:

    void graphc_gemm_f32_nt(void *pool, int64_t M, int64_t N, int64_t K,
                            const float *A, int64_t lda, const float *B, int64_t ldb,
                            float *C, int64_t ldc, float beta, float alpha,
                            void (*epilogue)(void *ctx, int64_t r0, int64_t r1,
                                             int64_t c0, int64_t c1),
                            void *epilogue_ctx);

C = alpha·op(A)·op(B) + beta·C, BLAS's form; beta 0 never reads C. A non-null epilogue
is called on every block [r0, r1) × [c0, c1) of C once that block is final, by the thread
that finished it (lower/epilogue.py: a kernel's pointwise bias, activation or weight
update then runs on each block while it is in cache, not as one more pass over C). The SGD update
W −= lr·Xᵀ·dY is one call (C = W, beta 1, alpha −lr), and so is the momentum velocity
v = ρ·v + Xᵀ·dY (C = v, beta ρ).

op(A) is A (M×K, row stride lda) or, with trans_a, Aᵀ of an A stored K×M; likewise op(B)
is B (K×N) or Bᵀ of a B stored N×K. The transposed variants let dW = Xᵀ·dY and
dX = dY·Wᵀ run without materialising a transpose.

The design is the classic Goto/BLIS one (docs/gemm.md has the reasoning and numbers):
- loop over NC-column blocks of C, then KC-deep slices of K;
- pack op(B)[KC×NC] into NR-wide panels (k-major, zero padded) in a malloc'd buffer,
  and op(A)[MC×KC] into MR-tall panels, so the micro-kernel reads both contiguously;
- a register-blocked micro-kernel computes an MR×NR tile of C with MR·NR/W explicit
  <W x T> accumulators and `llvm.fma`, broadcasting one element of A against NR/W
  vectors of B per k; narrower kernels serve the last columns, and partial tiles are
  stored with masked vector stores.
The four variants share one core (`graphc_gemm_<dtype>.core`, given the transposes):
they differ only in their packing functions, which the core calls through pointers.
Threads (`pool` from graphc/codegen/llvm/parallel.py): B panels are packed in parallel,
then C is cut into a fixed grid of rectangles of whole MR×NR tiles, one task each.
Every element of C sees the same sequence of operations whatever the grid or the thread
(the K order is fixed), so results are identical run to run and pool vs no pool.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import llvmlite.binding as llvm
import llvmlite.ir as ir

from .gemm_kernel import ALIGN, I32, I64, SCALAR, SIZE, Builder, KernelEmitter, c64, \
    get_function
from .jit import target_machine

I1 = ir.IntType(1)
I8P = ir.IntType(8).as_pointer()
TASK_TYPE = ir.FunctionType(ir.VoidType(), [I8P, I64])
EPILOGUE_TYPE = ir.FunctionType(ir.VoidType(), [I8P, I64, I64, I64, I64])
"""`void epilogue(void *ctx, i64 r0, i64 r1, i64 c0, i64 c1)` over a final block of C."""
PARALLEL_FOR_TYPE = ir.FunctionType(ir.VoidType(), [I8P, TASK_TYPE.as_pointer(), I8P, I64])
POOL_THREADS_TYPE = ir.FunctionType(I64, [I8P])


@dataclass(frozen=True)
class GemmConfig:
    """Register and cache blocking of one GEMM variant.

    width: lanes of one vector; mr×nr: the micro-tile (nr a multiple of width);
    kc: depth of a packed slice; mc: rows of A packed at a time (a multiple of mr);
    nc: columns of B packed at a time (a multiple of nr); fma: use llvm.fma;
    oversubscribe: compute tasks per thread; parallel_flops: below this 2·M·N·K a call
    stays on the calling thread (a parallel_for costs a few microseconds).
    """
    width: int
    mr: int
    nr: int
    kc: int
    mc: int
    nc: int
    fma: bool = True
    oversubscribe: int = 4
    parallel_flops: int = 250_000


@functools.lru_cache(maxsize=4)
def host_config(dtype: str) -> GemmConfig:
    """Blocking for the host CPU, chosen by measurement (docs/gemm.md)."""
    target_machine()                      # initialises the native target
    features = llvm.get_host_cpu_features()
    bits = 512 if features.get("avx512f") else 256 if features.get("avx2") else 128
    return gemm_config(dtype, bits, bool(features.get("fma")))


def gemm_config(dtype: str, vector_bits: int, fma: bool) -> GemmConfig:
    """Blocking for a CPU with vectors of `vector_bits` (32 registers at 512 bits, else
    16): the host's (`host_config`), or an export's target CPU."""
    width = vector_bits // (8 * SIZE[dtype])
    registers = 32 if vector_bits == 512 else 16
    mr, nr = (8, 2 * width) if registers == 32 else (6, 2 * width)
    kc = 512 if dtype == "f32" else 384
    mc = 12 * mr
    nc = 4096 if dtype == "f32" else 2048
    return GemmConfig(width=width, mr=mr, nr=nr, kc=kc, mc=mc, nc=nc, fma=fma)


def gemm_name(dtype: str, trans_a: bool, trans_b: bool) -> str:
    return f"graphc_gemm_{dtype}_{'t' if trans_a else 'n'}{'t' if trans_b else 'n'}"


def gemm_type(dtype: str) -> ir.FunctionType:
    ptr = SCALAR[dtype].as_pointer()
    return ir.FunctionType(ir.VoidType(), [I8P, I64, I64, I64, ptr, I64, ptr, I64, ptr, I64,
                                           SCALAR[dtype], SCALAR[dtype],
                                           EPILOGUE_TYPE.as_pointer(), I8P])


class _GemmEmitter(KernelEmitter):
    """Adds the blocking loops, the parallel tasks and the core every transpose variant
    calls: the variants differ only in their packing functions, which the core takes by
    pointer (one compiled copy of the blocking, threading and workspace logic)."""

    def __init__(self, module, dtype, config):
        super().__init__(module, f"graphc_gemm_{dtype}", dtype, config)
        pack = self.pack_type().as_pointer()
        self.ctx_type = ir.LiteralStructType(
            [self.tp, self.tp, self.tp, self.tp] + [I64] * 15 + [self.t, self.t]
            + [EPILOGUE_TYPE.as_pointer(), I8P, I64, I64, pack, pack, I64, I64, I64])

    MIN_TASK_PANELS = 8          # a compute task gets at least 8·MR rows when it can
    PRIVATE_B_BYTES = 1 << 20    # a packed B block each thread may copy for itself (L2)
    DIRECT_B_ROW_BYTES = 1024    # B (not transposed) rows at most this far apart are read
                                 # in place: a k-row of a panel every few hundred bytes
    A_IN_PLACE = True            # whole MR panels of op(A) are read where they lie
    ALLOCATOR = "malloc"         # of the packing workspace (tests substitute a failing one)

    # -- context struct fields -------------------------------------------------------
    FIELDS = ("A", "B", "C", "Bp", "lda", "ldb", "ldc", "M", "nc", "jc", "kc", "pc",
              "tm", "m_step", "n_step", "pack_step", "a_slice", "private_b", "next_rows",
              "beta", "alpha", "epilogue", "epilogue_ctx", "last_slice", "direct_b",
              "pack_a", "pack_b", "direct_a", "a_row", "a_depth")
    CHUNK_PANELS = 2             # rows a thread claims at a time with a private B

    def load_fields(self, b, ctx):
        loaded = {}
        for index, name in enumerate(self.FIELDS):
            slot = b.gep(ctx, [ir.Constant(I32, 0), ir.Constant(I32, index)])
            loaded[name] = b.load(slot, name=name)
        return loaded

    def task(self, suffix):
        """A `void (i8* ctx, i64 index)` function for graphc_parallel_for. Never inlined
        into the serial path, so its body is compiled once."""
        fn = ir.Function(self.module, TASK_TYPE, f"{self.name}.{suffix}")
        fn.linkage = "internal"
        fn.attributes.add("nounwind")
        fn.attributes.add("noinline")
        return fn, Builder(fn.append_basic_block("entry"))

    # -- tasks -----------------------------------------------------------------------
    def emit_pack_task(self):
        """Task i packs B columns [i·pack_step, (i+1)·pack_step) of the current block."""
        fn, b = self.task("pack_task")
        f = self.load_fields(b, b.bitcast(fn.args[0], self.ctx_type.as_pointer()))
        j0 = b.mul(fn.args[1], f["pack_step"])
        j1 = b.min(f["nc"], b.add(j0, f["pack_step"]))
        ragged = b.floor_multiple(f["nc"], self.cfg.nr)    # B read in place: only the
        direct = b.icmp_signed("!=", f["direct_b"], c64(0))   # ragged last panel
        j0 = b.select(direct, b.max(j0, ragged), j0)
        column = b.add(f["jc"], j0)
        dst = b.at(f["Bp"], b.mul(j0, f["kc"]))
        b.call(f["pack_b"], [f["B"], f["ldb"], f["pc"], f["kc"], column,
                             b.add(f["jc"], j1), dst])
        b.ret_void()
        return fn

    def emit_compute_task(self, kernels):
        """Task i owns one rectangle of C (rows × columns of whole tiles) in the block.

        The rectangle is cut into MC-row slabs; each slab's A is packed into this task's
        own slice of the workspace, then every NR panel of B sweeps the slab's MR panels
        (the B micro-panel stays in L1/L2 while the kernels sweep the A slab in L2).
        With `private_b` (one task per thread, see `task_grid`) the task first packs the
        B block into its own slice, then claims CHUNK_PANELS·MR rows at a time from a
        counter shared by the tasks until none are left: a thread on a slower core
        computes fewer rows instead of holding up the call (each row is still computed
        whole by one task, in the same order: results do not depend on who took it).
        """
        cfg = self.cfg
        fn, b = self.task("compute_task")
        row = b.alloca(I64)                 # first row of the next slab (a register)
        f = self.load_fields(b, b.bitcast(fn.args[0], self.ctx_type.as_pointer()))
        task = fn.args[1]
        mi = b.srem(task, f["tm"])
        ni = b.sdiv(task, f["tm"])
        m0 = b.mul(mi, f["m_step"])
        m1 = b.min(f["M"], b.add(m0, f["m_step"]))
        n0 = b.mul(ni, f["n_step"])
        n1 = b.min(f["nc"], b.add(n0, f["n_step"]))
        # workspace: [Bp: kc × nc rounded to NR, unless private][task slices: MC × KC of
        # A, then the task's own packed B when private]
        private = b.icmp_signed("!=", f["private_b"], c64(0))
        nc_padded = b.mul(b.ceil_div(f["nc"], cfg.nr), c64(cfg.nr))
        shared_b = b.select(private, c64(0), b.mul(nc_padded, f["kc"]))
        ap = b.at(f["Bp"], shared_b, b.mul(task, f["a_slice"]))
        own_b = b.at(ap, self.aligned_count(b, b.mul(c64(cfg.mc), f["kc"])))
        # B read in place (`direct_b`): whole panels come straight from B, only the
        # ragged last one (fewer than NR columns) is packed, at its usual place
        direct = b.icmp_signed("!=", f["direct_b"], c64(0))
        direct_a = b.icmp_signed("!=", f["direct_a"], c64(0))
        pack_from = b.select(direct, b.add(n0, b.floor_multiple(b.sub(n1, n0), cfg.nr)), n0)
        with b.if_then(private):
            b.call(f["pack_b"], [f["B"], f["ldb"], f["pc"], f["kc"], b.add(f["jc"], pack_from),
                            b.add(f["jc"], n1), b.at(own_b, b.mul(pack_from, f["kc"]))])
        # packed panel of column jr: Bp + jr·kc, or own_b + jr·kc (private: n0 is 0)
        panels = b.select(private, own_b, f["Bp"])
        counter = b.gep(b.bitcast(fn.args[0], self.ctx_type.as_pointer()),
                        [ir.Constant(I32, 0), ir.Constant(I32, self.FIELDS.index("next_rows"))])
        chunk = c64(self.CHUNK_PANELS * cfg.mr)

        def next_rows(static_next):
            """The first row of this task's next slab: static, or claimed."""
            with b.if_else(private) as (claimed, static):
                with claimed:
                    taken = b.atomic_rmw("add", counter, c64(1), "monotonic")
                    b.store(b.mul(taken, chunk), row)
                with static:
                    b.store(static_next, row)
        next_rows(m0)
        limit = b.select(private, f["M"], m1)
        slab = b.select(private, chunk, c64(cfg.mc))
        cond, body, done = (b.append_basic_block(f"ic.{part}") for part in
                            ("cond", "body", "done"))
        b.branch(cond)
        b.position_at_end(cond)
        ic = b.load(row)
        b.cbranch(b.icmp_signed("<", ic, limit), body, done)
        b.position_at_end(body)
        mc = b.min(slab, b.sub(limit, ic))
        # A read in place (`direct_a`): only a ragged last panel is packed, at its place
        packed_from = b.select(direct_a, b.floor_multiple(mc, cfg.mr), c64(0))
        b.call(f["pack_a"], [f["A"], f["lda"], b.add(ic, packed_from), b.sub(mc, packed_from),
                             f["pc"], f["kc"], b.at(ap, b.mul(packed_from, f["kc"]))])
        with b.loop(n0, n1, cfg.nr, name="jr") as jr:
            nr = b.min(c64(cfg.nr), b.sub(n1, jr))
            bp = b.at(panels, b.mul(jr, f["kc"]))
            ldbk = c64(cfg.nr)
            ccol = b.add(f["jc"], jr)
            in_place = b.and_(direct, b.icmp_signed("==", nr, c64(cfg.nr)))
            bp = b.select(in_place, b.at(f["B"], b.mul(f["pc"], f["ldb"]), ccol), bp)
            ldbk = b.select(in_place, f["ldb"], ldbk)
            with b.loop(c64(0), mc, cfg.mr, name="ir") as ir_:
                mr = b.min(c64(cfg.mr), b.sub(mc, ir_))
                a_panel = b.at(ap, b.mul(ir_, f["kc"]))
                a_row, a_depth = c64(1), c64(cfg.mr)
                whole = b.and_(direct_a, b.icmp_signed("==", mr, c64(cfg.mr)))
                a_panel = b.select(whole, b.at(f["A"], b.mul(b.add(ic, ir_), f["a_row"]),
                                               b.mul(f["pc"], f["a_depth"])), a_panel)
                a_row = b.select(whole, f["a_row"], a_row)
                a_depth = b.select(whole, f["a_depth"], a_depth)
                c_tile = b.at(f["C"], b.mul(b.add(ic, ir_), f["ldc"]), ccol)
                self.call_kernel(b, kernels, [a_panel, bp, f["kc"], c_tile, f["ldc"],
                                              mr, nr, f["beta"], f["alpha"], ldbk, a_row,
                                              a_depth])
        # the slab's block of C is final after the last K slice: finish it while in cache
        with b.if_then(b.icmp_signed("!=", f["last_slice"], c64(0))):
            self.finish_block(b, f["epilogue"], f["epilogue_ctx"], ic, b.add(ic, mc),
                              b.add(f["jc"], n0), b.add(f["jc"], n1))
        next_rows(b.add(ic, c64(cfg.mc)))
        b.branch(cond)
        b.position_at_end(done)
        b.ret_void()
        return fn

    @staticmethod
    def finish_block(b, epilogue, epilogue_ctx, r0, r1, c0, c1):
        """Call the epilogue (when there is one) on C's block [r0, r1) × [c0, c1)."""
        with b.if_then(b.icmp_unsigned("!=", epilogue, ir.Constant(epilogue.type, None))):
            b.call(epilogue, [epilogue_ctx, r0, r1, c0, c1])

    def call_kernel(self, b, kernels, args):
        """The narrowest kernel that covers nr columns; `kernels` are (columns, function)
        pairs, narrowest first, each a multiple of the first's columns."""
        nr = args[6]
        if len(kernels) == 1:
            b.call(kernels[0][1], args)
            return
        unit = kernels[0][0]
        blocks = [b.append_basic_block(f"kernel{columns}") for columns, _ in kernels]
        after = b.append_basic_block("kernel.done")
        switch = b.switch(b.ceil_div(nr, unit), blocks[-1])
        for units in range(1, kernels[-1][0] // unit):
            chosen = next(i for i, (columns, _) in enumerate(kernels) if columns >= units * unit)
            switch.add_case(ir.Constant(I64, units), blocks[chosen])
        for (_, kernel), block in zip(kernels, blocks):
            b.position_at_end(block)
            b.call(kernel, args)
            b.branch(after)
        b.position_at_end(after)

    # -- core ------------------------------------------------------------------------
    def emit_core(self, pack_task, compute_task):
        """`core(<the GEMM's arguments>, i1 trans_a, i1 trans_b)`: what every variant runs."""
        cfg = self.cfg
        variant = gemm_type(self.dtype)
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), list(variant.args)
                                                      + [I1, I1]), core_name(self.dtype))
        fn.linkage = "internal"
        fn.attributes.add("nounwind")
        fn.attributes.add("noinline")
        (pool, m, n, k, a, lda, bm, ldb, c, ldc, beta0, alpha, epilogue, epilogue_ctx,
         trans_a, trans_b) = fn.args
        for arg, name in zip(fn.args, ("pool", "M", "N", "K", "A", "lda", "B", "ldb", "C",
                                       "ldc", "beta", "alpha", "epilogue", "epilogue_ctx",
                                       "trans_a", "trans_b")):
            arg.name = name
        b = Builder(fn.append_basic_block("entry"))
        pack_a = b.select(trans_a, self.emit_pack_a(True), self.emit_pack_a(False))
        pack_b = b.select(trans_b, self.emit_pack_b(True), self.emit_pack_b(False))
        parallel_for = get_function(self.module, "graphc_parallel_for", PARALLEL_FOR_TYPE)
        pool_threads = get_function(self.module, "graphc_pool_threads", POOL_THREADS_TYPE)
        malloc = get_function(self.module, self.ALLOCATOR, ir.FunctionType(I8P, [I64]))
        free = get_function(self.module, "free", ir.FunctionType(ir.VoidType(), [I8P]))

        empty = b.or_(b.icmp_signed("<", m, c64(1)), b.icmp_signed("<", n, c64(1)))
        with b.if_then(empty):
            b.ret_void()
        with b.if_then(b.icmp_signed("<", k, c64(1))):
            with b.if_then(b.fcmp_ordered("!=", beta0, ir.Constant(self.t, 1.0))):
                b.call(self.emit_scale(), [c, ldc, m, n, beta0])
            self.finish_block(b, epilogue, epilogue_ctx, c64(0), m, c64(0), n)
            b.ret_void()

        # one row of op(A) times B as stored (batch-1 inference): a GEMV streaming B, with
        # no packing and no dispatch to the pool (either would cost what the product does)
        with b.if_then(b.and_(b.icmp_signed("==", m, c64(1)), b.not_(trans_b))):
            b.call(self.emit_gemv(), [n, k, a, b.select(trans_a, lda, c64(1)), bm, ldb, c,
                                      beta0, alpha])
            self.finish_block(b, epilogue, epilogue_ctx, c64(0), m, c64(0), n)
            b.ret_void()

        # threads: the pool's, unless the product is too small to be worth a dispatch
        flops = b.mul(b.mul(b.mul(m, n), k), c64(2))
        small = b.icmp_signed("<", flops, c64(cfg.parallel_flops))
        threads = b.select(small, c64(1), b.call(pool_threads, [pool]))
        tasks_max = b.mul(threads, c64(cfg.oversubscribe))

        # workspace: the packed B block (none when each task packs its own), then one
        # slice per compute task (packed A, and that task's packed B when private)
        nc_max = b.min(c64(cfg.nc), b.mul(b.ceil_div(n, cfg.nr), c64(cfg.nr)))
        kc_max = b.min(c64(cfg.kc), k)
        b_block = b.mul(nc_max, kc_max)
        private = b.and_(b.icmp_signed(">", threads, c64(1)), b.and_(
            b.icmp_signed("==", self.row_tasks(b, m, threads), threads),
            b.icmp_signed("<=", b_block, c64(self.PRIVATE_B_BYTES // self.esize))))
        # each task's packed-A slice holds MC rows of the deepest K slice, not of KC: a
        # small product's workspace stays small (under malloc's mmap threshold, a large
        # one costs page faults on every call)
        a_slice = self.aligned_count(b, b.add(
            self.aligned_count(b, b.mul(c64(cfg.mc), kc_max)),
            b.select(private, b_block, c64(0))))
        shared_b = b.select(private, c64(0), b_block)
        slices = b.select(private, threads, tasks_max)      # private: one task a thread
        elements = b.add(shared_b, b.mul(slices, a_slice))
        raw = b.call(malloc, [b.add(b.mul(elements, c64(self.esize)), c64(ALIGN))])
        with b.if_then(b.icmp_unsigned("==", raw, ir.Constant(I8P, None)), likely=False):
            # no memory for the workspace: still the right answer, unblocked and slowly
            one = c64(1)
            b.call(self.emit_unblocked(), [m, n, k, a, b.select(trans_a, one, lda),
                                           b.select(trans_a, lda, one), bm,
                                           b.select(trans_b, one, ldb),
                                           b.select(trans_b, ldb, one), c, ldc, beta0, alpha])
            self.finish_block(b, epilogue, epilogue_ctx, c64(0), m, c64(0), n)
            b.ret_void()
        base = b.ptrtoint(raw, I64)
        aligned = b.and_(b.add(base, c64(ALIGN - 1)), c64(-ALIGN))
        packed_b = b.inttoptr(aligned, self.tp)

        ctx = b.alloca(self.ctx_type)
        direct = b.and_(b.not_(trans_b), b.icmp_signed(
            "<=", b.mul(ldb, c64(self.esize)), c64(self.DIRECT_B_ROW_BYTES)))
        self.store_fields(b, ctx, {"A": a, "B": bm, "C": c, "Bp": packed_b, "lda": lda,
                                   "ldb": ldb, "ldc": ldc, "M": m, "a_slice": a_slice,
                                   "private_b": b.zext(private, I64), "alpha": alpha,
                                   "epilogue": epilogue, "epilogue_ctx": epilogue_ctx,
                                   "direct_b": b.zext(direct, I64), "pack_a": pack_a,
                                   "pack_b": pack_b, "direct_a": c64(int(self.A_IN_PLACE)),
                                   "a_row": b.select(trans_a, c64(1), lda),
                                   "a_depth": b.select(trans_a, lda, c64(1))})
        ctx_i8 = b.bitcast(ctx, I8P)
        # K slices of equal depth (at most KC): K = 600 is two slices of 300, not 512 + 88
        k_step = b.ceil_div(k, b.ceil_div(k, cfg.kc))
        with b.loop(c64(0), n, cfg.nc, name="jc") as jc:
            nc = b.min(c64(cfg.nc), b.sub(n, jc))
            grid = self.task_grid(b, m, nc, threads)
            self.store_fields(b, ctx, {"jc": jc, "nc": nc, **grid})
            with b.loop(c64(0), k, k_step, name="pc") as pc:
                kc = b.min(k_step, b.sub(k, pc))
                beta = b.select(b.icmp_signed(">", pc, c64(0)), ir.Constant(self.t, 1.0),
                                beta0)
                last = b.icmp_signed(">=", b.add(pc, kc), k)
                self.store_fields(b, ctx, {"pc": pc, "kc": kc, "beta": beta,
                                           "last_slice": b.zext(last, I64)})
                with b.if_then(b.not_(private)):
                    self.run_tasks(b, parallel_for, pool, threads, pack_task, ctx_i8,
                                   grid["pack_tasks"])
                self.store_fields(b, ctx, {"next_rows": c64(0)})
                self.run_tasks(b, parallel_for, pool, threads, compute_task, ctx_i8,
                               grid["tasks"])
        b.call(free, [raw])
        b.ret_void()
        return fn

    def row_tasks(self, b, m, threads):
        """Row bands of the compute grid: up to threads·oversubscribe of at least
        MIN_TASK_PANELS MR panels, and no fewer than the threads while panels last."""
        cfg = self.cfg
        m_panels = b.ceil_div(m, cfg.mr)
        target = b.mul(threads, c64(cfg.oversubscribe))
        wanted = b.min(target, b.sdiv(m_panels, c64(self.MIN_TASK_PANELS)))
        return b.min(m_panels, b.select(b.icmp_signed("<", wanted, threads), threads, wanted))

    def task_grid(self, b, m, nc, threads):
        """A fixed grid of compute tasks over one NC block, and the B-packing split.

        Rows are split first (no work is repeated: each task packs only its own rows of
        A), into up to threads·oversubscribe tasks of at least MIN_TASK_PANELS MR panels,
        so that a thread on a slower core (a busy neighbour, a shared host core) simply
        takes fewer tasks; columns are split only when there are fewer MR panels than
        threads. Which thread runs a task never changes its result.

        When the rows make exactly one task per thread (M up to 184 on two threads)
        and the B block fits in L2, each task packs the whole B block for
        itself (`private_b`): no B-packing phase, no barrier between it and the compute,
        and each core reads packed B it wrote itself (64×100×1000 on two threads:
        ~100 → ~84 µs), at the price of packing B once per thread.
        """
        cfg = self.cfg
        m_panels = b.ceil_div(m, cfg.mr)
        n_panels = b.ceil_div(nc, cfg.nr)
        target = b.mul(threads, c64(cfg.oversubscribe))
        tm = self.row_tasks(b, m, threads)
        split_columns = b.icmp_signed("<", tm, threads)
        tn = b.select(split_columns, b.min(n_panels, b.sdiv(target, tm)), c64(1))
        m_step = b.mul(b.ceil_div(m_panels, tm), c64(cfg.mr))
        n_step = b.mul(b.ceil_div(n_panels, tn), c64(cfg.nr))
        tm = b.ceil_div(m, m_step)
        tn = b.ceil_div(nc, n_step)
        pack_parts = b.min(n_panels, target)
        pack_step = b.mul(b.ceil_div(n_panels, pack_parts), c64(cfg.nr))
        return {"tm": tm, "m_step": m_step, "n_step": n_step, "pack_step": pack_step,
                "tasks": b.mul(tm, tn), "pack_tasks": b.ceil_div(nc, pack_step)}

    def aligned_count(self, b, elements):
        """`elements` rounded up to a whole number of ALIGN-byte lines."""
        line = ALIGN // self.esize
        return b.mul(b.ceil_div(elements, line), c64(line))

    def store_fields(self, b, ctx, values):
        """Store the named context fields; keys that are not fields are ignored."""
        for name, value in values.items():
            if name in self.FIELDS:
                index = self.FIELDS.index(name)
                b.store(value, b.gep(ctx, [ir.Constant(I32, 0), ir.Constant(I32, index)]))

    @staticmethod
    def run_tasks(b, parallel_for, pool, threads, task, ctx, count):
        """parallel_for over the pool, or a plain loop when this call runs alone."""
        alone = b.icmp_signed("<", threads, c64(2))
        with b.if_else(alone) as (then, otherwise):
            with then:
                with b.loop(c64(0), count, name="serial") as i:
                    b.call(task, [ctx, i])
            with otherwise:
                b.call(parallel_for, [pool, task, ctx, count])


def define_gemm(module: ir.Module, dtype: str, trans_a: bool, trans_b: bool,
                config: GemmConfig | None = None, shared_kernels: bool = False) -> ir.Function:
    """Add `graphc_gemm_<dtype>_<ta><tb>` (blocked by `config`, by default the host's) to
    `module` (once) and return it. The variant is a call of the dtype's core (added with
    the first variant; `define_gemm_family` adds all four).

    The module must be JIT'ed next to the runtime of parallel.py (`install_runtime`), which
    defines `graphc_parallel_for` and `graphc_pool_threads`. With `shared_kernels` the
    micro-kernels are only declared: `define_micro_kernels` puts them in a module of their
    own, compiled once for every blocking.
    """
    if dtype not in SCALAR:
        raise ValueError(f"define_gemm: dtype must be 'f32' or 'f64', got {dtype!r}")
    name = gemm_name(dtype, bool(trans_a), bool(trans_b))
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    core = module.globals.get(core_name(dtype)) or _define_core(
        module, dtype, config or host_config(dtype), shared_kernels)
    fn = ir.Function(module, gemm_type(dtype), name)
    fn.attributes.add("nounwind")
    b = Builder(fn.append_basic_block("entry"))
    b.call(core, list(fn.args) + [ir.Constant(I1, bool(trans_a)), ir.Constant(I1, bool(trans_b))])
    b.ret_void()
    return fn


TRANSPOSES = ((False, False), (False, True), (True, False), (True, True))


def define_gemm_family(module: ir.Module, dtype: str, config: GemmConfig | None = None,
                       shared_kernels: bool = False) -> None:
    """Add the four transpose variants of `dtype` (one core, four packing functions): a
    variant more costs a call and a packing function, so they compile as one module."""
    for trans_a, trans_b in TRANSPOSES:
        define_gemm(module, dtype, trans_a, trans_b, config, shared_kernels)


def core_name(dtype: str) -> str:
    return f"graphc_gemm_{dtype}.core"


def _define_core(module: ir.Module, dtype: str, config: GemmConfig,
                 shared_kernels: bool) -> ir.Function:
    emitter = _GemmEmitter(module, dtype, config)
    kernels = micro_kernels(module, dtype, config, define=not shared_kernels)
    return emitter.emit_core(emitter.emit_pack_task(), emitter.emit_compute_task(kernels))


def define_micro_kernels(module: ir.Module, dtype: str, config: GemmConfig) -> None:
    """Add the micro-kernels of one blocking, for variants built with `shared_kernels`.
    They see only panels (packed, or B read in place), never op(A) or op(B), so every
    transpose variant of the blocking calls the same ones (about three quarters of a
    variant's code)."""
    micro_kernels(module, dtype, config, define=True)


def micro_kernels_name(dtype: str, config: GemmConfig) -> str:
    """The symbol prefix of a blocking's micro-kernels: what their code depends on."""
    return (f"graphc_gemm_{dtype}_kernels_{config.mr}x{config.nr}_w{config.width}"
            + ("_fma" if config.fma else ""))


def micro_kernels(module: ir.Module, dtype: str, config: GemmConfig,
                  define: bool) -> list[tuple[int, ir.Function]]:
    """(columns, function) of each micro-kernel of a blocking, narrowest first: one per
    vector count up to NR, and for wide vectors one of half a vector; defined in `module`
    (once), or declared when `define` is false."""
    prefix = micro_kernels_name(dtype, config)
    specs = [(v * config.width, v, config, f"v{v}")
             for v in range(1, config.nr // config.width + 1)]
    if config.width >= 8 and config.nr > config.width:
        # the last few columns of a ragged N (N = 100: 4) in a half-width vector: on
        # cores that split a full vector op in two halves, half the cost of a full one
        specs.insert(0, (config.width // 2, 1, replace(config, width=config.width // 2),
                         "half"))
    kernels = []
    for columns, vectors, blocking, suffix in specs:
        name = f"{prefix}.{suffix}"
        fn = module.globals.get(name)
        if fn is None and define:
            emitter = KernelEmitter(module, prefix, dtype, blocking)
            fn = emitter.emit_kernel(vectors, suffix=suffix)
            fn.linkage = "external"
        elif fn is None:
            fn = ir.Function(module, KernelEmitter.kernel_type(dtype), name)
        kernels.append((columns, fn))
    return kernels
