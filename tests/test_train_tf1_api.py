"""TF1's training helpers: polynomial_decay, cosine_decay_restarts, ExponentialMovingAverage,
the global-step helpers and latest_checkpoint, against TF1's documented definitions
(written independently here) on every backend."""
import math

import numpy as np
import pytest

import graphc as gc
from backends import ALL


def _schedule_values(make_schedule, steps, backend):
    g = gc.Graph()
    with g.as_default():
        step = gc.train.get_or_create_global_step()
        rate = make_schedule(step)
    sess = gc.Session(g, backend=backend)
    values = []
    for t in steps:
        sess.set_variable_value(step, t)
        values.append(float(sess.run(rate)))
    return np.array(values)


def tf1_polynomial(lr, t, decay_steps, end, power, cycle):
    if cycle:
        decay_steps = decay_steps * max(1, math.ceil(t / decay_steps))
    else:
        t = min(t, decay_steps)
    return (lr - end) * (1 - t / decay_steps) ** power + end


def sgdr(lr, t, first, t_mul, m_mul, alpha):
    """Cosine restarts by walking the periods (not TF1's closed form, to be independent)."""
    start, length, i = 0.0, float(first), 0
    while t >= start + length:
        start, length, i = start + length, length * t_mul, i + 1
    fraction = (t - start) / length
    return lr * ((1 - alpha) * m_mul ** i * 0.5 * (1 + math.cos(math.pi * fraction)) + alpha)


POLY_STEPS = [0, 1, 7, 10, 11, 19, 20, 21, 35, 40, 41, 100]


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("power, cycle", [(1.0, False), (0.5, False), (2.0, True)])
def test_polynomial_decay(power, cycle, backend):
    got = _schedule_values(lambda s: gc.train.polynomial_decay(
        0.1, s, 10, end_learning_rate=0.01, power=power, cycle=cycle), POLY_STEPS, backend)
    want = [tf1_polynomial(0.1, t, 10, 0.01, power, cycle) for t in POLY_STEPS]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_polynomial_decay_defaults_are_tf1s():
    got = _schedule_values(lambda s: gc.train.polynomial_decay(0.1, s, 10), [0, 5, 10, 50],
                           "numpy")
    np.testing.assert_allclose(got, [0.1, 0.05005, 1e-4, 1e-4], rtol=1e-6)


RESTART_STEPS = list(range(0, 80)) + [155, 315, 316, 1000]


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("t_mul, m_mul, alpha", [(2.0, 1.0, 0.0), (2.0, 0.5, 0.1),
                                                 (1.0, 0.8, 0.0), (1.5, 1.0, 0.2)])
def test_cosine_decay_restarts(t_mul, m_mul, alpha, backend):
    got = _schedule_values(lambda s: gc.train.cosine_decay_restarts(
        0.1, s, 5, t_mul=t_mul, m_mul=m_mul, alpha=alpha), RESTART_STEPS, backend)
    want = [sgdr(0.1, t, 5, t_mul, m_mul, alpha) for t in RESTART_STEPS]
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-9)


# -- ExponentialMovingAverage -------------------------------------------------------------
def _ema_program(with_dependencies):
    g = gc.Graph()
    with g.as_default():
        w = gc.Variable(np.array([1.0, -2.0, 3.0]), name="w", dtype=gc.float64)
        grad = gc.placeholder(gc.float64, (3,), name="grad")
        step = gc.train.get_or_create_global_step()
        train = gc.train.GradientDescentOptimizer(0.1).minimize(
            gc.reduce_sum(w * grad), global_step=step)
        ema = gc.train.ExponentialMovingAverage(0.9, num_updates=step)
        if with_dependencies:
            with gc.control_dependencies([train]):
                train = ema.apply([w])
        else:
            train = gc.group(train, ema.apply([w]))
    return g, w, grad, ema, train


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("with_dependencies", [True, False])
def test_ema_follows_tf1s_rule(with_dependencies, backend):
    """TF1: shadow -= (1 − d)(shadow − w), d = min(0.9, (1 + n)/(10 + n)); after the
    train op (control dependency) w and n are the values after the step."""
    g, w, grad, ema, train = _ema_program(with_dependencies)
    sess = gc.Session(g, backend=backend)
    rng = np.random.default_rng(0)
    x = np.array([1.0, -2.0, 3.0])
    shadow, n = x.copy(), 0
    for _ in range(10):
        dx = rng.standard_normal(3)
        sess.run(train, {grad: dx})
        seen_x, seen_n = (x - 0.1 * dx, n + 1) if with_dependencies else (x, n)
        d = min(0.9, (1 + seen_n) / (10 + seen_n))
        shadow = shadow - (1 - d) * (shadow - seen_x)
        x, n = x - 0.1 * dx, n + 1
        np.testing.assert_allclose(sess.variable_value(ema.average(w)), shadow, rtol=1e-13)
    assert ema.average(w).name == "w/ExponentialMovingAverage"
    assert ema.average_name(w) == "w/ExponentialMovingAverage"


def test_ema_shadow_restores_into_the_variable(tmp_path):
    g, w, grad, ema, train = _ema_program(True)
    sess = gc.Session(g)
    for _ in range(3):
        sess.run(train, {grad: np.ones(3)})
    gc.train.Saver().save(sess, tmp_path / "model.ckpt")
    averaged = sess.variable_value(ema.average(w))
    g2, w2, _, ema2, _ = _ema_program(True)
    with g2.as_default():
        restore = ema2.variables_to_restore()
    assert restore["w/ExponentialMovingAverage"] is w2 and "global_step" in restore
    sess2 = gc.Session(g2)
    gc.train.Saver(restore).restore(sess2, tmp_path / "model.ckpt")
    np.testing.assert_array_equal(sess2.variable_value(w2), averaged)


def test_ema_refuses_averaging_twice():
    g, w, grad, ema, train = _ema_program(False)
    with g.as_default(), pytest.raises(ValueError, match="already averaged"):
        ema.apply([w])


# -- global step and latest_checkpoint ----------------------------------------------------
def test_global_step_helpers():
    g = gc.Graph()
    with g.as_default():
        assert gc.train.get_global_step() is None
        step = gc.train.create_global_step()
        assert step.name == "global_step" and step.dtype == gc.int64
        assert gc.train.get_or_create_global_step() is step
        assert gc.train.get_global_step(g) is step
        with pytest.raises(ValueError, match="already has a global step"):
            gc.train.create_global_step()
        w = gc.Variable(1.0, name="w")
        train = gc.train.GradientDescentOptimizer(0.1).minimize(w * w, step)
    sess = gc.Session(g)
    sess.run(train)
    sess.run(train)
    assert gc.train.global_step(sess, step) == 2
    g2 = gc.Graph()
    with g2.as_default():                     # found by name, as TF1's 'global_step:0'
        named = gc.Variable(np.int64(0), name="global_step", trainable=False)
    assert gc.train.get_global_step(g2) is named


def test_latest_checkpoint_and_max_to_keep(tmp_path):
    g = gc.Graph()
    with g.as_default():
        w = gc.Variable(np.zeros(2), name="w")
    sess = gc.Session(g, backend="numpy")
    assert gc.train.latest_checkpoint(tmp_path) is None
    saver = gc.train.Saver(max_to_keep=2)
    for step in (10, 20, 30):
        sess.set_variable_value(w, np.full(2, float(step)))
        saver.save(sess, tmp_path / "model.ckpt", global_step=step)
    latest = gc.train.latest_checkpoint(tmp_path)
    assert latest == str(tmp_path / "model.ckpt-30")
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ["checkpoint", "model.ckpt-20", "model.ckpt-30"]
    state = gc.train.get_checkpoint_state(tmp_path)
    assert state.all_model_checkpoint_paths == [str(tmp_path / "model.ckpt-20"), latest]
    sess.set_variable_value(w, np.zeros(2))
    gc.train.Saver().restore(sess, latest)
    np.testing.assert_array_equal(sess.variable_value(w), 30.0)
    (tmp_path / "model.ckpt-30").unlink()
    assert gc.train.latest_checkpoint(tmp_path) is None
    (tmp_path / "checkpoint").write_text("garbage\n")
    with pytest.raises(gc.train.CheckpointError, match="line 1"):
        gc.train.latest_checkpoint(tmp_path)
