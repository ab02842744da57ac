"""The LLVM backend against the numpy interpreter: every op's forward value and
gradient, odd sizes, and whole train steps over several steps."""
import numpy as np
import pytest

import graphc as gc
from graphc import models

from test_gradients import CASES, _values


def _run_both(graph, fetches, feed):
    want = gc.Session(graph, backend="numpy").run(fetches, feed)
    got = gc.Session(graph, backend="llvm").run(fetches, feed)
    return got, want


@pytest.mark.parametrize("case", CASES, ids=[c.ids for c in CASES])
def test_every_op_and_its_gradient_match_the_interpreter(case, graph):
    rng = np.random.default_rng(7)
    xs = [gc.placeholder(gc.float64, s, name=f"in{i}") for i, s in enumerate(case.shapes)]
    y = case.build(*xs)
    cotangent = gc.placeholder(gc.float64, y.shape, name="cotangent")
    grads = [g for g in gc.gradients(y, xs, grad_ys=cotangent) if g is not None]
    feed = {x: _values(s, case.domain, rng) for x, s in zip(xs, case.shapes)}
    feed[cotangent] = rng.standard_normal(y.shape)
    got, want = _run_both(graph, [y] + grads, feed)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", [1, 3, 17, 129])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_odd_sizes_and_transposes(graph, n, ta, tb):
    rng = np.random.default_rng(n)
    a_shape = (n + 2, n) if ta else (n, n + 2)
    b_shape = (5, n + 2) if tb else (n + 2, 5)
    a = gc.placeholder(gc.float32, a_shape, name="a")
    b = gc.placeholder(gc.float32, b_shape, name="b")
    y = gc.nn.relu(gc.matmul(a, b, transpose_a=ta, transpose_b=tb) + 0.5)
    feed = {a: rng.standard_normal(a_shape), b: rng.standard_normal(b_shape)}
    got, want = _run_both(graph, y, feed)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(1,), (7,), (33, 17), (3, 5, 129)])
def test_elementwise_and_reductions_on_odd_sizes(graph, shape):
    rng = np.random.default_rng(1)
    x = gc.placeholder(gc.float32, shape, name="x")
    y = gc.tanh(x) * gc.sigmoid(x) + gc.exp(-x * x)
    fetches = [y, gc.reduce_sum(y), gc.reduce_max(y, axis=-1), gc.nn.softmax(y)]
    got, want = _run_both(graph, fetches, {x: rng.standard_normal(shape)})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name,batch", [("mlp", 32), ("lenet5", 8)])
def test_train_steps_match_the_interpreter_over_several_steps(name, batch):
    step = getattr(models, name)()
    ref = gc.Session(step.graph, backend="numpy")
    fast = gc.Session(step.graph, backend="llvm")
    for i in range(3):
        feed = step.batch(batch, seed=i)
        want, _ = ref.run([step.loss, step.train_op], feed)
        got, _ = fast.run([step.loss, step.train_op], feed)
        np.testing.assert_allclose(got, want, rtol=1e-5)
    for v in gc.global_variables(step.graph):
        np.testing.assert_allclose(fast.variable_value(v), ref.variable_value(v), rtol=1e-4,
                                   atol=1e-6, err_msg=v.name)


def test_one_compile_per_static_feed_shape(graph):
    x = gc.placeholder(gc.float32, (None, None), name="x")
    y = gc.reduce_sum(x * 2.0)
    sess = gc.Session(graph, backend="llvm")
    for n, m in ((3, 4), (3, 4), (5, 4), (3, 2)):
        assert sess.run(y, {x: np.ones((n, m))}) == pytest.approx(2.0 * n * m)
    assert sess.backend.compile_count == 2          # (N, 4) and (N, 2)
    static = gc.Session(graph, backend="llvm", static_batch=True)
    for n in (3, 5, 3):
        static.run(y, {x: np.ones((n, 4))})
    assert static.backend.compile_count == 2


def test_variables_are_updated_in_place_and_seen_by_the_session(graph):
    v = gc.Variable(np.arange(4, dtype=np.float32), name="v")
    step = gc.assign_add(v, gc.constant(np.ones(4, np.float32)))
    old_plus = v + 0.0
    sess = gc.Session(graph, backend="llvm")
    before, after = sess.run([old_plus, step])
    np.testing.assert_array_equal(before, [0, 1, 2, 3])      # reads see the old value
    np.testing.assert_array_equal(after, [1, 2, 3, 4])
    np.testing.assert_array_equal(sess.variable_value(v), [1, 2, 3, 4])
    sess.initialize()
    np.testing.assert_array_equal(sess.run(v), [0, 1, 2, 3])


def test_dropout_masks_match_the_interpreter_run_after_run(graph):
    x = gc.placeholder(gc.float32, (None, 64), name="x")
    w = gc.Variable(np.ones((64, 8), np.float32), name="w")
    h = gc.nn.dropout(gc.matmul(x, w), rate=0.3, seed=5)
    loss = gc.reduce_sum(h * h)
    (g,) = gc.gradients(loss, [w])
    feed = {x: np.random.default_rng(0).standard_normal((16, 64))}
    ref, fast = gc.Session(graph, backend="numpy"), gc.Session(graph, backend="llvm")
    masks = []
    for _ in range(3):
        want = ref.run([h, g], feed)
        got = fast.run([h, g], feed)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-4, atol=1e-3)
        masks.append(got[0] != 0)
    assert not np.array_equal(masks[0], masks[1])      # a new mask every run
    keep = np.mean(masks)
    assert 0.6 < keep < 0.8


def test_inspect_shows_every_stage(graph):
    x = gc.placeholder(gc.float32, (None, 8), name="x")
    y = gc.reduce_sum(gc.tanh(x) * 2.0, name="total")
    feed = {x: np.ones((4, 8), np.float32)}
    seen = gc.Session(graph, backend="llvm").inspect(y, feed)
    assert "kernel 0 reduction -> %total" in seen.program
    assert "for i" in seen.loop_ir and "tanh(b0_x[" in seen.loop_ir and "* 2.0" in seen.loop_ir
    assert "define void @\"graphc_program\"" in seen["LLVM IR"]
    assert "graphc_program:" in seen["assembly"]
    on_numpy = gc.Session(graph, backend="numpy").inspect(y, feed)
    assert on_numpy.loop_ir is None and "kernel 0 reduction" in on_numpy.program


def test_inspect_a_program_with_views(graph):
    """A reshape is a view of its input's buffer: the memory plan prints it as one."""
    x = gc.placeholder(gc.float32, (None, 4, 4, 1), name="x")
    flat = gc.reshape(gc.nn.max_pool2d(x, 2, 2), (-1, 4), name="flat")
    y = gc.reduce_sum(gc.matmul(flat, gc.constant(np.ones((4, 2), np.float32))), name="total")
    seen = gc.Session(graph, backend="llvm").inspect(y, {x: np.ones((3, 4, 4, 1), np.float32)})
    assert "%flat: a view @" in seen.program


CONV_CONFIGS = [dict(strides=1, padding="VALID"), dict(strides=2, padding="SAME"),
                dict(strides=(1, 2), padding=((1, 2), (0, 1))), dict(strides=1, padding=1,
                                                                      dilations=2),
                dict(strides=3, padding="SAME")]


@pytest.mark.parametrize("cfg", CONV_CONFIGS, ids=[str(c) for c in CONV_CONFIGS])
@pytest.mark.parametrize("dtype", [gc.float32, gc.float64])
@pytest.mark.parametrize("cout", [5, 16, 20])    # direct routines, and im2col + GEMM
def test_conv2d_and_its_gradients_match_the_interpreter(graph, cfg, dtype, cout):
    rng = np.random.default_rng(3)
    x = gc.placeholder(dtype, (None, 9, 8, 3), name="x")
    w = gc.placeholder(dtype, (3, 2, 3, cout), name="w")
    y = gc.nn.conv2d(x, w, **cfg)
    c = gc.placeholder(dtype, y.shape, name="c")
    gx, gw = gc.gradients(y, [x, w], grad_ys=c)
    feed = {x: rng.standard_normal((4, 9, 8, 3)), w: rng.standard_normal((3, 2, 3, cout))}
    feed[c] = rng.standard_normal((4,) + tuple(y.shape[1:]))
    loop_ir = gc.Session(graph, backend="llvm").inspect([y, gw], feed).loop_ir
    one_vector = cout <= (16 if dtype == gc.float32 else 8)
    assert ("conv_direct(" in loop_ir) == one_vector
    assert ("conv_filter_direct(" in loop_ir) == one_vector
    got, want = _run_both(graph, [y, gx, gw], feed)
    tol = 1e-4 if dtype == gc.float32 else 1e-10
    for g, w_ in zip(got, want):
        np.testing.assert_allclose(g, w_, rtol=tol, atol=tol)


@pytest.mark.parametrize("pool", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("cfg", [dict(ksize=2, strides=2), dict(ksize=3, strides=1,
                                                                padding="SAME"),
                                 dict(ksize=3, strides=2, padding=1)])
def test_pooling_and_its_gradient_match_the_interpreter(graph, pool, cfg):
    rng = np.random.default_rng(4)
    x = gc.placeholder(gc.float64, (None, 7, 6, 2), name="x")
    y = getattr(gc.nn, pool)(x, **cfg)
    c = gc.placeholder(gc.float64, y.shape, name="c")
    (gx,) = gc.gradients(y, [x], grad_ys=c)
    (ggc,) = gc.gradients(gc.reduce_sum(gx * gx), [c])     # second order
    feed = {x: rng.standard_normal((3, 7, 6, 2)), c: rng.standard_normal((3,) + y.shape[1:])}
    got, want = _run_both(graph, [y, gx, ggc], feed)
    for g, w_ in zip(got, want):
        np.testing.assert_allclose(g, w_, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [gc.float32, gc.float64])
@pytest.mark.parametrize("shape,axes", [((5, 7, 6), (0, 1)), ((37, 10), (0,)),
                                        ((3, 256), (0,)), ((9, 4, 17), (0,)),
                                        ((50, 2, 3), (0,)), ((2, 1), (0,))])
def test_sums_over_leading_axes_match_the_interpreter(graph, dtype, shape, axes):
    """Bias gradients: a buffered value summed over its leading axes (partial sums in
    vector registers, rows left over, an epilogue, keepdims, the mean)."""
    rng = np.random.default_rng(8)
    x = gc.placeholder(dtype, (None,) + shape[1:], name="x")
    doubled = gc.reduce_sum(x, axis=axes) * 2.0 + 1.0
    kept = gc.reduce_mean(x, axis=axes, keepdims=True)
    for n in (shape[0], 1):
        feed = {x: rng.standard_normal((n,) + shape[1:]).astype(dtype.np_type)}
        got, want = _run_both(graph, [doubled, kept], feed)
        tol = 1e-5 if dtype == gc.float32 else 1e-12
        for g, w_ in zip(got, want):
            np.testing.assert_allclose(g, w_, rtol=tol, atol=tol)


@pytest.mark.parametrize("height", [8, 7])        # windows tile the image, or leave a row
def test_max_pool_gradient_with_ties_goes_to_the_first_maximum(graph, height):
    """Tiling windows write all their taps; ties (ReLU zeros) must still pick the first."""
    rng = np.random.default_rng(5)
    x = gc.placeholder(gc.float64, (None, height, 6, 3), name="x")
    y = gc.nn.max_pool2d(gc.nn.relu(x), 2, 2)
    c = gc.placeholder(gc.float64, y.shape, name="c")
    (gx,) = gc.gradients(y, [x], grad_ys=c)
    feed = {x: rng.integers(-2, 2, (4, height, 6, 3)).astype(np.float64),
            c: rng.standard_normal((4,) + y.shape[1:])}
    got, want = _run_both(graph, [gx], feed)
    np.testing.assert_array_equal(got[0], want[0])


def test_compiled_train_steps_are_deterministic_across_runs_and_thread_counts(tmp_path):
    """Work is split by index, never by thread: the same bits with 1 or 2 threads."""
    import os
    import subprocess
    import sys
    script = (
        "import numpy as np, graphc as gc\n"
        "from graphc import models\n"
        "step = models.lenet5()\n"
        "sess = gc.Session(step.graph, backend='llvm')\n"
        "losses = [sess.run([step.loss, step.train_op], step.batch(16, seed=i))[0]\n"
        "          for i in range(3)]\n"
        "w = sess.variable_value(gc.trainable_variables(step.graph)[0])\n"
        "print(np.asarray(losses, np.float32).tobytes().hex(), w.tobytes().hex()[:4096])\n")
    outputs = []
    for threads in ("1", "2", "2"):
        env = dict(os.environ, GRAPHC_NUM_THREADS=threads, GRAPHC_CACHE_DIR=str(tmp_path))
        outputs.append(subprocess.run([sys.executable, "-c", script], env=env, check=True,
                                      capture_output=True, text=True).stdout)
    assert outputs[0] == outputs[1] == outputs[2]


def test_programs_are_found_by_placeholder_and_shape_whatever_the_feed_order(graph):
    a = gc.placeholder(gc.float32, (None, None), name="a")
    b = gc.placeholder(gc.float32, (None, None), name="b")
    out = gc.reduce_sum(a) + 10.0 * gc.reduce_sum(b)
    sess = gc.Session(graph, backend="llvm")
    small, big = np.ones((2, 3), np.float32), np.ones((4, 5), np.float32)
    assert sess.run(out, {a: small, b: big}) == pytest.approx(6 + 200)
    assert sess.run(out, {b: small, a: big}) == pytest.approx(20 + 60)
    assert sess.run(out, {a: small, b: big}) == pytest.approx(6 + 200)


def test_a_gather_index_out_of_range_fails_the_run_as_on_the_interpreter(graph):
    params = gc.Variable(np.arange(12, dtype=np.float32).reshape(4, 3), name="table")
    ids = gc.placeholder(gc.int32, (None,), name="ids")
    rows = gc.gather(params, ids, name="rows")
    (grad,) = gc.gradients(gc.reduce_sum(rows * rows), [params])
    for backend in ("numpy", "llvm"):
        sess = gc.Session(graph, backend=backend)
        got = sess.run([rows, grad], {ids: np.array([3, -4, 1], np.int32)})
        np.testing.assert_array_equal(got[0], np.arange(12).reshape(4, 3)[[3, 0, 1]])
        for bad in ([0, 4], [-5, 1]):
            with pytest.raises(gc.ExecutionError, match="gather index out of range"):
                sess.run([rows, grad], {ids: np.array(bad, np.int32)})


def _gemm_betas(step_fetches, shapes):
    """(beta, C buffer) of every GEMM of the lowered program."""
    from graphc import passes
    from graphc.lower.access import walk
    from graphc.lower.program import lower_program
    from graphc.lower.routines import Gemm
    lowered = lower_program(passes.compile_program(step_fetches, shapes).program)
    return [(s.beta, s.c) for s in walk([s for k in lowered.kernels for s in k.body])
            if isinstance(s, Gemm)]


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_velocity_is_one_gemm_call_and_matches_the_interpreter(graph, rng, nesterov):
    """v = ρ·v + Xᵀ·dY runs as the GEMM call itself (beta ρ into the velocity slot), the
    parameter step as a pass over v; Nesterov's step reads v's old value, so there the
    product keeps its own buffer. Either way: the interpreter's values, step after step."""
    x = gc.placeholder(gc.float32, (None, 40), name="x")
    y = gc.placeholder(gc.float32, (None, 12), name="y")
    w = gc.Variable(rng.standard_normal((40, 12)).astype(np.float32), name="w")
    loss = gc.reduce_mean(gc.square(gc.matmul(x, w) - y))
    train = gc.train.MomentumOptimizer(0.05, momentum=0.8,
                                       use_nesterov=nesterov).minimize(loss)
    calls = _gemm_betas([loss, train], {x: (32, 40), y: (32, 12)})
    velocity = [buffer for beta, buffer in calls if beta == pytest.approx(0.8)]
    assert (velocity != []) is not nesterov, calls
    assert all("Momentum" in buffer for buffer in velocity)
    ref = gc.Session(graph, backend="numpy")
    fast = gc.Session(graph, backend="llvm")
    for i in range(4):
        feed = {x: rng.standard_normal((32, 40)).astype(np.float32),
                y: rng.standard_normal((32, 12)).astype(np.float32)}
        want, _ = ref.run([loss, train], feed)
        got, _ = fast.run([loss, train], feed)
        np.testing.assert_allclose(got, want, rtol=1e-5)
    for v in gc.global_variables(graph):
        np.testing.assert_allclose(fast.variable_value(v), ref.variable_value(v), rtol=1e-5,
                                   atol=1e-6, err_msg=v.name)


@pytest.mark.parametrize("shape", [(None, 3), (2, 3)])
def test_a_mask_and_its_float_result_match_the_interpreter(graph, shape):
    # the bool mask dies where y is made: y must not be written over the mask's slot
    rng = np.random.default_rng(3)
    x = gc.placeholder(gc.float32, shape, name="x")
    mask = gc.reduce_max(x, 1, keepdims=True) >= x
    total = gc.reduce_sum(gc.where(mask, x, 0.0))
    y = gc.where(mask, 0.0, x) * x
    feed = {x: rng.standard_normal((16 if shape[0] is None else 2, 3))}
    got, want = _run_both(graph, [total, y], feed)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    np.testing.assert_array_equal(got[1], want[1])
    assert not want[1].any()


def test_gradients_through_a_one_hot_mask_match_the_interpreter(graph):
    rng = np.random.default_rng(4)
    x = gc.placeholder(gc.float64, (None, 3), name="x")
    v = gc.Variable(rng.standard_normal(3), name="v")
    y = gc.maximum(v, gc.one_hot(gc.argmax(x, 1), 3, dtype=gc.float64) * x)
    grads = gc.gradients(gc.reduce_sum(y * y), [x, v])
    got, want = _run_both(graph, grads, {x: rng.standard_normal((8, 3))})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("bad", ["label", "gather"])
def test_a_run_that_fails_a_check_leaves_every_variable_as_it_was(graph, backend, bad):
    """A failed check (a label or a gather index out of range) raises before the step is
    committed: weights, Adam slots and a step counter updated before the check's kernel
    are all put back."""
    rng = np.random.default_rng(5)
    ids = gc.placeholder(gc.int32, (None,), name="ids")
    labels = gc.placeholder(gc.int32, (None,), name="labels")
    table = gc.Variable(rng.standard_normal((6, 4)).astype(np.float32), name="table")
    w = gc.Variable(rng.standard_normal((4, 3)).astype(np.float32), name="w")
    steps = gc.Variable(np.int64(0), name="steps")
    count = gc.assign_add(steps, np.int64(1))
    logits = gc.matmul(gc.gather(table, ids), w)
    loss = gc.reduce_mean(gc.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                          logits=logits))
    with gc.control_dependencies([count]):
        train = gc.train.AdamOptimizer(0.1).minimize(loss)
    sess = gc.Session(graph, backend=backend)
    good = {ids: np.array([0, 5, 2], np.int32), labels: np.array([2, 0, 1], np.int32)}
    sess.run([loss, train], good)
    variables = graph.get_collection("variables")
    before = [sess.variable_value(v) for v in variables]
    feed = dict(good)
    feed[labels if bad == "label" else ids] = np.array([1, 3, 6], np.int32)
    with pytest.raises(gc.ExecutionError, match="out of range"):
        sess.run([loss, train], feed)
    for v, old in zip(variables, before):
        np.testing.assert_array_equal(sess.variable_value(v), old, err_msg=v.name)
    sess.run([loss, train], good)                  # and the next good step still runs
    assert sess.variable_value(steps) == 2
