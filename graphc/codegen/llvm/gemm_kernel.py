"""The inner pieces of graphc's generated GEMM: micro-kernels and packing, in LLVM IR.

`KernelEmitter` writes, for one dtype and one blocking (gemm.py's `GemmConfig`):
- micro-kernels `kernel<v>`: C[MR × v·W] (+)= packed A panel · packed B panel, with
  MR·v accumulators of type <W x T> kept in registers and `llvm.fma`; `v` runs from 1 to
  NR/W so that the last columns of a ragged N use the narrowest kernel that covers them;
- `pack_a_n` / `pack_a_t` / `pack_b_n` / `pack_b_t`: copy a block of op(A) / op(B) (the
  operand as stored, or transposed) into the k-major panels the kernels read
  contiguously, zero-padding ragged panels, transposing in registers where op(X)'s panel
  elements are a row stride apart;
- `scale` (C = beta·C, for an empty K) and `unblocked` (no workspace), cold paths kept
  small.
gemm.py builds the blocking loops, the threading and the entry point on top of these.
"""
from __future__ import annotations

import contextlib

import llvmlite.ir as ir

I32 = ir.IntType(32)
I64 = ir.IntType(64)
I8P = ir.IntType(8).as_pointer()
SCALAR = {"f32": ir.FloatType(), "f64": ir.DoubleType()}
SIZE = {"f32": 4, "f64": 8}
ALIGN = 64


def c64(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


def get_function(module: ir.Module, name: str, fnty: ir.FunctionType) -> ir.Function:
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    return ir.Function(module, fnty, name)


def masked_intrinsic(module, kind, vec_type):
    """llvm.masked.load / .store / .gather for `vec_type` (LLVM 22 form: no alignment
    operand, the pointer argument carries an `align` attribute)."""
    lanes = vec_type.count
    suffix = f"v{lanes}{'f32' if isinstance(vec_type.element, ir.FloatType) else 'f64'}"
    mask = ir.VectorType(ir.IntType(1), lanes)
    if kind == "load":
        return get_function(module, f"llvm.masked.load.{suffix}.p0",
                            ir.FunctionType(vec_type, [vec_type.as_pointer(), mask, vec_type]))
    if kind == "store":
        return get_function(module, f"llvm.masked.store.{suffix}.p0",
                            ir.FunctionType(ir.VoidType(), [vec_type, vec_type.as_pointer(),
                                                            mask]))
    pointers = ir.VectorType(vec_type.element.as_pointer(), lanes)
    return get_function(module, f"llvm.masked.gather.{suffix}.v{lanes}p0",
                        ir.FunctionType(vec_type, [pointers, mask, vec_type]))


def _element_size(vec_type) -> int:
    return 4 if isinstance(vec_type.element, ir.FloatType) else 8


def masked_load(module, b, ptr, mask, vec_type):
    """The lanes of *ptr where mask is set (others undefined), faulting on none else."""
    call = b.call(masked_intrinsic(module, "load", vec_type),
                  [b.bitcast(ptr, vec_type.as_pointer()), mask, ir.Constant(vec_type, None)],
                  arg_attrs={0: ()})
    call.arg_attributes[0].align = _element_size(vec_type)
    return call


def masked_store(module, b, value, ptr, mask) -> None:
    call = b.call(masked_intrinsic(module, "store", value.type),
                  [value, b.bitcast(ptr, value.type.as_pointer()), mask], arg_attrs={1: ()})
    call.arg_attributes[1].align = _element_size(value.type)


def masked_gather(module, b, pointers, mask, vec_type):
    call = b.call(masked_intrinsic(module, "gather", vec_type),
                  [pointers, mask, ir.Constant(vec_type, None)], arg_attrs={0: ()})
    call.arg_attributes[0].align = _element_size(vec_type)
    return call


class Builder(ir.IRBuilder):
    """IRBuilder plus the idioms the GEMM uses: counted loops, min, ceil-div, vectors."""

    @contextlib.contextmanager
    def loop(self, start, stop, step=1, name="i"):
        """for (i = start; i < stop; i += step) — yields i (signed compare)."""
        step = c64(step) if isinstance(step, int) else step
        start = c64(start) if isinstance(start, int) else start
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

    def max(self, a, b):
        return self.select(self.icmp_signed(">", a, b), a, b)

    def floor_multiple(self, a, step: int):
        """a rounded down to a multiple of step (a ≥ 0)."""
        return self.mul(self.sdiv(a, c64(step)), c64(step))

    def ceil_div(self, a, b):
        b = c64(b) if isinstance(b, int) else b
        return self.sdiv(self.add(a, self.sub(b, c64(1))), b)

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


class KernelEmitter:
    """Emits the micro-kernels and packing routines of one dtype and blocking into a
    module."""

    COLD_ATTRIBUTES = ("noinline", "minsize", "optsize")
    PACK_ATTRIBUTES = ("noinline", "optsize")
    PREFETCH_C = True

    def __init__(self, module, name, dtype, config):
        self.module = module
        self.name = name
        self.dtype = dtype
        self.cfg = config
        self.t = SCALAR[dtype]
        self.tp = self.t.as_pointer()
        self.vec = ir.VectorType(self.t, config.width)
        self.esize = SIZE[dtype]
        # packed B rows start on multiples of one vector from a 64-byte
        # aligned base, so vector accesses to them may assume the vector's own alignment
        self.valign = min(ALIGN, config.width * self.esize)
        self.zero = ir.Constant(self.t, 0.0)
        if config.fma:
            self.fma = get_function(
                module, f"llvm.fma.v{config.width}{dtype}",
                ir.FunctionType(self.vec, [self.vec] * 3))

    def internal(self, suffix, args, attributes=()):
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), args),
                         f"{self.name}.{suffix}")
        fn.linkage = "internal"
        for attribute in ("nounwind",) + tuple(attributes):
            fn.attributes.add(attribute)
        return fn, Builder(fn.append_basic_block("entry"))

    # -- micro-kernel ----------------------------------------------------------------
    @staticmethod
    def kernel_type(dtype: str) -> ir.FunctionType:
        """void kernel(T *Ap, T *Bp, i64 kc, T *C, i64 ldc, i64 mr, i64 nr, T beta,
        T alpha, i64 ldbk, i64 a_row, i64 a_depth): ldbk is the distance of Bp's k-rows,
        NR for a packed panel, ldb for a panel of B read in place; element (r, k) of the A
        panel is Ap[r·a_row + k·a_depth]: (1, MR) packed, (lda, 1) or (1, lda) for a panel
        of A, or of Aᵀ, read in place."""
        t = SCALAR[dtype]
        tp = t.as_pointer()
        return ir.FunctionType(ir.VoidType(), [tp, tp, I64, tp, I64, I64, I64, t, t, I64,
                                               I64, I64])

    def emit_kernel(self, vectors, suffix):
        """C[mr×nr] (+)= alpha · Ap[kc×MR]ᵀ · Bp[kc×NR][:, :vectors·W] for one A and one B
        panel (Bp's k-rows `ldbk` apart: NR packed, ldb when B is read in place; A's
        elements as `kernel_type` says).

        The MR·vectors accumulators are allocas that SROA turns into registers; the k loop
        body is `vectors` loads of B, MR broadcasts of A and MR·vectors fmas. Kernels
        narrower than NR serve the last columns of C, so a ragged N wastes at most W - 1
        columns of work instead of NR - 1; likewise a panel of fewer rows than MR takes
        the shortest tile of SHORT_TILES that covers them. A full tile is stored with
        plain vector stores; a partial one (mr or nr short of the tile) with masked ones.
        """
        cfg = self.cfg
        fn, b = self.internal(suffix, self.kernel_type(self.dtype).args)
        ap, bp, kc, c, ldc, mr, nr, beta, alpha, ldbk, a_row, a_depth = fn.args
        for arg in (ap, bp, c):
            arg.add_attribute("noalias")
        slots = [[b.alloca(self.vec) for _ in range(vectors)] for _ in range(cfg.mr)]
        tiles = sorted({rows for rows in self.SHORT_TILES if rows < cfg.mr} | {cfg.mr})
        blocks = {rows: fn.append_basic_block(f"rows{rows}") for rows in tiles}
        switch = b.switch(mr, blocks[cfg.mr])
        for count in range(1, cfg.mr):
            switch.add_case(ir.Constant(I64, count),
                            blocks[next(rows for rows in tiles if rows >= count)])
        for rows, block in blocks.items():
            b.position_at_end(block)
            self.emit_tile(b, fn.args, slots[:rows], vectors)
            b.ret_void()
        return fn

    SHORT_TILES = (1, 2, 4)
    """Tiles of fewer rows than MR, for a panel of fewer rows (a batch of one, the last
    rows of M): an 8-row tile for one row of A did eight times the row's work."""

    def emit_tile(self, b, args, slots, vectors) -> None:
        """The k loop and the stores of a tile of len(slots) rows."""
        cfg = self.cfg
        ap, bp, kc, c, ldc, mr, nr, beta, alpha, ldbk, a_row, a_depth = args
        width = vectors * cfg.width
        for row in slots:
            for slot in row:
                b.store(ir.Constant(self.vec, None), slot)
        if self.PREFETCH_C:
            self.prefetch_tile(b, c, ldc, width, len(slots))
        with b.loop(c64(0), kc, name="k") as k:
            brow = b.at(bp, b.mul(k, ldbk))
            bvecs = [b.load_vec(b.at(brow, c64(v * cfg.width)), self.vec, self.esize)
                     for v in range(vectors)]
            arow = b.at(ap, b.mul(k, a_depth))
            for r in range(len(slots)):
                a = b.splat(b.load(b.at(arow, b.mul(c64(r), a_row))), self.vec)
                for v in range(vectors):
                    acc = b.load(slots[r][v])
                    b.store(self.multiply_add(b, a, bvecs[v], acc), slots[r][v])
        scale = b.splat(alpha, self.vec)          # C (+)= alpha · product (alpha 1: exact)
        for row in slots:
            for slot in row:
                b.store(b.fmul(b.load(slot), scale), slot)
        full = b.and_(b.icmp_signed("==", mr, c64(len(slots))),
                      b.icmp_signed("==", nr, c64(width)))
        accumulate = b.fcmp_ordered("!=", beta, self.zero)    # beta 0: C is never read
        scale_c = b.splat(beta, self.vec)
        with b.if_else(full) as (then, otherwise):
            with then:
                with b.if_else(accumulate) as (add, store):
                    with add:
                        self.store_tile(b, slots, c, ldc, scale_c)
                    with store:
                        self.store_tile(b, slots, c, ldc, None)
            with otherwise:
                with b.if_else(accumulate) as (add, store):
                    with add:
                        self.store_tile(b, slots, c, ldc, scale_c, mr, nr)
                    with store:
                        self.store_tile(b, slots, c, ldc, None, mr, nr)

    def prefetch_tile(self, b, c, ldc, width, rows):
        """Ask for the C tile's cache lines now; they are read and written after the k
        loop, by which time they have arrived instead of stalling the stores."""
        prefetch = get_function(self.module, "llvm.prefetch.p0",
                                ir.FunctionType(ir.VoidType(), [I8P, I32, I32, I32]))
        line = 64 // self.esize
        for r in range(rows):
            row = b.at(c, b.mul(c64(r), ldc))
            for offset in range(0, width, line):
                address = b.bitcast(b.at(row, c64(offset)), I8P)
                b.call(prefetch, [address, ir.Constant(I32, 1), ir.Constant(I32, 3),
                                  ir.Constant(I32, 1)])

    def multiply_add(self, b, x, y, acc):
        if self.cfg.fma:
            return b.call(self.fma, [x, y, acc])
        return b.fadd(b.fmul(x, y), acc)

    def store_tile(self, b, slots, c, ldc, beta, mr=None, nr=None):
        """C = the accumulators (+ beta·C when beta, a vector, is given): every row and
        vector, or with mr/nr given, masked to the valid mr×nr corner (rows past mr get an
        all-false mask: no access at all). beta·C + acc with beta 1 is exactly C + acc."""
        cfg = self.cfg
        bools = ir.VectorType(ir.IntType(1), cfg.width)
        for r, row in enumerate(slots):
            crow = b.at(c, b.mul(c64(r), ldc))
            row_valid = None if mr is None else b.splat(b.icmp_signed("<", c64(r), mr), bools)
            for v, slot in enumerate(row):
                ptr = b.at(crow, c64(v * cfg.width))
                value = b.load(slot)
                if mr is None:
                    if beta is not None:
                        old = b.load_vec(ptr, self.vec, self.esize)
                        value = b.fadd(b.fmul(old, beta), value)
                    b.store_vec(value, ptr, self.esize)
                    continue
                mask = b.and_(b.lane_mask(cfg.width, b.sub(nr, c64(v * cfg.width))),
                              row_valid)
                if beta is not None:
                    old = masked_load(self.module, b, ptr, mask, self.vec)
                    value = b.fadd(b.fmul(old, beta), value)
                masked_store(self.module, b, value, ptr, mask)

    # -- packing ---------------------------------------------------------------------
    # Each k-row of a packed panel is one vector: a masked load where op(X) has the panel's
    # elements contiguous, a masked gather where they are a stride apart (the transposing
    # cases). Masked-off lanes read nothing and pack zeros, so ragged edges need no
    # separate code and the zero padding the kernels rely on comes free.

    def pack_type(self) -> ir.FunctionType:
        """pack_a(A, lda, i0, mc, p0, kc, Ap) and pack_b(B, ldb, p0, kc, j0, j1, Bp)."""
        return ir.FunctionType(ir.VoidType(), [self.tp, I64, I64, I64, I64, I64, self.tp])

    def emit_pack_a(self, transposed: bool):
        """Ap[panel][k][MR] = op(A)[i0 + panel·MR + r, p0 + k], zero rows past mc; op(A)
        is Aᵀ when `transposed`."""
        cfg = self.cfg
        fn, b = self.internal(f"pack_a_{'t' if transposed else 'n'}",
                              self.pack_type().args, self.PACK_ATTRIBUTES)
        a, lda, i0, mc, p0, kc, ap = fn.args
        lanes = ir.VectorType(self.t, cfg.mr)
        with b.loop(c64(0), b.ceil_div(mc, cfg.mr), name="pa") as panel:
            dst = b.at(ap, b.mul(panel, b.mul(kc, c64(cfg.mr))))
            first = b.add(i0, b.mul(panel, c64(cfg.mr)))
            rows = b.sub(mc, b.mul(panel, c64(cfg.mr)))
            if transposed:                  # A stored K×M: a panel's k-row is contiguous
                mask = b.lane_mask(cfg.mr, rows)
                with b.loop(c64(0), kc, name="ka") as k:
                    src = b.at(a, b.mul(b.add(p0, k), lda), first)
                    value = masked_load(self.module, b, src, mask, lanes)
                    b.store_vec(value, b.at(dst, b.mul(k, c64(cfg.mr))), self.esize)
            else:                           # A stored M×K: rows are lda apart
                start = b.at(a, b.mul(first, lda), p0)
                self.pack_transposed(b, start, lda, rows, cfg.mr, kc, dst, cfg.mr, self.esize)
        b.ret_void()
        return fn

    def emit_pack_b(self, transposed: bool):
        """Bp[panel][k][NR] = op(B)[p0 + k, j0 + panel·NR + j] for columns j0 ≤ · < j1;
        op(B) is Bᵀ when `transposed`."""
        cfg = self.cfg
        fn, b = self.internal(f"pack_b_{'t' if transposed else 'n'}",
                              self.pack_type().args, self.PACK_ATTRIBUTES)
        bm, ldb, p0, kc, j0, j1, bp = fn.args
        vectors = cfg.nr // cfg.width
        with b.loop(c64(0), b.ceil_div(b.sub(j1, j0), cfg.nr), name="pb") as panel:
            dst = b.at(bp, b.mul(panel, b.mul(kc, c64(cfg.nr))))
            first = b.add(j0, b.mul(panel, c64(cfg.nr)))
            cols = b.sub(j1, first)
            # vectors wholly past the last column are never read (the narrow kernels
            # serve such panels): they are not packed
            if transposed:                  # B stored N×K: columns of op(B) are ldb apart
                for v in range(vectors):
                    with b.if_then(b.icmp_signed(">", cols, c64(v * cfg.width))):
                        column = b.add(first, c64(v * cfg.width))
                        self.pack_transposed(b, b.at(bm, b.mul(column, ldb), p0), ldb,
                                             b.sub(cols, c64(v * cfg.width)), cfg.width, kc,
                                             b.at(dst, c64(v * cfg.width)), cfg.nr,
                                             self.valign)
            else:
                used = b.ceil_div(b.min(cols, c64(cfg.nr)), cfg.width)
                cases = [b.append_basic_block(f"pack{v}") for v in range(1, vectors + 1)]
                after = b.append_basic_block("packed")
                switch = b.switch(used, cases[-1])
                for v, block in enumerate(cases[:-1], start=1):
                    switch.add_case(ir.Constant(I64, v), block)
                for count, block in enumerate(cases, start=1):
                    b.position_at_end(block)
                    self.pack_rows(b, bm, ldb, p0, kc, first, cols, dst, count)
                    b.branch(after)
                b.position_at_end(after)
        b.ret_void()
        return fn

    def pack_rows(self, b, bm, ldb, p0, kc, first, cols, dst, count):
        """The first `count` vectors of each k-row of a B panel, by masked row loads."""
        cfg = self.cfg
        masks = [b.lane_mask(cfg.width, b.sub(cols, c64(v * cfg.width))) for v in range(count)]
        with b.loop(c64(0), kc, name="kb") as k:
            src = b.at(bm, b.mul(b.add(p0, k), ldb), first)
            row = b.at(dst, b.mul(k, c64(cfg.nr)))
            for v, mask in enumerate(masks):
                value = masked_load(self.module, b, b.at(src, c64(v * cfg.width)), mask, self.vec)
                b.store_vec(value, b.at(row, c64(v * cfg.width)), self.valign)

    def pack_transposed(self, b, start, stride, valid, lanes, kc, dst, dst_stride, align):
        """dst[k·dst_stride + l] = start[l·stride + k] for k < kc, l < lanes (0 if l ≥ valid).

        Square blocks of `lanes` k values are loaded as rows and transposed in registers;
        the last kc % lanes values (or all, for a lane count that is not a power of two)
        are gathered one k at a time.
        """
        vec = ir.VectorType(self.t, lanes)
        main = c64(0)
        if lanes >= 2 and lanes & (lanes - 1) == 0:
            main = b.sub(kc, b.srem(kc, c64(lanes)))
            bools = ir.VectorType(ir.IntType(1), lanes)
            row_masks = [b.splat(b.icmp_signed("<", c64(lane), valid), bools)
                         for lane in range(lanes)]
            with b.loop(c64(0), main, lanes, name="kt") as k0:
                rows = [masked_load(self.module, b, b.at(start, b.mul(c64(lane), stride), k0),
                                         row_masks[lane], vec) for lane in range(lanes)]
                for t, column in enumerate(b.transpose(rows)):
                    ptr = b.at(dst, b.mul(b.add(k0, c64(t)), c64(dst_stride)))
                    b.store_vec(column, ptr, align)
        pointers = self.lane_pointers(b, start, stride, lanes)
        mask = b.lane_mask(lanes, valid)
        with b.loop(main, kc, name="kg") as k:
            value = masked_gather(self.module, b, self.advance(b, pointers, k), mask, vec)
            b.store_vec(value, b.at(dst, b.mul(k, c64(dst_stride))), align)

    def lane_pointers(self, b, start, stride, lanes):
        """<lanes x T*>: start + lane·stride. llvmlite has no vector GEP, so the addresses
        are computed as integers."""
        ints = ir.VectorType(I64, lanes)
        steps = b.mul(ir.Constant(ints, list(range(lanes))),
                      b.splat(b.mul(stride, c64(self.esize)), ints))
        return b.add(b.splat(b.ptrtoint(start, I64), ints), steps)

    def advance(self, b, addresses, k):
        """The lane pointers moved k elements along each lane's contiguous axis."""
        ints = addresses.type
        moved = b.add(addresses, b.splat(b.mul(k, c64(self.esize)), ints))
        return b.inttoptr(moved, ir.VectorType(self.tp, ints.count))

    GEMV_VECTORS = 8
    """Accumulator vectors of a GEMV column block (128 float32 columns at 16 lanes)."""

    def emit_gemv(self):
        """c[j] = alpha·Σ_p a[p·a_depth]·B[p·ldb + j] + beta·c[j]: one row of op(A) times B
        as stored (batch-1 inference). B is streamed row by row straight from memory into
        a block of accumulator vectors, with no packing: packing a matrix that is read
        once costs as much as the product. The last block is masked."""
        fn, b = self.internal("gemv", [I64, I64, self.tp, I64, self.tp, I64, self.tp, self.t,
                                       self.t], ("noinline",))
        n, k, a, a_depth, bm, ldb, c, beta, alpha = fn.args
        width, vectors = self.cfg.width, self.GEMV_VECTORS
        block = width * vectors
        slots = [b.alloca(self.vec) for _ in range(vectors)]
        full = b.floor_multiple(n, block)
        with b.loop(c64(0), full, block, name="gj") as j0:
            self.gemv_block(b, slots, j0, None, k, a, a_depth, bm, ldb, c, beta, alpha)
        with b.if_then(b.icmp_signed("<", full, n)):
            self.gemv_block(b, slots, full, b.sub(n, full), k, a, a_depth, bm, ldb, c, beta,
                            alpha)
        b.ret_void()
        return fn

    def gemv_block(self, b, slots, j0, valid, k, a, a_depth, bm, ldb, c, beta, alpha):
        """Columns j0 .. j0 + len(slots)·width of the GEMV (the first `valid` of them,
        masked, when given)."""
        width = self.cfg.width
        masks = None if valid is None else \
            [b.lane_mask(width, b.sub(valid, c64(v * width))) for v in range(len(slots))]
        zero = ir.Constant(self.vec, [0.0] * width)
        for slot in slots:
            b.store(zero, slot)
        with b.loop(c64(0), k, name="gp") as p:
            x = b.splat(b.load(b.at(a, b.mul(p, a_depth))), self.vec)
            row = b.at(bm, b.mul(p, ldb), j0)
            for v, slot in enumerate(slots):
                ptr = b.at(row, c64(v * width))
                y = b.load_vec(ptr, self.vec, self.esize) if masks is None else \
                    masked_load(self.module, b, ptr, masks[v], self.vec)
                b.store(self.multiply_add(b, x, y, b.load(slot)), slot)
        scale = b.splat(alpha, self.vec)
        for slot in slots:
            b.store(b.fmul(b.load(slot), scale), slot)
        mr = None if valid is None else c64(1)
        start = b.at(c, j0)
        with b.if_else(b.fcmp_ordered("!=", beta, self.zero)) as (accumulate, store):
            with accumulate:
                self.store_tile(b, [slots], start, c64(0), b.splat(beta, self.vec), mr, valid)
            with store:
                self.store_tile(b, [slots], start, c64(0), None, mr, valid)

    def emit_scale(self):
        """C[m×n] = beta·C, for K == 0 (the product of empty sums); beta 0 stores zeros
        without reading C."""
        fn, b = self.internal("scale", [self.tp, I64, I64, I64, self.t], self.COLD_ATTRIBUTES)
        c, ldc, m, n, beta = fn.args
        keep = b.fcmp_ordered("!=", beta, self.zero)
        with b.loop(c64(0), m, name="zr") as r:
            with b.loop(c64(0), n, name="zc") as j:
                ptr = b.at(c, b.mul(r, ldc), j)
                with b.if_else(keep) as (scaled, zeroed):
                    with scaled:
                        b.store(b.fmul(b.load(ptr), beta), ptr)
                    with zeroed:
                        b.store(self.zero, ptr)
        b.ret_void()
        return fn

    def emit_unblocked(self):
        """C = alpha·op(A)·op(B) + beta·C with one scalar fma chain per element and no
        workspace: the fallback when the packing workspace cannot be allocated. op(A)[i, p]
        is A[i·a_row + p·a_depth] and op(B)[p, j] is B[p·b_depth + j·b_column], so one
        function serves every transpose."""
        fn, b = self.internal("unblocked", [I64, I64, I64, self.tp, I64, I64, self.tp, I64, I64,
                                            self.tp, I64, self.t, self.t], self.COLD_ATTRIBUTES)
        m, n, k, a, a_row, a_depth, bm, b_depth, b_column, c, ldc, beta, alpha = fn.args
        accumulate = b.fcmp_ordered("!=", beta, self.zero)
        scalar_fma = get_function(self.module, f"llvm.fma.{self.dtype}",
                                  ir.FunctionType(self.t, [self.t] * 3))
        total = b.alloca(self.t)
        with b.loop(c64(0), m, name="ui") as i:
            with b.loop(c64(0), n, name="uj") as j:
                b.store(self.zero, total)
                with b.loop(c64(0), k, name="up") as p:
                    x = b.load(b.at(a, b.mul(i, a_row), b.mul(p, a_depth)))
                    y = b.load(b.at(bm, b.mul(p, b_depth), b.mul(j, b_column)))
                    b.store(b.call(scalar_fma, [x, y, b.load(total)]), total)
                ptr = b.at(c, b.mul(i, ldc), j)
                value = b.fmul(b.load(total), alpha)
                with b.if_else(accumulate) as (add, store):
                    with add:
                        b.store(b.fadd(b.fmul(b.load(ptr), beta), value), ptr)
                    with store:
                        b.store(value, ptr)
        b.ret_void()
        return fn
