"""TF1's random tensors: random_uniform, random_normal, truncated_normal.

One primitive draws: `random_uniform`, uniforms in [0, 1) from the counter-based bits of
random_bits.py, so every backend draws the same numbers. Like dropout's mask it is
stateful — a new draw every run, the sequence fixed by (seed, node name, run count) — or
`stateless`, the same numbers in every run. Normals are the inverse normal CDF
(Wichura's AS241, accurate to about 1e-16) of float64 uniforms moved off 0 by half a
step; the truncated normal maps its uniforms into [Φ(−2), Φ(2)] first, which gives the
same distribution as TF1's redraws of values beyond two standard deviations (not the
same numbers).
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Fusion, Node, OpDef, TensorType, as_dtype, float32, float64, int64, register
from ..ir.errors import dtype_error, shape_error
from .base import apply
from .elementwise import abs, cast, floor, less, less_equal, log, minimum, sqrt, where
from .nn_extra import dropout_key
from .random_bits import MANTISSA, uniform, uniform_expr
from .state import identity


class RandomUniform(OpDef):
    """Uniforms in [0, 1) of a static shape (the bits of random_bits.uniform)."""

    name = "random_uniform"
    stateful = True
    random = True
    num_inputs = 0
    fusion = Fusion.ELEMWISE

    def infer(self, inputs, attrs):
        if not attrs["dtype"].is_floating:
            raise dtype_error(f"random_uniform draws floats, not {attrs['dtype'].name}")
        if any(d is None or d < 0 for d in attrs["shape"]):
            raise shape_error(f"random ops need a fully known shape, got {attrs['shape']}")
        return TensorType(attrs["dtype"], attrs["shape"])

    def element(self, b, vb, node, index):
        key = b.load(vb.rng_keys[node], b.index(0), int64)
        position = b.linear_index(index, b.row_major_strides(node.shape))
        return uniform_expr(b, key, position, node.dtype)

    def evaluate(self, node, values, ctx):
        key = dropout_key(node, None if node.attrs["stateless"] else ctx.draw_count(node))
        return uniform(key, node.attrs["shape"], node.dtype.np_type)

    def grad(self, node, gy):
        return []


register(RandomUniform())


def _uniforms(shape, dtype, seed, name) -> Node:
    shape = (int(shape),) if isinstance(shape, int | np.integer) else \
        tuple(int(d) for d in shape)
    return apply("random_uniform", [], name=name, shape=shape, dtype=as_dtype(dtype),
                 seed=None if seed is None else int(seed), stateless=False)


def random_uniform(shape, minval=0, maxval=None, dtype=float32, seed=None,
                   name=None) -> Node:
    """Uniform in [minval, maxval) (maxval 1 for floats; required for integers)."""
    dtype = as_dtype(dtype)
    base = name or "random_uniform"
    if dtype.is_floating:
        u = _uniforms(shape, dtype, seed, base)
        maxval = 1 if maxval is None else maxval
        return identity(u * (maxval - minval) + minval, name=base) \
            if (minval, maxval) != (0, 1) else u
    if maxval is None:
        raise ValueError("random_uniform of an integer dtype needs maxval")
    u = _uniforms(shape, float64, seed, base)
    return cast(floor(u * float(maxval - minval)) + float(minval), dtype, name=base)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=float32, seed=None, name=None) -> Node:
    """Normal with `mean` and `stddev` (numbers or broadcastable tensors of `dtype`)."""
    z = _standard_normal(shape, seed, name or "random_normal", 0.0, 1.0)
    return _scaled(z, mean, stddev, dtype, name or "random_normal")


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=float32, seed=None,
                     name=None) -> Node:
    """Normal conditioned on lying within two standard deviations of the mean."""
    z = _standard_normal(shape, seed, name or "truncated_normal", _PHI_MINUS_2,
                         1.0 - 2 * _PHI_MINUS_2)
    return _scaled(z, mean, stddev, dtype, name or "truncated_normal")


_PHI_MINUS_2 = 0.5 * math.erfc(2 / math.sqrt(2))       # Φ(−2)


def _standard_normal(shape, seed, name, low, width) -> Node:
    """Φ⁻¹ of float64 uniforms in (low, low + width): never 0 or 1."""
    u = _uniforms(shape, float64, seed, name)
    u = (u + 2.0 ** -(MANTISSA[np.dtype(np.float64)] + 1)) * width + low
    return ndtri(u)


def _scaled(z, mean, stddev, dtype, name) -> Node:
    dtype = as_dtype(dtype)
    if not dtype.is_floating:
        raise TypeError(f"normal draws are floats, not {dtype.name}")
    return identity(cast(z, dtype) * stddev + mean, name=name)


# Wichura, "The percentage points of the normal distribution" (AS241, PPND16)
_CENTRAL = ([3.3871328727963666080e0, 1.3314166789178437745e+2, 1.9715909503065514427e+3,
             1.3731693765509461125e+4, 4.5921953931549871457e+4, 6.7265770927008700853e+4,
             3.3430575583588128105e+4, 2.5090809287301226727e+3],
            [1.0, 4.2313330701600911252e+1, 6.8718700749205790830e+2,
             5.3941960214247511077e+3, 2.1213794301586595867e+4, 3.9307895800092710610e+4,
             2.8729085735721942674e+4, 5.2264952788528545610e+3])
_NEAR = ([1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
          3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
          2.27238449892691845833e-2, 7.74545014278341407640e-4],
         [1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
          1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
          1.05075007164441684324e-9])
_FAR = ([6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0,
         2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
         2.71155556874348757815e-5, 2.01033439929228813265e-7],
        [1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
         7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
         2.04426310338993978564e-15])


def _rational(r, coefficients):
    numerator, denominator = (_horner(r, c) for c in coefficients)
    return numerator / denominator


def _horner(r, c):
    acc = r * c[-1] + c[-2]
    for a in reversed(c[:-2]):
        acc = acc * r + a
    return acc


def ndtri(p) -> Node:
    """The inverse of the standard normal CDF for p in (0, 1), elementwise (AS241)."""
    q = p - 0.5
    central = q * _rational(0.180625 - q * q, _CENTRAL)
    r = sqrt(-log(minimum(p, 1.0 - p)))
    tail = where(less(r, 5.0), _rational(r - 1.6, _NEAR), _rational(r - 5.0, _FAR))
    tail = where(less(q, 0.0), -tail, tail)
    return where(less_equal(abs(q), 0.425), central, tail)
