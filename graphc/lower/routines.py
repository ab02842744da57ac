"""Routines: loop-IR statements a target may implement natively (a tuned GEMM, the
direct convolutions, vector column sums), each with named fields and a portable
expansion into plain loops, so a target that lacks one still runs the whole program.

    Gemm             C[M,N] = alpha·op(A)·op(B) + beta·C (+ a fused pointwise epilogue)
    ConvDirect       one image of a convolution with few output channels, no panel
    ConvFilterDirect one image's filter gradient, added to an accumulator
    ConvGemm         a whole batch's convolution or gradient as one implicit GEMM
    BlockSum         the period partial sums of a contiguous buffer (a column sum)
    Print            hand a value to the runtime's print function (no expansion: every
                     target calls the runtime)
    Allreduce        sum a buffer over the MPI world in place (no expansion: a target
                     calls MPI or refuses it)

Every routine knows the buffers it reads and writes and its expression fields (so
analyses such as `access.walk` need no special cases), expands into loop IR
(`expand`), and runs on numpy arrays for the loop-IR interpreter (`run_numpy`, which
the tests hold against the expansion).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Callable, ClassVar

import numpy as np

from ..ir import DType
from ..ir.symbolic import SymbolicDim, evaluate
from ..ops.collective import MpiHandles, world
from ..ops.debug import format_print
from .loopir import (SIZES, Assign, Binary, Compare, Declare, Expr, Load, Local, Loop, Select,
                     Store, add, const, idx, linear_index, mul, row_major_strides)
from .nests import Names


@dataclass(eq=False)
class Routine:
    """A routine statement; subclasses list which fields name buffers."""

    name: ClassVar[str]
    READS: ClassVar[tuple[str, ...]] = ()         # fields naming buffers it reads
    WRITES: ClassVar[tuple[str, ...]] = ()        # fields naming buffers it writes

    def buffers(self) -> tuple[str, ...]:
        """The buffers it reads or writes itself (a nested epilogue's: `nested`)."""
        return tuple(dict.fromkeys(getattr(self, f) for f in self.READS + self.WRITES))

    def written(self) -> tuple[str, ...]:
        return tuple(getattr(self, f) for f in self.WRITES)

    def expressions(self) -> tuple[Expr, ...]:
        """Its loop-IR expression fields (offsets, sizes, an image index)."""
        return tuple(v for f in fields(self) for v in [getattr(self, f.name)]
                     if not isinstance(v, str | int | float | bool | ConvShape) and
                     v is not None and not isinstance(v, Loop))

    def nested(self) -> list:
        """Statements it contains (a GEMM's epilogue)."""
        return []

    def expand(self, dtype_of: Callable[[str], DType], names: Names) -> list:
        raise NotImplementedError

    def run_numpy(self, buffers: dict, value: Callable[[Expr], int]) -> None:
        raise NotImplementedError

def _as_index(value) -> Expr:
    """A size or offset field as an expression (ints and symbolic sizes k·N + c too)."""
    return idx(value) if isinstance(value, int | SymbolicDim) else value


# -- GEMM ----------------------------------------------------------------------------------
@dataclass(eq=False)
class Gemm(Routine):
    """Row-major C[M,N] = alpha·op(A)·op(B) + beta·C on flat buffers from the offsets
    (beta 0: C is not read); op(A) is A (M×K, row stride lda) or, with trans_a, Aᵀ of a
    K×M array; likewise B. `epilogue`, set by lowering (`epilogue.attach_epilogues`),
    is a pointwise nest over C's M×N elements that may run on each block of C as the
    GEMM finishes it; without a native GEMM it runs after the product."""

    name: ClassVar[str] = "gemm"
    READS: ClassVar = ("a", "b")
    WRITES: ClassVar = ("c",)

    a: str
    a_offset: Expr
    b: str
    b_offset: Expr
    c: str
    c_offset: Expr
    m: Expr
    n: Expr
    k: Expr
    lda: int
    ldb: int
    ldc: int
    trans_a: bool = False
    trans_b: bool = False
    beta: float = 0.0
    alpha: float = 1.0
    epilogue: Loop | None = None

    def __post_init__(self):
        for f in ("a_offset", "b_offset", "c_offset", "m", "n", "k"):
            setattr(self, f, _as_index(getattr(self, f)))

    def nested(self) -> list:
        return [self.epilogue] if self.epilogue is not None else []

    def product_loops(self, dtype: DType, names: Names) -> list:
        """The product alone as plain loops."""
        i, j, p = names.var("gi"), names.var("gj"), names.var("gp")
        acc = names.scalar("gacc")
        a_at = add(self.a_offset, add(mul(p, idx(self.lda)), i) if self.trans_a else
                   add(mul(i, idx(self.lda)), p))
        b_at = add(self.b_offset, add(mul(j, idx(self.ldb)), p) if self.trans_b else
                   add(mul(p, idx(self.ldb)), j))
        c_at = add(self.c_offset, add(mul(i, idx(self.ldc)), j))
        inner = Loop(p, self.k, [Assign(acc, Binary("add", Local(acc, dtype), Binary(
            "mul", Load(self.a, a_at, dtype), Load(self.b, b_at, dtype))))])
        value = Local(acc, dtype)
        if self.alpha != 1:
            value = Binary("mul", value, const(self.alpha, dtype))
        if self.beta:
            old = Load(self.c, c_at, dtype)
            value = Binary("add", old if self.beta == 1 else
                           Binary("mul", old, const(self.beta, dtype)), value)
        return [Loop(i, self.m, [Loop(j, self.n, [Declare(acc, dtype, const(0, dtype)), inner,
                                                  Store(self.c, c_at, value)], "vector")],
                     "parallel")]

    def expand(self, dtype_of, names):
        return self.product_loops(dtype_of(self.c), names) + self.nested()

    def run_numpy(self, buffers, value):
        m, n, k = value(self.m), value(self.n), value(self.k)
        A = _matrix(buffers[self.a], value(self.a_offset), k, m, self.lda).T if self.trans_a \
            else _matrix(buffers[self.a], value(self.a_offset), m, k, self.lda)
        B = _matrix(buffers[self.b], value(self.b_offset), n, k, self.ldb).T if self.trans_b \
            else _matrix(buffers[self.b], value(self.b_offset), k, n, self.ldb)
        C = _matrix(buffers[self.c], value(self.c_offset), m, n, self.ldc)
        product = (A @ B) * C.dtype.type(self.alpha)
        C[...] = C * C.dtype.type(self.beta) + product if self.beta else product


def _matrix(buf, offset, rows, cols, ld):
    return np.lib.stride_tricks.as_strided(buf[offset:], shape=(rows, cols),
                                           strides=(ld * buf.itemsize, buf.itemsize))


# -- direct convolutions --------------------------------------------------------------------
@dataclass(frozen=True)
class ConvShape:
    """One NHWC image's convolution with an HWIO filter: sizes, zero padding before each
    axis, strides and dilations (all static)."""

    h: int
    w: int
    c_in: int
    oh: int
    ow: int
    c_out: int
    kh: int
    kw: int
    pad_h: int
    pad_w: int
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int

    def describe(self) -> str:
        return (f"{self.h}x{self.w}x{self.c_in}->{self.oh}x{self.ow}x{self.c_out} "
                f"k{self.kh}x{self.kw} p{self.pad_h},{self.pad_w} s{self.stride_h},"
                f"{self.stride_w} d{self.dilation_h},{self.dilation_w}")

    def source(self, o, k, axis: int):
        """The input row (axis 0) or column (1) output o reads at filter offset k."""
        stride, pad, dilation = ((self.stride_h, self.pad_h, self.dilation_h) if axis == 0
                                 else (self.stride_w, self.pad_w, self.dilation_w))
        return add(add(mul(o, idx(stride)), mul(k, idx(dilation))), idx(-pad))

    def padded(self, image: np.ndarray) -> np.ndarray:
        """An (H, W, C_in) image with zeros around it, enough for every tap."""
        out = np.zeros((self.h + 2 * self.pad_h + self.kh * self.dilation_h,
                        self.w + 2 * self.pad_w + self.kw * self.dilation_w, self.c_in),
                       image.dtype)
        out[self.pad_h: self.pad_h + self.h, self.pad_w: self.pad_w + self.w] = image
        return out

    def taps(self, padded: np.ndarray, a: int, b: int) -> np.ndarray:
        """(OH, OW, C_in): what filter tap (a, b) sees at every output position."""
        return padded[a * self.dilation_h: a * self.dilation_h + (self.oh - 1) *
                      self.stride_h + 1: self.stride_h,
                      b * self.dilation_w: b * self.dilation_w + (self.ow - 1) *
                      self.stride_w + 1: self.stride_w]


def _inside(i, size: int):
    return Binary("and", Compare("ge", i, idx(0)), Compare("lt", i, idx(size)))


def _clamp(i, size: int):
    return Binary("max", Binary("min", i, idx(size - 1)), idx(0))


def _input_value(s: ConvShape, x: str, image, oh, ow, a, b, ci, dtype):
    """x[image, h, w, ci] for output position (oh, ow) and tap (a, b); 0 in the padding
    (the load itself is clamped into the image)."""
    h, w = s.source(oh, a, 0), s.source(ow, b, 1)
    at = add(mul(add(mul(add(mul(image, idx(s.h)), _clamp(h, s.h)), idx(s.w)),
                     _clamp(w, s.w)), idx(s.c_in)), ci)
    return Select(Binary("and", _inside(h, s.h), _inside(w, s.w)), Load(x, at, dtype),
                  const(0, dtype))


@dataclass(eq=False)
class ConvDirect(Routine):
    """out[image] = conv2d(x[image], w): NHWC x and out, HWIO w, zero padding; only the
    output rows of `part` (of `parts` equal shares: images split over threads)."""

    name: ClassVar[str] = "conv_direct"
    READS: ClassVar = ("x", "w")
    WRITES: ClassVar = ("out",)

    x: str
    w: str
    out: str
    image: Expr
    shape: ConvShape
    part: Expr = 0
    parts: int = 1

    def __post_init__(self):
        self.part = _as_index(self.part)

    def rows(self):
        """[first, last) output rows of this part."""
        def edge(k):
            return Binary("floordiv", mul(k, idx(self.shape.oh)), idx(self.parts))
        return edge(self.part), edge(add(self.part, idx(1)))

    def expand(self, dtype_of, names):
        s, dtype = self.shape, dtype_of(self.out)
        first, last = self.rows()
        row, ow, co = names.var("r"), names.var("ow"), names.var("co")
        oh = add(first, row)
        a, b, ci = names.var("ka"), names.var("kb"), names.var("ci")
        acc = names.scalar("cacc")
        weight = Load(self.w, add(mul(add(mul(add(mul(a, idx(s.kw)), b), idx(s.c_in)), ci),
                                      idx(s.c_out)), co), dtype)
        taps = Loop(a, idx(s.kh), [Loop(b, idx(s.kw), [Loop(ci, idx(s.c_in), [Assign(
            acc, Binary("add", Local(acc, dtype), Binary(
                "mul", _input_value(s, self.x, self.image, oh, ow, a, b, ci, dtype),
                weight)))])])])
        at = add(mul(add(mul(add(mul(self.image, idx(s.oh)), oh), idx(s.ow)), ow),
                     idx(s.c_out)), co)
        return [Loop(row, Binary("sub", last, first), [Loop(ow, idx(s.ow), [Loop(
            co, idx(s.c_out), [Declare(acc, dtype, const(0, dtype)), taps,
                               Store(self.out, at, Local(acc, dtype))], "vector")],
            "parallel")], "parallel")]       # every output element independent

    def run_numpy(self, buffers, value):
        s, n = self.shape, value(self.image)
        image = buffers[self.x][n * s.h * s.w * s.c_in: (n + 1) * s.h * s.w * s.c_in]
        weights = buffers[self.w][: s.kh * s.kw * s.c_in * s.c_out].reshape(
            s.kh, s.kw, s.c_in, s.c_out)
        padded = s.padded(image.reshape(s.h, s.w, s.c_in))
        result = np.zeros((s.oh, s.ow, s.c_out), image.dtype)
        for a in range(s.kh):
            for b in range(s.kw):
                result += s.taps(padded, a, b) @ weights[a, b]
        first, last = (value(e) for e in self.rows())
        row = s.ow * s.c_out
        buffers[self.out][(n * s.oh + first) * row: (n * s.oh + last) * row] = \
            result[first:last].reshape(-1)


@dataclass(eq=False)
class ConvFilterDirect(Routine):
    """acc[acc_offset:] += the filter gradient (HWIO, flat) of one image, x and dy NHWC."""

    name: ClassVar[str] = "conv_filter_direct"
    READS: ClassVar = ("x", "dy", "acc")
    WRITES: ClassVar = ("acc",)

    x: str
    dy: str
    acc: str
    acc_offset: Expr
    image: Expr
    shape: ConvShape

    def expand(self, dtype_of, names):
        s, dtype = self.shape, dtype_of(self.acc)
        a, b, ci, co = names.var("ka"), names.var("kb"), names.var("ci"), names.var("co")
        oh, ow = names.var("oh"), names.var("ow")
        total = names.scalar("facc")
        gradient = Load(self.dy, add(mul(add(mul(add(mul(self.image, idx(s.oh)), oh),
                                                 idx(s.ow)), ow), idx(s.c_out)), co), dtype)
        positions = Loop(oh, idx(s.oh), [Loop(ow, idx(s.ow), [Assign(total, Binary(
            "add", Local(total, dtype), Binary(
                "mul", _input_value(s, self.x, self.image, oh, ow, a, b, ci, dtype),
                gradient)))])])
        at = add(self.acc_offset, add(mul(add(mul(add(mul(a, idx(s.kw)), b), idx(s.c_in)), ci),
                                          idx(s.c_out)), co))
        return [Loop(a, idx(s.kh), [Loop(b, idx(s.kw), [Loop(ci, idx(s.c_in), [Loop(
            co, idx(s.c_out), [Declare(total, dtype, const(0, dtype)), positions,
                               Store(self.acc, at, Binary("add", Load(self.acc, at, dtype),
                                                          Local(total, dtype)))],
            "vector")])])])]

    def run_numpy(self, buffers, value):
        s, n, offset = self.shape, value(self.image), value(self.acc_offset)
        size_in, size_out = s.h * s.w * s.c_in, s.oh * s.ow * s.c_out
        image = buffers[self.x][n * size_in: (n + 1) * size_in].reshape(s.h, s.w, s.c_in)
        dy = buffers[self.dy][n * size_out: (n + 1) * size_out].reshape(s.oh, s.ow, s.c_out)
        padded = s.padded(image)
        grad = np.zeros((s.kh, s.kw, s.c_in, s.c_out), image.dtype)
        for a in range(s.kh):
            for b in range(s.kw):
                grad[a, b] = np.einsum("hwc,hwo->co", s.taps(padded, a, b), dy)
        buffers[self.acc][offset: offset + grad.size] += grad.reshape(-1)


# -- a whole batch's convolution as one implicit GEMM ----------------------------------------
CONV_GEMM_KINDS = ("forward", "input_gradient", "filter_gradient")


@dataclass(eq=False)
class ConvGemm(Routine):
    """A convolution over a whole batch, or one of its gradients, as one GEMM whose
    operands are read through the window (no im2col buffer): with P the batch's output
    positions (n, oh, ow) and T the filter taps (a, b, ci) or (a, b, co),
        forward          out[P, C_out] = window[P, T] · W[T, C_out]           (a = x, b = W)
        input_gradient   dX[(n, h, w), C_in] = dY seen through the taps · Wᵀ (a = dY, b = W)
        filter_gradient  dW[T, C_out] = window[P, T]ᵀ · dY[P, C_out]          (a = x, b = dY)
    Every output element is written (never accumulated). Expanded, each is a direct sum
    of its own."""

    name: ClassVar[str] = "conv_gemm"
    READS: ClassVar = ("a", "b")
    WRITES: ClassVar = ("out",)

    kind: str
    a: str
    b: str
    out: str
    batch: Expr
    shape: ConvShape

    def __post_init__(self):
        if self.kind not in CONV_GEMM_KINDS:
            raise ValueError(f"conv_gemm kind {self.kind!r} is not one of {CONV_GEMM_KINDS}")
        self.batch = _as_index(self.batch)

    def gemm_sizes(self) -> tuple:
        """(M, N, K) of the product, as loop-IR expressions."""
        s = self.shape
        if self.kind == "forward":
            return mul(self.batch, idx(s.oh * s.ow)), idx(s.c_out), idx(s.kh * s.kw * s.c_in)
        if self.kind == "input_gradient":
            return mul(self.batch, idx(s.h * s.w)), idx(s.c_in), idx(s.kh * s.kw * s.c_out)
        return idx(s.kh * s.kw * s.c_in), idx(s.c_out), mul(self.batch, idx(s.oh * s.ow))

    def expand(self, dtype_of, names):
        s, dtype = self.shape, dtype_of(self.out)
        acc = names.scalar("cg")
        if self.kind == "forward":
            outer = (self.batch, idx(s.oh), idx(s.ow), idx(s.c_out))
            inner = (idx(s.kh), idx(s.kw), idx(s.c_in))

            def term(o, i):
                (n, oh, ow, co), (a, b, ci) = o, i
                return Binary("mul", _input_value(s, self.a, n, oh, ow, a, b, ci, dtype),
                              Load(self.b, _hwio(s, a, b, ci, co), dtype))
        elif self.kind == "input_gradient":
            outer = (self.batch, idx(s.h), idx(s.w), idx(s.c_in))
            inner = (idx(s.kh), idx(s.kw), idx(s.c_out))

            def term(o, i):
                (n, h, w, ci), (a, b, co) = o, i
                oh, ok_h = _reader(h, a, s.pad_h, s.dilation_h, s.stride_h, s.oh)
                ow, ok_w = _reader(w, b, s.pad_w, s.dilation_w, s.stride_w, s.ow)
                gy = Load(self.a, _nhwc(n, oh, ow, co, s.oh, s.ow, s.c_out), dtype)
                return Select(Binary("and", ok_h, ok_w), Binary(
                    "mul", gy, Load(self.b, _hwio(s, a, b, ci, co), dtype)), const(0, dtype))
        else:
            outer = (idx(s.kh), idx(s.kw), idx(s.c_in), idx(s.c_out))
            inner = (self.batch, idx(s.oh), idx(s.ow))

            def term(o, i):
                (a, b, ci, co), (n, oh, ow) = o, i
                return Binary("mul", _input_value(s, self.a, n, oh, ow, a, b, ci, dtype),
                              Load(self.b, _nhwc(n, oh, ow, co, s.oh, s.ow, s.c_out), dtype))
        o = [names.var("o") for _ in outer]
        i = [names.var("t") for _ in inner]
        fold = [Assign(acc, Binary("add", Local(acc, dtype), term(o, i)))]
        for v, e in reversed(list(zip(i, inner))):
            fold = [Loop(v, e, fold)]
        at = linear_index(o, row_major_strides((1,) + tuple(e.value for e in outer[1:])))
        body = [Declare(acc, dtype, const(0, dtype))] + fold + [Store(self.out, at,
                                                                      Local(acc, dtype))]
        for depth, (v, e) in enumerate(reversed(list(zip(o, outer)))):
            body = [Loop(v, e, body, "vector" if depth == 0 else "parallel")]
        return body                         # every output element independent

    def run_numpy(self, buffers, value):
        s, batch = self.shape, value(self.batch)
        a, b, out = buffers[self.a], buffers[self.b], buffers[self.out]
        w_size, x_size, y_size = (s.kh * s.kw * s.c_in * s.c_out, s.h * s.w * s.c_in,
                                  s.oh * s.ow * s.c_out)
        if self.kind == "filter_gradient":
            grad = np.zeros((s.kh, s.kw, s.c_in, s.c_out), out.dtype)
            for n in range(batch):
                padded = s.padded(a[n * x_size: (n + 1) * x_size].reshape(s.h, s.w, s.c_in))
                dy = b[n * y_size: (n + 1) * y_size].reshape(s.oh, s.ow, s.c_out)
                for i in range(s.kh):
                    for j in range(s.kw):
                        grad[i, j] += np.einsum("hwc,hwo->co", s.taps(padded, i, j), dy)
            out[: w_size] = grad.reshape(-1)
            return
        weights = b[: w_size].reshape(s.kh, s.kw, s.c_in, s.c_out)
        for n in range(batch):
            if self.kind == "forward":
                padded = s.padded(a[n * x_size: (n + 1) * x_size].reshape(s.h, s.w, s.c_in))
                result = np.zeros((s.oh, s.ow, s.c_out), out.dtype)
                for i in range(s.kh):
                    for j in range(s.kw):
                        result += s.taps(padded, i, j) @ weights[i, j]
                out[n * y_size: (n + 1) * y_size] = result.reshape(-1)
                continue
            dy = a[n * y_size: (n + 1) * y_size].reshape(s.oh, s.ow, s.c_out)
            padded = s.padded(np.zeros((s.h, s.w, s.c_in), out.dtype))
            for i in range(s.kh):
                for j in range(s.kw):
                    s.taps(padded, i, j)[...] += dy @ weights[i, j].T
            out[n * x_size: (n + 1) * x_size] = padded[s.pad_h: s.pad_h + s.h,
                                                       s.pad_w: s.pad_w + s.w].reshape(-1)


def _hwio(s: ConvShape, a, b, ci, co):
    return add(mul(add(mul(add(mul(a, idx(s.kw)), b), idx(s.c_in)), ci), idx(s.c_out)), co)


def _nhwc(n, h, w, c, height: int, width: int, channels: int):
    return add(mul(add(mul(add(mul(n, idx(height)), h), idx(width)), w), idx(channels)), c)


def _reader(i, k, pad: int, dilation: int, stride: int, extent: int):
    """(the output position that reads input i at tap k, clamped; whether one does):
    i + pad − k·dilation = o·stride with 0 ≤ o < extent."""
    t = add(add(i, idx(pad)), mul(k, idx(-dilation)))
    o = Binary("floordiv", t, idx(stride)) if stride != 1 else t
    ok = _inside(o, extent)
    if stride != 1:
        ok = Binary("and", ok, Compare("eq", Binary("mod", t, idx(stride)), idx(0)))
    return _clamp(o, extent), ok


# -- column sums and printing ---------------------------------------------------------------
@dataclass(eq=False)
class BlockSum(Routine):
    """out[t] = Σ x[e] over e < count with e mod period = t, for t < period: a column
    sum's partial sums in one contiguous pass."""

    name: ClassVar[str] = "block_sum"
    READS: ClassVar = ("x",)
    WRITES: ClassVar = ("out",)

    x: str
    count: Expr
    period: int
    out: str

    def __post_init__(self):
        self.count = _as_index(self.count)

    def expand(self, dtype_of, names):
        dtype = dtype_of(self.out)
        t, r = names.var("t"), names.var("r")
        acc = names.scalar("bacc")
        # rows holding element t: ⌈(count − t) / period⌉ (none when count ≤ t)
        rows = Binary("floordiv", Binary("sub", add(self.count, idx(self.period - 1)), t),
                      idx(self.period))
        return [Loop(t, idx(self.period), [
            Declare(acc, dtype, const(0, dtype)),
            Loop(r, rows, [Assign(acc, Binary("add", Local(acc, dtype), Load(
                self.x, add(mul(r, idx(self.period)), t), dtype)))]),
            Store(self.out, t, Local(acc, dtype))], "vector")]

    def run_numpy(self, buffers, value):
        count = value(self.count)
        blocks, left = divmod(count, self.period)
        x = buffers[self.x]
        sums = x[: blocks * self.period].reshape(blocks, self.period).sum(0)
        sums[:left] += x[blocks * self.period: count]
        buffers[self.out][: self.period] = sums


@dataclass(eq=False)
class Print(Routine):
    """Hand `target` (print node `index`'s value) to the runtime's print function, held
    in the `callback` slot."""

    name: ClassVar[str] = "print"
    READS: ClassVar = ("target", "callback")

    target: str
    callback: str
    index: int

    def expand(self, dtype_of, names):
        raise TypeError("print calls the runtime: every target implements it")

    def run_numpy(self, buffers, value):
        node = buffers[self.callback][self.index]
        shape = evaluate(node.shape, int(buffers[SIZES][0]) if SIZES in buffers else 0)
        shown = buffers[self.target][: math.prod(shape)].reshape(shape)
        print(format_print(node, shown), flush=True)


@dataclass(eq=False)
class Allreduce(Routine):
    """MPI_Allreduce(MPI_IN_PLACE, target, count, ...): `target`'s first `count` elements
    summed over every rank. `mpi` holds the MPI library's handles (ops/collective.py),
    constants of the compiled code."""

    name: ClassVar[str] = "allreduce_sum"
    READS: ClassVar = ("target",)
    WRITES: ClassVar = ("target",)

    target: str
    count: Expr
    mpi: MpiHandles

    def __post_init__(self):
        self.count = _as_index(self.count)

    def expressions(self) -> tuple[Expr, ...]:
        return (self.count,)

    def expand(self, dtype_of, names):
        raise TypeError("allreduce_sum calls MPI: lowering refuses a target without it")

    def run_numpy(self, buffers, value):
        from mpi4py import MPI
        world().Allreduce(MPI.IN_PLACE, buffers[self.target][: value(self.count)], op=MPI.SUM)


ROUTINES = (Gemm, ConvDirect, ConvFilterDirect, ConvGemm, BlockSum, Print, Allreduce)


def expand_routines(stmts: list, keep: Callable[[Routine], bool], dtype_of,
                    names: Names) -> list:
    """`stmts` with every routine that `keep` rejects replaced by its expansion (nested
    loops and epilogues included): what a target without that native routine renders."""
    out = []
    for s in stmts:
        if isinstance(s, Loop):
            out.append(Loop(s.var, s.extent, expand_routines(s.body, keep, dtype_of, names),
                            s.kind))
        elif isinstance(s, Routine) and not keep(s):
            out.extend(expand_routines(s.expand(dtype_of, names), keep, dtype_of, names))
        elif isinstance(s, Gemm) and s.epilogue is not None:
            (epilogue,) = expand_routines([s.epilogue], keep, dtype_of, names)
            out.append(_with_epilogue(s, epilogue))
        else:
            out.append(s)
    return out


def _with_epilogue(gemm: Gemm, epilogue: Loop) -> Gemm:
    return replace(gemm, epilogue=epilogue)
