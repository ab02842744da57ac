"""The inverse trigonometric and hyperbolic ops, is_nan / is_inf, gc.bitwise, bitcast,
cumprod, eye, the scatters, the extra activations, hardmax, lp_pool2d, gc.linalg.det and
gc.signal: forward against numpy's definitions on every backend (one program each),
gradients against finite differences (float64), compiled gradients against the
interpreter."""

import numpy as np
import pytest

import graphc as gc
from graphc.ops import activations as act
from graphc.ops.lp_pool import lp_pool2d
from backends import (ALL, COMPILED, assert_gradient_matches_finite_differences,
                      assert_gradients_match_the_interpreter)

RNG = np.random.default_rng(7)
X = RNG.standard_normal((3, 4)) * 2
U = RNG.uniform(-0.95, 0.95, (3, 4))
XI = np.array([[7, -8, 0, 5], [-3, 1 << 30, 9, -1], [2, 0, -6, 123]], np.int32)
SHIFTS = np.array([1, 31, 32, -1], np.int32)
IMAGES = RNG.standard_normal((2, 5, 6, 3))


def _shifted(x, s, left):
    """numpy shifts with graphc's rule: amounts outside [0, 32) shift every bit out."""
    inside = (s >= 0) & (s < 32)
    safe = np.where(inside, s, 0)
    shifted = np.left_shift(x, safe) if left else np.right_shift(x, safe)
    return np.where(inside, shifted, 0 if left else np.where(x < 0, -1, 0))


def _lp_pool(x, p, k, s):
    out_h, out_w = (x.shape[1] - k) // s + 1, (x.shape[2] - k) // s + 1
    out = np.zeros((x.shape[0], out_h, out_w, x.shape[3]))
    for i in range(out_h):
        for j in range(out_w):
            window = np.abs(x[:, i * s:i * s + k, j * s:j * s + k, :]) ** p
            out[:, i, j, :] = window.sum((1, 2)) ** (1 / p)
    return out


def _forward(x, u, xi, images):
    scatter_rows = np.array([[2, 1], [0, 3], [2, 1]])
    updates = np.array([10.0, -20.0, 30.0])
    scattered = X.copy()
    for (i, j), v in zip(scatter_rows, updates):
        scattered[i, j] = v                 # the last of the repeated [2, 1] wins
    added = X.copy()
    np.add.at(added, (scatter_rows[:, 0], scatter_rows[:, 1]), updates)
    maxed = X.copy()
    np.maximum.at(maxed, (scatter_rows[:, 0], scatter_rows[:, 1]), updates * 0.01)
    spectrum = np.fft.fft(X + 1j * U, axis=1)
    frames = np.stack([X[:, 0:2], X[:, 1:3], X[:, 2:4]], 1)
    cases = {
        "tan": (gc.tan(u), np.tan(U)),
        "asin": (gc.asin(u), np.arcsin(U)),
        "acos": (gc.acos(u), np.arccos(U)),
        "atan": (gc.atan(x * 10.0), np.arctan(X * 10)),
        "sinh": (gc.sinh(x), np.sinh(X)),
        "cosh": (gc.cosh(x), np.cosh(X)),
        "asinh": (gc.asinh(x * 100.0), np.arcsinh(X * 100)),
        "acosh": (gc.acosh(gc.abs(x) + 1.0), np.arccosh(np.abs(X) + 1)),
        "atanh": (gc.atanh(u), np.arctanh(U)),
        "is_nan": (gc.is_nan(gc.log(x)), np.isnan(np.log(np.where(X < 0, np.nan, X)))),
        "is_inf": (gc.is_inf(1.0 / gc.floor(u)), np.isinf(1 / np.floor(U))),
        "bitwise_and": (gc.bitwise.bitwise_and(xi, 6), XI & 6),
        "bitwise_or": (gc.bitwise.bitwise_or(xi, gc.constant(SHIFTS)), XI | SHIFTS),
        "bitwise_xor": (gc.bitwise.bitwise_xor(xi, -3), XI ^ -3),
        "invert": (gc.bitwise.invert(xi), ~XI),
        "left_shift": (gc.bitwise.left_shift(xi, gc.constant(SHIFTS)),
                       _shifted(XI, SHIFTS, True)),
        "right_shift": (gc.bitwise.right_shift(xi, gc.constant(SHIFTS)),
                        _shifted(XI, SHIFTS, False)),
        "bitcast": (gc.bitcast(x, gc.int64), X.view(np.int64)),
        "bitcast_back": (gc.bitcast(gc.bitcast(x, gc.int64) + 1, gc.float64),
                         (X.view(np.int64) + 1).view(np.float64)),
        "cumprod": (gc.cumprod(x, 1), np.cumprod(X, 1)),
        "cumprod_excl_rev": (gc.cumprod(x, 0, exclusive=True, reverse=True),
                             np.cumprod(np.concatenate([X[1:], np.ones((1, 4))])[::-1],
                                        0)[::-1]),
        "eye": (gc.eye(3, 4, k=-1, dtype=gc.int32), np.eye(3, 4, -1)),
        "eye_batch": (gc.eye(2, batch_shape=[3]), np.broadcast_to(np.eye(2), (3, 2, 2))),
        "scatter_update": (gc.tensor_scatter_nd_update(x, scatter_rows, updates), scattered),
        "scatter_add": (gc.tensor_scatter_nd_add(x, scatter_rows, updates), added),
        "scatter_max": (gc.tensor_scatter_nd_max(x, scatter_rows, updates * 0.01), maxed),
        "scatter_sub_rows": (gc.tensor_scatter_nd_sub(x, [[1]], [[1.0, 2.0, 3.0, 4.0]]),
                             X - np.array([[0, 0, 0, 0], [1, 2, 3, 4], [0, 0, 0, 0]])),
        "scatter_nd": (gc.scatter_nd([[1], [1], [3]], [5, 6, 7], [4]), [0, 11, 0, 7]),
        "mish": (act.mish(x), X * np.tanh(np.log1p(np.exp(X)))),
        "hard_swish": (act.hard_swish(x), X * np.clip(X + 3, 0, 6) / 6),
        "celu": (act.celu(x, 0.5), np.where(X > 0, X, 0.5 * np.expm1(X / 0.5))),
        "thresholded_relu": (act.thresholded_relu(x, 0.7), np.where(X > 0.7, X, 0)),
        "hardmax": (act.hardmax(x, 0), (X == X.max(0)).astype(float)),
        "lp_pool2d": (lp_pool2d(images, 3, 2, 1), _lp_pool(IMAGES, 3, 2, 1)),
        "lp_pool2d_l2": (lp_pool2d(images, 2, 3, 2), _lp_pool(IMAGES, 2, 3, 2)),
        "det": (gc.linalg.det(gc.reshape(x[:, :3], (3, 3))), np.linalg.det(X[:, :3])),
        "hann": (gc.signal.hann_window(5, dtype=gc.float64),
                 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(5) / 5)),
        "hamming_symmetric": (gc.signal.hamming_window(5, periodic=False, dtype=gc.float64),
                              np.hamming(5)),
        "blackman_symmetric": (gc.signal.blackman_window(6, False, gc.float64),
                               np.blackman(6)),
        "frame": (gc.signal.frame(x, 2, 1), frames),
        "dft_real": (gc.signal.dft(x, u, axis=1)[0], spectrum.real),
        "dft_imag": (gc.signal.dft(x, u, axis=1)[1], spectrum.imag),
        "rfft_real": (gc.signal.rfft(x, 6)[0], np.fft.rfft(X, 6).real),
        "irfft": (gc.signal.irfft(x, u, 5), np.fft.irfft(X + 1j * U, 5)),
        "stft_imag": (gc.signal.stft(x, 2, 1, fft_length=4, window_fn=None)[1],
                      np.fft.rfft(frames, 4).imag),
    }
    return {k: t for k, (t, _) in cases.items()}, {k: np.asarray(w) for k, (_, w) in cases.items()}


@pytest.mark.parametrize("backend", ALL)
def test_forward_matches_numpy(backend):
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (3, 4), name="x")
        u = gc.placeholder(gc.float64, (3, 4), name="u")
        xi = gc.placeholder(gc.int32, (3, 4), name="xi")
        images = gc.placeholder(gc.float64, IMAGES.shape, name="images")
        with np.errstate(all="ignore"):
            fetches, expected = _forward(x, u, xi, images)
    with np.errstate(all="ignore"):
        got = gc.Session(graph, backend=backend).run(
            fetches, {x: X, u: U, xi: XI, images: IMAGES})
    for key, want in expected.items():
        assert np.shape(got[key]) == want.shape, key
        if want.dtype.kind in "iub":
            np.testing.assert_array_equal(got[key], want, err_msg=key)
        else:
            np.testing.assert_allclose(got[key], want, rtol=1e-12, atol=1e-12, err_msg=key)


def test_functions_over_wide_ranges_and_in_float32():
    """The loop IR's compositions where they are hardest: the ends of their domains,
    tiny and huge arguments, infinities, NaN; float32 rounded once."""
    wide = {
        "tan": np.concatenate([np.linspace(-1.5, 1.5, 301), [0.0, 1e-9, 100.0, -1e4]]),
        "asin": np.concatenate([np.linspace(-1, 1, 301), [1e-12, 1 - 1e-9, 1.5, np.nan]]),
        "acos": np.concatenate([np.linspace(-1, 1, 301), [1e-12, 1 - 1e-9, -2.0]]),
        "atan": np.concatenate([np.linspace(-50, 50, 301), [1e-300, 1e300, -np.inf, np.inf]]),
        "sinh": np.concatenate([np.linspace(-20, 20, 301), [1e-12, -0.999, 1.0, 700.0]]),
        "cosh": np.concatenate([np.linspace(-20, 20, 301), [1e-12, -700.0]]),
        "asinh": np.concatenate([np.linspace(-50, 50, 301), [1e-12, -1e-12, 1e200, -1e200]]),
        "acosh": np.concatenate([np.linspace(1, 50, 301), [1 + 1e-12, 1e200, 0.5]]),
        "atanh": np.concatenate([np.linspace(-1, 1, 301), [1e-12, -1 + 1e-9, 2.0]]),
    }
    numpy_name = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "asinh": "arcsinh",
                  "acosh": "arccosh", "atanh": "arctanh"}
    for dtype, rtol in ((np.float64, 1e-15), (np.float32, 2.5e-7)):
        graph = gc.Graph()
        with graph.as_default():
            xs = {name: gc.placeholder(gc.float64 if dtype is np.float64 else gc.float32,
                                       (len(v),)) for name, v in wide.items()}
            fetches = {name: getattr(gc, name)(x) for name, x in xs.items()}
        feed = {xs[name]: v.astype(dtype) for name, v in wide.items()}
        got = gc.Session(graph, backend="llvm").run(fetches, feed)
        for name, v in wide.items():
            with np.errstate(all="ignore"):
                want = getattr(np, numpy_name.get(name, name))(v.astype(dtype))
            np.testing.assert_allclose(got[name], want, rtol=rtol, atol=0, err_msg=name)


GRADIENT_CASES = {
    "cumprod": lambda x: gc.cumprod(x, 1, reverse=True),
    "cumprod_exclusive": lambda x: gc.cumprod(x, 0, exclusive=True),
    "mish_hard_swish": lambda x: act.mish(x) + act.hard_swish(x * 4.0),
    "celu": lambda x: act.celu(x - 0.9, 0.5),
    "thresholded_relu": lambda x: act.thresholded_relu(x, 0.8),
    "scatter_nd_update": lambda x: gc.tensor_scatter_nd_update(
        x, [[0, 1], [2, 3]], gc.reshape(x[1, :2], (2,)) * 3.0),
    "scatter_nd_mul": lambda x: gc.tensor_scatter_nd_mul(x, [[1], [2]], x[:2] * 2.0),
    "scatter_nd_min": lambda x: gc.tensor_scatter_nd_min(x, [[1, 1], [0, 2]],
                                                         gc.constant([0.9, 0.1], gc.float64)),
    "det": lambda x: gc.linalg.det(gc.reshape(x[:, :3], (3, 3))),
    "det_batched": lambda x: gc.linalg.det(gc.reshape(x, (3, 2, 2))),
    "lp_pool2d": lambda x: lp_pool2d(gc.reshape(x, (1, 3, 4, 1)), 3, 2, 1, padding="SAME"),
    "dft": lambda x: gc.add_n(list(gc.signal.dft(x, x * x, axis=1, length=5))),
    "irfft": lambda x: gc.signal.irfft(x, x * 2.0, 6),
    "stft": lambda x: gc.signal.stft(x, 3, 1)[0],
    "trig": lambda x: gc.atan(x) * gc.asinh(x) + gc.sinh(x) * gc.acos(x * 0.5),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradient_matches_finite_differences(name):
    assert_gradient_matches_finite_differences(GRADIENT_CASES[name], name)


def test_cumprod_and_det_gradients_where_an_element_is_zero():
    """Products against the triangle (cumprod) and elimination with pivoting (det) keep
    the exact gradients where an entry is 0: the product of the others; det(A)·A⁻ᵀ."""
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (4,), name="x")
        m = gc.placeholder(gc.float64, (3, 3), name="m")
        (g_cumprod,) = gc.gradients(gc.reduce_sum(gc.cumprod(x)), [x])
        (g_det,) = gc.gradients(gc.linalg.det(m), [m])
    xv = np.array([2.0, 0.0, 3.0, 0.5])
    mv = np.array([[0.0, 2.0, 1.0], [1.0, 0.0, 3.0], [4.0, 1.0, 0.0]])
    got_cumprod, got_det = gc.Session(graph).run([g_cumprod, g_det], {x: xv, m: mv})
    np.testing.assert_allclose(got_cumprod, [1.0, 2 + 6 + 3, 0.0, 0.0])
    np.testing.assert_allclose(got_det, np.linalg.det(mv) * np.linalg.inv(mv).T, rtol=1e-12)


@pytest.mark.parametrize("backend", COMPILED)
def test_gradients_match_the_interpreter(backend):
    """Every case's value and gradient in one program per backend."""
    assert_gradients_match_the_interpreter(GRADIENT_CASES, backend,
                                           [RNG.uniform(0.3, 1.5, (3, 4))])


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_scatter_refuses_an_index_out_of_range(backend):
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (3, 4), name="x")
        i = gc.placeholder(gc.int32, (1, 2), name="i")
        y = gc.tensor_scatter_nd_add(x, i, [5.0])
    sess = gc.Session(graph, backend=backend)
    want = X.copy()
    want[2, 3] += 5
    np.testing.assert_array_equal(sess.run(y, {x: X, i: [[2, 3]]}), want)
    for bad in ([[0, 4]], [[3, 0]], [[0, -1]]):
        with pytest.raises(gc.ExecutionError):
            sess.run(y, {x: X, i: bad})


def test_clear_errors(graph):
    x = gc.placeholder(gc.float32, (2, 3), name="x")
    i = gc.placeholder(gc.int32, (2, 3), name="i")
    with pytest.raises(gc.DTypeError, match="bitcast from .* to float64"):
        gc.bitcast(x, gc.float64)
    with pytest.raises(gc.DTypeError, match="left_shift needs int32 or int64"):
        gc.bitwise.left_shift(x, x)
    with pytest.raises(gc.DTypeError, match="invert needs an int32 or int64"):
        gc.bitwise.invert(x)
    with pytest.raises(gc.DTypeError, match="asin needs a float32 or float64"):
        gc.asin(i)
    with pytest.raises(ValueError, match="updates .* must have the shape"):
        gc.tensor_scatter_nd_update(x, [[0], [1]], [1.0, 2.0])
    with pytest.raises(gc.ShapeError, match="det of 'x'"):
        gc.linalg.det(x)
