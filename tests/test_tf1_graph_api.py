"""TF1's graph and session API: global_variables_initializer, variable_scope /
get_variable with reuse, placeholder_with_default, feeding any tensor,
InteractiveSession and Tensor.eval, keep_dims=. Runs are checked on every backend."""
import numpy as np
import pytest

import graphc as gc
from backends import ALL


def test_tf1_initializer_objects_with_get_variable_and_layers(graph):
    big = 200_000
    made = {
        "zeros": gc.get_variable("zeros", [2, 3], initializer=gc.zeros_initializer()),
        "ones": gc.get_variable("ones", [2], gc.float64, initializer=gc.ones_initializer()),
        "fill": gc.get_variable("fill", [3], initializer=gc.constant_initializer(2.5)),
        "array": gc.get_variable("array", [2, 2], gc.float64,
                                 initializer=gc.constant_initializer([1, 2, 3, 4])),
        "normal": gc.get_variable("normal", [big], initializer=gc.random_normal_initializer(
            1.0, 2.0, seed=1)),
        "truncated": gc.get_variable("truncated", [big],
                                     initializer=gc.truncated_normal_initializer(stddev=0.5,
                                                                                 seed=2)),
        "uniform": gc.get_variable("uniform", [big],
                                   initializer=gc.random_uniform_initializer(-1, 3, seed=3)),
        "glorot": gc.get_variable("glorot", [300, 500],
                                  initializer=gc.glorot_uniform_initializer(seed=4)),
    }
    kernel = gc.layers.dense(gc.placeholder(gc.float32, (None, 2)), 3,
                             kernel_initializer=gc.constant_initializer(0.25))
    values = gc.Session(graph, backend="numpy").run(made)
    np.testing.assert_array_equal(values["zeros"], np.zeros((2, 3), np.float32))
    assert values["ones"].dtype == np.float64 and values["fill"].tolist() == [2.5] * 3
    np.testing.assert_array_equal(values["array"], [[1, 2], [3, 4]])
    assert abs(values["normal"].mean() - 1) < 0.03 and abs(values["normal"].std() - 2) < 0.03
    t = values["truncated"]        # N(0, 0.5²) cut at ±1: std 0.5·0.8796
    assert np.abs(t).max() <= 1.0 and abs(t.std() - 0.5 * 0.8796) < 0.005
    u = values["uniform"]
    assert -1 <= u.min() and u.max() < 3 and abs(u.mean() - 1) < 0.02
    assert np.abs(values["glorot"]).max() <= np.sqrt(6 / 800)
    np.testing.assert_array_equal(
        gc.Session(graph, backend="numpy").run(gc.layers.variables(kernel)[0]),
        np.full((2, 3), 0.25, np.float32))
    with pytest.raises(ValueError, match="4 values for shape"):
        gc.get_variable("bad", [3], initializer=gc.constant_initializer([1, 2, 3, 4]))


def test_get_variable_names_creates_and_reuses_as_tf1(graph):
    with gc.variable_scope("layer1"):
        w = gc.get_variable("w", [3, 2], initializer=gc.init.ones)
        b = gc.get_variable("b", [2], dtype=gc.float64, initializer=0.5, trainable=False)
        h = gc.matmul(gc.constant(np.ones((1, 3), np.float32)), w)
    with gc.variable_scope("layer1", reuse=True):
        assert gc.get_variable("w") is w
        assert gc.get_variable("w", [3, 2]) is w
        with gc.variable_scope("inner"):             # reuse is inherited
            with pytest.raises(ValueError, match="layer1/inner/v does not exist"):
                gc.get_variable("v", [1])
        h2 = gc.identity(h)
    with gc.variable_scope("layer1"):
        with pytest.raises(ValueError, match="Variable layer1/w already exists"):
            gc.get_variable("w", [3, 2])
    with gc.variable_scope("layer1", reuse=gc.AUTO_REUSE) as scope:
        assert gc.get_variable("w", [3, 2]) is w
        v = gc.get_variable("v", [4])                # made: AUTO_REUSE creates
        assert scope.name == "layer1" and gc.get_variable_scope() is scope
        with pytest.raises(ValueError, match="specified shape"):
            gc.get_variable("w", [2, 3])
    assert (w.name, b.name, v.name) == ("layer1/w", "layer1/b", "layer1/v")
    assert h.name.startswith("layer1/") and h2.name.startswith("layer1_1/")  # TF1 name scopes
    assert gc.trainable_variables() == [w, v]
    assert set(gc.global_variables()) == {w, b, v}
    assert b.dtype == gc.float64
    init = gc.global_variables_initializer()
    sess = gc.Session(graph, backend="numpy")
    assert sess.run(init) is None
    np.testing.assert_array_equal(sess.run(w), np.ones((3, 2)))
    np.testing.assert_array_equal(sess.run(b), [0.5, 0.5])
    limit = np.sqrt(6 / 4)                         # the default: Glorot-uniform, fans 4 and 4
    assert np.all(np.abs(sess.run(v)) <= limit) and np.std(sess.run(v)) > 0


def test_reuse_variables_and_a_scope_object(graph):
    with gc.variable_scope("model") as scope:
        w = gc.get_variable("w", [2], initializer=gc.constant([1.0, 2.0]))
        scope.reuse_variables()
        assert gc.get_variable("w") is w
    with gc.variable_scope(scope, reuse=True):
        assert gc.get_variable("w") is w
    with gc.variable_scope(None, default_name="dense"):
        a = gc.get_variable("k", [1])
    with gc.variable_scope(None, default_name="dense"):
        c = gc.get_variable("k", [1])
    assert (a.name, c.name) == ("dense/k", "dense_1/k")
    np.testing.assert_array_equal(gc.Session(graph, backend="numpy").run(w), [1.0, 2.0])


def _shared_layer_net():
    """Two towers sharing one layer through variable_scope(reuse=True), as TF1 code is
    written; returns (x1, x2, out, W, b)."""
    def layer(x, reuse):
        with gc.variable_scope("shared", reuse=reuse):
            w = gc.get_variable("W", [3, 2], gc.float64,
                                initializer=np.arange(6.0).reshape(3, 2) / 10)
            b = gc.get_variable("b", [2], gc.float64, initializer=gc.init.zeros)
            return gc.tanh(gc.matmul(x, w) + b), w, b
    x1 = gc.placeholder(gc.float64, (None, 3), name="x1")
    x2 = gc.placeholder(gc.float64, (None, 3), name="x2")
    y1, w, b = layer(x1, None)
    y2, w2, b2 = layer(x2, True)
    assert (w2, b2) == (w, b)
    return x1, x2, gc.reduce_sum(y1 * y2), w, b


@pytest.mark.parametrize("backend", ALL)
def test_shared_weights_train_on_every_backend(backend):
    graph = gc.Graph()
    with graph.as_default():
        x1, x2, out, w, b = _shared_layer_net()
        (gw,) = gc.gradients(out, [w])
        init = gc.global_variables_initializer()
    a, c = np.ones((2, 3)), np.arange(6.0).reshape(2, 3)
    sess = gc.Session(graph, backend=backend)
    sess.run(init)
    got_out, got_gw = sess.run([out, gw], {x1: a, x2: c})
    w0 = np.arange(6.0).reshape(3, 2) / 10
    y1, y2 = np.tanh(a @ w0), np.tanh(c @ w0)
    np.testing.assert_allclose(got_out, np.sum(y1 * y2), rtol=1e-13)
    want_gw = a.T @ (y2 * (1 - y1 ** 2)) + c.T @ (y1 * (1 - y2 ** 2))
    np.testing.assert_allclose(got_gw, want_gw, rtol=1e-12)


@pytest.mark.parametrize("backend", ALL)
def test_placeholder_with_default_and_feeding_any_tensor(backend):
    graph = gc.Graph()
    with graph.as_default():
        default = gc.constant(np.arange(6.0).reshape(2, 3))
        x = gc.placeholder_with_default(default, (None, 3), name="x")
        v = gc.Variable(np.array([1.0, 2.0, 3.0]), name="v")
        h = gc.multiply(x, v, name="h")
        y = gc.reduce_sum(gc.square(h), axis=1, name="y")
        step = gc.assign_add(v, gc.ones_like(v))
    assert x.shape == (None, 3)
    sess = gc.Session(graph, backend=backend)
    d = np.arange(6.0).reshape(2, 3)
    vv = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(sess.run(y), np.sum((d * vv) ** 2, 1))          # the default
    fed = np.ones((4, 3))
    np.testing.assert_allclose(sess.run(y, {x: fed}), np.sum(vv ** 2) * np.ones(4))
    # any tensor may be fed: an intermediate, a variable, by name
    hv = np.full((3, 3), 2.0)
    np.testing.assert_allclose(sess.run(y, {h: hv}), [12.0] * 3)
    np.testing.assert_allclose(sess.run(y, {"h:0": hv}), [12.0] * 3)
    np.testing.assert_allclose(sess.run(y, {v: np.zeros(3), x: fed}), np.zeros(4))
    np.testing.assert_allclose(sess.variable_value(v), vv)     # feeding did not write it
    hs, _ = sess.run([h, step], {x: fed})
    np.testing.assert_allclose(hs, fed * vv)
    np.testing.assert_allclose(sess.variable_value(v), vv + 1)
    with pytest.raises(gc.FeedError, match="shape"):
        sess.run(y, {h: np.ones((2, 4))})


def test_a_fed_tensor_cuts_off_what_computes_it(graph):
    """A placeholder above a fed tensor need not be fed (TF1)."""
    x = gc.placeholder(gc.float32, (2,), name="x")
    h = gc.exp(x, name="h")
    y = h * 3.0
    np.testing.assert_allclose(gc.Session(graph).run(y, {h: [1.0, 2.0]}), [3.0, 6.0])
    with pytest.raises(gc.FeedError, match="must be fed"):
        gc.Session(graph).run(y)


def test_interactive_session_and_eval(graph):
    v = gc.Variable(2.0, name="v")
    y = v * 3.0
    step = gc.assign_add(v, 1.0)
    with pytest.raises(gc.GraphcError, match="no default session"):
        y.eval()
    sess = gc.InteractiveSession(graph, backend="numpy")
    assert gc.get_default_session() is sess
    assert y.eval() == 6.0
    step.run()
    assert y.eval() == 9.0 and y.eval(feed_dict={v: 1.0}) == 3.0
    sess.close()
    assert gc.get_default_session() is None
    other = gc.Session(graph, backend="numpy")
    with other.as_default():
        assert y.eval() == 6.0
    assert y.eval(session=other) == 6.0


def test_keep_dims_and_reduction_indices_are_tf1_aliases(graph):
    x = gc.constant(np.arange(6.0).reshape(2, 3))
    got = gc.Session(graph, backend="numpy").run([
        gc.reduce_sum(x, 1, keep_dims=True), gc.reduce_max(x, reduction_indices=[0]),
        gc.reduce_mean(x, axis=1, keep_dims=False)])
    np.testing.assert_array_equal(got[0], [[3.0], [12.0]])
    np.testing.assert_array_equal(got[1], [3.0, 4.0, 5.0])
    np.testing.assert_array_equal(got[2], [1.0, 4.0])
