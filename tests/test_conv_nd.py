"""Grouped 2-D convolutions and 3-D convolutions (gc.nn.conv2d(groups=),
grouped_conv2d, conv2d_transpose(groups=, dilations=), conv3d, conv3d_transpose):
forward against torch, gradients against finite differences in float64, and the llvm
backend against the interpreter."""
import numpy as np
import pytest

import graphc as gc

torch = pytest.importorskip("torch")
F = torch.nn.functional
RNG = np.random.default_rng(11)
TO_NC = {4: (0, 3, 1, 2), 5: (0, 4, 1, 2, 3)}
TO_NHWC = {4: (0, 2, 3, 1), 5: (0, 2, 3, 4, 1)}
W_TO_OI = {4: (3, 2, 0, 1), 5: (4, 3, 0, 1, 2)}     # HWIO / DHWIO → torch's O, I, k...


def _torch(fn, x, w, pads=None, **kwargs):
    """torch's channels-first fn on channels-last x and (D)HWIO-style w."""
    xt = torch.tensor(x).permute(*TO_NC[x.ndim])
    if pads is not None:     # per spatial axis (before, after), torch wants last axis first
        xt = F.pad(xt, [p for pair in reversed(pads) for p in pair])
    y = fn(xt, torch.tensor(w).permute(*W_TO_OI[w.ndim]), **kwargs)
    return y.permute(*TO_NHWC[x.ndim]).numpy()


X2 = RNG.standard_normal((2, 7, 6, 6))
W2 = RNG.standard_normal((3, 2, 2, 9))                   # 3 groups of 2 → 3
X3 = RNG.standard_normal((2, 5, 6, 5, 4))
W3 = RNG.standard_normal((3, 2, 3, 2, 6))                # 2 groups of 2 → 3
V3 = RNG.standard_normal((2, 3, 4, 3, 6))                # conv3d_transpose's input
WT3 = RNG.standard_normal((3, 2, 2, 5, 6))               # [d, h, w, out / 2, in]
VT2 = RNG.standard_normal((2, 3, 4, 4))
WT2 = RNG.standard_normal((3, 2, 3, 4))                  # [h, w, out / 2, in]

CASES = {
    "grouped_conv2d": (
        lambda: gc.nn.conv2d(gc.constant(X2), gc.constant(W2), strides=(2, 1),
                             padding=((1, 0), (0, 1)), dilations=(1, 2), groups=3),
        lambda: _torch(F.conv2d, X2, W2, ((1, 0), (0, 1)), stride=(2, 1), dilation=(1, 2),
                       groups=3)),
    "conv3d": (
        lambda: gc.nn.conv3d(gc.constant(X3[..., :2]), gc.constant(W3[..., :2, :]), (2, 1, 2),
                             ((1, 2), (0, 1), (1, 1)), (1, 2, 1)),
        lambda: _torch(F.conv3d, X3[..., :2], W3[..., :2, :], ((1, 2), (0, 1), (1, 1)),
                       stride=(2, 1, 2), dilation=(1, 2, 1))),
    "conv3d_grouped_same": (
        lambda: gc.nn.conv3d(gc.constant(X3), gc.constant(W3), 2, "SAME", groups=2),
        lambda: _torch(F.conv3d, X3, W3, ((1, 1), (0, 0), (1, 1)), stride=2, groups=2)),
    "conv3d_transpose": (
        lambda: gc.nn.conv3d_transpose(gc.constant(V3), gc.constant(WT3), (2, 7, 8, 7, 10),
                                       2, "VALID", dilations=(1, 1, 2), groups=2),
        lambda: _torch(F.conv_transpose3d, V3, WT3, stride=2, dilation=(1, 1, 2),
                       groups=2)),
    "conv2d_transpose_grouped": (
        lambda: gc.nn.conv2d_transpose(gc.constant(VT2), gc.constant(WT2), (2, 9, 11, 6),
                                       (2, 3), "VALID", dilations=(2, 1), groups=2),
        lambda: _torch(F.conv_transpose2d, VT2, WT2, stride=(2, 3), dilation=(2, 1),
                       groups=2)),
}


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_forward_matches_torch(backend):
    graph = gc.Graph()
    with graph.as_default():
        fetches = {name: build() for name, (build, _) in CASES.items()}
    got = gc.Session(graph, backend=backend).run(fetches)
    for name, (_, reference) in CASES.items():
        np.testing.assert_allclose(got[name], reference(), rtol=1e-10, atol=1e-10,
                                   err_msg=name)


GRADIENTS = {
    "grouped_conv2d": ((1, 5, 4, 4), (2, 2, 2, 6),
                       lambda x, w: gc.nn.grouped_conv2d(x, w, 2, 1, "SAME", 2)),
    "conv3d": ((1, 4, 3, 4, 2), (2, 2, 2, 2, 3),
               lambda x, w: gc.nn.conv3d(x, w, (2, 1, 1), ((1, 0), (0, 1), (1, 1)),
                                         (1, 1, 2))),
    "conv3d_transpose": ((1, 2, 3, 2, 4), (2, 2, 2, 3, 4),
                         lambda v, w: gc.nn.conv3d_transpose(v, w, (1, 4, 5, 4, 6), 2,
                                                             "SAME", groups=2)),
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_match_finite_differences(name):
    x_shape, w_shape, build = GRADIENTS[name]
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, x_shape)
        w = gc.placeholder(gc.float64, w_shape)
        y = build(x, w)
    feed = {x: RNG.standard_normal(x_shape), w: RNG.standard_normal(w_shape)}
    for theoretical, numerical in gc.test.compute_gradient([x, w], y, feed):
        np.testing.assert_allclose(theoretical, numerical, rtol=1e-6, atol=1e-7)


def test_gradients_on_llvm_match_the_interpreter():
    graph = gc.Graph()
    feed, grads = {}, []
    with graph.as_default():
        for i, (x_shape, w_shape, build) in enumerate(GRADIENTS.values()):
            x = gc.placeholder(gc.float64, x_shape)
            w = gc.placeholder(gc.float64, w_shape)
            feed[x], feed[w] = RNG.standard_normal(x_shape), RNG.standard_normal(w_shape)
            y = build(x, w)
            c = gc.constant(RNG.standard_normal(y.shape))
            grads += gc.gradients(gc.reduce_sum(y * c), [x, w])
    want = gc.Session(graph, backend="numpy").run(grads, feed)
    got = gc.Session(graph, backend="llvm").run(grads, feed)
    for g, w_ in zip(got, want):
        np.testing.assert_allclose(g, w_, rtol=1e-10, atol=1e-10)


def test_errors_name_the_shapes(graph):
    x = gc.placeholder(gc.float32, (1, 5, 5, 4))
    with pytest.raises(gc.ShapeError, match="groups=3"):
        gc.nn.grouped_conv2d(x, gc.placeholder(gc.float32, (2, 2, 2, 6)), 3)
    with pytest.raises(gc.ShapeError, match="NDHWC"):
        gc.nn.conv3d(x, gc.placeholder(gc.float32, (2, 2, 2, 4, 3)))
    with pytest.raises(gc.ShapeError, match="filter depth 4"):
        gc.nn.conv3d(gc.placeholder(gc.float32, (1, 3, 5, 5, 4)),
                     gc.placeholder(gc.float32, (4, 2, 2, 4, 3)))
