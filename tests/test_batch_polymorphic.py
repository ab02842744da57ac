"""One compiled program for every batch size: a `None` leading dimension stays symbolic
(N) through the passes, the memory plan, the loop IR and the native code. Every result
is compared with the numpy interpreter on fresh random inputs."""
import numpy as np
import pytest

import graphc as gc
from graphc import models, passes
from graphc.ir.symbolic import BATCH, SymbolicDim, evaluate

from backends import NATIVE


@pytest.fixture
def compile_log():
    gc.set_log("compile")
    yield
    gc.set_log()


def compile_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines()
            if line.startswith("graphc[compile]")]


def train_in_lockstep(step, batches, backend, rtol=2e-4, atol=2e-5):
    """Train a numpy and a compiled session on the same batches; every loss and every
    variable after every step must agree. Returns the compiled session."""
    reference = gc.Session(step.graph, backend="numpy")
    compiled = gc.Session(step.graph, backend=backend)
    variables = gc.trainable_variables(step.graph)
    for n, seed in batches:
        feed = step.batch(n, seed=seed)
        want, _ = reference.run([step.loss, step.train_op], feed)
        got, _ = compiled.run([step.loss, step.train_op], feed)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"batch {n}")
        for v in variables:
            np.testing.assert_allclose(compiled.variable_value(v), reference.variable_value(v),
                                       rtol=rtol, atol=atol, err_msg=f"{v.name}, batch {n}")
    return compiled


@pytest.mark.parametrize("backend", NATIVE)
def test_mlp_step_with_batches_128_37_1_compiles_once(compile_log, capsys, backend):
    sess = train_in_lockstep(models.mlp(), [(128, 1), (37, 2), (1, 3), (200, 4), (37, 5)],
                             backend)
    lines = compile_lines(capsys)
    assert sess.backend.compile_count == 1 and len(lines) == 1
    assert "one program for every batch size N" in lines[0]


@pytest.mark.parametrize("backend", NATIVE)
def test_lenet5_step_with_several_batch_sizes_compiles_once(backend):
    sess = train_in_lockstep(models.lenet5(), [(16, 1), (5, 2), (1, 3), (9, 4)], backend)
    assert sess.backend.compile_count == 1


@pytest.mark.parametrize("backend", NATIVE)
@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_convolutions_with_partial_last_chunks_match_the_interpreter(graph, rng, padding,
                                                                    backend):
    """Small images put many images in one im2col chunk: batch sizes that leave the
    last chunk partial, lanes without chunks, and one image."""
    x = gc.placeholder(gc.float64, (None, 6, 6, 2), name="x")
    w = gc.Variable(rng.standard_normal((3, 3, 2, 4)), name="w")
    y = gc.nn.max_pool2d(gc.nn.relu(gc.nn.conv2d(x, w, padding=padding)), 2, 2)
    r = gc.placeholder(gc.float64, (None,) + tuple(y.shape[1:]), name="r")
    loss = gc.reduce_sum(y * r)
    gx, gw = gc.gradients(loss, [x, w])
    reference = gc.Session(graph, backend="numpy")
    compiled = gc.Session(graph, backend=backend)
    for n in (60, 5, 1, 113):
        feed = {x: rng.standard_normal((n, 6, 6, 2)),
                r: rng.standard_normal((n,) + tuple(y.shape[1:]))}
        for got, want in zip(compiled.run([loss, gx, gw], feed),
                             reference.run([loss, gx, gw], feed)):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=f"batch {n}")
    assert compiled.backend.compile_count == 1


@pytest.mark.parametrize("backend", NATIVE)
def test_a_graph_that_needs_a_concrete_batch_compiles_per_batch_and_says_why(
        graph, rng, compile_log, capsys, backend):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    columns = gc.transpose(x, name="columns")            # N would be an inner dimension
    out = gc.reduce_sum(columns * columns, axis=1)
    sess = gc.Session(graph, backend=backend)
    for n in (4, 7):
        value = rng.standard_normal((n, 3)).astype(np.float32)
        np.testing.assert_allclose(sess.run(out, {x: value}), (value ** 2).sum(0), rtol=1e-5)
    lines = compile_lines(capsys)
    assert sess.backend.compile_count == 2
    assert "compiled for batch 4 only" in lines[0] and "columns" in lines[0]


@pytest.mark.parametrize("backend", NATIVE)
def test_feeds_that_disagree_on_the_batch_size_are_compiled_for_their_sizes(graph, rng,
                                                                           backend):
    a = gc.placeholder(gc.float32, (None, 3), name="a")
    b = gc.placeholder(gc.float32, (None, 3), name="b")
    total = gc.reduce_sum(a) + gc.reduce_sum(b * 2.0)
    sess = gc.Session(graph, backend=backend)
    for na, nb in ((4, 5), (4, 4), (2, 2)):
        va = rng.standard_normal((na, 3)).astype(np.float32)
        vb = rng.standard_normal((nb, 3)).astype(np.float32)
        assert sess.run(total, {a: va, b: vb}) == pytest.approx(va.sum() + 2 * vb.sum(),
                                                                rel=1e-5)
    assert sess.backend.compile_count == 2     # (4, 5) concrete; then N for the rest


@pytest.mark.parametrize("backend", NATIVE)
def test_dropout_masks_in_a_polymorphic_program_match_the_interpreter(graph, rng, backend):
    x = gc.placeholder(gc.float32, (None, 33), name="x")
    y = gc.nn.dropout(x, rate=0.3, seed=7)
    reference = gc.Session(graph, backend="numpy")
    compiled = gc.Session(graph, backend=backend)
    for n in (5, 3, 17):
        value = rng.standard_normal((n, 33)).astype(np.float32) + 3.0
        np.testing.assert_array_equal(compiled.run(y, {x: value}), reference.run(y, {x: value}))
    assert compiled.backend.compile_count == 1


@pytest.mark.parametrize("backend", NATIVE)
def test_print_shows_each_runs_batch(graph, capsys, backend):
    x = gc.placeholder(gc.float32, (None, 2), name="x")
    y = gc.reduce_sum(gc.print(x * 2.0, "doubled:", summarize=8))
    texts = {}
    for name in ("numpy", backend):
        sess = gc.Session(graph, backend=name)
        capsys.readouterr()
        for n in (1, 3):
            sess.run(y, {x: np.arange(2 * n, dtype=np.float32).reshape(n, 2)})
        texts[name] = capsys.readouterr().out
    assert texts[backend] == texts["numpy"]
    assert texts[backend].count("doubled:") == 2
    assert "10" in texts[backend]           # the last element of the 3-row batch: 2·5


@pytest.mark.parametrize("backend", NATIVE)
def test_check_numerics_in_a_polymorphic_program(graph, backend):
    x = gc.placeholder(gc.float32, (None, 2), name="x")
    y = gc.reduce_sum(gc.log(x), name="total")
    sess = gc.Session(graph, backend=backend, check_numerics=True)
    sess.run(y, {x: np.ones((3, 2), np.float32)})
    with pytest.raises(gc.NumericsError, match="log"):
        sess.run(y, {x: np.zeros((5, 2), np.float32)})
    assert sess.backend.compile_count == 1


def test_the_memory_plan_grows_per_row_and_matches_the_static_plan_at_its_size():
    step = models.mlp()
    fetches = [step.loss, step.train_op]
    symbolic = passes.compile_program(fetches, {step.x: (BATCH, 784), step.y: (BATCH,)},
                                      graph=step.graph).program.annotations["memory"]
    static = passes.compile_program(fetches, {step.x: (128, 784), step.y: (128,)},
                                    graph=step.graph).program.annotations["memory"]
    assert isinstance(symbolic.peak_bytes, SymbolicDim) and symbolic.peak_bytes.coeff > 0
    assert evaluate(symbolic.peak_bytes, 128) <= 1.05 * static.peak_bytes
    assert evaluate(symbolic.peak_bytes, 128) <= evaluate(symbolic.naive_bytes, 128) / 2


def test_the_loop_ir_interpreter_runs_a_polymorphic_program(graph, rng):
    """Lowering itself, checked before any backend: one lowered program, two batches."""
    from graphc.lower.program import lower_program
    from graphc.lower.run import run_lowered
    x = gc.placeholder(gc.float64, (None, 5), name="x")
    w = gc.Variable(rng.standard_normal((5, 3)), name="w")
    loss = gc.reduce_mean(gc.nn.softmax(gc.matmul(x, w)) ** 2)
    (gw,) = gc.gradients(loss, [w])
    columns = gc.reduce_sum(x, axis=0)                  # the block_sum routine
    result = passes.compile_program([loss, gw, columns], {x: (BATCH, 5)}, graph=graph)
    lowered = lower_program(result.program)
    reference = gc.Session(graph, backend="numpy")
    for n in (4, 9):
        value = rng.standard_normal((n, 5))
        got, _ = run_lowered(lowered, {x: value}, {w: reference.variable_value(w)})
        want = reference.run([loss, gw, columns], {x: value})
        for g, e in zip(got, want):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", NATIVE)
def test_static_batch_compiles_per_batch_size(graph, backend):
    x = gc.placeholder(gc.float32, (None, 4), name="x")
    y = gc.reduce_sum(x * 3.0)
    sess = gc.Session(graph, backend=backend, static_batch=True)
    for n in (2, 5, 2):
        assert sess.run(y, {x: np.ones((n, 4), np.float32)}) == pytest.approx(12.0 * n)
    assert sess.backend.compile_count == 2


@pytest.mark.parametrize("cfg", [dict(padding="SAME"), dict(strides=2, padding=1, dilations=1),
                                 dict(padding="VALID", dilations=2)])
def test_the_loop_ir_interpreter_runs_direct_convolutions(graph, rng, cfg):
    """The numpy versions of the direct convolution routines against the ops' references."""
    from graphc.lower.program import lower_program
    from graphc.lower.run import run_lowered
    x = gc.placeholder(gc.float64, (None, 7, 6, 2), name="x")
    w = gc.Variable(rng.standard_normal((3, 3, 2, 8)), name="w")
    y = gc.nn.conv2d(x, w, **cfg)
    (gw,) = gc.gradients(gc.reduce_sum(y * y), [w])
    lowered = lower_program(passes.compile_program([y, gw], {x: (BATCH, 7, 6, 2)},
                                                   graph=graph).program)
    assert "conv_direct(" in str(lowered) and "conv_filter_direct(" in str(lowered)
    reference = gc.Session(graph, backend="numpy")
    for n in (3, 1):
        value = rng.standard_normal((n, 7, 6, 2))
        got, _ = run_lowered(lowered, {x: value}, {w: reference.variable_value(w)})
        for g, want in zip(got, reference.run([y, gw], {x: value})):
            np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", NATIVE)
def test_the_gradient_of_a_mean_over_the_batch_is_one_program_and_0_for_no_rows(graph,
                                                                                backend):
    """Σ of a broadcast over the batch is not rewritten into x · N (N is known only at
    run time), and over no rows it is 0 even where the broadcast value is infinite
    (1/0 · 0 would be NaN)."""
    x = gc.placeholder(gc.float64, (None, 16), name="x")
    v = gc.Variable(np.float64(0.5), name="v")
    (dv,) = gc.gradients(gc.tanh(gc.reduce_mean(x + v)), [v])
    sess = gc.Session(graph, backend=backend)
    reference = gc.Session(graph, backend="numpy")
    for rows in (3, 0, 5):
        feed = {x: np.random.default_rng(rows).standard_normal((rows, 16))}
        with np.errstate(all="ignore"):
            got, want = sess.run(dv, feed), reference.run(dv, feed)
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert np.isfinite(got)
    assert sess.backend.compile_count == 1
    static = gc.Session(graph, backend=backend, static_batch=True)
    with np.errstate(all="ignore"):
        assert static.run(dv, {x: np.zeros((0, 16))}) == 0.0
