"""Moving image data between space and channels, centring it in a new size, and
folding patch columns back into an image: TF1's space_to_depth / depth_to_space
(reshape + transpose), resize_image_with_crop_or_pad (slice + pad), and col2im (a
scatter_nd with constant positions), in forms general enough for ONNX."""
from __future__ import annotations

import numpy as np

from ..ir import Node, ShapeError
from .array_composites import scatter_nd
from .base import as_tensor, normalize_axis
from .indexing import pad, slice as slice_
from .shape import reshape, transpose
from .state import constant

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


def _per_axis(value, k: int, what: str) -> list[int]:
    values = [int(value)] * k if isinstance(value, int | np.integer) else \
        [int(v) for v in value]
    if len(values) != k:
        raise ValueError(f"col2im: {what} needs {k} values, got {values}")
    return values


def col2im(columns, image_shape, block_shape, strides=1, dilations=1, pads=0,
           name=None) -> Node:
    """The adjoint of extracting sliding blocks (PyTorch's fold, ONNX's Col2Im):
    columns (N, C·Π block_shape, L) hold one block per column, the L blocks sliding
    over the (padded) image in row-major order; each value is added at its pixel of
    the image (N, C, *image_shape), overlapping blocks summing. pads: an int or one
    (begin, end) pair per axis."""
    x = as_tensor(columns)
    image_shape = [int(d) for d in image_shape]
    block = [int(d) for d in block_shape]
    k = len(image_shape)
    strides = _per_axis(strides, k, "strides")
    dilations = _per_axis(dilations, k, "dilations")
    pads = [(int(pads), int(pads))] * k if isinstance(pads, int | np.integer) else \
        [(int(a), int(b)) for a, b in pads]
    if len(block) != k or len(pads) != k:
        raise ValueError(f"col2im: block_shape {block} and pads {pads} need {k} axes")
    counts = [(n + a + b - d * (kk - 1) - 1) // s + 1
              for n, (a, b), kk, s, d in zip(image_shape, pads, block, strides, dilations)]
    size = int(np.prod(block))
    if x.rank != 3 or None in x.shape or x.shape[1] % size or \
            x.shape[2] != int(np.prod(counts)):
        raise ShapeError(f"col2im: columns '{x.name}' {x.type} must be (N, C·{size}, "
                         f"{int(np.prod(counts))}) for image {image_shape}, blocks {block}")
    n, c = x.shape[0], x.shape[1] // size
    # the image pixel each (block offset, block number) lands on; padding → one past
    offset = np.stack(np.meshgrid(*[np.arange(b) * d for b, d in zip(block, dilations)],
                                  indexing="ij"), -1).reshape(-1, 1, k)
    start = np.stack(np.meshgrid(*[np.arange(m) * s for m, s in zip(counts, strides)],
                                 indexing="ij"), -1).reshape(1, -1, k)
    pixel = offset + start - np.array([a for a, _ in pads])
    inside = ((pixel >= 0) & (pixel < image_shape)).all(-1)
    flat = np.ravel_multi_index(tuple(np.moveaxis(np.where(inside[..., None], pixel, 0),
                                                  -1, 0)), image_shape)
    total = int(np.prod(image_shape))
    flat = np.where(inside, flat, total)
    with x.graph.as_default(), x.graph.name_scope(name or "col2im"):
        parts = transpose(reshape(x, (n, c, size, -1)), (2, 3, 0, 1))   # (K, L, N, C)
        image = scatter_nd(constant(flat[..., None].astype(np.int32)), parts,
                           (total + 1, n, c))
        image = transpose(slice_(image, [0, 0, 0], [total, -1, -1]), (1, 2, 0))
        return reshape(image, [n, c] + image_shape)
