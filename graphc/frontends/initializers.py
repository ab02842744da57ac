"""Initial values for variables (`gc.init`): numpy arrays, reproducible from a seed.

fan_in / fan_out follow TF1: for a dense (in, out) matrix they are in and out; for an
HWIO convolution filter, H·W·I and H·W·O.
"""
from __future__ import annotations

import numpy as np

from ..ir import as_dtype, float32


def _fans(shape) -> tuple[int, int]:
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def _rng(seed):
    return np.random.default_rng(seed)


def _cast(values, dtype):
    return np.asarray(values, dtype=as_dtype(dtype).np_type)


def zeros(shape, dtype=float32) -> np.ndarray:
    return np.zeros(shape, dtype=as_dtype(dtype).np_type)


def ones(shape, dtype=float32) -> np.ndarray:
    return np.ones(shape, dtype=as_dtype(dtype).np_type)


def constant(shape, value, dtype=float32) -> np.ndarray:
    return np.full(shape, value, dtype=as_dtype(dtype).np_type)


def gaussian(shape, std=0.001, mean=0.0, seed=None, dtype=float32) -> np.ndarray:
    """N(mean, std²); the lecture's small-random default std is 0.001."""
    return _cast(_rng(seed).normal(mean, std, size=shape), dtype)


def uniform(shape, low=-0.05, high=0.05, seed=None, dtype=float32) -> np.ndarray:
    return _cast(_rng(seed).uniform(low, high, size=shape), dtype)


def glorot_uniform(shape, seed=None, dtype=float32) -> np.ndarray:
    """Xavier/Glorot: U(±√(6 / (fan_in + fan_out)))."""
    fan_in, fan_out = _fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return uniform(shape, -limit, limit, seed, dtype)


def glorot_normal(shape, seed=None, dtype=float32) -> np.ndarray:
    """Xavier/Glorot: N(0, 2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    return gaussian(shape, np.sqrt(2.0 / (fan_in + fan_out)), seed=seed, dtype=dtype)


def he_normal(shape, seed=None, dtype=float32) -> np.ndarray:
    """He et al. for ReLU nets: N(0, 2 / fan_in)."""
    fan_in, _ = _fans(shape)
    return gaussian(shape, np.sqrt(2.0 / fan_in), seed=seed, dtype=dtype)


def he_uniform(shape, seed=None, dtype=float32) -> np.ndarray:
    """He et al.: U(±√(6 / fan_in))."""
    fan_in, _ = _fans(shape)
    limit = np.sqrt(6.0 / fan_in)
    return uniform(shape, -limit, limit, seed, dtype)


xavier_uniform = glorot_uniform
xavier_normal = glorot_normal
