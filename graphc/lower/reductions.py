"""Reductions and the softmax family as loop nests with scalar accumulators.

Each builds: loops over the kept axes, an accumulator declared there, inner loops over
the reduced axes folding the (prologue-fused) input into it, then the kernel's epilogue
reads the anchor's value from the accumulator.
"""
from __future__ import annotations

import math


from ..ir import int64
from ..ir.symbolic import is_symbolic
from ..ops.reduce import empty_extremum
from .builder import B
from .routines import BlockSum
from .indexing import unravel
from .loopir import (Assign, Binary, Cast, Compare, Declare, Load, Local, Loop, Select,
                     Store, Unary, add, const, idx, linear_index, row_major_strides)
from .nests import Names, nest


def same_everywhere(expr):
    """An override giving `expr` at any index: the anchor's value at the element the
    surrounding loops are at."""
    def value_at(index):
        return expr
    return value_at


def _full_index(out_index, in_shape, axes, keepdims, red_index):
    """The input index from the output index (kept axes) and reduced-axis variables."""
    out = iter(out_index)
    red = iter(red_index)
    full = []
    for axis in range(len(in_shape)):
        if axis in axes:
            full.append(next(red))
            if keepdims:
                next(out)
        else:
            full.append(next(out))
    return tuple(full)


def lower_reduce(anchor, vb, names: Names, out_index, emit_epilogue):
    """A fold over attrs["axes"] with the op's `fold` (from its identity: 0, or −inf /
    +inf for max / min), divided by the count for a mean."""
    x = anchor.inputs[0]
    op = anchor.op
    axes, keepdims = anchor.attrs["axes"], anchor.attrs["keepdims"]
    acc = names.scalar("acc")
    init = 0 if op.fold == "add" else empty_extremum(op.name, x.dtype)
    red_shape = [x.shape[a] for a in axes]

    def fold(red_index):
        v = vb.value(x, _full_index(out_index, x.shape, axes, keepdims, red_index))
        return [Assign(acc, Binary(op.fold, Local(acc, x.dtype), v))]

    count = 1
    for d in red_shape:
        count *= d
    result = Local(acc, x.dtype)
    if op.mean:
        result = Binary("div", result, const(count, x.dtype))
    vb.overrides[anchor] = same_everywhere(result)
    return [Declare(acc, x.dtype, const(init, x.dtype))] + \
        nest(names, red_shape, fold, inner_kind="serial") + emit_epilogue(out_index)


def lower_arg_reduce(anchor, vb, names, out_index, emit_epilogue):
    """The index of the first element along the axis that compares `better` than all
    before it (argmax: gt)."""
    x = anchor.inputs[0]
    axis = anchor.attrs["axis"]
    best, best_i = names.scalar("best"), names.scalar("arg")
    j = names.var("j")
    full = tuple(out_index[:axis]) + (j,) + tuple(out_index[axis:])
    v = vb.value(x, full)
    better = Compare(anchor.op.better, v, Local(best, x.dtype))
    first = Compare("eq", j, idx(0))
    take = Binary("or", first, better)
    loop = Loop(j, idx(x.shape[axis]), [
        Assign(best_i, Select(take, j, Local(best_i, int64))),
        Assign(best, Select(take, v, Local(best, x.dtype)))])
    result = Cast(Local(best_i, int64), anchor.dtype)
    vb.overrides[anchor] = same_everywhere(result)
    extent = x.shape[axis]
    check = [vb.checks.require(Compare("gt", idx(extent), idx(0)), anchor,
                               f"{anchor.op.name} over an empty axis {axis}")] \
        if is_symbolic(extent) else []           # a batch of 0: no index to give
    return check + [Declare(best, x.dtype, const(0, x.dtype)), Declare(best_i, int64, idx(0)),
                    loop] + emit_epilogue(out_index)


def lower_softmax_family(anchor, vb, names: Names, outer_index, emit_epilogue):
    """softmax / log_softmax along an axis, sparse cross-entropy along the last: a max
    pass, a Σ exp(x − max) pass, then the values (each a function of max and sum)."""
    cross_entropy = anchor.op.lowering == "cross_entropy"
    logits = anchor.inputs[0]
    axis = logits.rank - 1 if cross_entropy else anchor.attrs["axis"]
    n = logits.shape[axis]
    dtype = logits.dtype
    m, s = names.scalar("max"), names.scalar("sum")

    def at(j):
        return tuple(outer_index[:axis]) + (j,) + tuple(outer_index[axis:])

    j1, j2 = names.var("j"), names.var("j")
    stmts = [Declare(m, dtype, const(-math.inf, dtype)),
             Loop(j1, idx(n), [Assign(m, Binary("max", Local(m, dtype),
                                                vb.value(logits, at(j1))))]),
             Declare(s, dtype, const(0, dtype)),
             Loop(j2, idx(n), [Assign(s, Binary("add", Local(s, dtype), Unary(
                 "exp", Binary("sub", vb.value(logits, at(j2)), Local(m, dtype)))))])]
    # log Σ exp(x − max) and x − max, never max + log Σ: at logits of 1e4 a float32 sum
    # max + log 3 keeps only 1e4's precision (x − (max + log Σ) gave −1.0986328)
    log_sum = Unary("log", Local(s, dtype))
    if cross_entropy:
        labels = anchor.inputs[1]
        label = Cast(vb.value(labels, tuple(outer_index)), int64)
        valid = Binary("and", Compare("ge", label, idx(0)), Compare("lt", label, idx(n)))
        picked = vb.value(logits, at(Binary("max", Binary("min", label, idx(n - 1)), idx(0))))
        result = Binary("sub", log_sum, Binary("sub", picked, Local(m, dtype)))
        vb.overrides[anchor] = same_everywhere(result)
        check = vb.checks.require(valid, anchor, f"label out of range [0, {n})")
        return stmts + [check] + emit_epilogue(tuple(outer_index))

    def element(index):
        return anchor.op.normalized(B, vb.value(logits, index), Local(m, dtype),
                                    Local(s, dtype))

    vb.overrides[anchor] = element
    j3 = names.var("j")
    return stmts + [Loop(j3, idx(n), emit_epilogue(at(j3)), "serial")]


def lower_tile_grad(anchor, vb, names: Names, out_index, emit_epilogue):
    """Σ over the tiles: out[i] = Σ_t gy[t·d + i] per axis."""
    gy, ref = anchor.inputs
    multiples = anchor.attrs["multiples"]
    acc = names.scalar("acc")
    dtype = anchor.dtype

    def fold(tile_index):
        at = tuple(Binary("add", Binary("mul", t, idx(d)), i)
                   for t, d, i in zip(tile_index, ref.shape, out_index))
        return [Assign(acc, Binary("add", Local(acc, dtype), vb.value(gy, at)))]

    vb.overrides[anchor] = same_everywhere(Local(acc, dtype))
    return [Declare(acc, dtype, const(0, dtype))] + \
        nest(names, multiples, fold, inner_kind="serial") + emit_epilogue(out_index)


def _float_sum(anchor) -> bool:
    """A float reduce_sum or reduce_mean: what the column-sum lowerings take."""
    return anchor.op.name in ("reduce_sum", "reduce_mean") and anchor.dtype.is_floating


def column_sum_period(anchor, buffered, lanes: int, most: int) -> int | None:
    """How many accumulators a column sum of `anchor` keeps (a multiple of the target's
    `lanes`, at most `most`), or None when it does not qualify: a float sum or mean over the leading axes
    of a buffered value, keeping a few static columns (a bias gradient: Σ over batch and
    image positions per channel)."""
    if not _float_sum(anchor):
        return None
    x = anchor.inputs[0]
    axes = tuple(anchor.attrs["axes"])
    if not buffered(x) or not axes or axes != tuple(range(len(axes))) or \
            len(axes) == x.rank:
        return None
    kept = x.shape[len(axes):]
    if not all(isinstance(d, int) for d in kept):
        return None
    columns = math.prod(kept)
    period = math.lcm(columns, lanes)
    return period if period <= most else None


def lower_column_sum(anchor, vb, names: Names, period: int, workspace: str,
                     emit_epilogue) -> list:
    """Σ over rows of a (rows × C) buffer in one contiguous pass: `period` = lcm(C, lanes)
    partial sums take consecutive elements (the `block_sum` routine: vector
    accumulators), then each column's partial sums are folded. (`lower_reduce` would read
    the buffer once per column, with a stride of C.)"""
    x = anchor.inputs[0]
    dtype = x.dtype
    n_axes = len(anchor.attrs["axes"])
    kept = x.shape[n_axes:]
    columns = math.prod(kept)
    rows = 1
    for d in x.shape[:n_axes]:
        rows = rows * d
    stmts = [BlockSum(vb.buffer_of(x), idx(rows * columns), period, workspace)]
    keep = (idx(0),) * n_axes if anchor.attrs["keepdims"] else ()

    def fold(kept_index):
        """Column j's partial sums ws[j], ws[j + C], ... folded, then the epilogue."""
        j = linear_index(kept_index, row_major_strides(kept))
        folded = Load(workspace, j, dtype)
        for k in range(columns, period, columns):
            folded = Binary("add", folded, Load(workspace, add(j, idx(k)), dtype))
        if anchor.op.name == "reduce_mean":
            folded = Binary("div", folded, const(rows, dtype))
        vb.overrides[anchor] = same_everywhere(folded)
        return emit_epilogue(keep + tuple(kept_index))
    return stmts + nest(names, kept, fold)


COLUMN_CHUNKS = 32         # fixed (not the thread count): the same sums on every machine
COLUMN_SLOTS = 4           # partial rows per chunk, taken in turn: independent additions
COLUMN_MOST = 1024         # kept columns (a chunk's partial rows, 16 KiB, stay in L1)


def column_reduce_applies(anchor) -> bool:
    """A float sum or mean over the leading axes of a value computed in the kernel (a
    prologue: batch norm's Σ (x − mean)², Σ dy·x), keeping a few static columns."""
    if not _float_sum(anchor):
        return False
    x = anchor.inputs[0]
    axes = tuple(anchor.attrs["axes"])
    if not axes or axes != tuple(range(len(axes))) or len(axes) == x.rank:
        return False
    kept = x.shape[len(axes):]
    return all(isinstance(d, int) for d in kept) and math.prod(kept) <= COLUMN_MOST


def column_reduce_workspace(anchor) -> int:
    return COLUMN_CHUNKS * COLUMN_SLOTS * math.prod(anchor.inputs[0].shape[
        len(anchor.attrs["axes"]):])


def lower_column_reduce(anchor, vb, names: Names, workspace: str, emit_epilogue) -> list:
    """Σ over the leading axes, row by row (each row's C columns contiguous, so the
    prologue's loads and the additions vectorise): COLUMN_CHUNKS chunks of rows in
    parallel, each adding its rows in turn into COLUMN_SLOTS partial rows of the
    workspace; then each column's partial sums folded in a fixed order. `lower_reduce`
    would take one column at a time, reading with a stride of C."""
    x = anchor.inputs[0]
    dtype = x.dtype
    n_axes = len(anchor.attrs["axes"])
    lead, kept = x.shape[:n_axes], x.shape[n_axes:]
    columns = math.prod(kept)
    rows = idx(1)
    for d in lead:
        rows = Binary("mul", rows, idx(d))
    chunk, step, slot, tail = (names.var(h) for h in ("chunk", "step", "slot", "tail"))

    def edge(k):
        return Binary("floordiv", Binary("mul", k, rows), idx(COLUMN_CHUNKS))
    first = edge(chunk)
    count = Binary("sub", edge(add(chunk, idx(1))), first)
    steps = Binary("floordiv", count, idx(COLUMN_SLOTS))

    def partial_row(s):
        return mul_idx(add(mul_idx(chunk, COLUMN_SLOTS), s), columns)

    def add_row(row, s):
        def body(kept_index):
            column = linear_index(kept_index, row_major_strides(kept))
            at = add(partial_row(s), column)
            value = vb.value(x, unravel(row, lead) + tuple(kept_index))
            return [Store(workspace, at, Binary("add", Load(workspace, at, dtype), value))]
        return nest(names, kept, body)

    clear = nest(names, (COLUMN_SLOTS * columns,), lambda i: [Store(
        workspace, add(mul_idx(chunk, COLUMN_SLOTS * columns), i[0]), const(0, dtype))])
    in_turn = Loop(step, steps, [Loop(slot, idx(COLUMN_SLOTS), add_row(
        add(first, add(mul_idx(step, COLUMN_SLOTS), slot)), slot), "serial")], "serial")
    left = Loop(tail, Binary("sub", count, mul_idx(steps, COLUMN_SLOTS)), add_row(
        add(first, add(mul_idx(steps, COLUMN_SLOTS), tail)), idx(0)), "serial")
    sums = Loop(chunk, idx(COLUMN_CHUNKS), clear + [in_turn, left], "parallel")
    keep = (idx(0),) * n_axes if anchor.attrs["keepdims"] else ()

    p = names.var("p")                 # partial rows 1, 2, ... added into row 0, in order
    gather = Loop(p, idx(COLUMN_CHUNKS * COLUMN_SLOTS - 1), nest(names, (columns,), lambda c: [
        Store(workspace, c[0], Binary("add", Load(workspace, c[0], dtype), Load(
            workspace, add(mul_idx(add(p, idx(1)), columns), c[0]), dtype)))]), "serial")

    def fold(kept_index):
        total = Load(workspace, linear_index(kept_index, row_major_strides(kept)), dtype)
        if anchor.op.name == "reduce_mean":
            total = Binary("div", total, Cast(rows, dtype))
        vb.overrides[anchor] = same_everywhere(total)
        return emit_epilogue(keep + tuple(kept_index))
    return [sums, gather] + nest(names, kept, fold)


def mul_idx(e, k: int):
    return Binary("mul", e, idx(k))


def inner_column_reduce_applies(anchor, roots) -> bool:
    """A float sum or mean over a block of middle axes, keeping leading axes and a few
    static trailing columns (global average pooling: (N, H, W, C) → (N, C)), in a kernel
    whose only root is the reduction itself (its buffer holds the partial sums)."""
    if roots != (anchor,) or not _float_sum(anchor):
        return False
    x = anchor.inputs[0]
    axes = tuple(anchor.attrs["axes"])
    if not axes or axes[0] == 0 or axes != tuple(range(axes[0], axes[-1] + 1)) or \
            axes[-1] == x.rank - 1:
        return False
    kept = x.shape[axes[-1] + 1:]
    return all(isinstance(d, int) for d in (*kept, *(x.shape[a] for a in axes))) and \
        math.prod(kept) <= COLUMN_MOST


def lower_inner_column_reduce(anchor, vb, names: Names, out: str) -> list:
    """Each leading index's sum over its rows, row by row into its own C outputs (the
    prologue's loads and the additions vectorise along the row; `lower_reduce` would take
    one column at a time with a stride of C), then scaled for a mean."""
    x = anchor.inputs[0]
    dtype = x.dtype
    axes = tuple(anchor.attrs["axes"])
    lead, block, kept = x.shape[:axes[0]], x.shape[axes[0]:axes[-1] + 1], \
        x.shape[axes[-1] + 1:]
    columns, rows = math.prod(kept), math.prod(block)
    row = names.var("row")

    def per_lead(lead_index):
        base = mul_idx(linear_index(lead_index, row_major_strides(lead)), columns)

        def clear(c):
            return [Store(out, add(base, c[0]), const(0, dtype))]

        def accumulate(c):
            at = add(base, c[0])
            value = vb.value(x, tuple(lead_index) + unravel(row, block) +
                             unravel(c[0], kept))
            return [Store(out, at, Binary("add", Load(out, at, dtype), value))]
        stmts = nest(names, (columns,), clear) + [
            Loop(row, idx(rows), nest(names, (columns,), accumulate), "serial")]
        if anchor.op.name == "reduce_mean":
            stmts += nest(names, (columns,), lambda c: [Store(out, add(base, c[0]), Binary(
                "div", Load(out, add(base, c[0]), dtype), const(rows, dtype)))])
        return stmts
    return nest(names, lead, per_lead, inner_kind="parallel", outer_kind="parallel",
                middle_kind="parallel")
