"""TF1's gc.nn functions and gc.losses (issue 22): forward against numpy (torch where
numpy has no equivalent: gelu, conv1d), gradients against finite differences in
float64, and every compiled backend against the interpreter in one program."""
import math
import zlib

import numpy as np
import pytest

import graphc as gc
from backends import ALL, COMPILED

RNG = np.random.default_rng(5)
Z = RNG.standard_normal((4, 5)) * 2                     # logits
P = RNG.dirichlet(np.ones(5), size=4)                   # dense label distributions
Y = np.array([3, 0, 4, 1])                              # class labels
B = (RNG.uniform(size=(4, 5)) > 0.5).astype(float)      # binary labels
W = np.array([1.0, 0.0, 2.0, 0.5])                      # per-example weights
IMG = RNG.standard_normal((2, 5, 6, 3))                 # NHWC
SEQ = RNG.standard_normal((2, 7, 3))                    # NWC
K1 = RNG.standard_normal((3, 3, 4))                     # W, I, O
SELU = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)


def _np_log_softmax(z):
    s = z - z.max(-1, keepdims=True)
    return s - np.log(np.exp(s).sum(-1, keepdims=True))


def _np_sigmoid_xent(z, labels):
    """−l·log σ(z) − (1 − l)·log(1 − σ(z)), each log written as −log(1 + e^∓z)."""
    return labels * np.logaddexp(0, -z) + (1 - labels) * np.logaddexp(0, z)


def _np_huber(e, delta):
    a = np.abs(e)
    return np.where(a <= delta, 0.5 * e * e, delta * (a - 0.5 * delta))


def _np_windows(x, k, s, fold):
    n, h, w, c = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    return np.array([[[[fold(x[b, i * s:i * s + k, j * s:j * s + k, ch])
                        for ch in range(c)] for j in range(ow)] for i in range(oh)]
                     for b in range(n)])


def _np_conv1d(x, k, stride):
    width = k.shape[0]
    out = (x.shape[1] - width) // stride + 1
    return np.stack([np.einsum("nwi,wio->no", x[:, t * stride:t * stride + width], k)
                     for t in range(out)], 1)


def _forward(z, p, y, b, img, seq):
    torch = pytest.importorskip("torch")
    zt = torch.tensor(Z)
    w_present = np.count_nonzero(W)
    xent = -(P * _np_log_softmax(Z)).sum(-1)
    sparse = -_np_log_softmax(Z)[np.arange(4), Y]
    cases = {
        "softmax_xent": (gc.nn.softmax_cross_entropy_with_logits(labels=p, logits=z), xent),
        "softmax_xent_v2": (gc.nn.softmax_cross_entropy_with_logits_v2(labels=p, logits=z),
                            xent),
        "sigmoid_xent": (gc.nn.sigmoid_cross_entropy_with_logits(labels=b, logits=z * 30.0),
                         _np_sigmoid_xent(Z * 30, B)),
        "embedding": (gc.nn.embedding_lookup(z, gc.constant([[3, 0], [3, 1]])),
                      Z[[[3, 0], [3, 1]]]),
        "embedding_shards": (gc.nn.embedding_lookup([z, z * 2.0], gc.constant([6, 1]),
                                                    partition_strategy="div"),
                             np.concatenate([Z, 2 * Z])[[6, 1]]),
        "in_top_k": (gc.nn.in_top_k(z, y, 2), [sum(Z[i] > Z[i, Y[i]]) < 2 for i in range(4)]),
        "l2_normalize": (gc.nn.l2_normalize(z, 1), Z / np.linalg.norm(Z, axis=1, keepdims=True)),
        "relu6": (gc.nn.relu6(z * 3.0), np.clip(Z * 3, 0, 6)),
        "gelu": (gc.nn.gelu(z), torch.nn.functional.gelu(zt).numpy()),
        "gelu_tanh": (gc.nn.gelu(z, approximate=True),
                      torch.nn.functional.gelu(zt, approximate="tanh").numpy()),
        "swish": (gc.nn.swish(z), Z / (1 + np.exp(-Z))),
        "silu_beta": (gc.nn.silu(z, beta=2.0), Z / (1 + np.exp(-2 * Z))),
        "selu": (gc.nn.selu(z), SELU[1] * np.where(Z > 0, Z, SELU[0] * np.expm1(Z))),
        "softplus": (gc.nn.softplus(z), np.logaddexp(0, Z)),
        "softsign": (gc.nn.softsign(z), Z / (1 + np.abs(Z))),
        "max_pool": (gc.nn.max_pool(img, [1, 2, 2, 1], [1, 2, 2, 1], "VALID"),
                     _np_windows(IMG, 2, 2, np.max)),
        "avg_pool_nchw": (gc.nn.avg_pool(gc.transpose(img, (0, 3, 1, 2)), [1, 1, 3, 3],
                                         [1, 1, 1, 1], "VALID", data_format="NCHW"),
                          _np_windows(IMG, 3, 1, np.mean).transpose(0, 3, 1, 2)),
        "conv1d": (gc.nn.conv1d(seq, gc.constant(K1), stride=2),
                   torch.nn.functional.conv1d(torch.tensor(SEQ).permute(0, 2, 1),
                                              torch.tensor(K1).permute(2, 1, 0),
                                              stride=2).permute(0, 2, 1).numpy()),
        "conv1d_ncw_same": (gc.nn.conv1d(gc.transpose(seq, (0, 2, 1)), gc.constant(K1),
                                         padding="SAME", data_format="NCW"),
                            _np_conv1d(np.pad(SEQ, ((0, 0), (1, 1), (0, 0))), K1, 1)
                            .transpose(0, 2, 1)),
        "conv2d_nchw": (gc.nn.conv2d(gc.transpose(img, (0, 3, 1, 2)),
                                     gc.constant(np.ones((1, 1, 3, 2))), [1, 1, 1, 1], "VALID",
                                     data_format="NCHW"),
                        np.repeat(IMG.sum(-1, keepdims=True), 2, -1).transpose(0, 3, 1, 2)),
        # losses: TF1's default reduction divides by the count of non-zero weights
        "mse": (gc.losses.mean_squared_error(p, z), np.mean((Z - P) ** 2)),
        "absolute_difference": (gc.losses.absolute_difference(p, z, weights=W[:, None]),
                                (np.abs(Z - P) * W[:, None]).sum() / (w_present * 5)),
        "huber": (gc.losses.huber_loss(p, z, delta=1.5, reduction=gc.losses.Reduction.NONE),
                  _np_huber(Z - P, 1.5)),
        "log_loss": (gc.losses.log_loss(b, p, reduction=gc.losses.Reduction.SUM),
                     np.sum(-B * np.log(P + 1e-7) - (1 - B) * np.log(1 - P + 1e-7))),
        "hinge": (gc.losses.hinge_loss(b, z, reduction=gc.losses.Reduction.MEAN),
                  np.mean(np.maximum(0, 1 - (2 * B - 1) * Z))),
        "sparse_xent_weighted": (gc.losses.sparse_softmax_cross_entropy(y, z, weights=W),
                                 (sparse * W).sum() / w_present),
        "softmax_xent_smoothed": (gc.losses.softmax_cross_entropy(
            p, z, weights=W, label_smoothing=0.1,
            reduction=gc.losses.Reduction.SUM_OVER_BATCH_SIZE),
            (-((P * 0.9 + 0.02) * _np_log_softmax(Z)).sum(-1) * W).sum() / 4),
        "sigmoid_xent_loss": (gc.losses.sigmoid_cross_entropy(b, z),
                              np.mean(_np_sigmoid_xent(Z, B))),
        "zero_weights": (gc.losses.mean_squared_error(p, z, weights=0.0), 0.0),
    }
    return {k: t for k, (t, _) in cases.items()}, {k: np.asarray(w) for k, (_, w) in cases.items()}


def _graph():
    graph = gc.Graph()
    with graph.as_default():
        feeds = [gc.placeholder(gc.float64, (None,) + a.shape[1:], name=n) for n, a in
                 [("z", Z), ("p", P), ("b", B), ("img", IMG), ("seq", SEQ)]]
        y = gc.placeholder(gc.int32, (None,), name="y")
        z, p, b, img, seq = feeds
        fetches, expected = _forward(z, p, y, b, img, seq)
    feed = dict(zip(feeds, [Z, P, B, IMG, SEQ]))
    feed[y] = Y
    return graph, fetches, expected, feed


@pytest.mark.parametrize("backend", ALL)
def test_forward_matches_numpy_and_torch(backend):
    graph, fetches, expected, feed = _graph()
    got = gc.Session(graph, backend=backend).run(fetches, feed)
    for key, want in expected.items():
        tol = 2e-7 if key == "gelu" else 1e-12      # erf to 1.2e-7 (ops/activations.py)
        assert np.shape(got[key]) == want.shape, key
        np.testing.assert_allclose(got[key], want, rtol=tol, atol=tol, err_msg=key)


def test_losses_join_the_collection_and_add_up(graph):
    z = gc.constant(Z)
    with gc.variable_scope("net"):
        w = gc.get_variable("w", [3], gc.float64, initializer=1.0,
                            regularizer=lambda v: gc.reduce_sum(v) * 0.5)
    a = gc.losses.mean_squared_error(gc.constant(P), z)
    c = gc.losses.hinge_loss(gc.constant(B), z)
    assert gc.losses.get_losses() == [a, c]
    total = gc.losses.get_total_loss()
    got = gc.Session(graph, backend="numpy").run([total, a, c, w])
    assert got[0] == pytest.approx(got[1] + got[2] + 1.5)
    with pytest.raises(ValueError, match="unknown reduction"):
        gc.losses.compute_weighted_loss(z, reduction="mean")


GRADIENT_CASES = {
    "softmax_xent_v2_both": lambda z, p: gc.nn.softmax_cross_entropy_with_logits_v2(
        labels=p, logits=z),
    "softmax_xent": lambda z, p: gc.nn.softmax_cross_entropy_with_logits(labels=p, logits=z),
    "sigmoid_xent": lambda z, p: gc.nn.sigmoid_cross_entropy_with_logits(labels=p, logits=z),
    "l2_normalize": lambda z, p: gc.nn.l2_normalize(z, 0) * p,
    "activations": lambda z, p: (gc.nn.relu6(z * 4.0) + gc.nn.gelu(z) * p
                                 + gc.nn.gelu(z, approximate=True) + gc.nn.swish(z)
                                 + gc.nn.selu(z) + gc.nn.softsign(z) + gc.nn.softplus(z)),
    "embedding_lookup": lambda z, p: gc.nn.embedding_lookup(z, gc.constant([2, 2, 0])) * 3.0,
    "huber": lambda z, p: gc.losses.huber_loss(p, z, weights=gc.constant([[1.0], [2.0], [0.0]],
                                                                          gc.float64)),
    "log_loss": lambda z, p: gc.losses.log_loss(gc.constant(np.eye(3, 4)), p),
    "absolute_difference": lambda z, p: gc.losses.absolute_difference(p, z, weights=0.5),
    "hinge": lambda z, p: gc.losses.hinge_loss(gc.constant(np.eye(3, 4)), z * 0.3),
    "softmax_xent_loss": lambda z, p: gc.losses.softmax_cross_entropy(p, z,
                                                                      label_smoothing=0.2),
    "sparse_xent_loss": lambda z, p: gc.losses.sparse_softmax_cross_entropy(
        gc.constant([1, 3, 0]), z, weights=gc.constant([1.0, 0.0, 3.0], gc.float64)),
}


def _gradient_inputs(name):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    z = rng.uniform(0.2, 1.2, (3, 4)) * rng.choice([-1.0, 1.0], (3, 4))   # off every kink
    return z, rng.uniform(0.1, 0.9, (3, 4))


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradient_matches_finite_differences(name):
    graph = gc.Graph()
    with graph.as_default():
        z = gc.placeholder(gc.float64, (3, 4), name="z")
        p = gc.placeholder(gc.float64, (3, 4), name="p")
        y = GRADIENT_CASES[name](z, p)
    zv, pv = _gradient_inputs(name)
    if name in ("softmax_xent", "softmax_xent_loss"):      # no gradient into the labels
        assert gc.gradients(y, [p]) == [None]
        xs = [z]
    else:
        xs = [z, p] if name != "embedding_lookup" else [z]
    # erf's fit (gelu) is smooth but only 1e-7 exact: its derivative is checked looser
    tol = 1e-5 if name == "activations" else 1e-6
    pairs = gc.test.compute_gradient(xs, y, {z: zv, p: pv})
    for theoretical, numerical in pairs:
        np.testing.assert_allclose(theoretical, numerical, rtol=tol, atol=tol)
    assert any(np.abs(t).max() > 0 for t, _ in pairs)


@pytest.mark.parametrize("backend", COMPILED)
def test_gradients_match_the_interpreter(backend):
    graph = gc.Graph()
    with graph.as_default():
        z = gc.placeholder(gc.float64, (3, 4), name="z")
        p = gc.placeholder(gc.float64, (3, 4), name="p")
        ys = [fn(z, p) for _, fn in sorted(GRADIENT_CASES.items())]
        total = gc.add_n([gc.reduce_sum(y) * float(i + 1) for i, y in enumerate(ys)])
        grads = gc.gradients(total, [z, p])
    zv, pv = _gradient_inputs("all")
    want = gc.Session(graph, backend="numpy").run(ys + grads, {z: zv, p: pv})
    got = gc.Session(graph, backend=backend).run(ys + grads, {z: zv, p: pv})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-12)


def test_gelu_matches_its_definition_with_math_erf():
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (None,))
        y = gc.nn.gelu(x)
    v = np.linspace(-8, 8, 161)
    want = [t * 0.5 * (1 + math.erf(t / math.sqrt(2))) for t in v]
    np.testing.assert_allclose(gc.Session(graph, backend="numpy").run(y, {x: v}), want,
                               atol=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_conv2d_transpose_is_the_adjoint_of_conv2d(backend):
    """⟨conv2d(x, w), v⟩ = ⟨x, conv2d_transpose(v, w)⟩ for every x and v."""
    graph = gc.Graph()
    w = RNG.standard_normal((3, 3, 2, 4))
    x, v = RNG.standard_normal((2, 6, 5, 2)), RNG.standard_normal((2, 3, 3, 4))
    with graph.as_default():
        xs = gc.placeholder(gc.float64, x.shape)
        vs = gc.placeholder(gc.float64, v.shape)
        forward = gc.nn.conv2d(xs, gc.constant(w), strides=2, padding="SAME")
        back = gc.nn.conv2d_transpose(vs, gc.constant(w), x.shape, [1, 2, 2, 1], "SAME")
        back_nchw = gc.nn.conv2d_transpose(gc.transpose(vs, (0, 3, 1, 2)), gc.constant(w),
                                           (2, 2, 6, 5), [1, 1, 2, 2], "SAME",
                                           data_format="NCHW")
    y, xt, xt_nchw = gc.Session(graph, backend=backend).run([forward, back, back_nchw],
                                                            {xs: x, vs: v})
    assert xt.shape == x.shape
    assert np.sum(y * v) == pytest.approx(np.sum(x * xt), rel=1e-12)
    np.testing.assert_allclose(xt_nchw, xt.transpose(0, 3, 1, 2), rtol=1e-13)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_layer_normalization_matches_numpy_and_finite_differences(backend):
    x = RNG.standard_normal((2, 3, 4))
    scale, offset = RNG.standard_normal((3, 4)), RNG.standard_normal((4,))
    graph = gc.Graph()
    with graph.as_default():
        xs = gc.placeholder(gc.float64, x.shape)
        ss = gc.placeholder(gc.float64, scale.shape)
        y = gc.nn.layer_normalization(xs, ss, gc.constant(offset), begin_axis=1,
                                      epsilon=1e-3)
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    want = (x - mean) / np.sqrt(var + 1e-3) * scale + offset
    got = gc.Session(graph, backend=backend).run(y, {xs: x, ss: scale})
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    pairs = gc.test.compute_gradient([xs, ss], y, {xs: x, ss: scale},
                                     session=gc.Session(graph, backend=backend))
    for theoretical, numerical in pairs:
        np.testing.assert_allclose(theoretical, numerical, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_nll_loss_matches_numpy_and_finite_differences(backend):
    logp = RNG.standard_normal((3, 4, 2))           # classes along axis 1
    labels = np.array([[0, 3], [-1, 2], [1, -1]])   # -1 ignored (outside [0, 4))
    weights = np.array([1.0, 2.0, 0.5, 3.0])
    graph = gc.Graph()
    with graph.as_default():
        lp = gc.placeholder(gc.float64, logp.shape)
        y = gc.losses.nll_loss(lp, gc.constant(labels), gc.constant(weights),
                               ignore_index=-1, reduction="mean")
    keep = labels != -1
    safe = np.where(keep, labels, 0)
    w = weights[safe] * keep
    picked = np.take_along_axis(logp, safe[:, None, :], axis=1)[:, 0, :]
    want = (-picked * w).sum() / w.sum()
    got = gc.Session(graph, backend=backend).run(y, {lp: logp})
    np.testing.assert_allclose(got, want, rtol=1e-12)
    pairs = gc.test.compute_gradient([lp], y, {lp: logp},
                                     session=gc.Session(graph, backend=backend))
    for theoretical, numerical in pairs:
        np.testing.assert_allclose(theoretical, numerical, rtol=1e-6, atol=1e-6)
