"""gc.print: an identity that prints when a run computes it, the same way on both
backends, in data-dependency order, inside the single native call."""
import numpy as np
import pytest

import graphc as gc

from backends import ALL

BACKENDS = ALL


@pytest.mark.parametrize("backend", BACKENDS)
def test_print_writes_message_shape_and_first_values(graph, backend, capsys):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    h = gc.print(x * 2.0, "doubled: ", summarize=4)
    total = gc.reduce_sum(gc.print(h + 1.0, "plus one: ", summarize=2))
    value = gc.Session(graph, backend=backend).run(total, {x: np.arange(6).reshape(2, 3)})
    assert value == pytest.approx(36.0)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("doubled: [2, 3] [") and lines[0].endswith("...]")
    assert [float(v) for v in lines[0].split("[", 2)[2][:-5].split(",")] == [0, 2, 4, 6]
    assert lines[1].startswith("plus one: [2, 3] [1.") and len(lines) == 2


def test_every_backend_prints_the_same_text(graph, capsys):
    x = gc.placeholder(gc.float64, (None,), name="x")
    y = gc.reduce_sum(gc.print(gc.tanh(x), "t=", summarize=5) ** 2)
    (g,) = gc.gradients(y, [x])
    feed = {x: np.linspace(-1, 1, 7)}
    outs = []
    for backend in BACKENDS:
        got = gc.Session(graph, backend=backend).run([y, g], feed)
        outs.append((capsys.readouterr().out, got))
    assert outs[0][0].count("t=") == 1
    for text, (_, grad) in outs:
        assert text == outs[0][0]
        np.testing.assert_allclose(grad, 2 * np.tanh(feed[x]) * (1 - np.tanh(feed[x]) ** 2))


@pytest.mark.parametrize("backend", BACKENDS)
def test_print_in_a_train_step_runs_every_step(graph, backend, capsys):
    x = gc.placeholder(gc.float32, (None, 2), name="x")
    w = gc.Variable(np.ones((2, 1), np.float32), name="w")
    loss = gc.print(gc.reduce_mean(gc.square(gc.matmul(x, w))), "loss ")
    train = gc.train.GradientDescentOptimizer(0.1).minimize(loss)
    sess = gc.Session(graph, backend=backend)
    for _ in range(3):
        sess.run(train, {x: np.ones((4, 2))})
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("loss")]
    assert len(printed) == 3 and printed[0] == "loss [] [4.]"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_print_nothing_needs_is_not_run(graph, backend, capsys):
    x = gc.placeholder(gc.float32, (2,), name="x")
    gc.print(x, "unused ")
    gc.Session(graph, backend=backend).run(x * 3.0, {x: [1.0, 2.0]})
    assert "unused" not in capsys.readouterr().out
