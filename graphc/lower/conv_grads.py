"""A convolution's gradients with every result element a sum of its own: no im2col panel
and no workspace, one independent element per iteration of a parallel nest — for
targets where many threads are cheap (a GPU's grid: `Target.conv_gradients = "direct"`).

    filter gradient  dW[a, b, ci, co] = Σ over n, oh, ow of x[n, h, w, ci] · dY[n, oh, ow, co]
                     with h = oh·sh − ph + a·dh (likewise w), inside the image
    input gradient   dX[n, h, w, ci]  = Σ over a, b, co of dY[n, oh, ow, co] · W[a, b, ci, co]
                     over the taps whose output position (oh, ow) reads (h, w):
                     h + ph − a·dh = oh·sh with 0 ≤ oh < OH (likewise w)
"""
from __future__ import annotations

from .conv_gemm import geometry
from .indexing import clamp, in_range
from .loopir import (Assign, Binary, Compare, Declare, Local, Loop, Select, Store, add, const,
                     idx, linear_index, mul, row_major_strides)
from .nests import Names, nest


def _geometry(node):
    x_shape = node.inputs[0].shape
    w_shape = node.inputs[1].shape
    return geometry(node, x_shape, w_shape), w_shape


def lower_filter_gradient(node, vb, names: Names, out: str) -> list:
    x, _, gy = node.inputs
    g, (kh, kw, cin, cout) = _geometry(node)
    (in_h, in_w), (oh_n, ow_n) = g.in_hw, g.out_hw
    dtype = node.dtype
    acc = names.scalar("dw")

    def element(index):
        a, b, ci, co = index
        n, oh, ow = names.var("n"), names.var("oh"), names.var("ow")
        h = add(add(mul(oh, idx(g.strides[0])), mul(a, idx(g.dilations[0]))), idx(-g.pads[0][0]))
        w = add(add(mul(ow, idx(g.strides[1])), mul(b, idx(g.dilations[1]))), idx(-g.pads[1][0]))
        inside = Binary("and", in_range(h, in_h), in_range(w, in_w))
        term = Binary("mul", vb.value(x, (n, clamp(h, in_h), clamp(w, in_w), ci)),
                      vb.value(gy, (n, oh, ow, co)))
        fold = Assign(acc, Binary("add", Local(acc, dtype), Select(inside, term,
                                                                     const(0, dtype))))
        positions = Loop(n, idx(x.shape[0]), [Loop(oh, idx(oh_n), [Loop(ow, idx(ow_n),
                                                                          [fold])])])
        return [Declare(acc, dtype, const(0, dtype)), positions,
                Store(out, linear_index(index, row_major_strides(node.shape)),
                      Local(acc, dtype))]
    return nest(names, (kh, kw, cin, cout), element, outer_kind="parallel",
                middle_kind="parallel", inner_kind="vector")


def lower_input_gradient(node, vb, names: Names, out: str) -> list:
    _, w, gy = node.inputs
    g, (kh, kw, cin, cout) = _geometry(node)
    oh_n, ow_n = g.out_hw
    dtype = node.dtype
    acc = names.scalar("dx")

    def source(i, k, axis, extent):
        """(the output position that reads input i at tap k, whether there is one)."""
        t = add(add(i, idx(g.pads[axis][0])), mul(k, idx(-g.dilations[axis])))
        stride = g.strides[axis]
        o = Binary("floordiv", t, idx(stride)) if stride != 1 else t
        ok = in_range(o, extent)
        if stride != 1:
            ok = Binary("and", ok, Compare("eq", Binary("mod", t, idx(stride)), idx(0)))
        return clamp(o, extent), ok

    def element(index):
        n, h, wi, ci = index
        a, b, co = names.var("ka"), names.var("kb"), names.var("co")
        oh, ok_h = source(h, a, 0, oh_n)
        ow, ok_w = source(wi, b, 1, ow_n)
        term = Binary("mul", vb.value(gy, (n, oh, ow, co)), vb.value(w, (a, b, ci, co)))
        fold = Assign(acc, Binary("add", Local(acc, dtype),
                                  Select(Binary("and", ok_h, ok_w), term, const(0, dtype))))
        taps = Loop(a, idx(kh), [Loop(b, idx(kw), [Loop(co, idx(cout), [fold])])])
        return [Declare(acc, dtype, const(0, dtype)), taps,
                Store(out, linear_index(index, row_major_strides(node.shape)),
                      Local(acc, dtype))]
    return nest(names, node.shape, element, outer_kind="parallel", middle_kind="parallel",
                inner_kind="vector")


DIRECT_GRADIENTS = {"conv2d_backprop_filter": lower_filter_gradient,
                    "conv2d_backprop_input": lower_input_gradient}
"""By the OpDef's `lowering`."""
