"""The `conv_direct` routine in LLVM IR: one image of a convolution with few output
channels (C_out ≤ 16), without an im2col panel.

The output channels of one position are one vector (C_out lanes, rounded up to a power
of two and masked: `_Channels`); a block of P positions
along a row keeps P such accumulators in registers. For every filter tap (a, b, c_in)
the filter's C_out weights are one vector load and each position adds its input value
(a scalar, zero outside the image) times that vector. An im2col panel would copy
KH·KW·C_in values per output position to memory and read them back; here each input
value is loaded where it is used.
"""
from __future__ import annotations

import llvmlite.ir as ir

from .gemm_kernel import Builder, c64, masked_load, masked_store
from .render import value_type

POSITIONS = 4              # output positions per block (accumulators in registers)


class _Channels:
    """The C_out channels of one position as one vector of a power-of-two length: with 6
    channels, 8 lanes and masked loads and stores. (The backend splits a <6 x T> vector
    into pieces: the filter gradient ran slower than im2col + GEMM that way, and faster
    with masked lanes: LeNet-5's first layer 314–360 → 235–269 µs.)"""

    def __init__(self, em, b, dtype, cout: int):
        self.module, self.b, self.cout = em.module, b, cout
        self.align = dtype.itemsize
        self.vec = ir.VectorType(value_type(dtype), 1 << (cout - 1).bit_length())
        self.mask = ir.Constant(ir.VectorType(ir.IntType(1), self.vec.count),
                                [lane < cout for lane in range(self.vec.count)])
        self.zero = ir.Constant(self.vec, [0.0] * self.vec.count)

    def load(self, ptr):
        if self.vec.count == self.cout:
            return self.b.load(self.b.bitcast(ptr, self.vec.as_pointer()), align=self.align)
        return masked_load(self.module, self.b, ptr, self.mask, self.vec)

    def store(self, value, ptr) -> None:
        if self.vec.count == self.cout:
            self.b.store(value, self.b.bitcast(ptr, self.vec.as_pointer()), align=self.align)
        else:
            masked_store(self.module, self.b, value, ptr, self.mask)


def _sizes(s):
    """A ConvShape's fields, in the short names the emitters below use."""
    return (s.h, s.w, s.c_in, s.oh, s.ow, s.c_out, s.kh, s.kw, s.pad_h, s.pad_w, s.stride_h,
            s.stride_w, s.dilation_h, s.dilation_w)


def conv_direct_native(em, r) -> None:
    x, w, out = r.x, r.w, r.out
    H, W, Cin, OH, OW, Cout, KH, KW, ph, pw, sh, sw, dh, dw = _sizes(r.shape)
    dtype = em.dtypes[x]
    n = em.expr(r.image)                # before this routine's builder takes the block
    b = Builder(em.builder.block)
    lanes = _Channels(em, b, dtype, Cout)
    vec = lanes.vec
    fma = _fma(em.module, vec, dtype)
    x_image = b.gep(em.buffers[x], [b.mul(n, c64(H * W * Cin))])
    out_image = b.gep(em.buffers[out], [b.mul(n, c64(OH * OW * Cout))])
    entry = ir.IRBuilder(em.entry)
    accs = [entry.alloca(vec) for _ in range(POSITIONS)]
    zero = ir.Constant(value_type(dtype), 0.0)
    with b.loop(c64(0), c64(OH), name="oh") as oh:
        with b.loop(c64(0), c64(OW), POSITIONS, name="ow") as ow0:
            for acc in accs:
                b.store(lanes.zero, acc)
            with b.loop(c64(0), c64(KH), name="ka") as a:
                h = _coordinate(b, oh, a, sh, ph, dh)
                with b.if_then(_inside(b, h, H)):
                    x_row = b.gep(x_image, [b.mul(h, c64(W * Cin))])
                    with b.loop(c64(0), c64(KW), name="kb") as kb:
                        _taps(b, fma, accs, lanes, x_row, em.buffers[w], a, kb, ow0, zero,
                              W, Cin, OW, Cout, KW, pw, sw, dw)
            for j, acc in enumerate(accs):
                ow = b.add(ow0, c64(j))
                with b.if_then(b.icmp_signed("<", ow, c64(OW))):
                    at = b.gep(out_image, [b.mul(b.add(b.mul(oh, c64(OW)), ow), c64(Cout))])
                    lanes.store(b.load(acc), at)
    em.builder.position_at_end(b.block)


def _taps(b, fma, accs, lanes, x_row, weights, a, kb, ow0, zero, W, Cin, OW, Cout, KW, pw,
          sw, dw) -> None:
    """Every input channel of tap (a, kb) into the block's accumulators."""
    with b.loop(c64(0), c64(Cin), name="ci") as ci:
        tap = b.add(b.mul(b.add(b.mul(a, c64(KW)), kb), c64(Cin)), ci)
        w_at = b.gep(weights, [b.mul(tap, c64(Cout))])
        wv = lanes.load(w_at)
        channel = b.gep(x_row, [ci])
        for j, acc in enumerate(accs):
            ow = b.add(ow0, c64(j))
            wi = _coordinate(b, ow, kb, sw, pw, dw)
            ok = b.and_(_inside(b, wi, W), b.icmp_signed("<", ow, c64(OW)))
            value = _input_at(b, channel, wi, ok, Cin, zero)
            b.store(b.call(fma, [b.splat(value, lanes.vec), wv, b.load(acc)]), acc)


def _coordinate(b, o, k, stride: int, pad: int, dilation: int):
    """The input row (column) that output row (column) o reads at filter offset k."""
    return b.add(b.sub(b.mul(o, c64(stride)), c64(pad)), b.mul(k, c64(dilation)))


def _inside(b, i, size: int):
    return b.and_(b.icmp_signed(">=", i, c64(0)), b.icmp_signed("<", i, c64(size)))


def _input_at(b, row, i, ok, step: int, zero):
    """row[i·step], or zero where `ok` is false (the load itself stays in the image)."""
    value = b.load(b.gep(row, [b.mul(b.select(ok, i, c64(0)), c64(step))]))
    return b.select(ok, value, zero)


def _fma(module, vec, dtype):
    name = f"llvm.fma.v{vec.count}{'f32' if dtype.itemsize == 4 else 'f64'}"
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(vec, [vec, vec, vec]), name)
    return fn


def conv_filter_direct_native(em, r) -> None:
    """acc[t, :] += Σ over one image's output positions of x[tap t of the position] ·
    dy[position, :], for every filter tap t = (a, b, c_in): dy's C_out values are one
    vector, the tap's sum stays in a register over all positions."""
    x, dy, acc_buf = r.x, r.dy, r.acc
    H, W, Cin, OH, OW, Cout, KH, KW, ph, pw, sh, sw, dh, dw = _sizes(r.shape)
    dtype = em.dtypes[x]
    n, offset = em.expr(r.image), em.expr(r.acc_offset)   # before the routine's builder
    b = Builder(em.builder.block)
    lanes = _Channels(em, b, dtype, Cout)
    vec = lanes.vec
    fma = _fma(em.module, vec, dtype)
    x_image = b.gep(em.buffers[x], [b.mul(n, c64(H * W * Cin))])
    dy_image = b.gep(em.buffers[dy], [b.mul(n, c64(OH * OW * Cout))])
    partial = b.gep(em.buffers[acc_buf], [offset])
    accs = [ir.IRBuilder(em.entry).alloca(vec) for _ in range(POSITIONS)]
    zero = ir.Constant(value_type(dtype), 0.0)
    with b.loop(c64(0), c64(KH * KW * Cin), name="tap") as tap:
        ci = b.srem(tap, c64(Cin))
        kb = b.srem(b.sdiv(tap, c64(Cin)), c64(KW))
        a = b.sdiv(tap, c64(KW * Cin))
        slot = b.gep(partial, [b.mul(tap, c64(Cout))])
        for acc in accs:            # POSITIONS independent sums: FMA latency overlaps
            b.store(lanes.zero, acc)
        with b.loop(c64(0), c64(OH), name="oh") as oh:
            h = _coordinate(b, oh, a, sh, ph, dh)
            with b.if_then(_inside(b, h, H)):
                x_row = b.gep(x_image, [b.add(b.mul(h, c64(W * Cin)), ci)])
                dy_row = b.gep(dy_image, [b.mul(oh, c64(OW * Cout))])
                with b.loop(c64(0), c64(OW), POSITIONS, name="ow") as ow0:
                    for j, acc in enumerate(accs):
                        ow = b.add(ow0, c64(j))
                        real = b.icmp_signed("<", ow, c64(OW))
                        wi = _coordinate(b, ow, kb, sw, pw, dw)
                        value = _input_at(b, x_row, wi, b.and_(_inside(b, wi, W), real), Cin,
                                          zero)
                        at = b.select(real, ow, c64(0))
                        g = lanes.load(b.gep(dy_row, [b.mul(at, c64(Cout))]))
                        b.store(b.call(fma, [b.splat(value, vec), g, b.load(acc)]), acc)
        total = lanes.load(slot)
        for acc in accs:
            total = b.fadd(total, b.load(acc))
        lanes.store(total, slot)
    em.builder.position_at_end(b.block)
