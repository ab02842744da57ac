"""gc.viz.render_gradient_flow: the norms against numpy, the verdicts, the picture."""
import re

import numpy as np
import pytest

import graphc as gc
from graphc.viz.gradflow import (EXPLODING, NO_GRADIENT, OK, VANISHING, Thresholds, classify,
                                 measure, scale_colour, scale_position)


def small_two_layer(seed=3):
    from graphc.examples_support import two_layer_graph
    return two_layer_graph(n=8, d_in=20, h=5, d_out=3, seed=seed, dtype=np.float64)


def numpy_gradients(x, y, w1, w2):
    """The lecture's hand-written backward pass of the two-layer net."""
    h = 1 / (1 + np.exp(-x.dot(w1)))
    y_pred = h.dot(w2)
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    grad_w1 = x.T.dot(grad_h * h * (1 - h))
    return grad_w1, grad_w2


def test_norms_equal_numpy_norms():
    g, t, data = small_two_layer()
    feed = {t["x"]: data["x"], t["y"]: data["y"]}
    dot, norms = gc.viz.render_gradient_flow(t["loss"], feed_dict=feed, path=None)
    w1 = t["w1"].attrs["initial_value"]
    w2 = t["w2"].attrs["initial_value"]
    gw1, gw2 = numpy_gradients(data["x"], data["y"], w1, w2)
    assert set(norms) == {"w1", "w2"}
    for name, grad, weight in (("w1", gw1, w1), ("w2", gw2, w2)):
        stat = norms[name]
        assert stat.grad_norm == pytest.approx(np.linalg.norm(grad), rel=1e-10)
        assert stat.weight_norm == pytest.approx(np.linalg.norm(weight), rel=1e-12)
        assert stat.ratio == pytest.approx(np.linalg.norm(grad) / np.linalg.norm(weight),
                                           rel=1e-10)
        assert stat.status == classify(stat.grad_norm, stat.ratio, Thresholds())
        assert f"‖g‖ = {stat.grad_norm:.3g}" in dot.source


def test_the_given_session_is_used_and_variables_are_not_updated():
    g, t, data = small_two_layer()
    sess = gc.Session(g)
    sess.set_variable_value(t["w2"], np.zeros((5, 3)))
    feed = {t["x"]: data["x"], t["y"]: data["y"]}
    _, norms = gc.viz.render_gradient_flow(t["loss"], [t["w1"], t["w2"]], feed_dict=feed,
                                           session=sess, path=None)
    assert norms["w1"].grad_norm == 0.0 and norms["w1"].status == VANISHING
    assert norms["w2"].weight_norm == 0.0 and norms["w2"].ratio is None
    assert norms["w2"].grad_norm > 0
    np.testing.assert_array_equal(sess.variable_value(t["w2"]), np.zeros((5, 3)))


def test_gradients_are_built_once_per_loss_and_wrt():
    g, t, data = small_two_layer()
    feed = {t["x"]: data["x"], t["y"]: data["y"]}
    gc.viz.render_gradient_flow(t["loss"], feed_dict=feed, path=None)
    size = len(g.nodes)
    gc.viz.render_gradient_flow(t["loss"], feed_dict=feed, path=None)
    assert len(g.nodes) == size
    assert any(n.name.startswith("gradient_flow/") for n in g.nodes)


def test_verdicts_follow_the_documented_thresholds():
    t = Thresholds()
    assert classify(1.0, 1e-3, t) == OK
    assert classify(1.0, 0.9e-5, t) == VANISHING
    assert classify(0.9e-7, None, t) == VANISHING
    assert classify(1.0, 1.1, t) == OK                 # a 1e-2 step moves w by 1 %
    assert classify(1.0, 11.0, t) == EXPLODING
    assert classify(1.1e3, 1e-3, t) == EXPLODING
    assert classify(float("nan"), None, t) == EXPLODING
    assert classify(float("inf"), 1.0, t) == EXPLODING
    assert classify(5.0, None, Thresholds(explode_norm=1.0)) == EXPLODING
    stat = measure("w", np.full(4, 0.5), np.full(4, 2.0))
    assert (stat.grad_norm, stat.weight_norm, stat.ratio) == (1.0, 4.0, 0.25)
    assert measure("w", None, np.ones(3)).status == NO_GRADIENT


def test_colour_scale_runs_blue_green_red_on_a_log_scale():
    t = Thresholds()
    low = measure("a", np.full(1, 1e-5), np.ones(1), t)        # ratio exactly at the edge
    mid = measure("b", np.full(1, 1e-2), np.ones(1), t)      # halfway on a log scale
    assert scale_position(low, t) == pytest.approx(0.0)
    assert scale_position(mid, t) == pytest.approx(0.5)
    assert scale_position(measure("c", np.full(1, 50.0), np.ones(1), t), t) == 1.0
    assert scale_colour(0.0) == "#2b6cb0" and scale_colour(1.0) == "#c53030"
    assert scale_colour(0.5) == "#38a169"


def vanishing_and_healthy(graph):
    """Two weights: one whose gradient is scaled by 1e-9 (vanishing), one plain."""
    x = gc.placeholder(gc.float64, (None, 3), name="x")
    small = gc.Variable(np.ones((3, 1)), name="small")
    fine = gc.Variable(np.full((3, 1), 50.0), name="fine")
    unused = gc.Variable(np.ones(2), name="unused")
    loss = gc.reduce_sum(gc.matmul(x, small) * 1e-9 + gc.matmul(x, fine) * 1e-3, name="loss")
    return x, small, fine, unused, loss


def test_picture_flags_vanishing_and_unconnected_variables(graph):
    x, small, fine, unused, loss = vanishing_and_healthy(graph)
    feed = {x: np.ones((2, 3))}
    dot, norms = gc.viz.render_gradient_flow(loss, feed_dict=feed, path=None)
    assert norms["small"].status == VANISHING
    assert norms["fine"].status == OK
    assert norms["unused"].status == NO_GRADIENT and norms["unused"].grad_norm is None
    source = dot.source
    small_box = re.search(rf'^\s*n{small.id} \[label="([^"]*)"', source, re.M).group(1)
    assert small_box.endswith("VANISHING")
    fine_box = re.search(rf'^\s*n{fine.id} \[label="([^"]*)"', source, re.M).group(1)
    assert "‖g‖/‖w‖ = " in fine_box and not fine_box.endswith(("VANISHING", "EXPLODING"))
    legend = re.search(r"legend \[label=<(.*)> ", source).group(1)
    assert "small (‖g‖ = 3.46e-09" in legend
    assert "unused" in legend and "NO GRADIENT" in legend
    assert "fine" not in legend
    assert "vanishing: ratio &lt; 1e-05 or ‖g‖ &lt; 1e-07" in legend


def test_gradient_edges_run_from_each_gradient_to_its_variable(graph):
    x, small, fine, unused, loss = vanishing_and_healthy(graph)
    dot, norms = gc.viz.render_gradient_flow(loss, feed_dict={x: np.ones((2, 3))}, path=None)
    source = dot.source
    # written variable -> gradient with dir=back: ranked so each gradient sits just below
    # its variable, drawn pointing from the gradient at the variable
    extra = re.findall(r"^\s*(\w+) -> (\w+) \[(.*dir=back.*style=bold.*)\]$", source, re.M)
    assert {a for a, _, _ in extra} == {f"n{small.id}", f"n{fine.id}"}
    colours = {a: re.search(r'color="(#\w+)"', attrs).group(1) for a, _, attrs in extra}
    t = Thresholds()
    assert colours[f"n{small.id}"] == scale_colour(scale_position(norms["small"], t))
    assert colours[f"n{small.id}"] == "#2b6cb0"
    assert colours[f"n{fine.id}"] == scale_colour(scale_position(norms["fine"], t))
    for _, _, attrs in extra:
        assert "xlabel=" in attrs
    # the backward graph is one box unless asked for
    assert "hidden_backward" in source
    full = gc.viz.render_gradient_flow(loss, feed_dict={x: np.ones((2, 3))}, path=None,
                                       show_backward=True)[0].source
    assert "hidden_backward" not in full


def test_activations_can_be_measured_too(graph):
    x = gc.placeholder(gc.float64, (None, 2), name="x")
    w = gc.Variable(np.eye(2), name="w")
    h = gc.nn.relu(gc.matmul(x, w), name="h")
    loss = gc.reduce_sum(h * 3.0, name="loss")
    _, norms = gc.viz.render_gradient_flow(loss, wrt=[h], feed_dict={x: [[1.0, -1.0]]},
                                           path=None)
    assert norms["h"].grad_norm == pytest.approx(np.sqrt(18.0))
    assert norms["h"].weight_norm == pytest.approx(1.0)


def test_bad_arguments(graph):
    x, small, fine, unused, loss = vanishing_and_healthy(graph)
    with pytest.raises(TypeError, match="loss must be a graphc tensor"):
        gc.viz.render_gradient_flow("loss", path=None)
    with pytest.raises(ValueError, match="twice"):
        gc.viz.render_gradient_flow(loss, wrt=[small, small], feed_dict={x: np.ones((1, 3))},
                                    path=None)
    other = gc.Graph()
    with other.as_default():
        c = gc.constant(1.0, name="c")
    with pytest.raises(ValueError, match="no trainable variables"):
        gc.viz.render_gradient_flow(c * 2.0, path=None)
    with pytest.raises(ValueError, match="another graph"):
        gc.viz.render_gradient_flow(loss, feed_dict={x: np.ones((1, 3))},
                                    session=gc.Session(other), path=None)
