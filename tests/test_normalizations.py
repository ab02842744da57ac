"""gc.nn.rms_normalization, group_normalization, instance_normalization,
local_response_normalization (TF1's lrn) and lp_normalize: forward against numpy written
from each definition, on the interpreter and compiled backends; gradients against finite
differences in float64."""
import numpy as np
import pytest

import graphc as gc
from graphc.ir import DTypeError, ShapeError
from backends import assert_gradients_match_the_interpreter

RNG = np.random.default_rng(17)
X = RNG.standard_normal((2, 3, 4, 6)) * 2 + 0.5             # NHWC, 6 channels
SCALE = RNG.uniform(0.5, 2, 6)
OFFSET = RNG.standard_normal(6)


def _np_group_norm(x, groups, eps):
    out = np.empty_like(x)
    size = x.shape[-1] // groups
    for n in range(x.shape[0]):
        for g in range(groups):
            part = x[n, ..., g * size:(g + 1) * size]
            out[n, ..., g * size:(g + 1) * size] = (part - part.mean()) / np.sqrt(
                part.var() + eps)
    return out


def _np_lrn(x, before, after, bias, alpha, beta):
    out = np.empty_like(x)
    c = x.shape[-1]
    for ch in range(c):
        window = x[..., max(0, ch - before):min(c, ch + after + 1)]
        out[..., ch] = x[..., ch] / (bias + alpha * (window ** 2).sum(-1)) ** beta
    return out


def _cases(x):
    nchw = gc.transpose(x, (0, 3, 1, 2))
    return {
        "rms_last": (gc.nn.rms_normalization(x, SCALE, epsilon=1e-3),
                     X / np.sqrt((X ** 2).mean(-1, keepdims=True) + 1e-3) * SCALE),
        "rms_from_axis_1": (gc.nn.rms_normalization(x, begin_axis=1),
                            X / np.sqrt((X ** 2).mean((1, 2, 3), keepdims=True) + 1e-5)),
        "group_norm": (gc.nn.group_normalization(x, 3, SCALE, OFFSET, epsilon=1e-4),
                       _np_group_norm(X, 3, 1e-4) * SCALE + OFFSET),
        "group_norm_nchw": (gc.nn.group_normalization(nchw, 2, channels_axis=1),
                            _np_group_norm(X, 2, 1e-5).transpose(0, 3, 1, 2)),
        "instance_norm": (gc.nn.instance_normalization(x, SCALE, OFFSET),
                          _np_group_norm(X, 6, 1e-5) * SCALE + OFFSET),
        "lrn_tf1": (gc.nn.local_response_normalization(x, 2, bias=1.5, alpha=0.3, beta=0.75),
                    _np_lrn(X, 2, 2, 1.5, 0.3, 0.75)),
        "lrn_uneven": (gc.nn.lrn(x, (0, 1)), _np_lrn(X, 0, 1, 1.0, 1.0, 0.5)),
        "l2": (gc.nn.lp_normalize(x), X / np.linalg.norm(X, axis=-1, keepdims=True)),
        "l1_axis_1": (gc.nn.lp_normalize(x, 1, axis=1),
                      X / np.abs(X).sum(1, keepdims=True)),
        "l3": (gc.nn.lp_normalize(x, 3),
               X / ((np.abs(X) ** 3).sum(-1, keepdims=True)) ** (1 / 3)),
        "zero_stays_zero": (gc.nn.lp_normalize(x * 0.0, 1), np.zeros_like(X)),
    }


@pytest.mark.parametrize("backend", ["numpy", "llvm", "c"])
def test_normalizations_match_numpy(backend):
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (None,) + X.shape[1:])
        cases = _cases(x)
    got = gc.Session(graph, backend=backend).run({k: t for k, (t, _) in cases.items()},
                                                 {x: X})
    for key, (_, want) in cases.items():
        np.testing.assert_allclose(got[key], want, rtol=1e-12, atol=1e-12, err_msg=key)


GRADIENT_CASES = {
    "rms": lambda x, s, o: gc.nn.rms_normalization(x, s, epsilon=1e-3),
    "group": lambda x, s, o: gc.nn.group_normalization(x, 2, s, o),
    "instance": lambda x, s, o: gc.nn.instance_normalization(x, s, o),
    "lrn": lambda x, s, o: gc.nn.lrn(x * s, 1, bias=1.0, alpha=0.5, beta=0.75),
    "lp": lambda x, s, o: gc.nn.lp_normalize(x, 1) + gc.nn.lp_normalize(x * s, 2)
    + gc.nn.lp_normalize(x + o, 3, axis=1),
}


def _gradient_inputs(name):
    rng = np.random.default_rng(len(name))
    x = rng.uniform(0.2, 1.5, (2, 3, 4)) * rng.choice([-1.0, 1.0], (2, 3, 4))
    return [x, rng.uniform(0.5, 2, 4), rng.standard_normal(4)]


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradient_matches_finite_differences(name):
    values = _gradient_inputs(name)
    assert_gradients_match_the_interpreter(GRADIENT_CASES, "llvm", values, square=True)


def test_bad_inputs_are_refused(graph):
    x = gc.placeholder(gc.float32, (2, 4, 6))
    with pytest.raises(ShapeError, match="split into 4 groups"):
        gc.nn.group_normalization(x, 4)
    with pytest.raises(DTypeError, match="rms_normalization input must be float"):
        gc.nn.rms_normalization(gc.placeholder(gc.int32, (3,)))
    with pytest.raises(ValueError, match="p must be positive"):
        gc.nn.lp_normalize(x, 0)
