"""Moving image data between space and channels, and centring it in a new size: TF1's
space_to_depth / depth_to_space (reshape + transpose) and
resize_image_with_crop_or_pad (slice + pad), in forms general enough for ONNX."""
from __future__ import annotations

import numpy as np

from ..ir import Node, ShapeError
from .base import as_tensor, normalize_axis
from .indexing import pad, slice as slice_
from .shape import reshape, transpose

_MODES = ("DCR", "CRD")
_FORMATS = ("NHWC", "NCHW")


def _check(x: Node, block_size, data_format: str, mode: str, what: str) -> int:
    if data_format not in _FORMATS or mode not in _MODES:
        raise ValueError(f"{what}: data_format must be one of {_FORMATS} and mode one of "
                         f"{_MODES}, got {data_format!r}, {mode!r}")
    b = int(block_size)
    if x.rank != 4 or b < 1:
        raise ShapeError(f"{what}: needs a 4-D {data_format} tensor and block_size >= 1, "
                         f"got '{x.name}' {x.type}, {block_size}")
    return b


def _blocks(shape, b: int, data_format: str, mode: str):
    """For space_to_depth of an image of `shape` (height and width multiples of b):
    (its 6-D split, the permutation bringing the two block axes beside the channel
    axis). DCR numbers the output channels (row in block, column in block, channel)
    as TF1; CRD (channel, row, column) is ONNX's other order."""
    if data_format == "NHWC":
        n, h, w, c = shape
        split = (n, h // b, b, w // b, b, c)             # axes: N H bh W bw C
        return split, (0, 1, 3, 2, 4, 5) if mode == "DCR" else (0, 1, 3, 5, 2, 4)
    n, c, h, w = shape
    split = (n, c, h // b, b, w // b, b)                 # axes: N C H bh W bw
    return split, (0, 3, 5, 1, 2, 4) if mode == "DCR" else (0, 1, 3, 5, 2, 4)


def _dims(shape):
    return [-1 if d is None else d for d in shape]


def space_to_depth(input, block_size, name=None, data_format="NHWC",  # noqa: A002
                   mode="DCR") -> Node:
    """Each block_size x block_size block of pixels becomes one pixel with
    block_size² times the channels (TF1; `mode` "CRD" is ONNX's channel-major order)."""
    x = as_tensor(input)
    b = _check(x, block_size, data_format, mode, "space_to_depth")
    spatial = (1, 2) if data_format == "NHWC" else (2, 3)
    depth = 3 if data_format == "NHWC" else 1
    if any(x.shape[a] is None or x.shape[a] % b for a in spatial) or x.shape[depth] is None:
        raise ShapeError(f"space_to_depth: the height and width of '{x.name}' {x.type} "
                         f"must be known multiples of block_size {b}, its depth known")
    out = list(x.shape)
    out[depth] *= b * b
    for a in spatial:
        out[a] //= b
    split, perm = _blocks(x.shape, b, data_format, mode)
    return reshape(transpose(reshape(x, _dims(split)), perm), _dims(out),
                   name=name or "space_to_depth")


def depth_to_space(input, block_size, name=None, data_format="NHWC",  # noqa: A002
                   mode="DCR") -> Node:
    """The inverse of space_to_depth: channels spread into block_size x block_size
    blocks of pixels (TF1; `mode` "CRD" as ONNX)."""
    y = as_tensor(input)
    b = _check(y, block_size, data_format, mode, "depth_to_space")
    spatial = (1, 2) if data_format == "NHWC" else (2, 3)
    depth = 3 if data_format == "NHWC" else 1
    if y.shape[depth] is None or y.shape[depth] % (b * b) or \
            any(y.shape[a] is None for a in spatial):
        raise ShapeError(f"depth_to_space: the depth of '{y.name}' {y.type} must be a known "
                         f"multiple of block_size² = {b * b}, its height and width known")
    image = list(y.shape)
    image[depth] //= b * b
    for a in spatial:
        image[a] *= b
    split, perm = _blocks(image, b, data_format, mode)
    grouped = reshape(y, _dims(split[p] for p in perm))
    return reshape(transpose(grouped, np.argsort(perm).tolist()), _dims(image),
                   name=name or "depth_to_space")


def center_crop_or_pad(x, sizes, axes, name=None) -> Node:
    """x cropped or zero-padded to `sizes` along `axes`, keeping it centred: a crop
    drops ⌊(n − size)/2⌋ from the start, a pad adds ⌊(size − n)/2⌋ there (the rest at
    the end), as TF1's resize_image_with_crop_or_pad and ONNX's CenterCropPad."""
    x = as_tensor(x)
    axes = [normalize_axis(int(a), x.rank) for a in axes]
    sizes = [int(s) for s in sizes]
    if len(sizes) != len(axes) or min(sizes, default=1) < 0:
        raise ShapeError(f"center_crop_or_pad of '{x.name}' {x.type}: {len(sizes)} sizes "
                         f"{sizes} for axes {axes}")
    begin, size = [0] * x.rank, [-1] * x.rank
    pads = [[0, 0] for _ in range(x.rank)]
    for a, s in zip(axes, sizes):
        n = x.shape[a]
        if n is None:
            raise ShapeError(f"center_crop_or_pad of '{x.name}' {x.type}: axis {a} needs a "
                             "known size")
        if n > s:
            begin[a], size[a] = (n - s) // 2, s
        elif n < s:
            pads[a] = [(s - n) // 2, s - n - (s - n) // 2]
    with x.graph.as_default(), x.graph.name_scope(name or "center_crop_or_pad"):
        y = slice_(x, begin, size) if begin != [0] * x.rank or any(
            s != -1 for s in size) else x
        return pad(y, pads) if any(p != [0, 0] for p in pads) else y
