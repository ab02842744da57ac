"""The lecture's worked backprop examples, through the public API."""
import numpy as np
import pytest

import graphc as gc


def test_add_then_multiply(graph):
    x = gc.placeholder(gc.float64, (), name="x")
    y = gc.placeholder(gc.float64, (), name="y")
    z = gc.placeholder(gc.float64, (), name="z")
    f = (x + y) * z
    grads = gc.gradients(f, [x, y, z])
    out = gc.Session(graph).run([f, grads], {x: -2.0, y: 5.0, z: -4.0})
    assert out[0] == -12.0
    assert [float(g) for g in out[1]] == [-4.0, -4.0, 3.0]


def test_sigmoid_neuron(graph):
    w = [gc.placeholder(gc.float64, (), name=f"w{i}") for i in range(3)]
    x = [gc.placeholder(gc.float64, (), name=f"x{i}") for i in range(2)]
    f = 1.0 / (1.0 + gc.exp(-(w[0] * x[0] + w[1] * x[1] + w[2])))
    grads = gc.gradients(f, [w[0], x[0], w[1], x[1], w[2]])
    feed = {w[0]: 2.0, x[0]: -1.0, w[1]: -3.0, x[1]: -2.0, w[2]: -3.0}
    values = [float(v) for v in gc.Session(graph).run(grads, feed)]
    assert values == pytest.approx([-0.20, 0.39, -0.39, -0.59, 0.20], abs=0.005)
    # and the same neuron written with the sigmoid op gives the same gradients
    g2 = gc.gradients(gc.sigmoid(w[0] * x[0] + w[1] * x[1] + w[2]), [w[0], x[0], w[1], x[1], w[2]])
    np.testing.assert_allclose(gc.Session(graph).run(g2, feed), values, rtol=1e-12)


def test_relu_routes_upstream_gradient(graph):
    x = gc.placeholder(gc.float64, (4,), name="x")
    upstream = gc.placeholder(gc.float64, (4,), name="upstream")
    (dx,) = gc.gradients(gc.nn.relu(x), [x], grad_ys=upstream)
    out = gc.Session(graph).run(dx, {x: [1, -2, 3, -1], upstream: [4, -1, 5, 9]})
    np.testing.assert_array_equal(out, [4, 0, 5, 0])


def test_two_layer_net_matches_handwritten_numpy_for_50_steps():
    """The lecture's 20-line numpy net against the same net built with graphc."""
    from graphc.examples_support import two_layer_graph
    g, t, data = two_layer_graph(seed=7)
    sess = gc.Session(g)
    step = sess.make_callable([t["loss"], t["train"]], [t["x"], t["y"]])
    w1 = g.get_tensor_by_name("w1").attrs["initial_value"].copy()
    w2 = g.get_tensor_by_name("w2").attrs["initial_value"].copy()
    x, y = data["x"], data["y"]
    ours, reference = [], []
    for _ in range(50):
        loss, _ = step(x, y)
        ours.append(float(loss))
        with np.errstate(over="ignore"):   # the lecture's sigmoid saturates, as ours does
            h = 1 / (1 + np.exp(-x.dot(w1)))
        y_pred = h.dot(w2)
        reference.append(float(np.square(y_pred - y).sum()))
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h.T.dot(grad_y_pred)
        grad_h = grad_y_pred.dot(w2.T)
        grad_w1 = x.T.dot(grad_h * h * (1 - h))
        w1 -= np.float32(1e-4) * grad_w1
        w2 -= np.float32(1e-4) * grad_w2
    np.testing.assert_allclose(ours, reference, rtol=1e-4)
    assert ours[-1] < 0.5 * ours[0]
    np.testing.assert_allclose(sess.variable_value(t["w2"]), w2, rtol=1e-3, atol=1e-4)
