"""Checking fed values against the tensors they feed before any work is done."""
from __future__ import annotations

import numpy as np

from ..ir import FeedError, Graph, GraphMismatchError, Node
from ..ir.types import format_shape, shape_compatible


UNFEEDABLE = ("no_op",)


def resolve_feed_key(graph: Graph, key) -> Node:
    """The tensor a feed key names. Any tensor may be fed (as TF1): its value replaces
    what computes it (runtime/cut.py)."""
    node = graph.get_tensor_by_name(key) if isinstance(key, str) else key
    if not isinstance(node, Node):
        raise FeedError(f"feed key {key!r} is not a tensor or a tensor name")
    if node.graph is not graph:
        raise GraphMismatchError(f"fed tensor '{node.name}' belongs to another graph than the "
                                 "session's")
    if node.op.name in UNFEEDABLE:
        raise FeedError(f"cannot feed {node.describe()}: it computes no value")
    return node


def convert_feed(placeholder: Node, value) -> np.ndarray:
    """The fed value as an array of the placeholder's dtype; safe conversions only."""
    want = placeholder.dtype
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as err:      # a ragged list, an object numpy refuses
        raise FeedError(f"{placeholder.describe()}: the fed value is not an "
                        f"array ({err})") from None
    kind = array.dtype.kind
    ok = (want.is_floating and kind in "fiu") or (want.is_integer and kind in "iu") or \
        (want.is_bool and kind == "b")
    if not ok:
        raise FeedError(f"{placeholder.describe()} is {want.name}; cannot feed a "
                        f"{array.dtype} value")
    if want.is_integer and kind in "iu" and array.size and \
            not np.can_cast(array.dtype, want.np_type, "safe"):
        info = np.iinfo(want.np_type)
        if array.min() < info.min or array.max() > info.max:
            raise FeedError(f"{placeholder.describe()} is {want.name}; fed values "
                            f"range over [{array.min()}, {array.max()}]")
    if not shape_compatible(array.shape, placeholder.shape):
        raise FeedError(f"{placeholder.describe()} has shape "
                        f"({format_shape(placeholder.shape)}); fed a value of shape "
                        f"{array.shape}")
    return np.asarray(array, dtype=want.np_type, order="C")
