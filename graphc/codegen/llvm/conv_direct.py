"""The direct convolution routines in LLVM IR: `conv_direct` (the forward pass over some
output rows of one image) and `conv_filter_direct` (one image's filter gradient, added to
a partial sum), for any channel counts, without an im2col panel.

Both keep a register tile of accumulators: a few vectors of output channels (`Lanes`)
times a few output positions (forward) or input channels (filter gradient). Each step
of the inner loop loads the tile's vectors once (weights, or the output gradient) and
broadcasts one scalar per tile row (an input value) against them: P·V FMAs for P + V
loads. An im2col panel would copy KH·KW·C_in values per output position to memory and
the GEMM would copy them again into its packed panels; here every input value is loaded
where it is used. Measured on the VGG-style net's 32-128-channel layers (bench/RESULTS.md).

Padding costs nothing in the inner loops. Forward: a block of positions whose taps all
fall inside the image reads from one base pointer at constant offsets; a block at an
edge points its outside positions at a row of zeros (`_zeros`). Filter gradient: for
each tap the output positions that see the image form a rectangle, computed before the
loops.

Each distinct (routine, dtype, shape) is one function, compiled once per process (and
cached on disk) in the routines' JIT like the GEMM, and called by every kernel that
needs it: a ResNet's six identical 16-channel layers compile one forward routine, not
six inlined copies (templates.py).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import llvmlite.ir as ir

from ...lower.loopir import Var
from ...lower.routines import ConvDirect, ConvFilterDirect
from .gemm_kernel import Builder, c64, masked_load, masked_store
from .render import FunctionEmitter, storage_type, value_type

TILE = 24                  # accumulators per tile (of 32 vector registers: the rest load)
MAX_VECTORS = 4            # output-channel vectors per tile
MAX_ROWS = 12              # positions (forward) or input channels (filter) per tile
CHAINS = 8                 # independent sums a filter gradient's tile keeps at least


@dataclass(frozen=True)
class Tile:
    """`rows` scalars (positions or input channels) × `vectors` vectors of channels."""
    rows: int
    vectors: int


def plan_tile(rows_extent: int, vectors: int) -> Tile:
    """A tile over `rows_extent` rows (an output row's width, or C_in) and up to
    `vectors` channel vectors: as many vectors as allowed, then the most rows that fit
    in TILE accumulators, preferring a divisor of the extent (no narrower tail tile)
    unless that loses more than a third of the rows."""
    v = min(vectors, MAX_VECTORS)
    most = max(1, min(MAX_ROWS, TILE // v, rows_extent))
    divisor = max(d for d in range(1, most + 1) if rows_extent % d == 0)
    return Tile(divisor if 3 * divisor >= 2 * most else most, v)


class Lanes:
    """The C_out channels as vectors: `count` of them, each of `width` lanes (the
    register's, or the next power of two ≥ C_out when fewer: 8 lanes for 6 channels);
    the last one masked when C_out is not a multiple of the width."""

    def __init__(self, em, b, dtype, cout: int):
        self.module, self.b, self.align = em.module, b, dtype.itemsize
        register = 64 // dtype.itemsize
        self.width = min(register, 1 << (cout - 1).bit_length())
        self.count = -(-cout // self.width)
        self.vec = ir.VectorType(value_type(dtype), self.width)
        tail = cout - (self.count - 1) * self.width
        self.tail_mask = None if tail == self.width else ir.Constant(
            ir.VectorType(ir.IntType(1), self.width), [lane < tail for lane in range(self.width)])
        self.zero = ir.Constant(self.vec, [0.0] * self.width)
        self.fma = _fma(em.module, self.vec, dtype)

    def load(self, ptr, v: int = 0, masked: bool = False):
        """Vector v of a block starting at ptr; `masked`: it holds the last channels."""
        ptr = self.b.gep(ptr, [c64(v * self.width)])
        if not masked or self.tail_mask is None:
            return self.b.load(self.b.bitcast(ptr, self.vec.as_pointer()), align=self.align)
        return masked_load(self.module, self.b, ptr, self.tail_mask, self.vec)

    def store(self, value, ptr, v: int = 0, masked: bool = False) -> None:
        ptr = self.b.gep(ptr, [c64(v * self.width)])
        if not masked or self.tail_mask is None:
            self.b.store(value, self.b.bitcast(ptr, self.vec.as_pointer()), align=self.align)
        else:
            masked_store(self.module, self.b, value, ptr, self.tail_mask)


def _fma(module, vec, dtype):
    name = f"llvm.fma.v{vec.count}{'f32' if dtype.itemsize == 4 else 'f64'}"
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(vec, [vec, vec, vec]), name)
    return fn


def _zeros(module, dtype, count: int):
    """A constant row of `count` zeros: where an edge position's taps read."""
    name = f"graphc_zeros_{dtype.short}_{count}"
    g = module.globals.get(name)
    if g is None:
        g = ir.GlobalVariable(module, ir.ArrayType(value_type(dtype), count), name)
        g.initializer = ir.Constant(g.type.pointee, None)
        g.global_constant = True
        g.linkage = "internal"
        g.align = 64
    return g.gep([ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), 0)])


def _sizes(s):
    """A ConvShape's fields, in the short names the emitters below use."""
    return (s.h, s.w, s.c_in, s.oh, s.ow, s.c_out, s.kh, s.kw, s.pad_h, s.pad_w, s.stride_h,
            s.stride_w, s.dilation_h, s.dilation_w)


def _inside(b, i, size: int):
    return b.and_(b.icmp_signed(">=", i, c64(0)), b.icmp_signed("<", i, c64(size)))


class _Accumulators:
    """rows × vectors accumulators (allocas that LLVM keeps in registers)."""

    def __init__(self, em, b, lanes: Lanes, tile: Tile):
        entry = ir.IRBuilder(em.entry)
        self.b, self.lanes = b, lanes
        self.cells = [[entry.alloca(lanes.vec) for _ in range(tile.vectors)]
                      for _ in range(tile.rows)]

    def narrowed(self, vectors: int) -> "_Accumulators":
        """The same registers, `vectors` of each row (a narrower channel block)."""
        view = object.__new__(_Accumulators)
        view.b, view.lanes = self.b, self.lanes
        view.cells = [row[:vectors] for row in self.cells]
        return view

    def clear(self) -> None:
        for row in self.cells:
            for cell in row:
                self.b.store(self.lanes.zero, cell)

    def step(self, scalars, vectors) -> None:
        """acc[r][v] += scalars[r] · vectors[v]."""
        b, fma = self.b, self.lanes.fma
        for scalar, row in zip(scalars, self.cells):
            splat = b.splat(scalar, self.lanes.vec)
            for vector, cell in zip(vectors, row):
                b.store(b.call(fma, [splat, vector, b.load(cell)]), cell)


def _channel_blocks(b, lanes: Lanes, tile: Tile, emit) -> None:
    """emit(first channel, vectors, final) for every block of up to `tile.vectors`
    channel vectors: a loop over the full blocks, then the block holding the last
    channels (`final`: its last vector is masked when C_out is not a multiple of the
    vector width)."""
    full, rest = divmod(lanes.count, tile.vectors)
    looped = full if rest or lanes.tail_mask is None else full - 1
    if looped:
        with b.loop(c64(0), c64(looped), name="cb") as block:
            emit(b.mul(block, c64(tile.vectors * lanes.width)), tile.vectors, False)
    if looped < full or rest:
        emit(c64(looped * tile.vectors * lanes.width), rest or tile.vectors, True)


# -- the forward pass --------------------------------------------------------------------
def _conv_direct_body(em, r) -> None:
    """out[image, rows of this part] = conv2d(x[image], w): per output row, blocks of
    `tile.rows` positions × `tile.vectors` channel vectors."""
    H, W, Cin, OH, OW, Cout, KH, KW, ph, pw, sh, sw, dh, dw = _sizes(r.shape)
    dtype = em.dtypes[r.x]
    n, part = em.expr(r.image), em.expr(r.part)     # before this routine's builder
    b = Builder(em.builder.block)
    lanes = Lanes(em, b, dtype, Cout)
    tile = plan_tile(OW, lanes.count)
    x_image = b.gep(em.buffers[r.x], [b.mul(n, c64(H * W * Cin))])
    out_image = b.gep(em.buffers[r.out], [b.mul(n, c64(OH * OW * Cout))])
    weights, zeros = em.buffers[r.w], _zeros(em.module, dtype, Cin)
    accs = {p: _Accumulators(em, b, lanes, Tile(p, tile.vectors))
            for p in {tile.rows, OW % tile.rows} if p}
    first = b.sdiv(b.mul(part, c64(OH)), c64(r.parts))
    last = b.sdiv(b.mul(b.add(part, c64(1)), c64(OH)), c64(r.parts))

    def block(oh, ow0, positions, co0, vectors, final):
        acc = accs[positions].narrowed(vectors)
        acc.clear()
        w_block = b.gep(weights, [co0])

        def accumulate(count, x_at, w_row):
            with b.loop(c64(0), c64(count), name="j") as j:
                w_at = b.gep(w_row, [b.mul(j, c64(Cout))])
                vecs = [lanes.load(w_at, v, final and v == vectors - 1)
                        for v in range(vectors)]
                acc.step([b.load(x_at(j, p)) for p in range(positions)], vecs)

        with b.loop(c64(0), c64(KH), name="ka") as a:
            h = b.add(b.sub(b.mul(oh, c64(sh)), c64(ph)), b.mul(a, c64(dh)))
            with b.if_then(_inside(b, h, H)):
                x_row = b.gep(x_image, [b.mul(h, c64(W * Cin))])
                w_a = b.gep(w_block, [b.mul(a, c64(KW * Cin * Cout))])
                left = b.sub(b.mul(ow0, c64(sw)), c64(pw))         # column of tap 0, p 0
                span = (positions - 1) * sw

                def interior(tap_first, tap_last):
                    return b.and_(b.icmp_signed(">=", b.add(left, c64(tap_first)), c64(0)),
                                  b.icmp_signed("<", b.add(left, c64(span + tap_last)),
                                                c64(W)))

                def by_taps():
                    with b.loop(c64(0), c64(KW), name="kb") as kb:
                        column = b.add(left, b.mul(kb, c64(dw)))
                        w_b = b.gep(w_a, [b.mul(kb, c64(Cin * Cout))])
                        inside = b.and_(b.icmp_signed(">=", column, c64(0)),
                                        b.icmp_signed("<", b.add(column, c64(span)), c64(W)))
                        with b.if_else(inside) as (fast, edge):
                            with fast:
                                base = b.gep(x_row, [b.mul(column, c64(Cin))])
                                accumulate(Cin, lambda j, p: b.gep(base, [b.add(
                                    j, c64(p * sw * Cin))]), w_b)
                            with edge:
                                starts = []
                                for p in range(positions):
                                    at = b.add(column, c64(p * sw))
                                    starts.append(b.select(
                                        _inside(b, at, W), b.gep(x_row, [b.mul(at, c64(Cin))]),
                                        zeros))
                                accumulate(Cin, lambda j, p: b.gep(starts[p], [j]), w_b)

                if dw == 1:      # a row's taps (kb, c_in) are one contiguous run of x
                    with b.if_else(interior(0, (KW - 1) * dw)) as (whole, split):
                        with whole:
                            base = b.gep(x_row, [b.mul(left, c64(Cin))])
                            accumulate(KW * Cin, lambda j, p: b.gep(base, [b.add(
                                j, c64(p * sw * Cin))]), w_a)
                        with split:
                            by_taps()
                else:
                    by_taps()
        out_at = b.gep(out_image, [b.add(b.mul(b.add(b.mul(oh, c64(OW)), ow0), c64(Cout)),
                                         co0)])
        for p, row in enumerate(acc.cells):
            for v, cell in enumerate(row):
                lanes.store(b.load(cell), b.gep(out_at, [c64(p * Cout)]), v,
                            final and v == vectors - 1)

    def channels(co0, vectors, final):
        with b.loop(first, last, name="oh") as oh:
            full = OW // tile.rows
            if full:
                with b.loop(c64(0), c64(full * tile.rows), tile.rows, name="ow") as ow0:
                    block(oh, ow0, tile.rows, co0, vectors, final)
            if OW % tile.rows:
                block(oh, c64(full * tile.rows), OW % tile.rows, co0, vectors, final)

    _channel_blocks(b, lanes, tile, channels)
    em.builder.position_at_end(b.block)


# -- the filter gradient ------------------------------------------------------------------
def _conv_filter_direct_body(em, r) -> None:
    """acc[tap (a, b), c_in, :] += Σ over one image's positions of x[tap of the position,
    c_in] · dy[position, :]: per tap, tiles of `tile.rows` input channels × `tile.vectors`
    channel vectors, summed over the rectangle of positions whose tap is in the image."""
    H, W, Cin, OH, OW, Cout, KH, KW, ph, pw, sh, sw, dh, dw = _sizes(r.shape)
    dtype = em.dtypes[r.x]
    n, offset = em.expr(r.image), em.expr(r.acc_offset)   # before the routine's builder
    b = Builder(em.builder.block)
    lanes = Lanes(em, b, dtype, Cout)
    tile = plan_tile(Cin, lanes.count)
    x_image = b.gep(em.buffers[r.x], [b.mul(n, c64(H * W * Cin))])
    dy_image = b.gep(em.buffers[r.dy], [b.mul(n, c64(OH * OW * Cout))])
    partial = b.gep(em.buffers[r.acc], [offset])
    # a tile of few accumulators sums `chains` interleaved runs of positions (FMA latency)
    chains = {c: -(-CHAINS // (c * tile.vectors)) for c in {tile.rows, Cin % tile.rows} if c}
    accs = {c: [_Accumulators(em, b, lanes, Tile(c, tile.vectors)) for _ in range(k)]
            for c, k in chains.items()}

    def seen(k, pad, dilation, stride, size, out_size):
        """[lo, hi): the outputs o whose tap k reads inside: 0 ≤ o·stride − pad + k·d < size."""
        before = b.max(b.sub(c64(pad), b.mul(k, c64(dilation))), c64(0))
        lo = b.sdiv(b.add(before, c64(stride - 1)), c64(stride))
        room = b.sub(c64(size - 1 + pad), b.mul(k, c64(dilation)))
        hi = b.select(b.icmp_signed("<", room, c64(0)), c64(0),
                      b.min(b.add(b.sdiv(room, c64(stride)), c64(1)), c64(out_size)))
        return lo, hi

    def tile_sum(a, kb, rows, c0, co0, vectors, final, oh_range, ow_range):
        sums = [acc.narrowed(vectors) for acc in accs[rows]]
        for acc in sums:
            acc.clear()
        masks = [final and v == vectors - 1 for v in range(vectors)]
        with b.loop(*oh_range, name="oh") as oh:
            h = b.add(b.sub(b.mul(oh, c64(sh)), c64(ph)), b.mul(a, c64(dh)))
            x_row = b.gep(x_image, [b.add(b.mul(h, c64(W * Cin)), c0)])
            dy_row = b.gep(dy_image, [b.add(b.mul(oh, c64(OW * Cout)), co0)])

            def position(ow, acc):
                column = b.add(b.sub(b.mul(ow, c64(sw)), c64(pw)), b.mul(kb, c64(dw)))
                x_at = b.gep(x_row, [b.mul(column, c64(Cin))])
                g_at = b.gep(dy_row, [b.mul(ow, c64(Cout))])
                grads = [lanes.load(g_at, v, masks[v]) for v in range(vectors)]
                acc.step([b.load(b.gep(x_at, [c64(c)])) for c in range(rows)], grads)

            lo, hi = ow_range
            whole = b.add(lo, b.floor_multiple(b.max(b.sub(hi, lo), c64(0)), len(sums)))
            if len(sums) > 1:
                with b.loop(lo, whole, len(sums), name="ow") as ow0:
                    for k, acc in enumerate(sums):
                        position(b.add(ow0, c64(k)), acc)
            with b.loop(whole if len(sums) > 1 else lo, hi, name="owr") as ow:
                position(ow, sums[0])
        tap = b.add(b.mul(a, c64(KW)), kb)
        slot = b.gep(partial, [b.add(b.mul(b.add(b.mul(tap, c64(Cin)), c0), c64(Cout)), co0)])
        for c in range(rows):
            at = b.gep(slot, [c64(c * Cout)])
            for v in range(vectors):
                total = lanes.load(at, v, masks[v])
                for acc in sums:               # in a fixed order: the same bits every run
                    total = b.fadd(total, b.load(acc.cells[c][v]))
                lanes.store(total, at, v, masks[v])

    with b.loop(c64(0), c64(KH), name="ka") as a:
        oh_range = seen(a, ph, dh, sh, H, OH)
        with b.loop(c64(0), c64(KW), name="kb") as kb:
            ow_range = seen(kb, pw, dw, sw, W, OW)

            def channels(co0, vectors, final, a=a, kb=kb):
                full = Cin // tile.rows
                if full:
                    with b.loop(c64(0), c64(full * tile.rows), tile.rows, name="ci") as c0:
                        tile_sum(a, kb, tile.rows, c0, co0, vectors, final, oh_range,
                                 ow_range)
                if Cin % tile.rows:
                    tile_sum(a, kb, Cin % tile.rows, c64(full * tile.rows), co0, vectors,
                             final, oh_range, ow_range)
            _channel_blocks(b, lanes, tile, channels)
    em.builder.position_at_end(b.block)


# -- the routines as functions ----------------------------------------------------------
_BODIES = {ConvDirect: _conv_direct_body, ConvFilterDirect: _conv_filter_direct_body}
_INDEXES = {ConvDirect: ("image", "part"), ConvFilterDirect: ("image", "acc_offset")}
"""Each routine's expression fields, passed as i64 arguments after its buffers."""


def routine_key(r, dtype) -> tuple:
    """What a routine's code depends on: its kind, dtype, shape and static fields."""
    return (type(r).__name__, dtype.short, r.shape, getattr(r, "parts", 1))


def routine_symbol(key: tuple) -> str:
    kind, dtype, shape, parts = key
    digest = hashlib.sha1(repr(key).encode()).hexdigest()[:12]
    return f"graphc_{kind.lower()}_{dtype}_{digest}"


def _buffer_fields(kind) -> tuple:
    return kind.READS + tuple(f for f in kind.WRITES if f not in kind.READS)


def _signature(kind, dtype) -> ir.FunctionType:
    pointer = storage_type(dtype).as_pointer()
    return ir.FunctionType(ir.VoidType(), [pointer] * len(_buffer_fields(kind)) +
                           [ir.IntType(64)] * len(_INDEXES[kind]))


def conv_native(em, r) -> None:
    """A call of the routine's shared function (declared here, defined by `define`)."""
    dtype = em.dtypes[r.x]
    kind = type(r)
    key = routine_key(r, dtype)
    name = routine_symbol(key)
    fn = em.module.globals.get(name) or ir.Function(em.module, _signature(kind, dtype), name)
    args = [em.buffers[getattr(r, f)] for f in _buffer_fields(kind)] + \
        [em.expr(getattr(r, f)) for f in _INDEXES[kind]]
    em.builder.call(fn, args)


def define(module: ir.Module, key: tuple, dtypes_by_name: dict) -> str:
    """Add the function of the routine `key` (routine_key) to `module`; its name."""
    kind_name, dtype_short, shape, parts = key
    kind = {k.__name__: k for k in _BODIES}[kind_name]
    dtype = dtypes_by_name[dtype_short]
    name = routine_symbol(key)
    fn = ir.Function(module, _signature(kind, dtype), name)
    buffers = _buffer_fields(kind)
    for arg in fn.args[:len(buffers)]:
        arg.add_attribute("noalias")      # a routine's buffers never overlap
    em = FunctionEmitter(module, fn, dict(zip(buffers, fn.args)),
                         {b: dtype for b in buffers}, None, {})
    fields = {f: f for f in buffers}
    for f, arg in zip(_INDEXES[kind], fn.args[len(buffers):]):
        em.vars[f] = arg
        fields[f] = Var(f)
    if kind is ConvDirect:
        r = ConvDirect(shape=shape, parts=parts, **fields)
    else:
        r = ConvFilterDirect(shape=shape, **fields)
    _BODIES[kind](em, r)
    em.finish()
    return name
