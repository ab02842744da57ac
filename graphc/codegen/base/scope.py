"""The values a renderer has already built for loop-IR expressions, block by block.

A value built in a block is valid in every block nested inside (it dominates them), so
a lookup goes outwards. A store to a buffer (or a routine writing it) forgets every
value that read that buffer, loads inside larger expressions included; values that read
an accumulator are never cached by the renderers (the accumulator changes)."""
from __future__ import annotations

import functools

from ...lower.access import walk
from ...lower.loopir import Load


@functools.lru_cache(maxsize=1 << 16)
def buffers_read(e) -> frozenset:
    """The buffers expression `e` loads from."""
    return frozenset(x.buffer for x in walk([e]) if isinstance(x, Load))


class ExpressionCache:
    def __init__(self, parent: "ExpressionCache | None" = None):
        self.parent = parent
        self.values: dict = {}

    def get(self, key):
        cache = self
        while cache is not None:
            if key in cache.values:
                return cache.values[key]
            cache = cache.parent
        return None

    def put(self, key, value) -> None:
        self.values[key] = value

    def forget_loads(self, buffer: str) -> None:
        cache = self
        while cache is not None:
            for key in [k for k in cache.values if buffer in buffers_read(k)]:
                del cache.values[key]
            cache = cache.parent
