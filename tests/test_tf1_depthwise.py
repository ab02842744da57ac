"""gc.nn.depthwise_conv2d and separable_conv2d (issue 22): forward against torch's grouped
convolution on every backend, gradients against finite differences in float64 and on
every compiled backend against the interpreter, and clear errors."""
import numpy as np
import pytest

import graphc as gc
from backends import ALL, COMPILED

RNG = np.random.default_rng(7)
X = RNG.standard_normal((2, 7, 6, 3))            # NHWC
DW = RNG.standard_normal((3, 3, 3, 2))           # kh, kw, C, multiplier
DW1 = RNG.standard_normal((2, 2, 3, 1))
PW = RNG.standard_normal((1, 1, 6, 4))           # 1, 1, C·multiplier, out
NCHW = (0, 3, 1, 2)


def _torch_depthwise(x, w, stride=1, pads=((0, 0), (0, 0)), dilation=1):
    """torch.nn.functional.conv2d with groups=C: channel c·M + m is channel c ⋆ w[..., c, m]."""
    torch = pytest.importorskip("torch")
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    kh, kw, c, m = w.shape
    wt = torch.tensor(w).permute(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
    y = torch.nn.functional.conv2d(torch.tensor(xp).permute(0, 3, 1, 2), wt, stride=stride,
                                   dilation=dilation, groups=c)
    return y.permute(0, 2, 3, 1).numpy()


def _forward(x):
    """(graphc tensors, expected arrays) by case; SAME pads of a 7x6 input at stride 2
    with a 3x3 filter are (1, 1) rows and (0, 1) columns, as TF1 places them."""
    x_nchw = gc.transpose(x, NCHW)
    valid = _torch_depthwise(X, DW)
    cases = {
        "valid": (gc.nn.depthwise_conv2d(x, DW, [1, 1, 1, 1], "VALID"), valid),
        "same_stride2": (gc.nn.depthwise_conv2d(x, DW, [1, 2, 2, 1], "SAME"),
                         _torch_depthwise(X, DW, 2, ((1, 1), (0, 1)))),
        "rate2": (gc.nn.depthwise_conv2d(x, DW, [1, 1, 1, 1], "VALID", rate=[2, 2]),
                  _torch_depthwise(X, DW, dilation=2)),
        "multiplier1_explicit_pad": (gc.nn.depthwise_conv2d(x, DW1, 1, [[0, 0], [1, 0],
                                                                        [0, 2], [0, 0]]),
                                     _torch_depthwise(X, DW1, 1, ((1, 0), (0, 2)))),
        "nchw": (gc.nn.depthwise_conv2d(x_nchw, DW, [1, 1, 1, 1], "VALID",
                                        data_format="NCHW"), valid.transpose(NCHW)),
        "native": (gc.nn.depthwise_conv2d_native(x, DW, [1, 1, 1, 1], "VALID"), valid),
        "separable": (gc.nn.separable_conv2d(x, DW, PW, [1, 1, 1, 1], "VALID"),
                      valid @ PW[0, 0]),
        "separable_nchw_same": (gc.nn.separable_conv2d(x_nchw, DW, PW, [1, 1, 2, 2], "SAME",
                                                       data_format="NCHW"),
                                (_torch_depthwise(X, DW, 2, ((1, 1), (0, 1))) @ PW[0, 0])
                                .transpose(NCHW)),
    }
    return {k: t for k, (t, _) in cases.items()}, {k: w for k, (_, w) in cases.items()}


@pytest.mark.parametrize("backend", ALL)
def test_forward_matches_torch(backend):
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (None,) + X.shape[1:], name="x")
        fetches, expected = _forward(x)
    got = gc.Session(graph, backend=backend).run(fetches, {x: X})
    for key, want in expected.items():
        assert got[key].shape == want.shape, key
        np.testing.assert_allclose(got[key], want, rtol=1e-12, atol=1e-12, err_msg=key)


def _gradient_graph():
    """Small float64 inputs; every argument of both functions is a placeholder."""
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (1, 5, 4, 2), name="x")
        w = gc.placeholder(gc.float64, (3, 2, 2, 2), name="w")
        p = gc.placeholder(gc.float64, (1, 1, 4, 3), name="p")
        ys = [gc.nn.depthwise_conv2d(x, w, [1, 2, 1, 1], "SAME"),
              gc.nn.separable_conv2d(x, w, p, [1, 1, 1, 1], "VALID", rate=[1, 2])]
    rng = np.random.default_rng(3)
    feed = {t: rng.standard_normal(t.shape) for t in (x, w, p)}
    return graph, ys, feed


@pytest.mark.parametrize("case", [0, 1])
def test_gradient_matches_finite_differences(case):
    graph, ys, feed = _gradient_graph()
    xs = list(feed) if case == 1 else list(feed)[:2]
    for theoretical, numerical in gc.test.compute_gradient(xs, ys[case], feed):
        np.testing.assert_allclose(theoretical, numerical, rtol=1e-7, atol=1e-7)
        assert np.abs(theoretical).max() > 0


@pytest.mark.parametrize("backend", COMPILED)
def test_gradients_match_the_interpreter(backend):
    graph, ys, feed = _gradient_graph()
    with graph.as_default():
        total = gc.add_n([gc.reduce_sum(gc.square(y)) * float(i + 1) for i, y in enumerate(ys)])
        grads = gc.gradients(total, list(feed))
    want = gc.Session(graph, backend="numpy").run(ys + grads, feed)
    got = gc.Session(graph, backend=backend).run(ys + grads, feed)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-11)


def test_clear_errors(graph):
    x = gc.placeholder(gc.float32, (None, None, 6, 3))
    w = gc.constant(DW.astype(np.float32))
    with pytest.raises(gc.ShapeError, match="known height, width"):
        gc.nn.depthwise_conv2d(x, w, 1, "SAME")
    with pytest.raises(gc.ShapeError, match="known height, width"):
        gc.nn.depthwise_conv2d(gc.placeholder(gc.float32, (1, 5, 5, 4)), w, 1, "SAME")
    with pytest.raises(gc.ShapeError, match="larger than the padded input"):
        gc.nn.depthwise_conv2d(gc.placeholder(gc.float32, (1, 2, 5, 3)), w, 1, "VALID")
    with pytest.raises(gc.ShapeError, match=r"pointwise_filter must be \[1, 1, in, out\]"):
        gc.nn.separable_conv2d(gc.placeholder(gc.float32, (1, 5, 5, 3)), w,
                               gc.constant(np.ones((3, 3, 6, 2), np.float32)), 1, "SAME")
