"""TF1's initializer spellings (`tf.zeros_initializer()`, `tf.constant_initializer(v)`,
`tf.truncated_normal_initializer(stddev=0.1)`, ...) for get_variable and gc.layers.

Each returns a callable (shape, dtype=None, partition_info=None) -> numpy array, as TF1's
initializer objects are called. Random ones draw with numpy from their seed: TF1's
distributions, not its numbers (truncated normals are redrawn beyond two standard
deviations, as TF1 does).
"""
from __future__ import annotations

import numpy as np

from ..ir import as_dtype
from . import initializers as gc_init


def _initializer(make, default_dtype=None):
    """An initializer object: make(shape, np dtype) -> values, cast to the dtype asked."""
    def init(shape, dtype=None, partition_info=None):
        dtype = as_dtype(dtype or default_dtype or "float32").np_type
        return np.asarray(make(tuple(int(d) for d in shape), dtype), dtype=dtype)
    return init


def zeros_initializer(dtype=None):
    return _initializer(lambda shape, dt: np.zeros(shape, dt), dtype)


def ones_initializer(dtype=None):
    return _initializer(lambda shape, dt: np.ones(shape, dt), dtype)


def constant_initializer(value=0, dtype=None):
    """A scalar fills the shape; an array (or list) must have the shape's size."""
    def make(shape, dt):
        v = np.asarray(value, dtype=dt)
        if v.size == 1:
            return np.full(shape, v.reshape(()), dt)
        if v.size != int(np.prod(shape)):
            raise ValueError(f"constant_initializer: {v.size} values for shape {shape}")
        return v.reshape(shape)
    return _initializer(make, dtype)


def random_normal_initializer(mean=0.0, stddev=1.0, seed=None, dtype=None):
    return _initializer(lambda shape, dt: np.random.default_rng(seed).normal(mean, stddev,
                                                                             shape), dtype)


def truncated_normal_initializer(mean=0.0, stddev=1.0, seed=None, dtype=None):
    def make(shape, dt):
        rng = np.random.default_rng(seed)
        z = rng.standard_normal(shape)
        while np.any(far := np.abs(z) > 2):
            z[far] = rng.standard_normal(int(far.sum()))
        return mean + stddev * z
    return _initializer(make, dtype)


def random_uniform_initializer(minval=0.0, maxval=None, seed=None, dtype=None):
    high = 1.0 if maxval is None else maxval
    return _initializer(lambda shape, dt: np.random.default_rng(seed).uniform(minval, high,
                                                                              shape), dtype)


def glorot_uniform_initializer(seed=None, dtype=None):
    return _initializer(lambda shape, dt: gc_init.glorot_uniform(shape, seed, dt), dtype)


def glorot_normal_initializer(seed=None, dtype=None):
    return _initializer(lambda shape, dt: gc_init.glorot_normal(shape, seed, dt), dtype)


__all__ = ["constant_initializer", "glorot_normal_initializer", "glorot_uniform_initializer",
           "ones_initializer", "random_normal_initializer", "random_uniform_initializer",
           "truncated_normal_initializer", "zeros_initializer"]
