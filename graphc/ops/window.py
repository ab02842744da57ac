"""Sliding-window geometry shared by convolution and pooling (NHWC).

One place decides what a padding spelling means, how big the output is and when a
configuration is refused, so conv2d, its two backprop ops and both poolings agree:

    out = floor((N + P_total − F_eff) / S) + 1,   F_eff = (F − 1)·D + 1

(TF1 and PyTorch round down; `strict=True` refuses a remainder instead, as the
lecture's 7x7 input, 3x3 filter, stride 3 "doesn't fit!"). "SAME" pads so that
out = ceil(N / S), the extra row or column going at the bottom / right (TF1).

The array helpers enumerate the KH·KW window offsets as strided slices of the padded
input, so every reference is a short loop of whole-array numpy operations.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from ..ir.errors import InferError, shape_error

AXES = ("height", "width")


def as_pair(value, what: str, minimum: int = 1) -> tuple[int, int]:
    """An int, an (h, w) pair, or TF's 4-entry NHWC spelling (1, h, w, 1) as (h, w)."""
    if isinstance(value, int | np.integer):
        pair = (int(value), int(value))
    else:
        items = tuple(int(v) for v in value)
        if len(items) == 4 and items[0] == 1 and items[3] == 1:
            items = items[1:3]
        if len(items) != 2:
            raise ValueError(f"{what} must be an int, an (h, w) pair or (1, h, w, 1); "
                             f"got {value!r}")
        pair = items
    if min(pair) < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value!r}")
    return pair


def as_triple(value, what: str) -> tuple[int, int, int]:
    """An int, (d, h, w) or TF's NDHWC spelling (1, d, h, w, 1)."""
    if isinstance(value, int | np.integer):
        return (int(value),) * 3
    items = tuple(int(v) for v in value)
    if len(items) == 5 and items[0] == 1 and items[4] == 1:
        items = items[1:4]
    if len(items) != 3 or min(items) < 1:
        raise ValueError(f"{what} must be a positive int, (d, h, w) or (1, d, h, w, 1); "
                         f"got {value!r}")
    return items


def split_depth_padding(padding):
    """3-D padding: "SAME" / "VALID", an int, or explicit (before, after) pairs for
    depth, height, width (TF's 5x2 NDHWC list too) -> (the depth's: the string or one
    pair, the (height, width) padding as the 2-D ops take it)."""
    if isinstance(padding, str):
        upper = normalize_padding(padding)
        return upper, upper
    if isinstance(padding, int | np.integer):
        padding = [(int(padding),) * 2] * 3
    items = [tuple(p) if not isinstance(p, int | np.integer) else (int(p), int(p))
             for p in padding]
    if len(items) == 5:
        if items[0] != (0, 0) or items[4] != (0, 0):
            raise ValueError(f"padding {padding!r}: the batch and channel axes cannot be "
                             "padded")
        items = items[1:4]
    if len(items) != 3:
        raise ValueError(f"padding {padding!r}: give one (before, after) pair per spatial "
                         "axis (depth, height, width)")
    return items[0], (items[1], items[2])


def normalize_padding(padding):
    """"SAME" / "VALID" (any case), an int, an (h, w) pair, per-side pairs
    ((top, bottom), (left, right)), or TF's 4x2 NHWC list -> "SAME", "VALID" or
    ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        upper = padding.upper()
        if upper not in ("SAME", "VALID"):
            raise ValueError(f"padding must be 'SAME', 'VALID', an int or per-side pairs; "
                             f"got {padding!r}")
        return upper
    if isinstance(padding, int | np.integer):
        sides = ((int(padding),) * 2,) * 2
    else:
        items = tuple(padding)
        if len(items) == 4:      # [[0, 0], [top, bottom], [left, right], [0, 0]]
            if tuple(items[0]) != (0, 0) or tuple(items[3]) != (0, 0):
                raise ValueError(f"padding {padding!r}: the batch and channel axes cannot "
                                 "be padded")
            items = items[1:3]
        if len(items) != 2:
            raise ValueError(f"padding {padding!r}: give (pad_h, pad_w) or "
                             "((top, bottom), (left, right))")
        sides = tuple(_side_pair(p) for p in items)
    if min(min(s) for s in sides) < 0:
        raise ValueError(f"padding must not be negative, got {padding!r}")
    return sides


def _side_pair(p) -> tuple[int, int]:
    if isinstance(p, int | np.integer):
        return (int(p), int(p))
    before, after = p
    return (int(before), int(after))


def effective_size(k: int, dilation: int) -> int:
    """Span of a dilated filter: F_eff = (F − 1)·D + 1."""
    return (k - 1) * dilation + 1


def resolve_padding(padding, in_size: int, k_eff: int, stride: int, axis: int):
    """(before, after) padding along one spatial axis for a known input size."""
    if padding == "VALID":
        return (0, 0)
    if padding == "SAME":
        out = -(-in_size // stride)
        total = max((out - 1) * stride + k_eff - in_size, 0)
        return (total // 2, total - total // 2)
    return padding[axis]


def output_size(in_size, k: int, stride: int, dilation: int, padding, axis: int,
                strict: bool, kind: str = "filter") -> int | None:
    """One spatial output size (None when the input size is unknown); raises a shape
    error naming every size when the window does not fit or, with strict, does not tile."""
    if in_size is None:
        return None
    k_eff = effective_size(k, dilation)
    before, after = resolve_padding(padding, in_size, k_eff, stride, axis)
    span = in_size + before + after - k_eff
    name = AXES[axis]
    filt = f"{kind} {name} {k}" + (f" (dilated to {k_eff})" if dilation > 1 else "")
    if span < 0:
        raise shape_error(f"{filt} is larger than the padded input {name} "
                          f"{in_size} + {before + after} = {in_size + before + after}")
    if strict and span % stride:
        raise shape_error(
            f"input {name} {in_size}, {filt}, stride {stride}, padding "
            f"{before}+{after} does not tile: ({in_size} - {k_eff} + {before + after}) / "
            f"{stride} + 1 = {span / stride + 1:.2f} is not an integer (strict=True; change "
            "the padding or the stride)")
    return span // stride + 1


def output_hw(in_hw, ksize, strides, dilations, padding, strict, kind="filter") -> tuple:
    return tuple(output_size(in_hw[i], ksize[i], strides[i], dilations[i], padding, i,
                             strict, kind) for i in range(2))


def check_pool_padding(padding, ksize, dilations=(1, 1)) -> None:
    """Explicit pooling pads smaller than the (dilated) window keep a real element in
    every window (a window of padding alone has no maximum and no average)."""
    if isinstance(padding, str):
        return
    for axis, (sides, k, d) in enumerate(zip(padding, ksize, dilations)):
        if max(sides) >= effective_size(k, d):
            raise shape_error(f"padding {sides[0]}+{sides[1]} along {AXES[axis]} must "
                              f"be smaller than the window size {effective_size(k, d)}")


def format_spatial(strides, padding, dilations=(1, 1)) -> dict:
    """Attrs as the IR printer shows them (dilations only when not 1)."""
    shown = {"strides": strides, "padding": padding}
    if tuple(dilations) != (1, 1):
        shown["dilations"] = dilations
    return shown


# -- run-time helpers (references) --------------------------------------------------------
class Geometry:
    """Concrete window geometry of one run: pads, padded size and output size."""

    def __init__(self, in_hw, ksize, strides, dilations, padding, strict=False,
                 kind="filter"):
        try:
            self.out_hw = output_hw(in_hw, ksize, strides, dilations, padding, strict,
                                    kind)
        except InferError as err:   # raised while running: the interpreter reports it
            raise ValueError(str(err)) from None
        self.in_hw = tuple(in_hw)
        self.ksize, self.strides, self.dilations = ksize, strides, dilations
        self.pads = tuple(resolve_padding(padding, in_hw[i],
                                          effective_size(ksize[i], dilations[i]),
                                          strides[i], i) for i in range(2))

    def pad(self, x: np.ndarray, value=0) -> np.ndarray:
        if not any(any(p) for p in self.pads):
            return x
        return np.pad(x, ((0, 0), self.pads[0], self.pads[1], (0, 0)), constant_values=value)

    def padded_zeros(self, n: int, channels: int, dtype) -> np.ndarray:
        h = self.in_hw[0] + sum(self.pads[0])
        w = self.in_hw[1] + sum(self.pads[1])
        return np.zeros((n, h, w, channels), dtype=dtype)

    def crop(self, xp: np.ndarray) -> np.ndarray:
        (top, _), (left, _) = self.pads
        return xp[:, top:top + self.in_hw[0], left:left + self.in_hw[1], :]

    def windows(self) -> Iterator[tuple[int, tuple]]:
        """(k, index) per window offset (a, b) in row-major order, k = a·KW + b; the
        index picks, from the padded input, the element at offset (a, b) of every window."""
        (oh, ow), (sh, sw), (dh, dw) = self.out_hw, self.strides, self.dilations
        for a in range(self.ksize[0]):
            rows = slice(a * dh, a * dh + (oh - 1) * sh + 1, sh)
            for b in range(self.ksize[1]):
                cols = slice(b * dw, b * dw + (ow - 1) * sw + 1, sw)
                yield a * self.ksize[1] + b, (slice(None), rows, cols, slice(None))
