"""A generated GEMM: C = op(A)·op(B) (+ C), row-major, f32/f64, in LLVM IR.

`define_gemm(module, dtype, trans_a, trans_b)` adds `graphc_gemm_<dtype>_<ta><tb>`:

    void graphc_gemm_f32_nt(void *pool, int64_t M, int64_t N, int64_t K,
                            const float *A, int64_t lda, const float *B, int64_t ldb,
                            float *C, int64_t ldc, int32_t accumulate);

op(A) is A (M×K, row stride lda) or, with trans_a, Aᵀ of an A stored K×M; likewise op(B)
is B (K×N) or Bᵀ of a B stored N×K. The transposed variants let dW = Xᵀ·dY and
dX = dY·Wᵀ run without materialising a transpose.

The design is the classic Goto/BLIS one (docs/gemm.md has the reasoning and numbers):
- loop over NC-column blocks of C, then KC-deep slices of K;
- pack op(B)[KC×NC] into NR-wide panels (k-major, zero padded) in a malloc'd buffer,
  and op(A)[MC×KC] into MR-tall panels, so the micro-kernel reads both contiguously;
- a register-blocked micro-kernel computes an MR×NR tile of C with MR·NR/W explicit
  <W x T> accumulators and `llvm.fma`, broadcasting one element of A against NR/W
  vectors of B per k; edge tiles run the same kernel into a scratch tile, then copy.
Threads (`pool` from graphc/codegen/llvm/parallel.py): B panels are packed in parallel,
then C is cut into a fixed grid of rectangles of whole MR×NR tiles, one task each.
Every element of C sees the same sequence of operations whatever the grid or the thread
(the K order is fixed), so results are identical run to run and pool vs no pool.
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

import llvmlite.binding as llvm
import llvmlite.ir as ir

from .jit import target_machine

I32 = ir.IntType(32)
I64 = ir.IntType(64)
I8P = ir.IntType(8).as_pointer()
TASK_TYPE = ir.FunctionType(ir.VoidType(), [I8P, I64])
PARALLEL_FOR_TYPE = ir.FunctionType(ir.VoidType(), [I8P, TASK_TYPE.as_pointer(), I8P, I64])
POOL_THREADS_TYPE = ir.FunctionType(I64, [I8P])

_SCALAR = {"f32": ir.FloatType(), "f64": ir.DoubleType()}
_SIZE = {"f32": 4, "f64": 8}
_ALIGN = 64


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
    oversubscribe: int = 1
    parallel_flops: int = 2_000_000


@functools.lru_cache(maxsize=4)
def host_config(dtype: str) -> GemmConfig:
    """Blocking for the host CPU, chosen by measurement (docs/gemm.md)."""
    target_machine()                      # initialises the native target
    features = llvm.get_host_cpu_features()
    bits = 512 if features.get("avx512f") else 256 if features.get("avx2") else 128
    fma = bool(features.get("fma"))
    width = bits // (8 * _SIZE[dtype])
    registers = 32 if bits == 512 else 16
    mr, nr = (8, 2 * width) if registers == 32 else (6, 2 * width)
    kc = 512 if dtype == "f32" else 256
    mc = 12 * mr
    nc = 4096 // _SIZE[dtype] * 4
    return GemmConfig(width=width, mr=mr, nr=nr, kc=kc, mc=mc, nc=nc, fma=fma)


def gemm_name(dtype: str, trans_a: bool, trans_b: bool) -> str:
    return f"graphc_gemm_{dtype}_{'t' if trans_a else 'n'}{'t' if trans_b else 'n'}"


def gemm_type(dtype: str) -> ir.FunctionType:
    ptr = _SCALAR[dtype].as_pointer()
    return ir.FunctionType(ir.VoidType(), [I8P, I64, I64, I64, ptr, I64, ptr, I64, ptr, I64,
                                           I32])


def _c(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


def _get_function(module: ir.Module, name: str, fnty: ir.FunctionType) -> ir.Function:
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    return ir.Function(module, fnty, name)


class _Builder(ir.IRBuilder):
    """IRBuilder plus the idioms the GEMM uses: counted loops, min, ceil-div, vectors."""

    @contextlib.contextmanager
    def loop(self, start, stop, step=1, name="i"):
        """for (i = start; i < stop; i += step) — yields i (signed compare)."""
        step = _c(step) if isinstance(step, int) else step
        start = _c(start) if isinstance(start, int) else start
        before = self.block
        cond = self.append_basic_block(f"{name}.cond")
        body = self.append_basic_block(f"{name}.body")
        done = self.append_basic_block(f"{name}.done")
        self.branch(cond)
        self.position_at_end(cond)
        index = self.phi(I64, name)
        index.add_incoming(start, before)
        self.cbranch(self.icmp_signed("<", index, stop), body, done)
        self.position_at_end(body)
        yield index
        index.add_incoming(self.add(index, step, name=f"{name}.next"), self.block)
        self.branch(cond)
        self.position_at_end(done)

    def min(self, a, b):
        return self.select(self.icmp_signed("<", a, b), a, b)

    def ceil_div(self, a, b):
        b = _c(b) if isinstance(b, int) else b
        return self.sdiv(self.add(a, self.sub(b, _c(1))), b)

    def at(self, ptr, *offsets):
        """ptr + sum(offsets), in elements."""
        total = offsets[0]
        for offset in offsets[1:]:
            total = self.add(total, offset)
        return self.gep(ptr, [total])

    def load_vec(self, ptr, vec_type, align):
        return self.load(self.bitcast(ptr, vec_type.as_pointer()), align=align)

    def store_vec(self, value, ptr, align):
        self.store(value, self.bitcast(ptr, value.type.as_pointer()), align=align)

    def splat(self, scalar, vec_type):
        lanes = vec_type.count
        one = self.insert_element(ir.Constant(vec_type, ir.Undefined), scalar, ir.Constant(I32, 0))
        return self.shuffle_vector(one, ir.Constant(vec_type, ir.Undefined),
                                   ir.Constant(ir.VectorType(I32, lanes), [0] * lanes))

    def transpose(self, rows):
        """Columns of a square block of vectors (rows[r][t] -> columns[t][r]).

        log2(n) rounds of interleaving row i with row i + n/2 (a perfect shuffle); each
        interleave is one two-source shufflevector, which x86 does in one permute.
        """
        n = len(rows)
        half = n // 2
        low = [i // 2 + (i % 2) * n for i in range(n)]     # a0 b0 a1 b1 ...
        high = [half + index for index in low]
        masks = [ir.Constant(ir.VectorType(I32, n), m) for m in (low, high)]
        for _ in range(n.bit_length() - 1):
            shuffled = []
            for i in range(half):
                for mask in masks:
                    shuffled.append(self.shuffle_vector(rows[i], rows[i + half], mask))
            rows = shuffled
        return rows

    def lane_mask(self, lanes, valid):
        """<lanes x i1>: lane < valid."""
        ints = ir.VectorType(I64, lanes)
        return self.icmp_signed("<", ir.Constant(ints, list(range(lanes))),
                                self.splat(valid, ints))

    def alloca_aligned(self, typ, count, align=_ALIGN):
        slot = self.alloca(typ, size=_c(count))
        slot.align = align
        return slot


class _GemmEmitter:
    """Emits one variant's functions into a module; one method per function."""

    def __init__(self, module, dtype, trans_a, trans_b, config):
        self.module = module
        self.dtype = dtype
        self.trans_a = trans_a
        self.trans_b = trans_b
        self.cfg = config
        self.name = gemm_name(dtype, trans_a, trans_b)
        self.t = _SCALAR[dtype]
        self.tp = self.t.as_pointer()
        self.vec = ir.VectorType(self.t, config.width)
        self.esize = _SIZE[dtype]
        # packed B rows and scratch tiles start on multiples of one vector from a 64-byte
        # aligned base, so vector accesses to them may assume the vector's own alignment
        self.valign = min(_ALIGN, config.width * self.esize)
        self.zero = ir.Constant(self.t, 0.0)
        self.ctx_type = ir.LiteralStructType(
            [self.tp, self.tp, self.tp, self.tp] + [I64] * 13)
        if config.fma:
            self.fma = _get_function(
                module, f"llvm.fma.v{config.width}{'f32' if dtype == 'f32' else 'f64'}",
                ir.FunctionType(self.vec, [self.vec] * 3))

    COLD_ATTRIBUTES = ("noinline", "minsize", "optsize")
    PACK_ATTRIBUTES = ("noinline", "optsize")

    # -- context struct fields -------------------------------------------------------
    FIELDS = ("A", "B", "C", "Bp", "lda", "ldb", "ldc", "M", "nc", "jc", "kc", "pc", "beta",
              "tm", "m_step", "n_step", "pack_step")

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
        return fn, _Builder(fn.append_basic_block("entry"))

    def internal(self, suffix, args, attributes=()):
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), args),
                         f"{self.name}.{suffix}")
        fn.linkage = "internal"
        for attribute in ("nounwind",) + tuple(attributes):
            fn.attributes.add(attribute)
        return fn, _Builder(fn.append_basic_block("entry"))

    # -- micro-kernel ----------------------------------------------------------------
    def emit_kernel(self, store_edge, vectors):
        """C[mr×nr] (+)= Ap[kc×MR]ᵀ · Bp[kc×NR][:, :vectors·W] for one A and one B panel.

        The MR·vectors accumulators are allocas that SROA turns into registers; the k loop
        body is `vectors` loads of B, MR broadcasts of A and MR·vectors fmas. Kernels
        narrower than NR serve the last columns of C, so a ragged N wastes at most W - 1
        columns of work instead of NR - 1.
        """
        cfg = self.cfg
        fn, b = self.internal(f"kernel{vectors}",
                              [self.tp, self.tp, I64, self.tp, I64, I64, I64, I64])
        ap, bp, kc, c, ldc, mr, nr, beta = fn.args
        for arg in (ap, bp, c):
            arg.add_attribute("noalias")
        width = vectors * cfg.width
        tile = b.alloca_aligned(self.t, cfg.mr * width)
        slots = [[b.alloca(self.vec) for _ in range(vectors)] for _ in range(cfg.mr)]
        for row in slots:
            for slot in row:
                b.store(ir.Constant(self.vec, None), slot)
        with b.loop(_c(0), kc, name="k") as k:
            brow = b.at(bp, b.mul(k, _c(cfg.nr)))
            bvecs = [b.load_vec(b.at(brow, _c(v * cfg.width)), self.vec, self.valign)
                     for v in range(vectors)]
            arow = b.at(ap, b.mul(k, _c(cfg.mr)))
            for r in range(cfg.mr):
                a = b.splat(b.load(b.at(arow, _c(r))), self.vec)
                for v in range(vectors):
                    acc = b.load(slots[r][v])
                    b.store(self.multiply_add(b, a, bvecs[v], acc), slots[r][v])
        full = b.and_(b.icmp_signed("==", mr, _c(cfg.mr)), b.icmp_signed("==", nr, _c(width)))
        with b.if_else(full) as (then, otherwise):
            with then:
                self.store_full_tile(b, slots, c, ldc, beta)
            with otherwise:
                for r, row in enumerate(slots):
                    for v, slot in enumerate(row):
                        ptr = b.at(tile, _c(r * width + v * cfg.width))
                        b.store_vec(b.load(slot), ptr, self.valign)
                b.call(store_edge, [tile, _c(width), c, ldc, mr, nr, beta])
        b.ret_void()
        return fn

    def multiply_add(self, b, x, y, acc):
        if self.cfg.fma:
            return b.call(self.fma, [x, y, acc])
        return b.fadd(b.fmul(x, y), acc)

    def store_full_tile(self, b, slots, c, ldc, beta):
        cfg = self.cfg
        accumulate = b.icmp_signed("!=", beta, _c(0))
        with b.if_else(accumulate) as (then, otherwise):
            for add in (True, False):
                with then if add else otherwise:
                    for r, row in enumerate(slots):
                        crow = b.at(c, b.mul(_c(r), ldc))
                        for v, slot in enumerate(row):
                            ptr = b.at(crow, _c(v * cfg.width))
                            value = b.load(slot)
                            if add:
                                value = b.fadd(b.load_vec(ptr, self.vec, self.esize), value)
                            b.store_vec(value, ptr, self.esize)

    def emit_store_edge(self):
        """C[mr×nr] (+)= tile[mr×tile_width]: the valid corner of a partial tile, element by element.

        A function of its own, kept small (optsize, never inlined): edges are rare in big
        products, and unrolled copies of this loop would only cost compile time.
        """
        cfg = self.cfg
        fn, b = self.internal("store_edge", [self.tp, I64, self.tp, I64, I64, I64, I64],
                              self.COLD_ATTRIBUTES)
        tile, tile_width, c, ldc, mr, nr, beta = fn.args
        accumulate = b.icmp_signed("!=", beta, _c(0))
        with b.loop(_c(0), mr, name="er") as r:
            with b.loop(_c(0), nr, name="ej") as j:
                value = b.load(b.at(tile, b.mul(r, tile_width), j))
                ptr = b.at(c, b.mul(r, ldc), j)
                value = b.select(accumulate, b.fadd(b.load(ptr), value), value)
                b.store(value, ptr)
        b.ret_void()
        return fn

    # -- packing ---------------------------------------------------------------------
    # Each k-row of a packed panel is one vector: a masked load where op(X) has the panel's
    # elements contiguous, a masked gather where they are a stride apart (the transposing
    # cases). Masked-off lanes read nothing and pack zeros, so ragged edges need no
    # separate code and the zero padding the kernels rely on comes free.

    def emit_pack_a(self):
        """Ap[panel][k][MR] = op(A)[i0 + panel·MR + r, p0 + k], zero rows past mc."""
        cfg = self.cfg
        fn, b = self.internal("pack_a", [self.tp, I64, I64, I64, I64, I64, self.tp],
                              self.PACK_ATTRIBUTES)
        a, lda, i0, mc, p0, kc, ap = fn.args
        lanes = ir.VectorType(self.t, cfg.mr)
        with b.loop(_c(0), b.ceil_div(mc, cfg.mr), name="pa") as panel:
            dst = b.at(ap, b.mul(panel, b.mul(kc, _c(cfg.mr))))
            first = b.add(i0, b.mul(panel, _c(cfg.mr)))
            rows = b.sub(mc, b.mul(panel, _c(cfg.mr)))
            if self.trans_a:                # A stored K×M: a panel's k-row is contiguous
                mask = b.lane_mask(cfg.mr, rows)
                with b.loop(_c(0), kc, name="ka") as k:
                    src = b.at(a, b.mul(b.add(p0, k), lda), first)
                    value = self.masked_load(b, src, mask, lanes)
                    b.store_vec(value, b.at(dst, b.mul(k, _c(cfg.mr))), self.esize)
            else:                           # A stored M×K: rows are lda apart
                start = b.at(a, b.mul(first, lda), p0)
                self.pack_transposed(b, start, lda, rows, cfg.mr, kc, dst, cfg.mr, self.esize)
        b.ret_void()
        return fn

    def emit_pack_b(self):
        """Bp[panel][k][NR] = op(B)[p0 + k, j0 + panel·NR + j] for columns j0 ≤ · < j1."""
        cfg = self.cfg
        fn, b = self.internal("pack_b", [self.tp, I64, I64, I64, I64, I64, self.tp],
                              self.PACK_ATTRIBUTES)
        bm, ldb, p0, kc, j0, j1, bp = fn.args
        vectors = cfg.nr // cfg.width
        with b.loop(_c(0), b.ceil_div(b.sub(j1, j0), cfg.nr), name="pb") as panel:
            dst = b.at(bp, b.mul(panel, b.mul(kc, _c(cfg.nr))))
            first = b.add(j0, b.mul(panel, _c(cfg.nr)))
            cols = b.sub(j1, first)
            if self.trans_b:                # B stored N×K: columns of op(B) are ldb apart
                for v in range(vectors):
                    column = b.add(first, _c(v * cfg.width))
                    self.pack_transposed(b, b.at(bm, b.mul(column, ldb), p0), ldb,
                                         b.sub(cols, _c(v * cfg.width)), cfg.width, kc,
                                         b.at(dst, _c(v * cfg.width)), cfg.nr, self.valign)
            else:
                masks = [b.lane_mask(cfg.width, b.sub(cols, _c(v * cfg.width)))
                         for v in range(vectors)]
                with b.loop(_c(0), kc, name="kb") as k:
                    src = b.at(bm, b.mul(b.add(p0, k), ldb), first)
                    row = b.at(dst, b.mul(k, _c(cfg.nr)))
                    for v, mask in enumerate(masks):
                        value = self.masked_load(b, b.at(src, _c(v * cfg.width)), mask,
                                                 self.vec)
                        b.store_vec(value, b.at(row, _c(v * cfg.width)), self.valign)
        b.ret_void()
        return fn

    def pack_transposed(self, b, start, stride, valid, lanes, kc, dst, dst_stride, align):
        """dst[k·dst_stride + l] = start[l·stride + k] for k < kc, l < lanes (0 if l ≥ valid).

        Square blocks of `lanes` k values are loaded as rows and transposed in registers;
        the last kc % lanes values (or all, for a lane count that is not a power of two)
        are gathered one k at a time.
        """
        vec = ir.VectorType(self.t, lanes)
        main = _c(0)
        if lanes >= 2 and lanes & (lanes - 1) == 0:
            main = b.sub(kc, b.srem(kc, _c(lanes)))
            bools = ir.VectorType(ir.IntType(1), lanes)
            row_masks = [b.splat(b.icmp_signed("<", _c(lane), valid), bools)
                         for lane in range(lanes)]
            with b.loop(_c(0), main, lanes, name="kt") as k0:
                rows = [self.masked_load(b, b.at(start, b.mul(_c(lane), stride), k0),
                                         row_masks[lane], vec) for lane in range(lanes)]
                for t, column in enumerate(b.transpose(rows)):
                    ptr = b.at(dst, b.mul(b.add(k0, _c(t)), _c(dst_stride)))
                    b.store_vec(column, ptr, align)
        pointers = self.lane_pointers(b, start, stride, lanes)
        mask = b.lane_mask(lanes, valid)
        with b.loop(main, kc, name="kg") as k:
            value = self.masked_gather(b, self.advance(b, pointers, k), mask, vec)
            b.store_vec(value, b.at(dst, b.mul(k, _c(dst_stride))), align)

    def intrinsic(self, kind, vec_type):
        """llvm.masked.load / llvm.masked.gather for `vec_type` (LLVM 22 form: no
        alignment operand, the pointer argument carries an `align` attribute)."""
        lanes = vec_type.count
        suffix = f"v{lanes}{'f32' if self.dtype == 'f32' else 'f64'}"
        mask = ir.VectorType(ir.IntType(1), lanes)
        if kind == "load":
            return _get_function(self.module, f"llvm.masked.load.{suffix}.p0",
                                 ir.FunctionType(vec_type, [vec_type.as_pointer(), mask,
                                                            vec_type]))
        pointers = ir.VectorType(self.tp, lanes)
        return _get_function(self.module, f"llvm.masked.gather.{suffix}.v{lanes}p0",
                             ir.FunctionType(vec_type, [pointers, mask, vec_type]))

    def masked_load(self, b, ptr, mask, vec_type):
        call = b.call(self.intrinsic("load", vec_type),
                      [b.bitcast(ptr, vec_type.as_pointer()), mask, ir.Constant(vec_type, None)],
                      arg_attrs={0: ()})
        call.arg_attributes[0].align = self.esize
        return call

    def masked_gather(self, b, pointers, mask, vec_type):
        call = b.call(self.intrinsic("gather", vec_type),
                      [pointers, mask, ir.Constant(vec_type, None)], arg_attrs={0: ()})
        call.arg_attributes[0].align = self.esize
        return call

    def lane_pointers(self, b, start, stride, lanes):
        """<lanes x T*>: start + lane·stride. llvmlite has no vector GEP, so the addresses
        are computed as integers."""
        ints = ir.VectorType(I64, lanes)
        steps = b.mul(ir.Constant(ints, list(range(lanes))),
                      b.splat(b.mul(stride, _c(self.esize)), ints))
        return b.add(b.splat(b.ptrtoint(start, I64), ints), steps)

    def advance(self, b, addresses, k):
        """The lane pointers moved k elements along each lane's contiguous axis."""
        ints = addresses.type
        moved = b.add(addresses, b.splat(b.mul(k, _c(self.esize)), ints))
        return b.inttoptr(moved, ir.VectorType(self.tp, ints.count))

    # -- tasks -----------------------------------------------------------------------
    def emit_pack_task(self, pack_b):
        """Task i packs B columns [i·pack_step, (i+1)·pack_step) of the current block."""
        fn, b = self.task("pack_task")
        f = self.load_fields(b, b.bitcast(fn.args[0], self.ctx_type.as_pointer()))
        j0 = b.mul(fn.args[1], f["pack_step"])
        j1 = b.min(f["nc"], b.add(j0, f["pack_step"]))
        column = b.add(f["jc"], j0)
        dst = b.at(f["Bp"], b.mul(j0, f["kc"]))
        b.call(pack_b, [f["B"], f["ldb"], f["pc"], f["kc"], column,
                        b.add(f["jc"], j1), dst])
        b.ret_void()
        return fn

    def emit_compute_task(self, pack_a, kernels):
        """Task i owns one rectangle of C (rows × columns of whole tiles) in the block.

        The rectangle is cut into MC-row slabs; each slab's A is packed into this task's
        own slice of the workspace, then every NR panel of B sweeps the slab's MR panels
        (the B micro-panel stays in L1, the A slab in L2).
        """
        cfg = self.cfg
        fn, b = self.task("compute_task")
        f = self.load_fields(b, b.bitcast(fn.args[0], self.ctx_type.as_pointer()))
        task = fn.args[1]
        mi = b.srem(task, f["tm"])
        ni = b.sdiv(task, f["tm"])
        m0 = b.mul(mi, f["m_step"])
        m1 = b.min(f["M"], b.add(m0, f["m_step"]))
        n0 = b.mul(ni, f["n_step"])
        n1 = b.min(f["nc"], b.add(n0, f["n_step"]))
        # workspace: [Bp: kc × nc rounded to NR][task slices of MC × KC]
        nc_padded = b.mul(b.ceil_div(f["nc"], cfg.nr), _c(cfg.nr))
        ap = b.at(f["Bp"], b.mul(nc_padded, f["kc"]), _c(0))
        ap = b.at(ap, b.mul(task, _c(cfg.mc * cfg.kc)))
        with b.loop(m0, m1, cfg.mc, name="ic") as ic:
            mc = b.min(_c(cfg.mc), b.sub(m1, ic))
            b.call(pack_a, [f["A"], f["lda"], ic, mc, f["pc"], f["kc"], ap])
            with b.loop(n0, n1, cfg.nr, name="jr") as jr:
                nr = b.min(_c(cfg.nr), b.sub(n1, jr))
                bp = b.at(f["Bp"], b.mul(jr, f["kc"]))
                ccol = b.add(f["jc"], jr)
                with b.loop(_c(0), mc, cfg.mr, name="ir") as ir_:
                    mr = b.min(_c(cfg.mr), b.sub(mc, ir_))
                    a_panel = b.at(ap, b.mul(ir_, f["kc"]))
                    c_tile = b.at(f["C"], b.mul(b.add(ic, ir_), f["ldc"]), ccol)
                    self.call_kernel(b, kernels, [a_panel, bp, f["kc"], c_tile, f["ldc"],
                                                  mr, nr, f["beta"]])
        b.ret_void()
        return fn

    def call_kernel(self, b, kernels, args):
        """The narrowest kernel that covers nr columns (kernels[v - 1] is v vectors wide)."""
        nr = args[6]
        if len(kernels) == 1:
            b.call(kernels[0], args)
            return
        vectors = b.ceil_div(nr, self.cfg.width)
        blocks = [b.append_basic_block(f"kernel{v + 1}") for v in range(len(kernels))]
        after = b.append_basic_block("kernel.done")
        switch = b.switch(vectors, blocks[-1])
        for v, block in enumerate(blocks[:-1]):
            switch.add_case(ir.Constant(I64, v + 1), block)
        for kernel, block in zip(kernels, blocks):
            b.position_at_end(block)
            b.call(kernel, args)
            b.branch(after)
        b.position_at_end(after)

    # -- entry -----------------------------------------------------------------------
    def emit_entry(self, pack_b, pack_task, compute_task):
        cfg = self.cfg
        fn = ir.Function(self.module, gemm_type(self.dtype), self.name)
        fn.attributes.add("nounwind")
        pool, m, n, k, a, lda, bm, ldb, c, ldc, accumulate = fn.args
        for arg, name in zip(fn.args, ("pool", "M", "N", "K", "A", "lda", "B", "ldb", "C",
                                       "ldc", "accumulate")):
            arg.name = name
        b = _Builder(fn.append_basic_block("entry"))
        parallel_for = _get_function(self.module, "graphc_parallel_for", PARALLEL_FOR_TYPE)
        pool_threads = _get_function(self.module, "graphc_pool_threads", POOL_THREADS_TYPE)
        malloc = _get_function(self.module, "malloc", ir.FunctionType(I8P, [I64]))
        free = _get_function(self.module, "free", ir.FunctionType(ir.VoidType(), [I8P]))
        beta0 = b.zext(accumulate, I64)

        empty = b.or_(b.icmp_signed("<", m, _c(1)), b.icmp_signed("<", n, _c(1)))
        with b.if_then(empty):
            b.ret_void()
        with b.if_then(b.icmp_signed("<", k, _c(1))):
            with b.if_then(b.icmp_signed("==", beta0, _c(0))):
                b.call(self.emit_zero(), [c, ldc, m, n])
            b.ret_void()

        # threads: the pool's, unless the product is too small to be worth a dispatch
        flops = b.mul(b.mul(b.mul(m, n), k), _c(2))
        small = b.icmp_signed("<", flops, _c(cfg.parallel_flops))
        threads = b.select(small, _c(1), b.call(pool_threads, [pool]))
        tasks_max = b.mul(threads, _c(cfg.oversubscribe))

        # workspace: packed B block, then one packed-A slice per compute task
        nc_max = b.min(_c(cfg.nc), b.mul(b.ceil_div(n, cfg.nr), _c(cfg.nr)))
        kc_max = b.min(_c(cfg.kc), k)
        elements = b.add(b.mul(nc_max, kc_max), b.mul(tasks_max, _c(cfg.mc * cfg.kc)))
        raw = b.call(malloc, [b.add(b.mul(elements, _c(self.esize)), _c(_ALIGN))])
        base = b.ptrtoint(raw, I64)
        aligned = b.and_(b.add(base, _c(_ALIGN - 1)), _c(-_ALIGN))
        packed_b = b.inttoptr(aligned, self.tp)

        ctx = b.alloca(self.ctx_type)
        self.store_fields(b, ctx, {"A": a, "B": bm, "C": c, "Bp": packed_b, "lda": lda,
                                   "ldb": ldb, "ldc": ldc, "M": m})
        ctx_i8 = b.bitcast(ctx, I8P)
        with b.loop(_c(0), n, cfg.nc, name="jc") as jc:
            nc = b.min(_c(cfg.nc), b.sub(n, jc))
            grid = self.task_grid(b, m, nc, threads)
            self.store_fields(b, ctx, {"jc": jc, "nc": nc, **grid})
            with b.loop(_c(0), k, cfg.kc, name="pc") as pc:
                kc = b.min(_c(cfg.kc), b.sub(k, pc))
                beta = b.select(b.icmp_signed(">", pc, _c(0)), _c(1), beta0)
                self.store_fields(b, ctx, {"pc": pc, "kc": kc, "beta": beta})
                self.run_tasks(b, parallel_for, pool, threads, pack_task, ctx_i8,
                               grid["pack_tasks"])
                self.run_tasks(b, parallel_for, pool, threads, compute_task, ctx_i8,
                               grid["tasks"])
        b.call(free, [raw])
        b.ret_void()
        return fn

    def task_grid(self, b, m, nc, threads):
        """A fixed grid of compute tasks over one NC block, and the B-packing split.

        Rows are split first (no work is repeated: each task packs only its own rows of
        A); columns only when there are too few MR panels to go round.
        """
        cfg = self.cfg
        m_panels = b.ceil_div(m, cfg.mr)
        n_panels = b.ceil_div(nc, cfg.nr)
        target = b.mul(threads, _c(cfg.oversubscribe))
        tm = b.min(m_panels, target)
        tn = b.min(n_panels, b.sdiv(target, tm))     # tm·tn ≤ target: the workspace size
        m_step = b.mul(b.ceil_div(m_panels, tm), _c(cfg.mr))
        n_step = b.mul(b.ceil_div(n_panels, tn), _c(cfg.nr))
        tm = b.ceil_div(m, m_step)
        tn = b.ceil_div(nc, n_step)
        pack_parts = b.min(n_panels, threads)
        pack_step = b.mul(b.ceil_div(n_panels, pack_parts), _c(cfg.nr))
        return {"tm": tm, "m_step": m_step, "n_step": n_step, "pack_step": pack_step,
                "tasks": b.mul(tm, tn), "pack_tasks": b.ceil_div(nc, pack_step)}

    def store_fields(self, b, ctx, values):
        """Store the named context fields; keys that are not fields are ignored."""
        for name, value in values.items():
            if name in self.FIELDS:
                index = self.FIELDS.index(name)
                b.store(value, b.gep(ctx, [ir.Constant(I32, 0), ir.Constant(I32, index)]))

    @staticmethod
    def run_tasks(b, parallel_for, pool, threads, task, ctx, count):
        """parallel_for over the pool, or a plain loop when this call runs alone."""
        alone = b.icmp_signed("<", threads, _c(2))
        with b.if_else(alone) as (then, otherwise):
            with then:
                with b.loop(_c(0), count, name="serial") as i:
                    b.call(task, [ctx, i])
            with otherwise:
                b.call(parallel_for, [pool, task, ctx, count])

    def emit_zero(self):
        """C[m×n] = 0, for K == 0 without accumulate: the product of empty sums."""
        fn, b = self.internal("zero", [self.tp, I64, I64, I64], self.COLD_ATTRIBUTES)
        c, ldc, m, n = fn.args
        with b.loop(_c(0), m, name="zr") as r:
            with b.loop(_c(0), n, name="zc") as j:
                b.store(self.zero, b.at(c, b.mul(r, ldc), j))
        b.ret_void()
        return fn

def define_gemm(module: ir.Module, dtype: str, trans_a: bool, trans_b: bool,
                config: GemmConfig | None = None) -> ir.Function:
    """Add `graphc_gemm_<dtype>_<ta><tb>` to `module` (once) and return it.

    The module must be JIT'ed next to the runtime of parallel.py (`install_runtime`), which
    defines `graphc_parallel_for` and `graphc_pool_threads`.
    """
    if dtype not in _SCALAR:
        raise ValueError(f"define_gemm: dtype must be 'f32' or 'f64', got {dtype!r}")
    name = gemm_name(dtype, bool(trans_a), bool(trans_b))
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    emitter = _GemmEmitter(module, dtype, bool(trans_a), bool(trans_b),
                           config or host_config(dtype))
    store_edge = emitter.emit_store_edge()
    vectors = emitter.cfg.nr // emitter.cfg.width
    kernels = [emitter.emit_kernel(store_edge, v) for v in range(1, vectors + 1)]
    pack_a = emitter.emit_pack_a()
    pack_b = emitter.emit_pack_b()
    pack_task = emitter.emit_pack_task(pack_b)
    compute_task = emitter.emit_compute_task(pack_a, kernels)
    return emitter.emit_entry(pack_b, pack_task, compute_task)
