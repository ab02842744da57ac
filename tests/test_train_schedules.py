"""Learning-rate schedules (graph ops on global_step) against their closed forms."""
import math

import numpy as np
import pytest

import graphc as gc

T = 100


def _values(make_schedule, steps):
    """The schedule's value at each global step in `steps`."""
    g = gc.Graph()
    with g.as_default():
        step = gc.train.get_or_create_global_step()
        rate = make_schedule(step)
    assert rate.dtype == gc.float32 and rate.shape == ()
    sess = gc.Session(g)
    out = []
    for t in steps:
        sess.set_variable_value(step, t)
        out.append(float(sess.run(rate)))
    return np.array(out)


STEPS = [0, 1, 2, 3, 10, 29, 30, 31, 50, 59, 60, 61, 99, 100, 101, 150, 1000]


def cosine(step):
    return gc.train.cosine_decay(0.1, step, T)


def test_cosine_matches_lecture_formula():
    expected = [0.5 * 0.1 * (1 + math.cos(min(t, T) * math.pi / T)) for t in STEPS]
    np.testing.assert_allclose(_values(cosine, STEPS), expected, rtol=1e-6, atol=1e-8)


def test_cosine_with_floor():
    def floored(step):
        return gc.train.cosine_decay(1.0, step, T, alpha=0.1)
    expected = [0.9 * 0.5 * (1 + math.cos(min(t, T) * math.pi / T)) + 0.1 for t in STEPS]
    np.testing.assert_allclose(_values(floored, STEPS), expected, rtol=1e-6)


def test_linear_matches_lecture_formula():
    def linear(step):
        return gc.train.linear_decay(0.1, step, T)
    expected = [0.1 * (1 - min(t, T) / T) for t in STEPS]
    np.testing.assert_allclose(_values(linear, STEPS), expected, rtol=1e-6, atol=1e-9)


def test_inverse_sqrt_matches_lecture_formula():
    def inv_sqrt(step):
        return gc.train.inverse_sqrt_decay(0.1, step)
    expected = [0.1 / math.sqrt(max(t, 1)) for t in STEPS]
    np.testing.assert_allclose(_values(inv_sqrt, STEPS), expected, rtol=1e-6)


def test_inverse_sqrt_with_warmup_is_continuous():
    def warm(step):
        return gc.train.inverse_sqrt_decay(0.1, step, warmup_steps=16)
    expected = [0.1 * math.sqrt(16 / max(t, 16)) for t in STEPS]
    np.testing.assert_allclose(_values(warm, STEPS), expected, rtol=1e-6)


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay(staircase):
    def expo(step):
        return gc.train.exponential_decay(0.1, step, 30, 0.5, staircase=staircase)
    expected = [0.1 * 0.5 ** ((t // 30) if staircase else t / 30) for t in STEPS]
    np.testing.assert_allclose(_values(expo, STEPS), expected, rtol=1e-6)


def test_step_decay_multiplies_by_factor_after_each_boundary():
    def step_sched(step):
        return gc.train.step_decay(0.1, step, [30, 60, 90], factor=0.1)
    expected = [0.1 * 0.1 ** sum(t > b for b in (30, 60, 90)) for t in STEPS]
    np.testing.assert_allclose(_values(step_sched, STEPS), expected, rtol=1e-6)


def test_piecewise_constant_like_tf1():
    def piecewise(step):
        return gc.train.piecewise_constant(step, [10, 50], [1.0, 0.5, 0.25])
    got = _values(piecewise, [0, 10, 11, 50, 51, 500])
    np.testing.assert_allclose(got, [1.0, 1.0, 0.5, 0.5, 0.25, 0.25])


def test_schedule_errors_are_clear():
    g = gc.Graph()
    with g.as_default():
        step = gc.train.get_or_create_global_step()
        with pytest.raises(ValueError, match="3 values"):
            gc.train.piecewise_constant(step, [1, 2], [1.0])
        with pytest.raises(ValueError, match="increase"):
            gc.train.piecewise_constant(step, [5, 2], [1.0, 2.0, 3.0])
        with pytest.raises(ValueError, match="decay_steps"):
            gc.train.cosine_decay(0.1, step, 0)


def test_global_step_is_made_once_per_graph_and_counts_steps():
    g = gc.Graph()
    with g.as_default():
        assert gc.train.get_global_step() is None
        step = gc.train.get_or_create_global_step()
        assert gc.train.get_or_create_global_step() is step
        assert step.name == "global_step" and step.dtype == gc.int64
        assert step not in gc.trainable_variables()
        w = gc.Variable(np.float32(3.0), name="w")
        train = gc.train.GradientDescentOptimizer(0.1).minimize(gc.square(w), global_step=step)
    sess = gc.Session(g)
    for _ in range(3):
        sess.run(train)
    assert sess.run(step) == 3
