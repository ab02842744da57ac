"""bias_add, dropout, batch normalisation, maxout and the gc.layers functions."""
import functools
import importlib.util
import os

import numpy as np
import pytest

import graphc as gc
from backends import ALL

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def run(graph, fetches, feed=None):
    return gc.Session(graph, backend="numpy").run(fetches, feed or {})


# -- bias_add -----------------------------------------------------------------------------
def test_bias_add_adds_along_the_channel_axis(graph, rng):
    x_val, b_val = rng.standard_normal((2, 3, 3, 4)), rng.standard_normal(4)
    y = gc.nn.bias_add(gc.constant(x_val), gc.constant(b_val))
    np.testing.assert_allclose(run(graph, y), x_val + b_val[None, None, None, :])


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2, 4)])
def test_bias_add_gradient(graph, rng, shape):
    x = gc.placeholder(gc.float64, shape)
    b = gc.placeholder(gc.float64, (shape[-1],))
    y = gc.nn.bias_add(x, b)
    feed = {x: rng.standard_normal(shape), b: rng.standard_normal(shape[-1])}
    assert gc.test.compute_gradient_error([x, b], y, feed) < 1e-6


def test_bias_add_errors(graph):
    x = gc.placeholder(gc.float32, (None, 5), name="h")
    with pytest.raises(gc.ShapeError, match="bias of size 4 does not match the last"):
        gc.nn.bias_add(x, gc.placeholder(gc.float32, (4,)))
    with pytest.raises(gc.ShapeError, match="bias must be 1-D"):
        gc.nn.bias_add(x, gc.placeholder(gc.float32, (1, 5)))


# -- dropout ------------------------------------------------------------------------------
def _dropout_graph(rate=0.5, seed=7, shape=(50, 40)):
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, shape, name="x")
        y = gc.nn.dropout(x, rate, seed=seed)
    return g, x, y


def test_dropout_same_seed_same_mask_sequence_in_a_new_session():
    ones = np.ones((50, 40), np.float32)
    sequences = []
    for _ in range(2):
        g, x, y = _dropout_graph()
        sess = gc.Session(g)
        sequences.append([sess.run(y, {x: ones}) for _ in range(3)])
    for a, b in zip(*sequences):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(sequences[0][0], sequences[0][1]), "a new mask every run"
    g, x, y = _dropout_graph(seed=8)
    assert not np.array_equal(gc.Session(g).run(y, {x: ones}), sequences[0][0])


def test_dropout_rate_zero_and_inference_are_identity(graph, rng):
    x = gc.placeholder(gc.float32, (4, 5))
    x_val = rng.standard_normal((4, 5)).astype(np.float32)
    training = gc.placeholder(gc.bool, ())
    outputs = [gc.nn.dropout(x, 0.0), gc.nn.dropout(x, 0.5, training=False),
               gc.layers.dropout(x, 0.5), gc.nn.dropout(x, 0.5, training=training)]
    for out in run(graph, outputs, {x: x_val, training: False}):
        np.testing.assert_array_equal(out, x_val)


def test_dropout_training_tensor_switches_per_run(graph):
    x = gc.placeholder(gc.float32, (100, 100))
    training = gc.placeholder(gc.bool, ())
    y = gc.nn.dropout(x, 0.5, training=training, seed=1)
    sess = gc.Session(graph)
    ones = np.ones((100, 100), np.float32)
    assert np.all(sess.run(y, {x: ones, training: False}) == 1)
    dropped = sess.run(y, {x: ones, training: True})
    assert set(np.unique(dropped)) == {0.0, 2.0}


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_preserves_the_expectation(graph, rate):
    x = gc.constant(np.full((1000, 1000), 3.0, np.float32))
    y_val = run(graph, gc.nn.dropout(x, rate, seed=3))
    # the mean of 10⁶ elements has std 3·√(rate / (1 − rate)) / 1000 <= 0.006
    assert abs(y_val.mean() - 3.0) < 0.02
    assert abs(np.mean(y_val == 0) - rate) < 0.005
    kept = y_val[y_val != 0]
    np.testing.assert_allclose(kept, 3.0 / (1 - rate), rtol=1e-6)


def test_dropout_gradient_is_the_mask_of_the_same_run(graph, rng):
    x = gc.placeholder(gc.float64, (20, 30))
    y = gc.nn.dropout(x, 0.4, seed=5)
    (dx,) = gc.gradients(gc.reduce_sum(y), [x])
    x_val = rng.uniform(0.5, 1.5, (20, 30))
    y_val, dx_val = run(graph, [y, dx], {x: x_val})
    np.testing.assert_allclose(dx_val, y_val / x_val, rtol=1e-12)
    assert set(np.unique(dx_val)) == {0.0, 1 / 0.6}


def test_dropout_with_a_fixed_mask_gradient_check(graph, rng):
    """stateless_dropout keeps its mask fixed across runs, so finite differences apply."""
    x = gc.placeholder(gc.float64, (3, 4))
    y = gc.nn.stateless_dropout(x, 0.5, seed=11)
    x_val = rng.standard_normal((3, 4))
    sess = gc.Session(graph)
    np.testing.assert_array_equal(sess.run(y, {x: x_val}), sess.run(y, {x: x_val}))
    pairs = gc.test.compute_gradient([x], gc.tanh(y) * 2.0, {x: x_val}, session=sess)
    theoretical, numerical = pairs[0]
    np.testing.assert_allclose(theoretical, numerical, atol=1e-6)
    assert 0 < np.count_nonzero(np.diag(theoretical)) < 12


def test_dropout_argument_errors(graph):
    x = gc.placeholder(gc.float32, (3,))
    with pytest.raises(ValueError, match="rate must be in"):
        gc.nn.dropout(x, 1.0)
    with pytest.raises(TypeError, match="training must be"):
        gc.nn.dropout(x, 0.5, training="yes")
    with pytest.raises(gc.DTypeError, match="float32 or float64"):
        gc.nn.dropout(gc.placeholder(gc.int32, (3,)), 0.5)


# -- batch normalisation ------------------------------------------------------------------
def test_moments_and_batch_normalization_match_numpy(graph, rng):
    x_val = rng.standard_normal((8, 3, 3, 4)) * 2 + 1
    gamma, beta = rng.uniform(0.5, 2, 4), rng.standard_normal(4)
    x = gc.constant(x_val)
    mean, var = gc.nn.moments(x, [0, 1, 2])
    y = gc.nn.batch_normalization(x, mean, var, gc.constant(beta), gc.constant(gamma), 1e-3)
    m, v, y_val = run(graph, [mean, var, y])
    np.testing.assert_allclose(m, x_val.mean(axis=(0, 1, 2)))
    np.testing.assert_allclose(v, x_val.var(axis=(0, 1, 2)))
    expected = (x_val - m) / np.sqrt(v + 1e-3) * gamma + beta
    np.testing.assert_allclose(y_val, expected, rtol=1e-10)
    kept_mean, _ = gc.nn.moments(x, [0, 1, 2], keepdims=True)
    assert kept_mean.shape == (1, 1, 1, 4)


def test_batch_normalization_gradient_in_training_mode(graph, rng):
    """Batch statistics depend on x, so the gradient runs through the mean and variance."""
    x = gc.placeholder(gc.float64, (4, 3))
    gamma = gc.placeholder(gc.float64, (3,))
    beta = gc.placeholder(gc.float64, (3,))
    mean, var = gc.nn.moments(x, [0])
    y = gc.nn.batch_normalization(x, mean, var, beta, gamma, 1e-3)
    feed = {x: rng.standard_normal((4, 3)), gamma: rng.uniform(0.5, 2, 3),
            beta: rng.standard_normal(3)}
    assert gc.test.compute_gradient_error([x, gamma, beta], y, feed) < 1e-6


def test_batch_norm_layer_gradient_in_training_mode(graph, rng):
    x = gc.placeholder(gc.float64, (3, 2, 2, 2))
    y = gc.layers.batch_norm(x, training=True)
    gamma, beta = gc.layers.variables("batch_norm", trainable_only=True)
    loss = y * gc.constant(rng.standard_normal((3, 2, 2, 2)))
    assert gc.test.compute_gradient_error([x, gamma, beta], loss,
                                          {x: rng.standard_normal((3, 2, 2, 2))}) < 1e-6


def test_batch_norm_layer_training_and_inference(graph, rng):
    x = gc.placeholder(gc.float32, (None, 4, 4, 3))
    train_out = gc.layers.batch_norm(x, training=True, momentum=0.9, name="bn")
    infer_out = gc.layers.batch_norm(x, training=False, name="bn_eval")
    assert [v.name for v in gc.layers.variables("bn")] == [
        "bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance"]
    assert [v.name for v in gc.trainable_variables(scope="bn")] == ["bn/gamma", "bn/beta"]
    updates = graph.get_collection(gc.layers.UPDATE_OPS)
    assert len(updates) == 2
    x_val = (rng.standard_normal((16, 4, 4, 3)) * 3 + 2).astype(np.float32)
    sess = gc.Session(graph)
    y_val, _ = sess.run([train_out, gc.group(*updates)], {x: x_val})
    np.testing.assert_allclose(y_val.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(y_val.std(axis=(0, 1, 2)), 1, atol=1e-3)
    moving_mean, moving_var = gc.layers.variables("bn")[2:]
    np.testing.assert_allclose(sess.variable_value(moving_mean),
                               0.1 * x_val.mean(axis=(0, 1, 2)), rtol=1e-5)
    # TF1's fused kernel (float32, rank 4, channels last) moves the variance with
    # Bessel's correction: the unbiased variance of the 16·4·4 values per channel
    np.testing.assert_allclose(sess.variable_value(moving_var),
                               0.9 + 0.1 * x_val.var(axis=(0, 1, 2), ddof=1), rtol=1e-5)
    # inference uses the moving statistics (fresh: mean 0, variance 1)
    np.testing.assert_allclose(sess.run(infer_out, {x: x_val}), x_val / np.sqrt(1 + 1e-3),
                               rtol=1e-5)


def test_batch_norm_layer_with_a_training_tensor(graph, rng):
    x = gc.placeholder(gc.float64, (None, 3))
    training = gc.placeholder(gc.bool, (), name="training")
    y = gc.layers.batch_norm(x, training=training, momentum=0.5)
    train_op = gc.group(*graph.get_collection(gc.layers.UPDATE_OPS))
    moving_mean = gc.layers.variables("batch_norm")[2]
    x_val = rng.standard_normal((10, 3)) + 5
    sess = gc.Session(graph)
    out, _ = sess.run([y, train_op], {x: x_val, training: False})
    np.testing.assert_allclose(out, x_val / np.sqrt(1 + 1e-3))
    np.testing.assert_array_equal(sess.variable_value(moving_mean), 0)   # not training
    out, _ = sess.run([y, train_op], {x: x_val, training: True})
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(sess.variable_value(moving_mean), 0.5 * x_val.mean(axis=0))


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("shape, dtype, axis, fused, ddof", [
    ((8, 3, 3, 2), np.float32, -1, None, 1),     # TF1's fused kernel: Bessel-corrected
    ((8, 2, 3, 3), np.float32, 1, None, 1),      # NCHW, fused as well
    ((8, 3, 3, 2), np.float64, -1, None, 0),     # TF1's fused kernel is float32 only
    ((10, 3), np.float32, -1, None, 0),          # a dense layer's input: unfused, biased
    ((10, 3), np.float64, -1, True, 1),          # chosen explicitly
    ((8, 3, 3, 2), np.float32, -1, False, 0),
])
def test_batch_norm_moving_statistics_follow_tf1(shape, dtype, axis, fused, ddof, backend):
    """TF1: moving -= (1 − momentum)(moving − batch statistic), momentum = the part kept;
    the normalisation itself always uses the biased variance."""
    g = gc.Graph()
    x_val = (np.random.default_rng(5).standard_normal(shape) * 2 + 1).astype(dtype)
    with g.as_default():
        x = gc.placeholder(gc.float32 if dtype == np.float32 else gc.float64,
                           (None,) + shape[1:])
        y = gc.layers.batch_normalization(x, axis=axis, momentum=0.8, training=True,
                                          fused=fused, name="bn")
        update = gc.group(*g.get_collection(gc.layers.UPDATE_OPS))
        moving_mean, moving_var = gc.layers.variables("bn")[2:]
    sess = gc.Session(g, backend=backend)
    y_val, _ = sess.run([y, update], {x: x_val})
    axes = tuple(i for i in range(len(shape)) if i != axis % len(shape))
    mean = x_val.astype(np.float64).mean(axis=axes)
    var = x_val.astype(np.float64).var(axis=axes, ddof=ddof)
    tol = dict(rtol=1e-5) if dtype == np.float32 else dict(rtol=1e-12)
    np.testing.assert_allclose(sess.variable_value(moving_mean), 0.2 * mean, atol=1e-6, **tol)
    np.testing.assert_allclose(sess.variable_value(moving_var), 1 - 0.2 * (1 - var), **tol)
    biased = x_val.astype(np.float64).var(axis=axes, keepdims=True)
    expected_y = (x_val - x_val.astype(np.float64).mean(axis=axes, keepdims=True)) / \
        np.sqrt(biased + 1e-3)
    np.testing.assert_allclose(y_val, expected_y, atol=2e-5 if dtype == np.float32 else 1e-12)


def test_batch_norm_over_a_non_last_axis(graph, rng):
    x_val = rng.standard_normal((6, 3, 5))
    y = gc.layers.batch_norm(gc.constant(x_val), training=True, axis=1)
    out = run(graph, y)
    np.testing.assert_allclose(out.mean(axis=(0, 2)), 0, atol=1e-10)


# -- maxout -------------------------------------------------------------------------------
def test_maxout_is_the_lectures_max_of_two_affine_maps(graph, rng):
    """max(w1ᵀx + b1, w2ᵀx + b2) with the two maps as the two pieces of one unit."""
    x_val = rng.standard_normal((5, 4))
    w1, w2, b1, b2 = rng.standard_normal(4), rng.standard_normal(4), 0.3, -0.2
    x = gc.placeholder(gc.float64, (None, 4))
    both = gc.matmul(x, gc.constant(np.stack([w1, w2], axis=1))) + gc.constant([b1, b2],
                                                                                gc.float64)
    y = gc.nn.maxout(both, num_units=1)
    assert y.shape == (None, 1)
    expected = np.maximum(x_val @ w1 + b1, x_val @ w2 + b2)
    np.testing.assert_allclose(run(graph, y, {x: x_val})[:, 0], expected)


def test_maxout_over_k_pieces_and_its_gradient(graph, rng):
    x = gc.placeholder(gc.float64, (2, 6))
    y = gc.nn.maxout(x, 2)               # units of 3 consecutive pieces
    x_val = rng.permutation(12).reshape(2, 6) * 0.5
    expected = x_val.reshape(2, 2, 3).max(axis=2)
    np.testing.assert_array_equal(run(graph, y, {x: x_val}), expected)
    assert gc.test.compute_gradient_error([x], y, {x: x_val}) < 1e-6
    with pytest.raises(gc.ShapeError, match="6 channels .* do not split into 4 units"):
        gc.nn.maxout(x, 4)


def test_maxout_on_conv_channels(graph, rng):
    x_val = rng.standard_normal((2, 3, 3, 8))
    y = gc.nn.maxout(gc.constant(x_val), 4, axis=-1)
    np.testing.assert_array_equal(run(graph, y), x_val.reshape(2, 3, 3, 4, 2).max(axis=-1))


# -- layers -------------------------------------------------------------------------------
def test_dense_layer_variables_scopes_and_collections(graph):
    x = gc.placeholder(gc.float32, (None, 5))
    h = gc.layers.dense(x, 4, activation=gc.nn.relu, seed=0)
    y = gc.layers.dense(h, 2, seed=1)
    assert h.shape == (None, 4) and y.shape == (None, 2)
    assert [v.name for v in gc.layers.variables("dense")] == ["dense/kernel", "dense/bias"]
    assert [v.name for v in gc.layers.variables(y)] == ["dense_1/kernel", "dense_1/bias"]
    assert [w.name for w in graph.get_collection(gc.losses.WEIGHTS)] == [
        "dense/kernel", "dense_1/kernel"]
    assert gc.layers.count_params() == 5 * 4 + 4 + 4 * 2 + 2
    assert [(info.name, info.kind, info.num_params) for info in gc.layers.summary()] == [
        ("dense", "dense", 24), ("dense_1", "dense", 10)]
    assert "dense_1" in gc.layers.format_summary() and "34" in gc.layers.format_summary()
    reg = gc.losses.apply_regularization(gc.losses.l2_regularizer(0.5))
    sess = gc.Session(graph)
    kernels = [sess.variable_value(v) for v in graph.get_collection(gc.losses.WEIGHTS)]
    np.testing.assert_allclose(sess.run(reg), 0.25 * sum(np.sum(k * k) for k in kernels),
                               rtol=1e-5)


def test_dense_computes_relu_of_affine(graph, rng):
    x = gc.placeholder(gc.float64, (None, 3))
    y = gc.layers.dense(x, 2, activation=gc.nn.relu,
                        bias_initializer=functools.partial(gc.init.constant, value=0.5))
    kernel, bias = gc.layers.variables(y)
    sess = gc.Session(graph)
    x_val = rng.standard_normal((4, 3))
    expected = np.maximum(x_val @ sess.variable_value(kernel) + 0.5, 0)
    np.testing.assert_allclose(sess.run(y, {x: x_val}), expected)


def test_initializers_from_gc_init(graph):
    x = gc.placeholder(gc.float32, (None, 200))
    gc.layers.dense(x, 300, kernel_initializer=gc.init.gaussian, seed=0, name="small")
    gc.layers.dense(x, 300, kernel_initializer=gc.init.he_normal, seed=0, name="he")
    gc.layers.dense(x, 300, seed=0, name="glorot")
    gc.layers.dense(x, 300, seed=0, name="glorot_again")
    gc.layers.conv2d(gc.placeholder(gc.float32, (None, 8, 8, 3)), 16, 3,
                     kernel_initializer=gc.init.he_uniform, seed=0, name="conv")
    sess = gc.Session(graph)
    value = {v.name: sess.variable_value(v) for v in gc.global_variables()}
    assert abs(value["small/kernel"].std() - 0.001) < 0.0001        # the lecture's default
    assert abs(value["he/kernel"].std() - np.sqrt(2 / 200)) < 0.005
    limit = np.sqrt(6 / 500)
    assert value["glorot/kernel"].max() <= limit and value["glorot/kernel"].min() >= -limit
    np.testing.assert_array_equal(value["glorot/kernel"], value["glorot_again/kernel"])
    assert np.all(value["glorot/bias"] == 0)
    assert np.abs(value["conv/kernel"]).max() <= np.sqrt(6 / (3 * 3 * 3))   # HWIO fan_in
    assert value["small/kernel"].dtype == np.float32


def test_flatten(graph):
    x = gc.placeholder(gc.float32, (None, 5, 5, 16))
    assert gc.layers.flatten(x).shape == (None, 400)
    assert gc.layers.flatten(gc.placeholder(gc.float32, (2, 3, 4))).shape == (2, 12)
    with pytest.raises(gc.ShapeError, match="but the first must be known"):
        gc.layers.flatten(gc.placeholder(gc.float32, (None, None, 3)))


def test_layer_needs_a_known_input_size(graph):
    with pytest.raises(gc.ShapeError, match="input size .* must be known"):
        gc.layers.dense(gc.placeholder(gc.float32, (None, None)), 3)


def test_freezing_one_scope_trains_only_the_other(graph, rng):
    """Transfer-learning style: train only the head, the frozen body keeps its values."""
    x = gc.placeholder(gc.float32, (None, 4))
    target = gc.placeholder(gc.float32, (None, 1))
    body = gc.layers.dense(x, 8, activation=gc.nn.tanh, seed=0, name="body")
    head = gc.layers.dense(body, 1, seed=1, name="head")
    loss = gc.reduce_mean(gc.square(head - target))
    trainable = gc.trainable_variables(scope="head")
    assert [v.name for v in trainable] == ["head/kernel", "head/bias"]
    grads = gc.gradients(loss, trainable)
    train = gc.group(*[gc.assign_sub(v, g * 0.1) for v, g in zip(trainable, grads)])
    sess = gc.Session(graph)
    frozen = {v: sess.variable_value(v) for v in gc.layers.variables("body")}
    head_before = sess.variable_value(trainable[0])
    feed = {x: rng.standard_normal((16, 4)), target: rng.standard_normal((16, 1))}
    for _ in range(3):
        sess.run(train, feed)
    for v, before in frozen.items():
        np.testing.assert_array_equal(sess.variable_value(v), before)
    assert not np.array_equal(sess.variable_value(trainable[0]), head_before)


def test_pooling_and_dropout_layers(graph):
    x = gc.placeholder(gc.float32, (None, 8, 8, 2))
    assert gc.layers.max_pool2d(x, 2, 2).shape == (None, 4, 4, 2)
    assert gc.layers.avg_pool2d(x, 3, 2, padding="SAME").shape == (None, 4, 4, 2)
    assert gc.layers.dropout(x, 0.3, training=True).shape == (None, 8, 8, 2)
    kinds = [info.kind for info in gc.layers.summary()]
    assert kinds == ["max_pool2d", "avg_pool2d", "dropout"]


def _np_conv_same_3x3(x, k, b):
    """NHWC 3x3 'SAME' convolution (stride 1) plus bias, written out in numpy."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    h, w = x.shape[1:3]
    return sum(np.einsum("nhwc,co->nhwo", xp[:, a:a + h, c:c + w], k[a, c])
               for a in range(3) for c in range(3)) + b


def _channels_first_net(x, kernel, bias, pool):
    h = gc.layers.conv2d(x, 4, 3, 1, "same", "channels_first", activation=gc.nn.relu,
                         kernel_initializer=kernel, bias_initializer=bias)
    return pool(h, 2, 2, "valid", "channels_first")


@pytest.mark.parametrize("backend", ALL)
def test_channels_first_conv_and_pool_layers_match_numpy(backend, rng):
    x = rng.standard_normal((2, 3, 6, 6))                     # NCHW
    kernel, bias = rng.standard_normal((3, 3, 3, 4)), rng.standard_normal(4)
    graph = gc.Graph()
    with graph.as_default():
        xs = gc.placeholder(gc.float64, (None, 3, 6, 6))
        maxed = _channels_first_net(xs, kernel, bias, gc.layers.max_pooling2d)
        averaged = gc.layers.average_pooling2d(xs, 3, 1, data_format="channels_first")
    assert gc.layers.variables("conv2d", graph=graph)[0].shape == (3, 3, 3, 4)   # HWIO
    got_max, got_avg = gc.Session(graph, backend=backend).run([maxed, averaged], {xs: x})
    conv = np.maximum(_np_conv_same_3x3(x.transpose(0, 2, 3, 1), kernel, bias), 0)
    want_max = conv.reshape(2, 3, 2, 3, 2, 4).max(axis=(2, 4)).transpose(0, 3, 1, 2)
    want_avg = np.array([[[[x[n, c, i:i + 3, j:j + 3].mean() for j in range(4)]
                           for i in range(4)] for c in range(3)] for n in range(2)])
    np.testing.assert_allclose(got_max, want_max, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got_avg, want_avg, rtol=1e-12, atol=1e-12)


def test_channels_first_layers_transpose_once_in_and_once_out(graph, rng):
    """Between two NCHW layers the transpose back and the next transpose in cancel."""
    from graphc.passes import compile_program
    x = gc.placeholder(gc.float32, (None, 3, 8, 8))
    h = x
    for _ in range(2):
        h = _channels_first_net(h, gc.init.glorot_uniform, gc.init.zeros,
                                gc.layers.max_pooling2d)
    built = sum(1 for n in graph.nodes if n.op.name == "transpose")
    program = compile_program([h], {x: np.zeros((2, 3, 8, 8), np.float32)}).program
    assert built == 8
    assert sum(1 for n in program.nodes if n.op.name == "transpose") == 2


def test_channels_first_small_cnn_gradient_against_finite_differences(graph, rng):
    x = gc.constant(rng.standard_normal((2, 2, 6, 6)))
    h = gc.layers.conv2d(x, 3, 3, strides=2, padding="same", data_format="channels_first",
                         activation=gc.tanh, seed=0)
    h = gc.layers.avg_pool2d(h, 2, 1, data_format="channels_first")
    loss = gc.reduce_sum(gc.square(gc.layers.dense(gc.layers.flatten(h), 2, seed=1)))
    assert gc.test.gradient_inner_product_error(gc.trainable_variables(), loss, seed=4) < 1e-6


def test_small_cnn_gradient_against_finite_differences(graph, rng):
    """Every layer kind together: conv (SAME, stride 2) + bias, tanh, max pool, batch norm,
    flatten, dense, cross-entropy; the inner-product check over all variables."""
    x = gc.constant(rng.standard_normal((3, 8, 8, 2)))
    labels = gc.constant([0, 2, 1])
    h = gc.layers.conv2d(x, 4, 3, strides=2, padding="SAME", activation=gc.tanh, seed=0)
    h = gc.layers.max_pool2d(h, 2, 1)
    h = gc.layers.batch_norm(h, training=True)
    h = gc.layers.dense(gc.layers.flatten(h), 3, seed=1)
    loss = gc.losses.sparse_softmax_cross_entropy(labels, h)
    params = gc.trainable_variables()
    assert len(params) == 6
    assert gc.test.gradient_inner_product_error(params, loss, seed=3) < 1e-6


# -- LeNet-5 example ----------------------------------------------------------------------
def _load_example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lenet5_example_runs_and_its_loss_decreases(capsys):
    lenet = _load_example("lenet5")
    assert lenet.main(["--steps", "3"]) == 0
    out = capsys.readouterr().out
    for layer, params in [("conv1", 156), ("conv2", 2416), ("fc1", 48120), ("fc2", 10164),
                          ("fc3", 850), ("total", 61706)]:
        line = next(row for row in out.splitlines() if row.startswith(layer))
        assert line.split()[-1] == str(params), line
    losses = [float(row.split("loss")[1].split()[0]) for row in out.splitlines()
              if "loss" in row and "step" in row]
    assert len(losses) == 3 and losses[2] < losses[1] < losses[0]


def test_lenet5_shapes():
    lenet = _load_example("lenet5")
    g = gc.Graph()
    images, labels, logits, loss = lenet.build_lenet5(g)
    shapes = [info.output.shape for info in gc.layers.summary(g)]
    assert shapes == [(None, 28, 28, 6), (None, 14, 14, 6), (None, 10, 10, 16),
                      (None, 5, 5, 16), (None, 400), (None, 120), (None, 84), (None, 10)]
    assert loss.shape == ()
