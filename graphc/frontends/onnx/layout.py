"""ONNX's channels-first convolutions and poolings on graphc's NHWC ops: a transpose
on each side (the simplifier cancels the pairs between layers), 1-D as 2-D of height 1,
3-D as NDHWC, and ONNX's padding attributes as graphc's explicit (before, after) pairs
per spatial axis."""
from __future__ import annotations

import math

from ... import ops

TO_NHWC, TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)
TO_NDHWC, TO_NCDHW = (0, 2, 3, 4, 1), (0, 4, 1, 2, 3)


def spatial_rank(ctx, x, ranks=(1, 2)) -> int:
    """x's number of spatial axes, refused unless in `ranks` (what the converter has)."""
    rank = x.rank - 2
    if rank not in ranks:
        raise ctx.error(f"{rank}-D {ctx.op_type} is not supported: graphc has it "
                        f"{', '.join(f'{r}-D' for r in ranks)} (1-D runs as 2-D of height 1)")
    return rank


def pairs(values, rank: int, fill: int) -> list[int]:
    """An attribute's per-axis values as (height, width) values, or (depth, height,
    width) in 3-D; 1-D gets `fill` for the height."""
    return [fill] + list(values) if rank == 1 else list(values)


def as_nhwc(x, rank: int):
    """NC(H)W → NHWC (1-D: NCW → N,1,W,C; 3-D: NCDHW → NDHWC)."""
    if rank == 1:
        x = ops.expand_dims(x, 2)
    return ops.transpose(x, TO_NDHWC if rank == 3 else TO_NHWC)


def from_nhwc(y, rank: int):
    y = ops.transpose(y, TO_NCDHW if rank == 3 else TO_NCHW)
    return ops.squeeze(y, [2]) if rank == 1 else y


def padding(ctx, in_hw, kernel, strides, dilations, rank: int):
    """graphc's padding for ONNX's auto_pad and pads (2-D, explicit pairs)."""
    auto_pad = ctx.require("auto_pad", ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"),
                           "NOTSET")
    if auto_pad == "VALID":
        return ((0, 0),) * len(in_hw)
    if auto_pad == "NOTSET":
        pads = pairs_of_pads(ctx.attr("pads", [0] * (2 * rank)), rank)
        return pads
    if None in in_hw:
        raise ctx.error(f"auto_pad={auto_pad} needs the input's spatial size, unknown here")
    sides = []
    for n, k, s, d in zip(in_hw, kernel, strides, dilations):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        small, big = total // 2, total - total // 2
        sides.append((small, big) if auto_pad == "SAME_UPPER" else (big, small))
    return tuple(sides)


def pairs_of_pads(pads, rank: int):
    """ONNX pads [x1_begin, x2_begin, x1_end, x2_end] → ((top, bottom), (left, right))
    (and a leading depth pair in 3-D)."""
    begins, ends = list(pads[:rank]), list(pads[rank:])
    if rank == 1:
        begins, ends = [0] + begins, [0] + ends
    return tuple(zip(begins, ends))


def through_transpose(x, fn):
    """fn(x) for an fn that commutes with transposes (elementwise, per-channel with
    the channel axis followed): applied before a layout transpose instead of after, so
    the next layer's opposite transpose meets this one and the simplifier cancels both.
    fn gets the tensor and the position of x's axis 1 in it."""
    if x.op.name == "transpose":
        perm = x.attrs["perm"]
        return ops.transpose(fn(x.inputs[0], perm[1]), perm)
    return fn(x, 1)
