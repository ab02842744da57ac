"""Forward semantics of the core ops against numpy written out in the test."""
import numpy as np
import pytest

import graphc as gc

from backends import ALL


def run(graph, fetch, feed=None):
    return gc.Session(graph).run(fetch, feed or {})


def test_multiclass_hinge_loss_worked_example(graph):
    # columns: cat, car, frog scores for three images labelled cat, car, frog
    scores = gc.constant([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]], gc.float64)
    losses = gc.losses.multiclass_hinge_loss(gc.constant([0, 1, 2]), scores)
    np.testing.assert_allclose(run(graph, losses), [2.9, 0.0, 12.9], atol=1e-12)
    np.testing.assert_allclose(run(graph, gc.reduce_mean(losses)), 15.8 / 3)


def test_cross_entropy_and_log_softmax_are_stable_for_huge_logits(graph):
    logits = gc.constant([[1000.0, 0.0, -1000.0], [3.2, 5.1, -1.7]], gc.float64)
    xent = gc.nn.sparse_softmax_cross_entropy_with_logits(labels=gc.constant([2, 0]),
                                                          logits=logits)
    got_xent, got_logp, got_p = run(graph, [xent, gc.nn.log_softmax(logits),
                                            gc.nn.softmax(logits)])
    assert np.isfinite(got_xent).all() and np.isfinite(got_logp).all()
    np.testing.assert_allclose(got_xent[0], 2000.0)
    s = np.exp([3.2, 5.1, -1.7]) / np.exp([3.2, 5.1, -1.7]).sum()
    np.testing.assert_allclose(got_xent[1], -np.log(s[0]))
    np.testing.assert_allclose(got_p[1], s)
    np.testing.assert_allclose(got_p.sum(axis=1), 1.0)


def test_activations(graph):
    x = gc.constant([-2.0, -0.5, 0.0, 0.5, 3.0], gc.float64)
    xv = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    got = run(graph, [gc.nn.relu(x), gc.nn.leaky_relu(x, 0.1), gc.nn.elu(x), gc.nn.softplus(x),
                      gc.sigmoid(x), gc.tanh(x), gc.rsqrt(x * x + 1.0)])
    np.testing.assert_allclose(got[0], np.maximum(xv, 0))
    np.testing.assert_allclose(got[1], np.where(xv > 0, xv, 0.1 * xv))
    np.testing.assert_allclose(got[2], np.where(xv > 0, xv, np.exp(xv) - 1))
    np.testing.assert_allclose(got[3], np.log1p(np.exp(xv)))
    np.testing.assert_allclose(got[4], 1 / (1 + np.exp(-xv)))
    np.testing.assert_allclose(got[5], np.tanh(xv))
    np.testing.assert_allclose(got[6], 1 / np.sqrt(xv * xv + 1))


def test_sigmoid_does_not_overflow(graph):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = run(graph, gc.sigmoid(gc.constant([-1000.0, 1000.0], gc.float32)))
    np.testing.assert_array_equal(got, [0.0, 1.0])


def test_slicing_like_numpy(graph, rng):
    xv = rng.standard_normal((4, 5, 6))
    x = gc.placeholder(gc.float64, (None, 5, 6))
    cases = [(slice(1, 3),), (Ellipsis, 2), (slice(None, None, -1), None, 0),
             (-1, slice(1, None, 2), slice(None, -2)), (None, Ellipsis, None)]
    for index in cases:
        t = x[index]
        got = run(graph, t, {x: xv})
        np.testing.assert_array_equal(got, xv[index])
        assert len(t.shape) == got.ndim
        assert all(s is None or s == g for s, g in zip(t.shape, got.shape)), (index, t.shape)


def test_shape_ops(graph, rng):
    xv = rng.standard_normal((2, 3, 4))
    x = gc.placeholder(gc.float64, (None, 3, 4))
    fetches = {
        "reshape": gc.reshape(x, (-1, 4)),
        "transpose": gc.transpose(x, (1, 2, 0)),
        "expand": gc.expand_dims(x, -1),
        "squeeze": gc.squeeze(gc.expand_dims(x, 1), 1),
        "concat": gc.concat([x, x * 2.0], axis=2),
        "pad": gc.pad(x, [[0, 1], [2, 0], [1, 1]], constant_values=7.0),
        "tile": gc.tile(x, [1, 2, 1]),
        "bcast": gc.broadcast_to(gc.constant([1.0, 2.0, 3.0, 4.0], gc.float64), (3, 4)),
        "gather": gc.gather(x, gc.constant([[2, 0], [1, 1]]), axis=1),
    }
    got = run(graph, fetches, {x: xv})
    np.testing.assert_array_equal(got["reshape"], xv.reshape(-1, 4))
    np.testing.assert_array_equal(got["transpose"], xv.transpose(1, 2, 0))
    assert got["expand"].shape == (2, 3, 4, 1) and got["squeeze"].shape == (2, 3, 4)
    np.testing.assert_array_equal(got["concat"], np.concatenate([xv, 2 * xv], axis=2))
    np.testing.assert_array_equal(got["pad"], np.pad(xv, [[0, 1], [2, 0], [1, 1]],
                                                     constant_values=7.0))
    np.testing.assert_array_equal(got["tile"], np.tile(xv, [1, 2, 1]))
    np.testing.assert_array_equal(got["bcast"][2], [1, 2, 3, 4])
    np.testing.assert_array_equal(got["gather"], xv[:, [[2, 0], [1, 1]], :])
    assert fetches["gather"].shape == (None, 2, 2, 4)
    parts = gc.split(x, [1, 2], axis=1)
    got_parts = run(graph, parts, {x: xv})
    np.testing.assert_array_equal(got_parts[1], xv[:, 1:])


def test_one_hot_argmax_compare_where_cast(graph):
    labels = gc.constant([0, 2, 5, -1])
    hot = gc.one_hot(labels, 3, dtype=gc.float64)
    x = gc.constant([[1.0, 5.0, 5.0], [0.0, -1.0, 2.0]], gc.float64)
    got = run(graph, [hot, gc.argmax(x, 1), gc.argmin(x, 0), x > 1.0,
                      gc.where(x > 1.0, x, -x), gc.cast(x, gc.int32), gc.size(x)])
    np.testing.assert_array_equal(got[0], [[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(got[1], [1, 2])      # first maximum on ties
    assert got[1].dtype == np.int64
    np.testing.assert_array_equal(got[2], [1, 1, 1])
    np.testing.assert_array_equal(got[3], [[False, True, True], [False, False, True]])
    np.testing.assert_array_equal(got[4], [[-1, 5, 5], [0, 1, 2]])
    assert got[5].dtype == np.int32 and got[6] == 6


def test_matmul_variants(graph, rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    ta, tb = gc.constant(a.T.copy()), gc.constant(b.T.copy())
    got = run(graph, [gc.matmul(gc.constant(a), gc.constant(b)),
                      gc.matmul(ta, gc.constant(b), transpose_a=True),
                      gc.matmul(gc.constant(a), tb, transpose_b=True),
                      gc.matmul(ta, tb, transpose_a=True, transpose_b=True)])
    for g in got:
        np.testing.assert_allclose(g, a @ b)
    batched = gc.matmul(gc.constant(rng.standard_normal((2, 1, 3, 4))), gc.constant(b))
    assert batched.shape == (2, 1, 3, 5)


def test_regularizers(graph):
    w = gc.constant([[1.0, -2.0], [3.0, 0.5]], gc.float64)
    wv = np.array([[1.0, -2.0], [3.0, 0.5]])
    got = run(graph, [gc.losses.l1_regularizer(0.1)(w), gc.losses.l2_regularizer(0.1)(w),
                      gc.losses.elastic_net_regularizer(0.1, 0.2)(w), gc.nn.l2_loss(w),
                      gc.losses.apply_regularization(gc.losses.l2_regularizer(1.0), [w, w])])
    np.testing.assert_allclose(got[0], 0.1 * np.abs(wv).sum())
    np.testing.assert_allclose(got[1], 0.1 * 0.5 * (wv ** 2).sum())
    np.testing.assert_allclose(got[2], 0.1 * np.abs(wv).sum() + 0.2 * 0.5 * (wv ** 2).sum())
    np.testing.assert_allclose(got[3], 0.5 * (wv ** 2).sum())
    np.testing.assert_allclose(got[4], (wv ** 2).sum())


def test_mean_squared_error(graph):
    p = gc.constant([1.0, 2.0, 4.0])
    assert run(graph, gc.losses.mean_squared_error([1.0, 1.0, 1.0], p)) == pytest.approx(10 / 3)


def test_stop_gradient_blocks_and_unconnected_is_none(graph):
    x = gc.placeholder(gc.float64, (2,), name="x")
    z = gc.placeholder(gc.float64, (2,), name="z")
    i = gc.placeholder(gc.int32, (2,), name="i")
    y = gc.reduce_sum(x * gc.stop_gradient(x) + gc.cast(i, gc.float64))
    gx, gz, gi = gc.gradients(y, [x, z, i])
    assert gz is None and gi is None
    np.testing.assert_array_equal(run(graph, gx, {x: [1.0, 3.0], i: [0, 0]}), [1.0, 3.0])


def test_gradient_accumulates_over_fan_out(graph):
    x = gc.placeholder(gc.float64, (), name="x")
    y = x * x + x * 3.0 + gc.exp(x)
    (g,) = gc.gradients(y, [x])
    assert run(graph, g, {x: 0.5}) == pytest.approx(2 * 0.5 + 3.0 + np.exp(0.5))
    assert any(n.op.name == "add_n" for n in graph.nodes)


def test_a_numpy_array_on_the_left_hands_the_operator_to_the_tensor(graph, rng):
    t = gc.placeholder(gc.float32, (3, 2), name="t")
    a = rng.standard_normal((3, 2)).astype(np.float32)
    m = rng.standard_normal((4, 3)).astype(np.float32)
    results = {"*": a * t, "+": a + t, "-": a - t, "/": a / t, "<": a < t,
               "@": m @ t, "scalar": np.float32(2) - t}
    for name, value in results.items():
        assert isinstance(value, gc.Tensor), name
    tv = rng.standard_normal((3, 2)).astype(np.float32) + 3
    got = run(graph, results, {t: tv})
    want = {"*": a * tv, "+": a + tv, "-": a - tv, "/": a / tv, "<": a < tv,
            "@": m @ tv, "scalar": 2 - tv}
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("backend", ALL)
def test_float32_log_softmax_keeps_its_precision_at_large_logits(graph, backend):
    """(x − max) − log Σ, not x − (max + log Σ): at logits of 1e4 the latter keeps only
    the precision of 1e4 in float32 (−1.0986328 instead of −1.0986123)."""
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    labels = gc.placeholder(gc.int32, (None,), name="labels")
    logp = gc.nn.log_softmax(x)
    xent = gc.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=x)
    values = np.array([[1e4, 1e4, 1e4], [1e4, 1e4 - 1, 1e4 - 2], [-3e4, -3e4 + 1, -3e4]],
                      np.float32)
    got_logp, got_xent = gc.Session(graph, backend=backend).run(
        [logp, xent], {x: values, labels: [0, 2, 1]})
    shifted = values.astype(np.float64) - values.max(1, keepdims=True)
    want = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    np.testing.assert_allclose(got_logp, want, rtol=2e-7)
    np.testing.assert_allclose(got_xent, -want[[0, 1, 2], [0, 2, 1]], rtol=2e-7)


@pytest.mark.parametrize("backend", ALL)
def test_reductions_and_softmax_over_no_elements_agree_on_every_backend(graph, backend):
    """A batch of 0 (or a class axis of 0): max / min give −inf / +inf (an integer
    type's lowest / highest value), softmax an empty result, argmax an error."""
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    i = gc.placeholder(gc.int32, (None, 3), name="i")
    e = gc.placeholder(gc.float32, (2, 0), name="e")
    feed = {x: np.zeros((0, 3), np.float32), i: np.zeros((0, 3), np.int32),
            e: np.zeros((2, 0), np.float32)}
    fetches = {"max": gc.reduce_max(x, 0), "min": gc.reduce_min(x, 0),
               "max_all": gc.reduce_max(x), "int_max": gc.reduce_max(i, 0),
               "int_min": gc.reduce_min(i, 0), "sum": gc.reduce_sum(x, 0),
               "softmax": gc.nn.softmax(e), "log_softmax": gc.nn.log_softmax(e),
               "batch_softmax": gc.nn.softmax(x)}
    sess = gc.Session(graph, backend=backend)
    got = sess.run(fetches, feed)
    int32 = np.iinfo(np.int32)
    want = {"max": np.full(3, -np.inf), "min": np.full(3, np.inf), "max_all": -np.inf,
            "int_max": np.full(3, int32.min), "int_min": np.full(3, int32.max),
            "sum": np.zeros(3), "softmax": np.zeros((2, 0)), "log_softmax": np.zeros((2, 0)),
            "batch_softmax": np.zeros((0, 3))}
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
        assert np.shape(got[name]) == np.shape(want[name]), name
    with pytest.raises(gc.ExecutionError, match="argmax over an empty axis 0"):
        sess.run(gc.argmax(x, 0), feed)
    # an axis of size 0 fixed in the graph gives the same answers
    np.testing.assert_array_equal(sess.run(gc.reduce_max(e, 1), feed), [-np.inf, -np.inf])
    with pytest.raises(gc.ShapeError, match="argmax over an empty axis 1"):
        gc.argmax(e, 1)
    # as does a batch of 0 that a program must know (N · N), compiled for it
    square = gc.matmul(x, x, transpose_b=True)
    assert sess.run(gc.reduce_max(square - gc.reduce_max(square, 0)), feed) == -np.inf
    np.testing.assert_array_equal(sess.run(gc.argmax(x, 0), {x: [[1, 5, 2], [3, 0, 2]]}),
                                  [1, 0, 0])
