"""Counter-based random numbers: element i of a draw is a hash of (stream key, i).

Every backend computes the same bits — numpy here, generated code elsewhere — because a
draw needs no sequential generator state: the key of a draw mixes the op's seed, its
stream name and how many times it has drawn before; element i hashes key + i·φ with
the splitmix64 finaliser. Uniforms take the top 24 (float32) or 53 (float64) bits.
"""
from __future__ import annotations

import zlib

import numpy as np

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15           # φ · 2⁶⁴, the splitmix64 increment
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
MANTISSA = {np.dtype(np.float32): 24, np.dtype(np.float64): 53}


def mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on uint64 arrays (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
    return z ^ (z >> np.uint64(31))


def stream_key(seed: int | None, stream: str, count: int) -> int:
    """The 64-bit key of draw number `count` of a stream (an unsigned Python int)."""
    z = np.array([((seed or 0) * GOLDEN + zlib.crc32(stream.encode()) * MIX1 + count * MIX2)
                  & MASK64], dtype=np.uint64)
    return int(mix64(z)[0])


def uniform(key: int, shape, dtype) -> np.ndarray:
    """Uniform numbers in [0, 1) for every element of `shape`."""
    n = int(np.prod(shape, dtype=np.int64))
    with np.errstate(over="ignore"):
        bits = mix64(np.uint64(key) + np.arange(n, dtype=np.uint64) * np.uint64(GOLDEN))
    keep = MANTISSA[np.dtype(dtype)]
    scaled = (bits >> np.uint64(64 - keep)).astype(dtype) * dtype(2.0 ** -keep)
    return scaled.reshape(shape)


def as_signed(value: int) -> int:
    """A 64-bit pattern as the signed integer code generators store."""
    value &= MASK64
    return value - (1 << 64) if value >> 63 else value


def uniform_expr(b, key, position, dtype):
    """`uniform`'s element at `position` (an int64 loop-IR index) from a draw's `key` (an
    int64 loop-IR value), in loop IR: what compiled code computes. `b` is the builder."""
    z = b.add(key, b.mul(position, b.index(as_signed(GOLDEN))))
    for shift, factor in ((30, MIX1), (27, MIX2)):      # splitmix64's finaliser
        z = b.binary("mul", b.binary("xor", z, b.binary("shr", z, b.index(shift))),
                     b.index(as_signed(factor)))
    bits = b.binary("xor", z, b.binary("shr", z, b.index(31)))
    kept = MANTISSA[np.dtype(dtype.np_type)]
    return b.binary("mul", b.cast(b.binary("shr", bits, b.index(64 - kept)), dtype),
                    b.const(2.0 ** -kept, dtype))
