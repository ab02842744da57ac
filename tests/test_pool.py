"""max_pool2d and avg_pool2d: the lecture's example, agreement with a direct loop
written here, argmax routing and tie-breaking, gradients (first and second order)."""
import math

import numpy as np
import pytest

import graphc as gc


def explicit_pads(padding, size, k, stride):
    if padding == "VALID":
        return (0, 0)
    if padding == "SAME":
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + k - size, 0)
        return (total // 2, total - total // 2)
    return (padding, padding)


def loop_pool(x, k, s, padding, kind):
    """Per window: the max, or the mean of the elements inside the image (not padding)."""
    pads = [explicit_pads(padding, x.shape[1 + i], k[i], s[i]) for i in range(2)]
    n, h, w, c = x.shape
    oh = (h + sum(pads[0]) - k[0]) // s[0] + 1
    ow = (w + sum(pads[1]) - k[1]) // s[1] + 1
    y = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * s[0] - pads[0][0], j * s[1] - pads[1][0]
            rows = range(max(r0, 0), min(r0 + k[0], h))
            cols = range(max(c0, 0), min(c0 + k[1], w))
            window = x[:, rows.start:rows.stop, cols.start:cols.stop, :]
            y[:, i, j, :] = window.max(axis=(1, 2)) if kind == "max" else \
                window.mean(axis=(1, 2))
    return y


def loop_max_pool_grad(x, gy, k, s, padding):
    """Route each window's gradient to its first maximum (row-major window order)."""
    pads = [explicit_pads(padding, x.shape[1 + i], k[i], s[i]) for i in range(2)]
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for i in range(gy.shape[1]):
            for j in range(gy.shape[2]):
                for ch in range(x.shape[3]):
                    best, where = -np.inf, None
                    for a in range(k[0]):
                        for b in range(k[1]):
                            r, c = i * s[0] + a - pads[0][0], j * s[1] + b - pads[1][0]
                            if 0 <= r < x.shape[1] and 0 <= c < x.shape[2] and \
                                    x[n, r, c, ch] > best:
                                best, where = x[n, r, c, ch], (r, c)
                    dx[n, where[0], where[1], ch] += gy[n, i, j, ch]
    return dx


def run(graph, fetches, feed=None):
    return gc.Session(graph, backend="numpy").run(fetches, feed or {})


def distinct(rng, shape):
    """Values with no ties and gaps far above the finite-difference step."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.37 - n * 0.15).reshape(shape)


# -- lecture ------------------------------------------------------------------------------
def test_lecture_2x2_stride_2_max_pooling(graph):
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], np.float32)
    y = gc.nn.max_pool2d(gc.constant(x.reshape(1, 4, 4, 1)), 2, 2)
    assert y.shape == (1, 2, 2, 1)
    np.testing.assert_array_equal(run(graph, y)[0, :, :, 0], [[6, 8], [3, 4]])


def test_lecture_2x2_stride_2_average_pooling(graph):
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], np.float32)
    y = gc.nn.avg_pool2d(gc.constant(x.reshape(1, 4, 4, 1)), 2, 2)
    np.testing.assert_array_equal(run(graph, y)[0, :, :, 0], [[3.25, 5.25], [2, 2]])


# -- forward against the direct loop ------------------------------------------------------
WINDOWS = [(2, 1), (2, 2), (3, 2), (3, 3), ((2, 3), (1, 2)), (1, 1)]
# explicit padding must be smaller than the window, so a 1x1 window gets none
WINDOW_PADDINGS = [(k, s, p) for k, s in WINDOWS for p in ["VALID", "SAME", 1]
                   if not (p == 1 and k == 1)]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("ksize, stride, padding", WINDOW_PADDINGS, ids=str)
@pytest.mark.parametrize("size", [(7, 7), (6, 8)], ids=str)
def test_pooling_matches_a_direct_loop(graph, rng, kind, ksize, stride, padding, size):
    k = (ksize, ksize) if isinstance(ksize, int) else ksize
    s = (stride, stride) if isinstance(stride, int) else stride
    x_val = rng.standard_normal((2, *size, 3))
    op = gc.nn.max_pool2d if kind == "max" else gc.nn.avg_pool2d
    x = gc.placeholder(gc.float64, (None, *size, 3))
    y = op(x, ksize, stride, padding=padding)
    expected = loop_pool(x_val, k, s, padding, kind)
    assert y.shape[1:] == expected.shape[1:]
    np.testing.assert_allclose(run(graph, y, {x: x_val}), expected, rtol=1e-12)


def test_strides_default_to_the_window(graph, rng):
    x = gc.placeholder(gc.float32, (None, 6, 9, 2))
    assert gc.nn.max_pool2d(x, (2, 3)).shape == (None, 3, 3, 2)
    assert gc.nn.avg_pool2d(x, [1, 2, 3, 1], [1, 2, 3, 1]).shape == (None, 3, 3, 2)


def test_float32_pooling_keeps_its_dtype(graph, rng):
    x = gc.constant(rng.standard_normal((1, 4, 4, 2)).astype(np.float32))
    for y in (gc.nn.max_pool2d(x, 2), gc.nn.avg_pool2d(x, 3, 1, "SAME")):
        assert run(graph, y).dtype == np.float32


# -- max pooling's gradient: argmax routing -----------------------------------------------
def _max_pool_grad(graph, x_val, gy_val=None, **kwargs):
    x = gc.placeholder(gc.float64, x_val.shape)
    y = gc.nn.max_pool2d(x, **kwargs)
    gy_val = np.ones(y.shape) if gy_val is None else gy_val
    (dx,) = gc.gradients(y, [x], grad_ys=gc.constant(gy_val))
    return run(graph, dx, {x: x_val})


def test_max_pool_ties_go_to_the_first_maximum_in_window_order(graph):
    x = np.array([[1, 1, 0, 5], [1, 1, 5, 0]], np.float64).reshape(1, 2, 4, 1)
    dx = _max_pool_grad(graph, x, ksize=2, strides=2)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 0, 0, 1], [0, 0, 0, 0]])


def test_overlapping_windows_accumulate_at_a_shared_maximum(graph):
    x = np.zeros((1, 3, 3, 1))
    x[0, 1, 1, 0] = 9.0
    dx = _max_pool_grad(graph, x, ksize=2, strides=1)    # the centre is in all 4 windows
    expected = np.zeros((3, 3))
    expected[1, 1] = 4.0
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)


@pytest.mark.parametrize("ksize, stride, padding", [(2, 2, "VALID"), (3, 1, "SAME"),
                                                    (3, 2, 1), (2, 1, "VALID")])
def test_max_pool_gradient_matches_a_direct_loop_with_ties(graph, rng, ksize, stride, padding):
    x_val = rng.integers(0, 3, size=(2, 5, 6, 2)).astype(np.float64)   # many ties
    x = gc.placeholder(gc.float64, x_val.shape)
    y = gc.nn.max_pool2d(x, ksize, stride, padding)
    gy_val = rng.standard_normal(y.shape)
    (dx,) = gc.gradients(y, [x], grad_ys=gc.constant(gy_val))
    expected = loop_max_pool_grad(x_val, gy_val, (ksize,) * 2, (stride,) * 2, padding)
    np.testing.assert_allclose(run(graph, dx, {x: x_val}), expected, rtol=1e-12)


# -- gradients against finite differences -------------------------------------------------
POOL_CONFIGS = [dict(ksize=2, strides=2), dict(ksize=3, strides=2, padding="SAME"),
                dict(ksize=(2, 3), strides=1), dict(ksize=3, strides=3, padding=1)]


def _pool_id(c):
    return "-".join(f"{k}{v}" for k, v in c.items()).replace(" ", "")


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("config", POOL_CONFIGS, ids=_pool_id)
def test_pooling_gradient_full_jacobian(graph, rng, op, config):
    x = gc.placeholder(gc.float64, (1, 5, 6, 2))
    y = getattr(gc.nn, op)(x, **config)
    assert gc.test.compute_gradient_error([x], y, {x: distinct(rng, x.shape)}) < 1e-6


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("config", POOL_CONFIGS[:3], ids=_pool_id)
def test_pooling_second_order(graph, rng, op, config):
    """The Jacobian of dL/dx w.r.t. x, for L = Σ c·pool(x)², runs through the backward
    ops' own gradient rules."""
    x = gc.placeholder(gc.float64, (1, 5, 6, 2))
    y = getattr(gc.nn, op)(x, **config)
    loss = gc.reduce_sum(gc.square(y) * gc.constant(rng.uniform(0.5, 2.0, (1, *y.shape[1:]))))
    (gx,) = gc.gradients(loss, [x])
    assert gc.test.compute_gradient_error([x], gx, {x: distinct(rng, x.shape)}) < 1e-6


@pytest.mark.parametrize("config", POOL_CONFIGS[:2], ids=_pool_id)
def test_pooling_backward_ops_gradients_directly(graph, rng, config):
    x = gc.placeholder(gc.float64, (1, 5, 6, 2))
    x_val = distinct(rng, x.shape)
    out_shape = gc.nn.max_pool2d(x, **config).shape
    gy = gc.placeholder(gc.float64, out_shape)
    ksize = config["ksize"]
    attrs = dict(ksize=(ksize, ksize), strides=(config["strides"],) * 2,
                 padding=config.get("padding", "VALID"))
    g = gc.placeholder(gc.float64, x.shape)
    feed = {x: x_val, gy: rng.standard_normal(out_shape), g: rng.standard_normal(x.shape)}
    for op, arg in [("max_pool2d_grad", gy), ("avg_pool2d_grad", gy),
                    ("max_pool2d_grad_grad", g)]:
        y = gc.ops.apply(op, [x, arg], **attrs)
        assert gc.test.compute_gradient_error([arg], y, feed) < 1e-6, op


# -- dilated windows ----------------------------------------------------------------------
def loop_dilated_pool(x, k, s, d, pads, kind):
    """Taps i·s + a·d − pad per axis; the max, or the mean of the taps on the image."""
    n, h, w, c = x.shape
    oh = (h + sum(pads[0]) - (k[0] - 1) * d[0] - 1) // s[0] + 1
    ow = (w + sum(pads[1]) - (k[1] - 1) * d[1] - 1) // s[1] + 1
    y = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            taps = [x[:, r, q, :] for a in range(k[0]) for b in range(k[1])
                    for r in [i * s[0] + a * d[0] - pads[0][0]]
                    for q in [j * s[1] + b * d[1] - pads[1][0]] if 0 <= r < h and 0 <= q < w]
            y[:, i, j, :] = np.max(taps, 0) if kind == "max" else np.mean(taps, 0)
    return y


DILATED = [dict(ksize=2, strides=1, dilations=2), dict(ksize=2, strides=2, dilations=2),
           dict(ksize=(3, 2), strides=(2, 1), dilations=(2, 3), padding=((2, 1), (0, 3)))]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("config", DILATED, ids=_pool_id)
def test_dilated_pooling_matches_a_direct_loop_and_finite_differences(graph, rng, kind,
                                                                      config):
    k = gc.ops.window.as_pair(config["ksize"], "k")
    s = gc.ops.window.as_pair(config["strides"], "s")
    d = gc.ops.window.as_pair(config["dilations"], "d")
    pads = config.get("padding", ((0, 0), (0, 0)))
    x = gc.placeholder(gc.float64, (2, 7, 8, 2))
    x_val = distinct(rng, x.shape)
    y = (gc.nn.max_pool2d if kind == "max" else gc.nn.avg_pool2d)(x, **config)
    np.testing.assert_allclose(run(graph, y, {x: x_val}),
                               loop_dilated_pool(x_val, k, s, d, pads, kind), rtol=1e-12)
    assert gc.test.compute_gradient_error([x], y, {x: x_val}) < 1e-6


# -- errors -------------------------------------------------------------------------------
def test_pooling_errors(graph):
    x = gc.placeholder(gc.float32, (1, 7, 7, 1), name="images")
    with pytest.raises(gc.ShapeError, match="window height 9 is larger than the padded"):
        gc.nn.max_pool2d(x, 9)
    with pytest.raises(gc.ShapeError, match="smaller than the window size 2"):
        gc.nn.avg_pool2d(x, 2, padding=2)
    with pytest.raises(gc.ShapeError, match="smaller than the window size 3"):
        gc.nn.avg_pool2d(x, 2, padding=3, dilations=2)
    with pytest.raises(gc.ShapeError, match=r"input height 7, window height 2, stride 2.*"
                                            r"3\.50 is not an integer"):
        gc.nn.max_pool2d(x, 2, 2, strict=True)
    with pytest.raises(gc.ShapeError, match="NHWC"):
        gc.nn.max_pool2d(gc.placeholder(gc.float32, (7, 7, 1)), 2)
    with pytest.raises(gc.DTypeError, match="float32 or float64"):
        gc.nn.avg_pool2d(gc.placeholder(gc.int32, (1, 4, 4, 1)), 2)
    with pytest.raises(ValueError, match="ksize must be"):
        gc.nn.max_pool2d(x, (2, 2, 2))


# -- 3-D pooling (two passes of the 2-D ops) ----------------------------------------------
def loop_pool3d(x, k, s, d, pads, kind):
    """Per (kd, kh, kw) window: the max, or the mean of its taps inside the volume."""
    n, *size, c = x.shape
    out = [(size[i] + sum(pads[i]) - (k[i] - 1) * d[i] - 1) // s[i] + 1 for i in range(3)]
    y = np.zeros((n, *out, c))
    for o in np.ndindex(*out):
        taps = []
        for a in np.ndindex(*k):
            p = [o[i] * s[i] + a[i] * d[i] - pads[i][0] for i in range(3)]
            if all(0 <= p[i] < size[i] for i in range(3)):
                taps.append(x[:, p[0], p[1], p[2], :])
        y[(slice(None), *o)] = np.max(taps, 0) if kind == "max" else np.mean(taps, 0)
    return y


POOL3D = [dict(ksize=2), dict(ksize=(3, 2, 2), strides=(2, 1, 2), padding=((1, 1), (0, 1),
                                                                            (1, 0))),
          dict(ksize=2, strides=1, dilations=(2, 1, 2), padding=((1, 0), (0, 0), (1, 1)))]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("config", POOL3D, ids=_pool_id)
def test_3d_pooling_matches_a_direct_loop_and_finite_differences(graph, rng, kind, config):
    x = gc.placeholder(gc.float64, (2, 5, 4, 6, 2))
    x_val = distinct(rng, x.shape)
    y = (gc.nn.max_pool3d if kind == "max" else gc.nn.avg_pool3d)(x, **config)
    k = gc.ops.window.as_triple(config["ksize"], "k")
    s = gc.ops.window.as_triple(config.get("strides", k), "s")
    d = gc.ops.window.as_triple(config.get("dilations", 1), "d")
    pads = config.get("padding", ((0, 0),) * 3)
    np.testing.assert_allclose(run(graph, y, {x: x_val}),
                               loop_pool3d(x_val, k, s, d, pads, kind), rtol=1e-12)
    assert gc.test.compute_gradient_error([x], y, {x: x_val}) < 1e-6


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_3d_pooling_same_padding_and_tf_spellings(graph, rng, kind):
    op = gc.nn.max_pool3d if kind == "max" else gc.nn.avg_pool3d
    x = gc.placeholder(gc.float64, (1, 5, 4, 7, 3))
    x_val = distinct(rng, x.shape)
    y = op(x, [1, 3, 2, 3, 1], [1, 2, 2, 2, 1], "SAME")
    assert y.shape == (1, 3, 2, 4, 3)
    pads = [explicit_pads("SAME", n, k, s) for n, k, s in [(5, 3, 2), (4, 2, 2), (7, 3, 2)]]
    np.testing.assert_allclose(run(graph, y, {x: x_val}),
                               loop_pool3d(x_val, (3, 2, 3), (2, 2, 2), (1, 1, 1), pads, kind),
                               rtol=1e-12)
    with pytest.raises(gc.ShapeError, match="NDHWC"):
        op(gc.placeholder(gc.float64, (1, 4, 4, 3)), 2)


# -- max_pool_with_argmax -----------------------------------------------------------------
def loop_argmax(x, k, s, d, pads, include_batch):
    """TF1's numbering of each window's first maximum (ties: the first in row-major
    window order), padding excluded."""
    n, h, w, c = x.shape
    oh = (h + sum(pads[0]) - (k[0] - 1) * d[0] - 1) // s[0] + 1
    ow = (w + sum(pads[1]) - (k[1] - 1) * d[1] - 1) // s[1] + 1
    out = np.zeros((n, oh, ow, c), np.int64)
    for b, i, j, ch in np.ndindex(out.shape):
        best, where = None, None
        for a in range(k[0]):
            for e in range(k[1]):
                r, q = i * s[0] + a * d[0] - pads[0][0], j * s[1] + e * d[1] - pads[1][0]
                if 0 <= r < h and 0 <= q < w and (best is None or x[b, r, q, ch] > best):
                    best, where = x[b, r, q, ch], (r, q)
        out[b, i, j, ch] = (where[0] * w + where[1]) * c + ch + (b * h * w * c if include_batch
                                                                 else 0)
    return out


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("include_batch", [False, True])
def test_max_pool_with_argmax_numbers_the_first_maximum_as_tf1(graph, rng, backend,
                                                               include_batch):
    x_val = rng.integers(0, 4, size=(2, 6, 7, 3)).astype(np.float32)     # many ties
    x = gc.placeholder(gc.float32, x_val.shape)
    configs = [(3, 2, ((1, 1), (0, 1)), 1), (2, 1, "VALID", (2, 1)), (2, 2, "SAME", 1)]
    fetches = []
    for k, s, padding, d in configs:
        y, arg = gc.nn.max_pool_with_argmax(x, k, s, padding, include_batch, dilations=d)
        assert arg.dtype == gc.int64 and arg.shape == y.shape
        fetches += [y, arg]
    got = gc.Session(graph, backend=backend).run(fetches, {x: x_val})
    for (k, s, padding, d), y, arg in zip(configs, got[::2], got[1::2]):
        k2, s2, d2 = (k, k), (s, s), gc.ops.window.as_pair(d, "d")
        pads = ([explicit_pads(padding, x_val.shape[1 + i], k, s) for i in range(2)]
                if isinstance(padding, str) else padding)
        np.testing.assert_array_equal(arg, loop_argmax(x_val, k2, s2, d2, pads, include_batch))
        for b in range(x_val.shape[0]):          # the maxima sit where argmax points
            offset = b * x_val[0].size if include_batch else 0
            np.testing.assert_array_equal(y[b], x_val[b].reshape(-1)[arg[b] - offset])
