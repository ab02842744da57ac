"""Poolings and their gradients (NHWC) as direct loop nests (convolutions are GEMMs:
conv_gemm.py).

Out-of-range taps (padding) are handled without branches: the load index is clamped to
the image and the contribution selected away, so every load stays inside its buffer.
"""
from __future__ import annotations

import math

from ..ops.window import Geometry
from ..ir import bool_
from .loopir import (Assign, Binary, Compare, Const, Declare, Local, Select, Store, add,
                     const, idx, linear_index, mul, row_major_strides)
from .nests import Names, fill, nest
from .indexing import clamp, in_range
from .scatter import lower_scatter_rows


def _geometry(node, x_shape, k_hw, dilations=(1, 1), kind="filter"):
    a = node.attrs
    return Geometry(x_shape[1:3], k_hw, a["strides"], a.get("dilations", dilations),
                    a["padding"], a.get("strict", False), kind)


def _tap(geo, out_hw_index, k_index):
    """Input (h, w) read by output position (oh, ow) at window offset (kh, kw)."""
    return tuple(add(add(mul(o, idx(geo.strides[d])), mul(kk, idx(geo.dilations[d]))),
                     idx(-geo.pads[d][0]))
                 for d, (o, kk) in enumerate(zip(out_hw_index, k_index)))


def _load4(vb, x, n, h, w, c):
    return vb.value(x, (n, h, w, c))


def padded(geo) -> bool:
    """Whether a window can reach outside the image (without padding, output sizes are
    chosen so every window lies inside)."""
    return any(any(p) for p in geo.pads)


def _valid(geo, hw):
    if not padded(geo):
        return Const(True, bool_)
    return Binary("and", in_range(hw[0], geo.in_hw[0]), in_range(hw[1], geo.in_hw[1]))


def _clamped(geo, hw):
    if not padded(geo):
        return hw
    return clamp(hw[0], geo.in_hw[0]), clamp(hw[1], geo.in_hw[1])


def _accumulate_over(names, extents, acc, dtype, term_fn):
    """acc += term(index) over a box of `extents` (serial loops)."""
    def body(index):
        return [Assign(acc, Binary("add", Local(acc, dtype), term_fn(index)))]
    return nest(names, extents, body, inner_kind="serial")


def _window_origin(geo, in_hw_index, k_index):
    """For input (h, w) and window offset (kh, kw): the output position whose window
    reads (h, w) at that offset, and whether it exists."""
    outs, ok = [], None
    for d in range(2):
        t = Binary("sub", Binary("add", in_hw_index[d], idx(geo.pads[d][0])),
                   Binary("mul", k_index[d], idx(geo.dilations[d])))
        s = geo.strides[d]
        o = Binary("floordiv", t, idx(s)) if s != 1 else t
        cond = Binary("and", Compare("ge", t, idx(0)), Compare("lt", o, idx(geo.out_hw[d])))
        if s != 1:
            cond = Binary("and", cond, Compare("eq", Binary("mod", t, idx(s)), idx(0)))
        ok = cond if ok is None else Binary("and", ok, cond)
        outs.append(clamp(o, geo.out_hw[d]))
    return tuple(outs), ok


def _pool_geometry(node, x_shape):
    return _geometry(node, x_shape, node.attrs["ksize"], kind="window")


def lower_pool(node, vb, names: Names, out_buffer: str) -> list:
    """max_pool2d / avg_pool2d: padding never wins a max; averages count real elements."""
    x = node.inputs[0]
    geo = _pool_geometry(node, x.shape)
    dtype = node.dtype
    is_max = node.op.lowering == "max_pool2d"

    def element(index):
        n, oh, ow, c = index
        acc, count = names.scalar("acc"), names.scalar("count")
        init = const(-math.inf if is_max else 0, dtype)

        def body(k):
            hw = _tap(geo, (oh, ow), k)
            ok = _valid(geo, hw)
            v = _load4(vb, x, n, *_clamped(geo, hw), c)
            if is_max:
                return [Assign(acc, Select(ok, Binary("max", Local(acc, dtype), v),
                                           Local(acc, dtype)))]
            return [Assign(acc, Binary("add", Local(acc, dtype), Select(ok, v, const(0, dtype)))),
                    Assign(count, Binary("add", Local(count, dtype),
                                         Select(ok, const(1, dtype), const(0, dtype))))]
        result = Local(acc, dtype) if is_max else Binary("div", Local(acc, dtype),
                                                         Local(count, dtype))
        declares = [Declare(acc, dtype, init)] + \
            ([] if is_max else [Declare(count, dtype, const(0, dtype))])
        return declares + nest(names, geo.ksize, body, inner_kind="serial") + \
            [Store(out_buffer, linear_index(index, row_major_strides(node.shape)), result)]
    return nest(names, node.shape, element, outer_kind="parallel", middle_kind="parallel")


def _window_argmax(vb, names, geo, x, n, oh, ow, c, dtype):
    """Statements computing the first maximum's offset k = a·KW + b of window (oh, ow)."""
    best, arg = names.scalar("best"), names.scalar("arg")
    stmts = [Declare(best, dtype, const(-math.inf, dtype)), Declare(arg, geo_int(), idx(-1))]

    def body(k):
        a, b = k
        hw = _tap(geo, (oh, ow), (a, b))
        v = _load4(vb, x, n, *_clamped(geo, hw), c)
        better = Compare("gt", v, Local(best, dtype))
        if padded(geo):
            better = Binary("and", _valid(geo, hw), better)
        flat = Binary("add", Binary("mul", a, idx(geo.ksize[1])), b)
        return [Assign(arg, Select(better, flat, Local(arg, geo_int()))),
                Assign(best, Select(better, v, Local(best, dtype)))]
    return stmts + nest(names, geo.ksize, body, inner_kind="serial"), Local(arg, geo_int())


def geo_int():
    from ..ir import int64
    return int64


def _max_pool_grad_scatter(node, vb, names, out_buffer, geo) -> list:
    """Windows that do not overlap: zero dx, then each window writes its gradient at its
    first maximum (no two windows write one element)."""
    x, gy = node.inputs
    dtype = node.dtype
    strides = row_major_strides(node.shape)
    clear = fill(names, out_buffer, node.type.num_elements, const(0, dtype))

    def window(index):
        n, oh, ow, c = index
        stmts, arg = _window_argmax(vb, names, geo, x, n, oh, ow, c, dtype)
        a = Binary("floordiv", arg, idx(geo.ksize[1]))
        b = Binary("mod", arg, idx(geo.ksize[1]))
        h, w = _clamped(geo, _tap(geo, (oh, ow), (a, b)))
        return stmts + [Store(out_buffer, linear_index((n, h, w, c), strides),
                              vb.value(gy, index))]
    return clear + nest(names, gy.shape, window, outer_kind="parallel")


def _disjoint(geo) -> bool:
    """Windows that share no element: stride = window, not dilated."""
    return tuple(geo.strides) == tuple(geo.ksize) and tuple(geo.dilations) == (1, 1)


def tiles_cover(node) -> bool:
    """A max-pool gradient whose windows tile the whole image, without padding: every
    element is written exactly once, at an index known without the argmax, so the
    kernel's epilogue can run at each store (`lower_max_pool_grad(..., epilogue)`)."""
    geo = _pool_geometry(node, node.inputs[0].shape)
    return _disjoint(geo) and not padded(geo) and \
        all(geo.out_hw[d] * geo.strides[d] >= geo.in_hw[d] for d in range(2))


def _max_pool_grad_tiles(node, vb, names, out_buffer, geo, epilogue=None) -> list:
    """Windows that tile the image without padding: each window writes every one of its
    taps (its gradient at the first maximum, 0 at the others), so each element is
    written once at an index known without the argmax; rows and columns no window
    covers are cleared first. With `epilogue` (only when the windows cover the image),
    each tap's value goes through it instead: the kernel's roots at that element."""
    x, gy = node.inputs
    dtype = node.dtype
    strides = row_major_strides(node.shape)
    covered = all(geo.out_hw[d] * geo.strides[d] >= geo.in_hw[d] for d in range(2))
    clear = [] if covered else fill(names, out_buffer, node.type.num_elements, const(0, dtype))
    kh, kw = geo.ksize

    def store(index, value):
        if epilogue is None:
            return [Store(out_buffer, linear_index(index, strides), value)]
        vb.overrides[node] = lambda at, value=value: value
        return epilogue(index)

    def window(index):
        n, oh, ow, c = index
        stmts, arg = _window_argmax(vb, names, geo, x, n, oh, ow, c, dtype)
        g = names.scalar("g")
        stmts.append(Declare(g, dtype, vb.value(gy, index)))
        for a in range(kh):
            for b in range(kw):
                h = add(mul(oh, idx(geo.strides[0])), idx(a))
                w = add(mul(ow, idx(geo.strides[1])), idx(b))
                here = Compare("eq", arg, idx(a * kw + b))
                stmts += store((n, h, w, c), Select(here, Local(g, dtype), const(0, dtype)))
        return stmts
    return clear + nest(names, gy.shape, window, outer_kind="parallel")


def lower_max_pool_grad(node, vb, names: Names, out_buffer: str, epilogue=None) -> list:
    """dx[n,h,w,c] = Σ over windows that read (h, w) and whose first max is there: gy.
    `epilogue` (the kernel's roots at an index) runs at each store: only where
    `tiles_cover(node)`."""
    x, gy = node.inputs
    geo = _pool_geometry(node, x.shape)
    if epilogue is not None:
        return _max_pool_grad_tiles(node, vb, names, out_buffer, geo, epilogue)
    if _disjoint(geo):
        if not padded(geo):
            return _max_pool_grad_tiles(node, vb, names, out_buffer, geo)
        return _max_pool_grad_scatter(node, vb, names, out_buffer, geo)
    dtype = node.dtype
    zero = const(0, dtype)

    def element(index):
        n, h, w, c = index
        acc = names.scalar("acc")

        def body(k):
            a, b = k
            (oh, ow), ok = _window_origin(geo, (h, w), (a, b))
            stmts, arg = _window_argmax(vb, names, geo, x, n, oh, ow, c, dtype)
            here = Compare("eq", arg, Binary("add", Binary("mul", a, idx(geo.ksize[1])), b))
            g = vb.value(gy, (n, oh, ow, c))
            return stmts + [Assign(acc, Binary("add", Local(acc, dtype),
                                               Select(Binary("and", ok, here), g, zero)))]
        return [Declare(acc, dtype, zero)] + nest(names, geo.ksize, body, inner_kind="serial") + \
            [Store(out_buffer, linear_index(index, row_major_strides(node.shape)),
                   Local(acc, dtype))]
    return nest(names, node.shape, element, outer_kind="parallel", middle_kind="parallel")


def lower_max_pool_grad_grad(node, vb, names: Names, out_buffer: str) -> list:
    """out[n,oh,ow,c] = g at the first maximum of window (oh, ow)."""
    x, g = node.inputs
    geo = _pool_geometry(node, x.shape)
    dtype = node.dtype

    def element(index):
        n, oh, ow, c = index
        stmts, arg = _window_argmax(vb, names, geo, x, n, oh, ow, c, dtype)
        a = Binary("floordiv", arg, idx(geo.ksize[1]))
        b = Binary("mod", arg, idx(geo.ksize[1]))
        hw = _tap(geo, (oh, ow), (a, b))
        v = vb.value(g, (n, *_clamped(geo, hw), c))
        return stmts + [Store(out_buffer, linear_index(index, row_major_strides(node.shape)), v)]
    return nest(names, node.shape, element, outer_kind="parallel", middle_kind="parallel")


def lower_max_pool_argmax(node, vb, names: Names, out_buffer: str) -> list:
    """out[n,oh,ow,c] = the flat NHWC index of window (oh, ow)'s first maximum."""
    (x,) = node.inputs
    geo = _pool_geometry(node, x.shape)
    _, height, width, channels = x.shape

    def element(index):
        n, oh, ow, c = index
        stmts, arg = _window_argmax(vb, names, geo, x, n, oh, ow, c, x.dtype)
        a = Binary("floordiv", arg, idx(geo.ksize[1]))
        b = Binary("mod", arg, idx(geo.ksize[1]))
        h, w = _clamped(geo, _tap(geo, (oh, ow), (a, b)))
        flat = add(mul(add(mul(h, idx(width)), w), idx(channels)), c)
        if node.attrs["include_batch_in_index"]:
            flat = add(flat, mul(n, idx(height * width * channels)))
        return stmts + [Store(out_buffer, linear_index(index, row_major_strides(node.shape)),
                              flat)]
    return nest(names, node.shape, element, outer_kind="parallel", middle_kind="parallel")


def lower_avg_pool_grad(node, vb, names: Names, out_buffer: str) -> list:
    """dx[n,h,w,c] = Σ over windows that read (h, w): gy / (real elements of the window)."""
    x_ref, gy = node.inputs
    geo = _pool_geometry(node, x_ref.shape)
    dtype = node.dtype
    zero = const(0, dtype)

    def window_count(oh, ow):
        """Taps a (0 ≤ a < k) of each axis on the image: start + a·dilation in [0, n)."""
        counts = []
        for d, o in enumerate((oh, ow)):
            start = Binary("sub", Binary("mul", o, idx(geo.strides[d])), idx(geo.pads[d][0]))
            step = idx(geo.dilations[d])
            first = Binary("max", Binary("sub", idx(0), Binary("floordiv", start, step)),
                           idx(0))
            last = Binary("min", Binary("floordiv", Binary("sub", idx(geo.in_hw[d] - 1), start),
                                        step), idx(geo.ksize[d] - 1))
            counts.append(Binary("add", Binary("sub", last, first), idx(1)))
        from ..lower.loopir import Cast
        return Cast(Binary("mul", counts[0], counts[1]), dtype)

    def element(index):
        n, h, w, c = index
        acc = names.scalar("acc")

        def body(k):
            (oh, ow), ok = _window_origin(geo, (h, w), k)
            g = Binary("div", vb.value(gy, (n, oh, ow, c)), window_count(oh, ow))
            return [Assign(acc, Binary("add", Local(acc, dtype), Select(ok, g, zero)))]
        return [Declare(acc, dtype, zero)] + nest(names, geo.ksize, body, inner_kind="serial") + \
            [Store(out_buffer, linear_index(index, row_major_strides(node.shape)),
                   Local(acc, dtype))]
    return nest(names, node.shape, element, outer_kind="parallel", middle_kind="parallel")


def lower_gather_grad(node, vb, names: Names, out_buffer: str) -> list:
    """Zero the result, then add each gradient row where gather read it (serial: rows
    may repeat)."""
    gy, indices, params = node.inputs
    axis, n = node.attrs["axis"], params.shape[node.attrs["axis"]]
    zero = const(0, node.dtype)
    strides = row_major_strides(node.shape)
    clear = fill(names, out_buffer, node.type.num_elements, zero)

    def add_row(index):
        from .loopir import Cast, Load
        k = Cast(vb.value(indices, index[axis: axis + indices.rank]), geo_int())
        k = Select(Compare("lt", k, idx(0)), Binary("add", k, idx(n)), k)
        target = index[:axis] + (clamp(k, n),) + index[axis + indices.rank:]
        at = linear_index(target, strides)
        return [Store(out_buffer, at, Binary("add", Load(out_buffer, at, node.dtype),
                                             vb.value(gy, index)))]
    return clear + nest(names, gy.shape, add_row, inner_kind="serial")


WINDOW_TEMPLATES = {     # by the OpDef's `lowering`
    "max_pool2d": lower_pool,
    "avg_pool2d": lower_pool,
    "max_pool2d_grad": lower_max_pool_grad,
    "max_pool2d_grad_grad": lower_max_pool_grad_grad,
    "max_pool2d_argmax": lower_max_pool_argmax,
    "avg_pool2d_grad": lower_avg_pool_grad,
    "gather_grad": lower_gather_grad,
    "scatter_rows": lower_scatter_rows,
}
