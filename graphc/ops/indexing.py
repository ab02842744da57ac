"""Indexing ops: slicing (`x[...]`, strided and with new axes), pad, one_hot, gather —
and the ops that carry their gradients back (slice_grad, gather_grad)."""
from __future__ import annotations

import builtins

import numpy as np

from ..ir import Fusion, Node, OpDef, TensorType, as_dtype, float32, register
from ..ir.errors import ShapeError, dtype_error, shape_error
from .base import apply, as_tensor, normalize_axis
from .shape import ShapeOp


# -- slicing -------------------------------------------------------------------------------
def _normalize_index(index, rank):
    """Turn a Python index into a tuple of ('s', start, stop, step), ('i', k), ('new',)."""
    if not isinstance(index, tuple):
        index = (index,)
    n_real = builtins.sum(1 for i in index if i is not None and i is not Ellipsis)
    if builtins.sum(1 for i in index if i is Ellipsis) > 1:
        raise shape_error("an index can have only one ellipsis (...)")
    if n_real > rank:
        raise shape_error(f"too many indices ({n_real}) for a tensor of rank {rank}")
    spec = []
    for item in index:
        if item is Ellipsis:
            spec.extend([("s", None, None, None)] * (rank - n_real))
        elif item is None:
            spec.append(("new",))
        elif isinstance(item, builtins.slice):
            spec.append(("s", _int_or_none(item.start), _int_or_none(item.stop),
                         _int_or_none(item.step)))
        elif isinstance(item, int | np.integer):
            spec.append(("i", int(item)))
        else:
            raise TypeError(f"unsupported index {item!r}: use ints, slices, None, ... or a "
                            "tensor of indices (gather)")
    n_used = builtins.sum(1 for s in spec if s[0] != "new")
    spec.extend([("s", None, None, None)] * (rank - n_used))
    return tuple(spec)


def _int_or_none(v):
    return None if v is None else int(v)


def _python_index(spec):
    out = []
    for s in spec:
        if s[0] == "s":
            out.append(builtins.slice(s[1], s[2], s[3]))
        elif s[0] == "i":
            out.append(s[1])
        else:
            out.append(None)
    return tuple(out)


def format_index(spec) -> str:
    """('s', 2, 5, None), ('i', 0) -> '[2:5, 0]'."""
    parts = []
    for s in spec:
        if s[0] == "new":
            parts.append("None")
        elif s[0] == "i":
            parts.append(str(s[1]))
        else:
            text = ("" if s[1] is None else str(s[1])) + ":" + ("" if s[2] is None else str(s[2]))
            parts.append(text + ("" if s[3] is None else f":{s[3]}"))
    return "[" + ", ".join(parts) + "]"


class StridedSlice(ShapeOp):
    name = "strided_slice"

    def printed_attrs(self, attrs):
        return {"index": _Verbatim(format_index(attrs["spec"]))}

    def infer(self, inputs, attrs):
        x = inputs[0]
        dims = iter(enumerate(x.shape))
        shape = []
        for s in attrs["spec"]:
            if s[0] == "new":
                shape.append(1)
                continue
            axis, d = next(dims)
            if s[0] == "i":
                if d is not None and not -d <= s[1] < d:
                    raise shape_error(f"index {s[1]} is out of range for axis {axis} of "
                                      f"size {d}")
                continue
            if s[3] == 0:
                raise shape_error("slice step cannot be zero")
            # with an unknown size the slice's length is known only at run time
            shape.append(None if d is None else len(range(d)[builtins.slice(*s[1:])]))
        return TensorType(x.dtype, tuple(shape))

    def element(self, b, vb, node, index):
        x = node.inputs[0]
        out = iter(index)
        source = []
        axis = 0
        for item in node.attrs["spec"]:
            if item[0] == "new":
                next(out)
                continue
            dim = x.shape[axis]
            if item[0] == "i":
                source.append(b.index(item[1] % dim))
            else:
                start, _, step = builtins.slice(item[1], item[2], item[3]).indices(dim)
                source.append(b.add(b.index(start), b.mul(next(out), b.index(step))))
            axis += 1
        return vb.value(x, tuple(source))

    def reference(self, node, x):
        return np.array(x[_python_index(node.attrs["spec"])], order="C")

    def grad(self, node, gy):
        return [apply("slice_grad", [gy, node.inputs[0]], spec=node.attrs["spec"])]


register(StridedSlice())


class _Verbatim(str):
    def __repr__(self) -> str:
        return str(self)


class SliceGrad(OpDef):
    """Zeros shaped like the sliced tensor, with `gy` written where the slice read."""

    name = "slice_grad"
    shape_only_inputs = (1,)
    fusion = Fusion.INJECTIVE
    num_inputs = 2

    printed_attrs = StridedSlice.printed_attrs

    def infer(self, inputs, attrs):
        return TensorType(inputs[0].dtype, inputs[1].shape)

    def element(self, b, vb, node, index):
        """Zero outside the slice; inside, the gradient element the slice produced there."""
        gy, ref = node.inputs
        inside = b.true()
        gy_index = []
        axis = 0
        for item in node.attrs["spec"]:
            if item[0] == "new":
                gy_index.append(b.index(0))
                continue
            dim, i = ref.shape[axis], index[axis]
            if item[0] == "i":
                inside = b.binary("and", inside, b.compare("eq", i, b.index(item[1] % dim)))
            else:
                start, stop, step = builtins.slice(item[1], item[2], item[3]).indices(dim)
                count = len(range(start, stop, step))
                offset = b.binary("sub", i, b.index(start))
                k = b.binary("floordiv", offset, b.index(step)) if step != 1 else offset
                on_step = b.compare("eq", b.binary("mod", offset, b.index(step)), b.index(0)) \
                    if step != 1 else b.true()
                inside = b.binary("and", inside, b.binary("and", b.in_range(k, count), on_step))
                gy_index.append(b.clamp(k, max(count, 1)))
            axis += 1
        return b.select(inside, vb.value(gy, tuple(gy_index)), b.const(0, node.dtype))

    def reference(self, node, gy, ref):
        out = np.zeros(ref.shape, dtype=node.dtype.np_type)
        index = tuple(i for i in _python_index(node.attrs["spec"]) if i is not None)
        out[index] = np.reshape(gy, out[index].shape)  # basic slices never repeat elements
        return out

    def grad(self, node, g):
        return [apply("strided_slice", [g], spec=node.attrs["spec"]), None]


register(SliceGrad())


def getitem(x, index, name=None) -> Node:
    """x[index]: ints, slices (with steps), None, ... ; a tensor index gathers rows."""
    x = as_tensor(x)
    if isinstance(index, Node):
        return gather(x, index, axis=0, name=name)
    return apply("strided_slice", [x], name=name or "slice",
                 spec=_normalize_index(index, x.rank))


def slice(x, begin, size, name=None) -> Node:  # noqa: A001 - TF1 name
    """TF1's slice: `size[i] == -1` takes everything from begin[i] on."""
    index = tuple(builtins.slice(b, None if s == -1 else b + s) for b, s in zip(begin, size))
    return getitem(x, index, name=name)


# -- pad -----------------------------------------------------------------------------------
class Pad(ShapeOp):
    name = "pad"

    def normalize_attrs(self, inputs, attrs):
        pads = tuple((int(a), int(b)) for a, b in attrs["paddings"])
        if len(pads) != inputs[0].rank:
            raise shape_error(f"paddings {pads} need one (before, after) pair per axis "
                              f"of a rank-{inputs[0].rank} tensor")
        if any(a < 0 or b < 0 for a, b in pads):
            raise shape_error(f"paddings {pads} must not be negative")
        return dict(attrs, paddings=pads)

    def infer(self, inputs, attrs):
        x = inputs[0]
        shape = tuple(None if d is None else d + a + b
                      for d, (a, b) in zip(x.shape, attrs["paddings"]))
        return TensorType(x.dtype, shape)

    def element(self, b, vb, node, index):
        x = node.inputs[0]
        inside = b.true()
        source = []
        for i, d, (before, _) in zip(index, x.shape, node.attrs["paddings"]):
            shifted = b.binary("sub", i, b.index(before)) if before else i
            if before or node.shape[len(source)] != d:
                inside = b.binary("and", inside, b.in_range(shifted, d))
                shifted = b.clamp(shifted, d)
            source.append(shifted)
        fill = b.const(node.attrs["constant_values"], node.dtype)
        return b.select(inside, vb.value(x, tuple(source)), fill)

    def reference(self, node, x):
        return np.pad(x, node.attrs["paddings"], constant_values=node.attrs["constant_values"])

    def grad(self, node, gy):
        index = tuple(builtins.slice(a, -b if b else None) for a, b in node.attrs["paddings"])
        return [getitem(gy, index)]


register(Pad())


_PAD_MODES = {"REFLECT": "reflect", "SYMMETRIC": "symmetric", "EDGE": "edge",
              "WRAP": "wrap"}     # graphc's (TF1's, numpy's) name -> numpy's


def pad(x, paddings, mode="CONSTANT", constant_values=0, name=None) -> Node:
    """Pad `x`; `paddings` is one (before, after) pair per axis.

    mode: "CONSTANT" (the `pad` op, `constant_values`), or a copy of x's own elements
    as numpy's np.pad: "REFLECT" (mirrored without the edge, TF1's), "SYMMETRIC"
    (with the edge, TF1's), "EDGE" (the edge repeated), "WRAP" (periodic). The copying
    modes are a `gather` per padded axis with a constant index vector (np.pad of
    arange), so their gradient adds each copy back to its source; the padded axes'
    sizes must be known.
    """
    x = as_tensor(x)
    paddings = tuple(tuple(int(v) for v in p) for p in paddings)
    upper = mode.upper()
    if upper == "CONSTANT":
        return apply("pad", [x], name=name, paddings=paddings,
                     constant_values=constant_values)
    if upper not in _PAD_MODES:
        raise ValueError(f"pad mode {mode!r}: use 'CONSTANT', "
                         f"{', '.join(map(repr, _PAD_MODES))}")
    if len(paddings) != x.rank:
        raise ShapeError(f"paddings {paddings} need one (before, after) pair per axis of "
                         f"a rank-{x.rank} tensor")
    if any(a < 0 or b < 0 for a, b in paddings):
        raise ShapeError(f"paddings {paddings} must not be negative")
    padded = [axis for axis, p in enumerate(paddings) if any(p)]
    y = x
    for axis in padded:
        size = x.shape[axis]
        if not size or (upper == "REFLECT" and size == 1):
            raise ShapeError(f"pad mode {mode!r} needs axis {axis}'s size known and "
                             f"{'> 1' if upper == 'REFLECT' else '> 0'}, got {x.type}")
        source = np.pad(np.arange(size, dtype=np.int64), paddings[axis],
                        mode=_PAD_MODES[upper])
        y = gather(y, source, axis=axis, name=name if axis == padded[-1] else None)
    return y


# -- one_hot, gather -----------------------------------------------------------------------
class OneHot(OpDef):
    name = "one_hot"
    fusion = Fusion.BROADCAST
    num_inputs = 1

    def infer(self, inputs, attrs):
        (idx,) = inputs
        if not idx.dtype.is_integer:
            raise dtype_error(f"one_hot indices must be integers, got {idx}")
        return TensorType(attrs["dtype"], idx.shape + (attrs["depth"],))

    def element(self, b, vb, node, index):
        label = b.to_index(vb.value(node.inputs[0], index[:-1]))
        return b.select(b.compare("eq", index[-1], label),
                        b.const(node.attrs["on_value"], node.dtype),
                        b.const(node.attrs["off_value"], node.dtype))

    def reference(self, node, idx):
        hot = idx[..., None] == np.arange(node.attrs["depth"])
        return np.where(hot, node.attrs["on_value"], node.attrs["off_value"]).astype(
            node.dtype.np_type)

    def grad(self, node, gy):
        return [None]


register(OneHot())


def one_hot(indices, depth, on_value=1, off_value=0, dtype=float32, name=None) -> Node:
    """A new last axis of size `depth`; out-of-range indices give all `off_value`."""
    return apply("one_hot", [as_tensor(indices)], name=name, depth=int(depth),
                 on_value=on_value, off_value=off_value, dtype=as_dtype(dtype))


class Gather(OpDef):
    name = "gather"
    index_checks = (1, 0)     # compiled code checks the indices against params
    fusion = Fusion.INJECTIVE
    num_inputs = 2

    def normalize_attrs(self, inputs, attrs):
        return {"axis": normalize_axis(attrs["axis"], inputs[0].rank)}

    def infer(self, inputs, attrs):
        params, idx = inputs
        if not idx.dtype.is_integer:
            raise dtype_error(f"gather indices must be integers, got {idx}")
        a = attrs["axis"]
        return TensorType(params.dtype, params.shape[:a] + idx.shape + params.shape[a + 1:])

    def element(self, b, vb, node, index):
        params, indices = node.inputs
        axis, n = node.attrs["axis"], params.shape[node.attrs["axis"]]
        k = b.to_index(vb.value(indices, index[axis: axis + indices.rank]))
        k = b.select(b.compare("lt", k, b.index(0)), b.add(k, b.index(n)), k)
        return vb.value(params, index[:axis] + (b.clamp(k, n),) + index[axis + indices.rank:])

    def reference(self, node, params, idx):
        n = params.shape[node.attrs["axis"]]
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"gather index out of range [{-n}, {n}): min {idx.min()}, "
                             f"max {idx.max()}")
        return np.take(params, idx, axis=node.attrs["axis"])

    def grad(self, node, gy):
        params, idx = node.inputs
        return [apply("gather_grad", [gy, idx, params], axis=node.attrs["axis"]), None]


register(Gather())


class GatherGrad(OpDef):
    """Zeros shaped like `params`, with the rows of `gy` added where gather read them."""

    name = "gather_grad"
    lowering = "gather_grad"
    index_checks = (1, 2)
    shape_only_inputs = (2,)
    fusion = Fusion.OPAQUE
    num_inputs = 3

    def infer(self, inputs, attrs):
        return TensorType(inputs[0].dtype, inputs[2].shape)

    def reference(self, node, gy, idx, params):
        axis = node.attrs["axis"]
        out = np.zeros(params.shape, dtype=node.dtype.np_type)
        view = np.moveaxis(out, axis, 0)
        rows = np.moveaxis(gy, tuple(range(axis, axis + idx.ndim)), tuple(range(idx.ndim)))
        np.add.at(view, idx, rows)
        return out

    def grad(self, node, g):
        gy, idx, params = node.inputs
        return [gather(g, idx, axis=node.attrs["axis"]), None, None]


register(GatherGrad())


def gather(params, indices, axis=0, name=None) -> Node:
    """Rows of `params` along `axis` picked by integer `indices` (any shape)."""
    return apply("gather", [as_tensor(params), as_tensor(indices)], name=name, axis=int(axis))
