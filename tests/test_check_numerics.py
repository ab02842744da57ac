"""Session(check_numerics=True) stops at the first op that produced a NaN or an Inf and
names it, its line, and — for a backward op — the forward op it differentiates."""
import inspect
import warnings

import numpy as np
import pytest

import graphc as gc

from backends import ALL

BACKENDS = ALL


def _line():
    return inspect.currentframe().f_back.f_lineno


@pytest.mark.parametrize("backend", BACKENDS)
def test_backward_nan_names_the_forward_op_and_line(graph, backend):
    x = gc.placeholder(gc.float32, (None,), name="x")
    w = gc.Variable(np.ones(3, np.float32), name="w")
    forward_line = _line() + 1
    loss = gc.reduce_sum(gc.sqrt(x * w, name="root"))
    grad_line = _line() + 1
    train = gc.train.GradientDescentOptimizer(0.1).minimize(loss)
    sess = gc.Session(graph, backend=backend, check_numerics=True)
    assert sess.run(loss, {x: [1.0, 4.0, 9.0]}) == pytest.approx(6.0)
    with pytest.raises(gc.NumericsError) as err, np.errstate(all="ignore"):
        sess.run([loss, train], {x: [1.0, 0.0, 9.0]})   # d sqrt / dx at 0 is inf
    msg = str(err.value)
    # the compiled program's rewritten backward node keeps its name and scope
    assert msg.startswith("div 'gradients/root_grad/div'")
    assert f"test_check_numerics.py:{grad_line}" in msg
    assert f"gradient of sqrt 'root' (test_check_numerics.py:{forward_line})" in msg


@pytest.mark.parametrize("backend", BACKENDS)
def test_log_of_an_underflowing_softmax(graph, backend):
    z = gc.placeholder(gc.float32, (None, 3), name="z")
    scale = gc.placeholder(gc.float32, (), name="scale")    # keeps log∘softmax unfused
    line = _line() + 1
    log_p = gc.log(gc.nn.softmax(z) * scale, name="log_p")
    sess = gc.Session(graph, backend=backend, check_numerics=True)
    with pytest.raises(gc.NumericsError) as err, np.errstate(all="ignore"):
        sess.run(log_p, {z: [[200.0, 0.0, -200.0]], scale: 1.0})
    assert str(err.value).startswith(f"log 'log_p' (test_check_numerics.py:{line}) produced")


@pytest.mark.parametrize("backend", BACKENDS)
def test_off_by_default(graph, backend):
    x = gc.placeholder(gc.float32, (None,), name="x")
    with np.errstate(all="ignore"):
        out = gc.Session(graph, backend=backend).run(gc.log(x), {x: [0.0, 1.0]})
    assert np.isneginf(out[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_optimizer_update_that_overflows_is_named(graph, backend):
    w = gc.Variable(np.full(1, 3e38, np.float32), name="w")
    loss = gc.reduce_sum(w * -1.0)
    train = gc.train.GradientDescentOptimizer(3e38).minimize(loss)    # w + 3e38 overflows
    sess = gc.Session(graph, backend=backend, check_numerics=True)
    with pytest.raises(gc.NumericsError, match="updates variable 'w'"), \
            np.errstate(all="ignore"):
        sess.run(train)
    assert sess.variable_value(w)[0] == np.float32(3e38)     # the failed step left w as it was


def test_numpy_warnings_give_way_to_the_check(graph):
    x = gc.placeholder(gc.float32, (None,), name="x")
    big = gc.exp(x * 1000.0, name="big")
    sess = gc.Session(graph, backend="numpy", check_numerics=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # a RuntimeWarning would fail the run
        with pytest.raises(gc.NumericsError, match="^exp 'big'"):
            sess.run(big, {x: [1.0]})
    with np.errstate(over="raise"), pytest.raises(gc.ExecutionError, match="overflow"):
        sess.run(big, {x: [1.0]})                   # a caller's np.seterr still holds
