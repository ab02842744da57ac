"""Convolutions as GEMMs over im2col panels, a chunk of images at a time.

A chunk's panel P (stored transposed, (KH·KW·C_in) × rows) holds for each output
position (a column) the input window it reads, in the row order of an HWIO filter.
Transposed, its inner loop runs along an image row: contiguous reads and writes that
vectorise. With W as a (KH·KW·C_in) × C_out matrix:
    forward          out[rows, :]  = Pᵀ · W
    filter gradient  dW           += P · dY[rows, :]
    input gradient   dQ            = dY[rows, :] · Wᵀ (dPᵀ: a position's window in one
                                     row), then each window is added back where it was
                                     read from.
Chunks keep the panel small (about the target's `conv_panel_elements`, so it stays in
cache); the input gradient takes larger ones (`conv_input_grad_panel_elements`: its GEMM
has only C_out as depth, and fewer, longer calls measured faster on the CPU: LeNet-5's
second layer 310 → 245 µs). Chunks are dealt to `conv_lanes` lanes that run in
parallel, each with its own panel (and, for the filter gradient, its own partial dW,
summed in lane order at the end: the result does not depend on the thread count).
Panels live in the program's workspace, shared by kernels because kernels run one at a
time.
"""
from __future__ import annotations

import math

from ..ops.window import Geometry
from ..ir import bool_
from ..ir.symbolic import is_symbolic
from .loopir import (Binary, Const, Load, Loop, Select, Store, add, const, idx, linear_index,
                     mul, row_major_strides)
from .nests import Names, extent, fill, nest
from .routines import ConvDirect, ConvFilterDirect, ConvGemm, ConvShape, Gemm
from .indexing import clamp, in_range, unravel

def workspace_name(dtype) -> str:
    return f"workspace_{dtype.short}"


def geometry(node, x_shape, w_shape):
    """The window geometry of a convolution node (conv2d or one of its gradients)."""
    a = node.attrs
    return Geometry(x_shape[1:3], w_shape[:2], a["strides"], a["dilations"], a["padding"],
                    a.get("strict", False))


def chunk_images(batch, rows_per_image: int, panel_cols: int, target: int) -> int:
    """The largest divisor of the batch whose panel stays near the workspace target
    (for a symbolic batch N: the largest such count; the last chunk may be partial)."""
    best = 1
    fits = max(1, target // (rows_per_image * panel_cols))
    if is_symbolic(batch):
        return fits
    for c in range(1, min(batch, fits) + 1):
        if batch % c == 0:
            best = c
    return best


class _Plan:
    def __init__(self, node, x_shape, w_shape, target):
        self.geo = geometry(node, x_shape, w_shape)
        self.kh, self.kw, self.cin, self.cout = w_shape
        self.batch = x_shape[0]
        self.oh, self.ow = self.geo.out_hw
        self.rows_per_image = self.oh * self.ow
        self.kc = self.kh * self.kw * self.cin
        panel = target.conv_input_grad_panel_elements \
            if node.op.lowering == "conv2d_backprop_input" else target.conv_panel_elements
        self.chunk = chunk_images(self.batch, self.rows_per_image, self.kc, panel)
        self.rows = self.chunk * self.rows_per_image        # the panel's row length
        if is_symbolic(self.batch):          # ⌈N / chunk⌉ chunks, dealt to every lane
            self.n_chunks = Binary("floordiv", idx(self.batch + (self.chunk - 1)),
                                   idx(self.chunk))
            self.lanes = target.conv_lanes
        else:
            self.n_chunks = self.batch // self.chunk
            self.lanes = max(d for d in range(1, target.conv_lanes + 1)
                             if self.n_chunks % d == 0)
        self.panel = self.rows * self.kc
        self.lane_size = self.panel + self.kc * self.cout      # panel + a partial dW
        self.workspace = self.lanes * self.lane_size

    def shape(self) -> ConvShape:
        """One image's convolution, for the direct routines."""
        g = self.geo
        return ConvShape(g.in_hw[0], g.in_hw[1], self.cin, self.oh, self.ow, self.cout,
                         self.kh, self.kw, g.pads[0][0], g.pads[1][0], g.strides[0],
                         g.strides[1], g.dilations[0], g.dilations[1])

    def tap(self, oh, ow, a, b):
        g = self.geo
        return tuple(add(add(mul(o, idx(g.strides[d])), mul(k, idx(g.dilations[d]))),
                         idx(-g.pads[d][0]))
                     for d, (o, k) in enumerate(((oh, a), (ow, b))))

    def valid_and_clamped(self, h, w):
        """(in-image condition, clamped h, clamped w); trivial without padding."""
        if not any(any(p) for p in self.geo.pads):
            return Const(True, bool_), h, w
        g = self.geo
        return (Binary("and", in_range(h, g.in_hw[0]), in_range(w, g.in_hw[1])),
                clamp(h, g.in_hw[0]), clamp(w, g.in_hw[1]))

    def images(self, chunk):
        """Images in a chunk: `chunk`, or fewer in the last chunk of a symbolic batch."""
        if not is_symbolic(self.batch) or self.chunk == 1:
            return self.chunk
        return Binary("min", idx(self.chunk),
                      Binary("sub", idx(self.batch), mul(chunk, idx(self.chunk))))

    def rows_in(self, chunk):
        """Output positions (GEMM rows) of a chunk."""
        images = self.images(chunk)
        return images * self.rows_per_image if isinstance(images, int) else \
            mul(images, idx(self.rows_per_image))

    def in_lanes(self, names: Names, body_fn, prologue_fn=None) -> list:
        """Loop over lanes (parallel) and each lane's chunks; body_fn(chunk, base) gets
        the chunk index and the lane's workspace offset."""
        lane, j = names.var("lane"), names.var("j")
        base = mul(lane, idx(self.lane_size))
        if isinstance(self.n_chunks, int):
            first = mul(lane, idx(self.n_chunks // self.lanes))
            count = idx(self.n_chunks // self.lanes)
        else:                                # lane l: chunks [l·n/L, (l+1)·n/L)
            def bound(k):
                return Binary("floordiv", mul(k, self.n_chunks), idx(self.lanes))
            first = bound(lane)
            count = Binary("sub", bound(add(lane, idx(1))), first)
        chunk = Binary("add", first, j)
        inner = Loop(j, count, body_fn(chunk, base), "serial")
        prologue = prologue_fn(base) if prologue_fn else []
        return [Loop(lane, idx(self.lanes), prologue + [inner], "parallel")]


def workspace_elements(node, x_shape, w_shape, target) -> int:
    return _Plan(node, x_shape, w_shape, target).workspace


def _im2col(p: _Plan, vb, x, names: Names, chunk, base, ws: str, dtype) -> list:
    """ws[base + (a·KW + b)·C_in + c, (n·OH + oh)·OW + ow] = x[chunk·C + n, tap] (0 in
    padding), row length `rows`."""
    def element(index):
        a, b, c, n, oh, ow = index
        valid, h, w = p.valid_and_clamped(*p.tap(oh, ow, a, b))
        image = Binary("add", mul(chunk, idx(p.chunk)), n)
        v = vb.value(x, (image, h, w, c))
        row = linear_index((n, oh, ow), row_major_strides((p.chunk, p.oh, p.ow)))
        col = linear_index((a, b, c), row_major_strides((p.kh, p.kw, p.cin)))
        return [Store(ws, Binary("add", base, Binary("add", mul(col, idx(p.rows)), row)),
                      Select(valid, v, const(0, dtype)))]
    return nest(names, (p.kh, p.kw, p.cin, p.images(chunk), p.oh, p.ow), element,
                outer_kind="serial")


def lower_conv2d(node, vb, names: Names, out: str, buffer_of, target) -> list:
    x, w = node.inputs
    p = _Plan(node, x.shape, w.shape, target)
    ws = workspace_name(node.dtype)

    def chunk_body(chunk, base):
        return _im2col(p, vb, x, names, chunk, base, ws, node.dtype) + [
            Gemm(ws, base, buffer_of(w), idx(0), out, mul(chunk, idx(p.rows * p.cout)),
                 p.rows_in(chunk), p.cout, p.kc, p.rows, p.cout, p.cout, trans_a=True)]
    return p.in_lanes(names, chunk_body)


def lower_conv2d_backprop_filter(node, vb, names: Names, out: str, buffer_of, target) -> list:
    x, w_ref, gy = node.inputs
    p = _Plan(node, x.shape, w_ref.shape, target)
    ws = workspace_name(node.dtype)
    dtype = node.dtype

    def clear_partial(base):
        return fill(names, ws, p.kc * p.cout, const(0, dtype), Binary("add", base, idx(p.panel)))

    def chunk_body(chunk, base):
        if few_channels(node, target):     # each image's taps summed in vector registers
            image = names.var("im")
            return [Loop(image, extent(p.images(chunk)), [ConvFilterDirect(
                buffer_of(x), buffer_of(gy), ws, Binary("add", base, idx(p.panel)),
                add(mul(chunk, idx(p.chunk)), image), p.shape())])]
        return _im2col(p, vb, x, names, chunk, base, ws, dtype) + [
            Gemm(ws, base, buffer_of(gy), mul(chunk, idx(p.rows * p.cout)), ws,
                 Binary("add", base, idx(p.panel)), p.kc, p.cout, p.rows_in(chunk), p.rows,
                 p.cout, p.cout, beta=1.0)]

    def total(index):
        e = index[0]
        value = Load(ws, Binary("add", idx(p.panel), e), dtype)
        for lane in range(1, p.lanes):
            at = Binary("add", idx(lane * p.lane_size + p.panel), e)
            value = Binary("add", value, Load(ws, at, dtype))
        return [Store(out, e, value)]
    return p.in_lanes(names, chunk_body, clear_partial) + \
        nest(names, (p.kc * p.cout,), total, outer_kind="serial")


def lower_conv2d_backprop_input(node, vb, names: Names, out: str, buffer_of, target) -> list:
    """dQ = dY[rows, :] · Wᵀ per chunk (a row of KH·KW·C_in panel entries per output
    position), then col2im: each output position adds, for every filter row a, the
    window's entries into the input row they were read from. With dilation 1 along W
    those KW·C_in entries are one contiguous run in dQ and in dX (clipped to the image),
    so the additions vectorise; otherwise each of the KW taps is a run of C_in. A lane
    owns its chunk's images, so its additions never race."""
    x_ref, w, gy = node.inputs
    p = _Plan(node, x_ref.shape, w.shape, target)
    g = p.geo
    dtype = node.dtype
    ws = workspace_name(dtype)
    strides = row_major_strides(node.shape)
    image_size = strides[0]
    in_h, in_w = g.in_hw
    group = p.kw if g.dilations[1] == 1 else 1       # filter taps b per contiguous run

    def chunk_body(chunk, base):
        product = Gemm(buffer_of(gy), mul(chunk, idx(p.rows * p.cout)), buffer_of(w), idx(0),
                       ws, base, p.rows_in(chunk), p.kc, p.cout, p.cout, p.cout, p.kc,
                       trans_b=True)
        images = p.images(chunk)
        clear = fill(names, out, images * image_size if isinstance(images, int) else
                     mul(images, idx(image_size)), const(0, dtype),
                     mul(chunk, idx(p.chunk * image_size)))

        def add_back(index):
            n, oh, ow, a, q = index
            h, w0 = p.tap(oh, ow, a, mul(q, idx(group)))    # the run's first column
            first = Binary("max", idx(0), Binary("sub", idx(0), w0))     # taps left of 0
            end = Binary("min", idx(group), Binary("sub", idx(in_w), w0))
            count = Select(in_range(h, in_h), Binary("max", Binary("sub", end, first),
                                                     idx(0)), idx(0))
            position = linear_index((n, oh, ow), row_major_strides((p.chunk, p.oh, p.ow)))
            tap = add(mul(a, idx(p.kw)), add(mul(q, idx(group)), first))
            src = add(base, add(mul(position, idx(p.kc)), mul(tap, idx(p.cin))))
            image = Binary("add", mul(chunk, idx(p.chunk)), n)
            dst = linear_index((image, clamp(h, in_h), add(w0, first), idx(0)), strides)
            t = names.var("t")
            at = add(dst, t)
            return [Loop(t, mul(count, idx(p.cin)), [Store(out, at, Binary(
                "add", Load(out, at, dtype), Load(ws, add(src, t), dtype)))], "vector")]
        scatter = nest(names, (images, p.oh, p.ow, p.kh, p.kw // group), add_back,
                       inner_kind="serial", outer_kind="serial")
        return [product] + clear + scatter
    return p.in_lanes(names, chunk_body)


CONV_GEMM = {   # by the OpDef's `lowering`
    "conv2d": lower_conv2d, "conv2d_backprop_filter": lower_conv2d_backprop_filter,
    "conv2d_backprop_input": lower_conv2d_backprop_input}


def few_channels(node, target) -> bool:
    """A convolution (or its filter gradient) whose output channels the target's direct
    routines (ConvDirect, ConvFilterDirect) take: a few vectors of them on the CPU."""
    if not node.dtype.is_floating:
        return False
    cout = node.inputs[1].shape[-1] if node.op.lowering != "conv2d_backprop_filter" else \
        node.shape[-1]
    return isinstance(cout, int) and cout <= target.direct_conv_channels(node.dtype)


def direct_conv_applies(node, target) -> bool:
    """Whether a forward convolution, or an input gradient, runs as ConvDirect calls: the
    forward with few enough output channels; the input gradient of a stride-1
    convolution, a forward convolution of dY with the turned filter, with few enough input
    channels (its output channels) and where few of its taps fall in the padding: each
    dX position sees KH·KW dY positions, OH·OW/(H·W) of them real on average (LeNet-5's
    second layer, 10x10 from 14x14: half, 376 µs as a GEMM with col2im, 536 direct)."""
    if not target.implements(ConvDirect, node.dtype):
        return False
    if node.op.lowering == "conv2d":
        return few_channels(node, target)
    if node.op.lowering == "conv2d_backprop_input":
        cin = node.shape[-1]
        g = geometry(node, node.shape, node.inputs[1].shape)
        useful = math.prod(g.out_hw) / math.prod(g.in_hw)   # taps not in the padding
        return tuple(node.attrs["strides"]) == (1, 1) and isinstance(cin, int) and \
            cin <= target.direct_conv_channels(node.dtype) and useful >= 0.75
    return False


def conv_workspace_elements(node, target) -> int:
    """The workspace a convolution's lowering (`lower_conv`) needs."""
    if direct_conv_applies(node, target):
        return _flipped_size(node) if node.op.lowering == "conv2d_backprop_input" else 0
    return workspace_elements(node, node.inputs[0].shape, node.inputs[1].shape, target)


def lower_conv(node, vb, names: Names, out: str, buffer_of, target) -> list:
    """A convolution or one of its gradients on a CPU-like target: direct routines where
    they apply, else im2col panels and GEMMs."""
    if direct_conv_applies(node, target):
        return lower_conv2d_direct(node, names, out, buffer_of)
    return CONV_GEMM[node.op.lowering](node, vb, names, out, buffer_of, target)


def _flipped_size(node) -> int:
    kh, kw, cin, cout = node.inputs[1].shape
    return kh * kw * cin * cout


def lower_conv2d_direct(node, names: Names, out: str, buffer_of) -> list:
    """conv2d as ConvDirect calls on `parts` shares of each image's output rows, all in
    parallel (a batch of one still uses every thread). The input gradient of a stride-1
    convolution is the convolution of dY with the filter turned by 180° and its channel
    axes swapped, padded so that every input position sees each output it fed: the
    turned filter is built in the workspace first."""
    x, w = node.inputs[0], node.inputs[1]
    kh, kw, cin, cout = w.shape
    g = geometry(node, x.shape, w.shape)
    (oh, ow), (h, w_in) = g.out_hw, g.in_hw
    (dh, dw), (ph, pw) = g.dilations, (g.pads[0][0], g.pads[1][0])
    stmts = []
    if node.op.lowering == "conv2d":
        source, weights = buffer_of(x), buffer_of(w)
        shape = ConvShape(h, w_in, cin, oh, ow, cout, kh, kw, ph, pw, g.strides[0],
                          g.strides[1], dh, dw)
    else:
        source, weights = buffer_of(node.inputs[2]), workspace_name(node.dtype)
        shape = ConvShape(oh, ow, cout, h, w_in, cin, kh, kw, (kh - 1) * dh - ph,
                          (kw - 1) * dw - pw, 1, 1, dh, dw)
        def turn(flat):        # one flat loop: a nest of static loops compiled slowly
            a, b, co, ci = unravel(flat[0], (kh, kw, cout, cin))
            source = (Binary("sub", idx(kh - 1), a), Binary("sub", idx(kw - 1), b), ci, co)
            return [Store(weights, flat[0], Load(buffer_of(w), linear_index(
                source, row_major_strides((kh, kw, cin, cout))), node.dtype))]
        stmts = nest(names, (kh * kw * cout * cin,), turn, inner_kind="serial")
    parts = direct_conv_parts(shape.oh)
    task = names.var("img")
    image, part = (task, idx(0)) if parts == 1 else (
        Binary("floordiv", task, idx(parts)), Binary("mod", task, idx(parts)))
    batch = x.shape[0]
    return stmts + [Loop(task, mul(idx(batch), idx(parts)) if parts > 1 else idx(batch),
                         [ConvDirect(source, weights, out, image, shape, part, parts)],
                         "parallel")]


def direct_conv_parts(rows: int) -> int:
    """Shares of an image's output rows: enough that one image keeps a few threads busy,
    each share still several rows (its weights are read once per row)."""
    return max(1, min(4, rows // 4))


IMPLICIT_KINDS = {"conv2d": "forward", "conv2d_backprop_input": "input_gradient",
                  "conv2d_backprop_filter": "filter_gradient"}


def lower_conv_implicit(node, buffer_of, out: str) -> list:
    """The whole batch's convolution, or gradient, as one implicit-GEMM routine (a target
    whose GEMM reads its operands through the window: no panel, no workspace)."""
    kind = IMPLICIT_KINDS[node.op.lowering]
    x_shape, w_shape = node.inputs[0].shape, node.inputs[1].shape
    g = geometry(node, x_shape, w_shape)
    kh, kw, cin, cout = w_shape
    shape = ConvShape(g.in_hw[0], g.in_hw[1], cin, g.out_hw[0], g.out_hw[1], cout, kh, kw,
                      g.pads[0][0], g.pads[1][0], g.strides[0], g.strides[1], g.dilations[0],
                      g.dilations[1])
    a, b = {"forward": (0, 1), "input_gradient": (2, 1), "filter_gradient": (0, 2)}[kind]
    return [ConvGemm(kind, buffer_of(node.inputs[a]), buffer_of(node.inputs[b]), out,
                     x_shape[0], shape)]
