"""Gradients of gradients: every rule is made of differentiable graph ops."""
import numpy as np

import graphc as gc


def _second_derivative_error(graph, f, x_value):
    x = gc.placeholder(gc.float64, np.shape(x_value), name="x")
    (g,) = gc.gradients(gc.reduce_sum(f(x)), [x])
    return gc.test.compute_gradient_error([x], g, {x: x_value})


def test_tanh_second_derivative(graph, rng):
    assert _second_derivative_error(graph, gc.tanh, rng.standard_normal(5)) < 1e-6


def test_sigmoid_second_derivative(graph, rng):
    assert _second_derivative_error(graph, gc.sigmoid, rng.standard_normal(5)) < 1e-6


def test_tanh_second_derivative_closed_form(graph):
    x = gc.placeholder(gc.float64, (4,))
    (g,) = gc.gradients(gc.reduce_sum(gc.tanh(x)), [x])
    (h,) = gc.gradients(gc.reduce_sum(g), [x])
    xv = np.array([-1.5, -0.2, 0.3, 2.0])
    t = np.tanh(xv)
    np.testing.assert_allclose(gc.Session(graph).run(h, {x: xv}), -2 * t * (1 - t * t),
                               rtol=1e-12)


def test_softmax_cross_entropy_second_derivative(graph, rng):
    labels = gc.constant([2, 0, 1])

    def loss(logits):
        return gc.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)

    assert _second_derivative_error(graph, loss, rng.standard_normal((3, 4))) < 1e-6


def test_hessian_vector_product_of_a_small_mlp(graph, rng):
    """H·v from gradients(⟨∇L, v⟩) against (∇L(w + εv) − ∇L(w − εv)) / 2ε."""
    x = gc.placeholder(gc.float64, (None, 4), name="x")
    y = gc.placeholder(gc.int32, (None,), name="y")
    w1 = gc.Variable(rng.standard_normal((4, 5)) * 0.5, name="w1")
    w2 = gc.Variable(rng.standard_normal((5, 3)) * 0.5, name="w2")
    logits = gc.matmul(gc.tanh(gc.matmul(x, w1)), w2)
    loss = gc.reduce_mean(gc.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    g1, g2 = gc.gradients(loss, [w1, w2])
    v1 = gc.placeholder(gc.float64, (4, 5), name="v1")
    v2 = gc.placeholder(gc.float64, (5, 3), name="v2")
    hv1, hv2 = gc.gradients(gc.reduce_sum(g1 * v1) + gc.reduce_sum(g2 * v2), [w1, w2])

    sess = gc.Session(graph)
    feed = {x: rng.standard_normal((6, 4)), y: rng.integers(0, 3, 6),
            v1: rng.standard_normal((4, 5)), v2: rng.standard_normal((5, 3))}
    symbolic = sess.run([hv1, hv2], feed)
    w0 = [sess.variable_value(w1), sess.variable_value(w2)]
    eps = 1e-5

    def grads_at(sign):
        sess.set_variable_value(w1, w0[0] + sign * eps * feed[v1])
        sess.set_variable_value(w2, w0[1] + sign * eps * feed[v2])
        return sess.run([g1, g2], feed)

    plus, minus = grads_at(1), grads_at(-1)
    for s, p, m in zip(symbolic, plus, minus):
        np.testing.assert_allclose(s, (p - m) / (2 * eps), rtol=1e-6, atol=1e-8)
    assert np.abs(symbolic[0]).max() > 1e-3


def test_gradient_nodes_are_marked_as_backward(graph):
    x = gc.placeholder(gc.float64, (3,), name="x")
    y = gc.reduce_sum(gc.exp(x), name="total")
    (g,) = gc.gradients(y, [x])
    forward = {n for n in graph.nodes if n.grad_of is None}
    assert {n.name for n in forward} >= {"x", "exp", "total"}
    backward = [n for n in graph.nodes if n.grad_of is not None]
    assert backward and all(n.name.startswith("gradients/") for n in backward)
    # the finished gradient of x says it differentiates exp, input 0
    assert g.grad_of.forward.name == "exp" and g.grad_of.input_index == 0
    assert "grad of %exp[0]" in str(graph)
