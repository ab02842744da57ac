"""conv2d and its backprop ops: lecture facts, agreement with a direct loop written
here, gradients (first and second order) against finite differences, clear errors."""
import math

import numpy as np
import pytest

import graphc as gc
from graphc.ops import apply

from backends import ALL

try:
    from scipy import signal
except ImportError:      # scipy is optional: the direct loop below is the main oracle
    signal = None


# -- an independent reference: padding rules and a loop over output positions ----------
def explicit_pads(padding, size, k, stride, dilation):
    """(before, after) along one axis, from the TF1 rules restated here."""
    k_eff = (k - 1) * dilation + 1
    if padding == "VALID":
        return (0, 0)
    if padding == "SAME":
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + k_eff - size, 0)
        return (total // 2, total - total // 2)
    return padding


def loop_conv2d(x, w, strides, padding, dilations=(1, 1)):
    """y[n, i, j, o] = Σ_{a, b, c} xpad[n, i·sh + a·dh, j·sw + b·dw, c] · w[a, b, c, o]."""
    kh, kw, _, n_out = w.shape
    pads = [explicit_pads(padding if isinstance(padding, str) else padding[i],
                          x.shape[1 + i], w.shape[i], strides[i], dilations[i])
            for i in range(2)]
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    oh = (xp.shape[1] - (kh - 1) * dilations[0] - 1) // strides[0] + 1
    ow = (xp.shape[2] - (kw - 1) * dilations[1] - 1) // strides[1] + 1
    y = np.zeros((x.shape[0], oh, ow, n_out))
    for n in range(x.shape[0]):
        for i in range(oh):
            for j in range(ow):
                for a in range(kh):
                    for b in range(kw):
                        pixel = xp[n, i * strides[0] + a * dilations[0],
                                   j * strides[1] + b * dilations[1], :]
                        y[n, i, j, :] += pixel @ w[a, b]
    return y


def _pair(v):
    return (v, v) if isinstance(v, int) else v


def run(graph, fetches, feed=None):
    return gc.Session(graph, backend="numpy").run(fetches, feed or {})


# -- lecture facts ------------------------------------------------------------------------
def test_32x32x3_with_ten_5x5_filters_stride_1_pad_2(graph):
    x = gc.placeholder(gc.float32, (None, 32, 32, 3))
    y = gc.layers.conv2d(x, 10, 5, strides=1, padding=2)
    assert y.shape == (None, 32, 32, 10)
    assert gc.layers.count_params("conv2d") == 760          # 10 · (5·5·3 + 1)


def test_six_5x5x3_filters_have_456_parameters(graph):
    x = gc.placeholder(gc.float32, (None, 32, 32, 3))
    y = gc.layers.conv2d(x, 6, 5)
    assert y.shape == (None, 28, 28, 6)
    assert gc.layers.count_params(y) == 456                 # 6 · (75 + 1)


@pytest.mark.parametrize("stride, size", [(1, 5), (2, 3)])
def test_7x7_input_3x3_filter(graph, stride, size):
    x = gc.placeholder(gc.float32, (1, 7, 7, 1))
    w = gc.constant(np.ones((3, 3, 1, 1), np.float32))
    assert gc.nn.conv2d(x, w, strides=stride).shape == (1, size, size, 1)
    assert gc.nn.conv2d(x, w, strides=stride, strict=True).shape == (1, size, size, 1)


def test_7x7_input_3x3_filter_stride_3_does_not_fit(graph):
    x = gc.placeholder(gc.float32, (1, 7, 7, 1))
    w = gc.constant(np.ones((3, 3, 1, 1), np.float32))
    assert gc.nn.conv2d(x, w, strides=3).shape == (1, 2, 2, 1)      # floor, as TF1 does
    with pytest.raises(gc.ShapeError) as err:
        gc.nn.conv2d(x, w, strides=3, strict=True)
    message = str(err.value)
    for part in ["input height 7", "filter height 3", "stride 3", "2.33", "strict=True",
                 "test_conv.py"]:
        assert part in message, message


def test_lenet_s2_to_c3_has_2400_weights(graph):
    s2 = gc.placeholder(gc.float32, (None, 14, 14, 6))
    c3 = gc.layers.conv2d(s2, 16, 5, padding="VALID", use_bias=False, name="c3")
    assert c3.shape == (None, 10, 10, 16)
    (kernel,) = gc.layers.variables("c3")
    assert kernel.shape == (5, 5, 6, 16) and gc.layers.count_params("c3") == 16 * 6 * 5 * 5


# -- forward against the direct loop ------------------------------------------------------
PADDINGS = ["VALID", "SAME", 1, ((1, 2), (0, 1))]
SIZES = [(7, 7), (6, 8), (5, 4)]


def _padding_id(p):
    return p if isinstance(p, str) else f"pad{p}".replace(" ", "")


@pytest.mark.parametrize("stride", [1, 2, 3, (2, 1)])
@pytest.mark.parametrize("padding", PADDINGS, ids=_padding_id)
@pytest.mark.parametrize("size", SIZES, ids=str)
def test_conv2d_matches_a_direct_loop(graph, rng, stride, padding, size):
    x_val = rng.standard_normal((2, *size, 3))
    w_val = rng.standard_normal((3, 2, 3, 4))
    x = gc.placeholder(gc.float64, (None, *size, 3))
    y = gc.nn.conv2d(x, gc.constant(w_val), strides=stride, padding=padding)
    strides = _pair(stride)
    pads = padding if isinstance(padding, str) else (
        ((padding,) * 2,) * 2 if isinstance(padding, int) else padding)
    expected = loop_conv2d(x_val, w_val, strides, pads)
    assert y.shape[1:] == expected.shape[1:]
    np.testing.assert_allclose(run(graph, y, {x: x_val}), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dilation, stride, padding", [
    (2, 1, "VALID"), (2, 1, "SAME"), ((2, 3), 1, 1), (2, 2, "SAME"), (3, 1, "VALID")])
def test_dilated_conv2d_matches_a_direct_loop(graph, rng, dilation, stride, padding):
    x_val = rng.standard_normal((1, 9, 8, 2))
    w_val = rng.standard_normal((3, 2, 2, 3))
    y = gc.nn.conv2d(gc.constant(x_val), gc.constant(w_val), strides=stride,
                     padding=padding, dilations=dilation)
    pads = padding if isinstance(padding, str) else ((padding,) * 2,) * 2
    expected = loop_conv2d(x_val, w_val, _pair(stride), pads, _pair(dilation))
    np.testing.assert_allclose(run(graph, y), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.skipif(signal is None, reason="scipy not installed")
def test_stride_1_valid_conv2d_is_scipy_correlate_summed_over_channels(graph, rng):
    x_val = rng.standard_normal((1, 8, 7, 3))
    w_val = rng.standard_normal((4, 3, 3, 2))
    y = run(graph, gc.nn.conv2d(gc.constant(x_val), gc.constant(w_val)))
    for o in range(2):
        expected = sum(signal.correlate(x_val[0, :, :, c], w_val[:, :, c, o], mode="valid")
                       for c in range(3))
        np.testing.assert_allclose(y[0, :, :, o], expected, rtol=1e-10, atol=1e-12)


def test_conv2d_float32_and_unknown_batch(graph, rng):
    x = gc.placeholder(gc.float32, (None, 6, 6, 2))
    w = gc.constant(rng.standard_normal((3, 3, 2, 5)).astype(np.float32))
    y = gc.nn.conv2d(x, w, strides=2, padding="SAME")
    assert y.shape == (None, 3, 3, 5) and y.dtype == gc.float32
    for batch in (1, 3):
        x_val = rng.standard_normal((batch, 6, 6, 2)).astype(np.float32)
        out = run(graph, y, {x: x_val})
        assert out.dtype == np.float32 and out.shape == (batch, 3, 3, 5)


def test_tf_style_four_entry_strides_and_padding_lists(graph, rng):
    x_val = rng.standard_normal((1, 7, 7, 2))
    w_val = rng.standard_normal((3, 3, 2, 2))
    x, w = gc.constant(x_val), gc.constant(w_val)
    a = gc.nn.conv2d(x, w, strides=[1, 2, 2, 1], padding=[[0, 0], [1, 1], [1, 1], [0, 0]])
    b = gc.nn.conv2d(x, w, strides=2, padding=1)
    np.testing.assert_array_equal(*run(graph, [a, b]))


# -- gradients ----------------------------------------------------------------------------
CONFIGS = [
    dict(strides=1, padding="VALID"),
    dict(strides=2, padding="SAME"),
    dict(strides=(2, 1), padding=((1, 0), (2, 1))),
    dict(strides=3, padding=1),
    dict(strides=1, padding="SAME", dilations=2),
    dict(strides=2, padding="VALID", dilations=(1, 2)),
]


def _config_id(c):
    return "-".join(f"{k}{v}" for k, v in c.items()).replace(" ", "")


@pytest.mark.parametrize("config", CONFIGS, ids=_config_id)
def test_conv2d_gradient_full_jacobian(graph, rng, config):
    x = gc.placeholder(gc.float64, (2, 5, 4, 2), name="x")
    w = gc.placeholder(gc.float64, (3, 2, 2, 2), name="w")
    y = gc.nn.conv2d(x, w, **config)
    feed = {x: rng.standard_normal(x.shape), w: rng.standard_normal(w.shape)}
    assert gc.test.compute_gradient_error([x, w], y, feed) < 1e-6


@pytest.mark.parametrize("config", CONFIGS[:4], ids=_config_id)
def test_gradient_of_the_gradient_through_one_conv_layer(graph, rng, config):
    """Second order: Jacobians of dL/dx and dL/dw (made of the backprop ops) against
    finite differences of those gradients, for a nonlinear L."""
    x = gc.placeholder(gc.float64, (1, 5, 4, 2), name="x")
    w = gc.placeholder(gc.float64, (3, 2, 2, 2), name="w")
    y = gc.nn.conv2d(x, w, **config)
    loss = gc.reduce_sum(gc.tanh(y) * gc.constant(rng.standard_normal((1, *y.shape[1:]))))
    gx, gw = gc.gradients(loss, [x, w])
    assert gx.op.name == "conv2d_backprop_input" and gw.op.name == "conv2d_backprop_filter"
    feed = {x: rng.standard_normal(x.shape), w: rng.standard_normal(w.shape)}
    assert gc.test.compute_gradient_error([x, w], gx, feed) < 1e-6
    assert gc.test.compute_gradient_error([x, w], gw, feed) < 1e-6


def test_hessian_vector_product_of_a_conv_layer(graph, rng):
    """d/dw ⟨∇_w L, v⟩ against a central difference of ∇_w L along v."""
    x_val, w_val = rng.standard_normal((2, 6, 6, 2)), rng.standard_normal((3, 3, 2, 3))
    v_val = rng.standard_normal(w_val.shape)
    x = gc.constant(x_val)
    w = gc.placeholder(gc.float64, w_val.shape)
    loss = gc.reduce_sum(gc.square(gc.nn.relu(gc.nn.conv2d(x, w, strides=2, padding="SAME"))))
    (gw,) = gc.gradients(loss, [w])
    (hv,) = gc.gradients(gc.reduce_sum(gw * gc.constant(v_val)), [w])
    sess = gc.Session(graph)
    eps = 1e-6
    numeric = (sess.run(gw, {w: w_val + eps * v_val}) -
               sess.run(gw, {w: w_val - eps * v_val})) / (2 * eps)
    np.testing.assert_allclose(sess.run(hv, {w: w_val}), numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("config", CONFIGS[:3], ids=_config_id)
def test_backprop_ops_gradients_directly(graph, rng, config):
    """Each backprop op is differentiated w.r.t. its non-shape inputs."""
    x = gc.placeholder(gc.float64, (1, 5, 4, 2), name="x")
    w = gc.placeholder(gc.float64, (3, 2, 2, 2), name="w")
    out_shape = gc.nn.conv2d(x, w, **config).shape
    gy = gc.placeholder(gc.float64, out_shape, name="gy")
    dx = gc.nn.conv2d_backprop_input(x, w, gy, **config)
    dw = gc.nn.conv2d_backprop_filter(x, w, gy, **config)
    feed = {x: rng.standard_normal(x.shape), w: rng.standard_normal(w.shape),
            gy: rng.standard_normal(out_shape)}
    assert gc.test.compute_gradient_error([w, gy], dx, feed) < 1e-6
    assert gc.test.compute_gradient_error([x, gy], dw, feed) < 1e-6


def test_backprop_ops_satisfy_the_adjoint_identity(graph, rng):
    """⟨conv2d(x, w), g⟩ = ⟨x, Bi(w, g)⟩ = ⟨w, Bf(x, g)⟩ on a non-tiling configuration
    (the last input row is never read and must get a zero gradient)."""
    x_val, w_val = rng.standard_normal((2, 8, 7, 3)), rng.standard_normal((3, 3, 3, 2))
    x, w = gc.constant(x_val), gc.constant(w_val)
    y = gc.nn.conv2d(x, w, strides=3)
    g_val = rng.standard_normal(y.shape)
    g = gc.constant(g_val)
    y_v, dx, dw = run(graph, [y, gc.nn.conv2d_backprop_input(x, w, g, strides=3),
                              gc.nn.conv2d_backprop_filter(x, w, g, strides=3)])
    assert np.isclose(np.sum(y_v * g_val), np.sum(x_val * dx))
    assert np.isclose(np.sum(y_v * g_val), np.sum(w_val * dw))
    assert np.all(dx[:, 7, :, :] == 0) and np.all(dx[:, :, 6, :] == 0)


def test_conv_layer_trains_in_float32(graph, rng):
    x = gc.placeholder(gc.float32, (None, 6, 6, 1))
    target = gc.placeholder(gc.float32, (None, 6, 6, 2))
    y = gc.layers.conv2d(x, 2, 3, padding="SAME", seed=0)
    loss = gc.reduce_mean(gc.square(y - target))
    params = gc.layers.variables(y)
    grads = gc.gradients(loss, params)
    train = gc.group(*[gc.assign_sub(p, g * 0.1) for p, g in zip(params, grads)])
    sess = gc.Session(graph)
    feed = {x: rng.standard_normal((4, 6, 6, 1)), target: rng.standard_normal((4, 6, 6, 2))}
    first = sess.run(loss, feed)
    for _ in range(20):
        sess.run(train, feed)
    assert sess.run(loss, feed) < first


# -- errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape, w_shape, words", [
    ((1, 5, 5, 3), (3, 3, 4, 2), ["3 channels", "expect 4"]),
    ((1, 5, 5, 3), (7, 3, 3, 2), ["filter height 7", "padded input height 5"]),
    ((1, 5, 5, 3), (3, 3, 3, 2, 1), ["HWIO (rank 4)"]),
    ((5, 5, 3), (3, 3, 3, 2), ["NHWC (rank 4)"]),
])
def test_conv2d_shape_errors_name_the_sizes(graph, x_shape, w_shape, words):
    x = gc.placeholder(gc.float32, x_shape, name="images")
    w = gc.placeholder(gc.float32, w_shape, name="filters")
    with pytest.raises(gc.ShapeError) as err:
        gc.nn.conv2d(x, w)
    for word in words + ["conv2d", "images", "test_conv.py"]:
        assert word in str(err.value), str(err.value)


def test_dilated_filter_too_large_names_the_effective_size(graph):
    x = gc.placeholder(gc.float32, (1, 5, 9, 1))
    w = gc.placeholder(gc.float32, (3, 3, 1, 1))
    with pytest.raises(gc.ShapeError, match="dilated to 7"):
        gc.nn.conv2d(x, w, dilations=3)


def test_conv2d_dtype_errors(graph):
    x = gc.placeholder(gc.float32, (1, 5, 5, 1))
    with pytest.raises(gc.DTypeError, match="different dtypes"):
        gc.nn.conv2d(x, gc.placeholder(gc.float64, (3, 3, 1, 1)))
    with pytest.raises(gc.DTypeError, match="float32 or float64"):
        gc.nn.conv2d(gc.placeholder(gc.int32, (1, 5, 5, 1)),
                     gc.placeholder(gc.int32, (3, 3, 1, 1)))


@pytest.mark.parametrize("kwargs, match", [
    (dict(strides=0), "strides must be >= 1"),
    (dict(padding="FULL"), "padding must be"),
    (dict(padding=-1), "must not be negative"),
    (dict(dilations=(1, 2, 3)), "dilations must be"),
])
def test_conv2d_argument_errors(graph, kwargs, match):
    x = gc.placeholder(gc.float32, (1, 5, 5, 1))
    w = gc.placeholder(gc.float32, (3, 3, 1, 1))
    with pytest.raises(ValueError, match=match):
        gc.nn.conv2d(x, w, **kwargs)


def test_backprop_input_checks_the_output_gradient_shape(graph):
    x = gc.placeholder(gc.float32, (1, 5, 5, 1))
    w = gc.placeholder(gc.float32, (3, 3, 1, 2))
    with pytest.raises(gc.ShapeError, match=r"output shape \(1,3,3,2\)"):
        gc.nn.conv2d_backprop_input(x, w, gc.placeholder(gc.float32, (1, 3, 3, 1)))


def test_strict_is_checked_at_run_time_for_unknown_sizes(graph):
    x = gc.placeholder(gc.float32, (1, None, None, 1))
    y = gc.nn.conv2d(x, gc.constant(np.ones((3, 3, 1, 1), np.float32)), strides=3,
                     strict=True)
    assert y.shape == (1, None, None, 1)
    sess = gc.Session(graph)
    assert sess.run(y, {x: np.ones((1, 9, 6, 1))}).shape == (1, 3, 2, 1)
    with pytest.raises(gc.ExecutionError, match="does not tile"):
        sess.run(y, {x: np.ones((1, 7, 7, 1))})


def test_conv_ops_print_their_attrs(graph):
    x = gc.placeholder(gc.float32, (1, 5, 5, 1), name="x")
    w = gc.placeholder(gc.float32, (3, 3, 1, 1), name="w")
    y = gc.nn.conv2d(x, w, strides=2, padding="SAME", dilations=1, name="c")
    text = str(graph)
    assert "conv2d(%x, %w) {strides=(2, 2), padding='SAME'}" in text
    assert y.op.printed_attrs(y.attrs) == {"strides": (2, 2), "padding": "SAME"}
    assert apply("conv2d", [x, w], strides=(1, 1), padding=((1, 1), (0, 0)),
                 dilations=(2, 2), strict=False).shape == (1, 3, 1, 1)


@pytest.mark.parametrize("backend", ALL)
def test_conv2d_and_its_gradients_over_a_batch_of_no_images(graph, rng, backend):
    x = gc.placeholder(gc.float64, (None, 4, 3, 2), name="x")
    w = gc.Variable(rng.standard_normal((3, 2, 2, 6)), name="w")
    y = gc.nn.conv2d(x, w, strides=2, padding="SAME")
    dx, dw = gc.gradients(gc.reduce_sum(y * y), [x, w])
    got = gc.Session(graph, backend=backend).run([y, dx, dw], {x: np.zeros((0, 4, 3, 2))})
    assert got[0].shape == (0, 2, 2, 6) and got[1].shape == (0, 4, 3, 2)
    np.testing.assert_array_equal(got[2], np.zeros((3, 2, 2, 6)))
