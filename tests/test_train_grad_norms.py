"""gc.train.fit(record_gradients=k): gradient norms as extra fetches of the train step."""
import numpy as np
import pytest

import graphc as gc
from graphc import models
from graphc.passes import compile_program
from graphc.train.grad_norms import norm_fetches


def small_problem(n=32):
    m = models.mlp(lr=0.05)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 784)).astype(np.float32)
    y = rng.integers(0, 10, n).astype(np.int32)
    return m, x, y


def test_norms_are_recorded_every_k_steps_and_match_the_gradients():
    m, x, y = small_problem()
    sess = gc.Session(m.graph, backend="numpy")
    variables = m.graph.get_collection("trainable_variables")
    grads = gc.gradients(m.loss, variables)
    # one batch of the whole set: step 1's gradient is that of the initial weights
    expected = [float(np.linalg.norm(g)) for g in sess.run(grads, {m.x: x, m.y: y})]
    weights = [float(np.linalg.norm(w)) for w in sess.run(variables)]
    history = gc.train.fit(sess, m.train_op, m.loss, (m.x, m.y), (x, y), epochs=5,
                           batch_size=len(x), progress=False, log=None, record_gradients=2)
    record = history.gradients
    assert record.steps == [1, 3, 5]
    assert list(record.grad_norms) == [v.name for v in variables]
    got = [record.grad_norms[v.name][0] for v in variables]
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    np.testing.assert_allclose([record.weight_norms[v.name][0] for v in variables], weights,
                               rtol=1e-5)
    assert record.grad_norms["dense/kernel"][0] != record.grad_norms["dense/kernel"][2]


def test_recorded_norms_reuse_the_steps_gradients_in_the_compiled_program():
    m, x, y = small_problem(4)
    names, norms = norm_fetches(m.loss)
    shapes = {m.x: x, m.y: y}
    plain = compile_program([m.loss, m.train_op], shapes).program
    recorded = compile_program([m.loss, m.train_op] + norms, shapes).program

    def matmuls(program):
        return sum(1 for n in program.nodes if n.op.name == "matmul")
    assert matmuls(recorded) == matmuls(plain)          # no gradient computed twice
    assert len(names) == 6 and len(norms) == 12


def test_history_plots_the_gradient_norms(tmp_path):
    pytest.importorskip("matplotlib")
    m, x, y = small_problem()
    sess = gc.Session(m.graph, backend="numpy")
    history = gc.train.fit(sess, m.train_op, m.loss, (m.x, m.y), (x, y), epochs=2,
                           batch_size=16, progress=False, log=None, record_gradients=1)
    out = history.plot_gradients(tmp_path / "norms.png")
    assert open(out, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="record_gradients"):
        gc.train.History().plot_gradients(tmp_path / "none.png")
    with pytest.raises(ValueError, match="record_gradients"):
        gc.train.fit(sess, m.train_op, m.loss, (m.x, m.y), (x, y), record_gradients=-1,
                     progress=False, log=None)
