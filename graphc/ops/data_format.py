"""Image layouts: NHWC ops applied to NCHW tensors through a transpose on each side.

graphc's convolutions and poolings are NHWC. NCHW inputs (TF1's data_format="NCHW",
tf.layers' "channels_first") are transposed in and the result back; between two such
layers the simplifier cancels the inner transpose pair.
"""
from __future__ import annotations

from ..ir import Node
from .base import as_tensor
from .shape import transpose

TO_NHWC, TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)
_LAYER_FORMATS = {"channels_last": "NHWC", "channels_first": "NCHW"}


def in_nhwc(fn, x, data_format, name) -> Node:
    """fn(x, name) applied to NHWC x; an NCHW x is transposed in and the result back."""
    data_format = check(data_format)
    if data_format == "NHWC":
        return fn(as_tensor(x), name)
    return transpose(fn(transpose(as_tensor(x), TO_NHWC), None), TO_NCHW, name=name)


def check(data_format) -> str:
    """"NHWC" or "NCHW" (None: NHWC); tf.layers' "channels_last" / "channels_first" too."""
    data_format = _LAYER_FORMATS.get(data_format, data_format or "NHWC")
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"data_format must be 'NHWC' or 'NCHW' ('channels_last' or "
                         f"'channels_first'), got {data_format!r}")
    return data_format


def spatial(value, data_format):
    """An NCHW (1, 1, h, w) window, stride or dilation as (h, w); anything else as given."""
    if check(data_format) == "NCHW" and isinstance(value, list | tuple) and len(value) == 4:
        return tuple(value[2:])
    return value


def channel_axis(data_format) -> int:
    return 1 if check(data_format) == "NCHW" else 3
