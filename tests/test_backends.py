"""Every compiled backend against the numpy interpreter (the backend list is
tests/backends.py): every op's value and gradient, odd sizes, convolutions, poolings,
whole train steps over several steps, random masks, failed checks."""
import numpy as np
import pytest

import graphc as gc
from graphc import models, passes
from graphc.examples_support import two_layer_graph
from graphc.lower.access import walk
from graphc.lower.loopir import Store
from graphc.lower.program import lower_program

from backends import ALL, COMPILED, NATIVE
from test_gradients import CASES, _values


def _run_both(graph, fetches, feed, backend):
    want = gc.Session(graph, backend="numpy").run(fetches, feed)
    got = gc.Session(graph, backend=backend).run(fetches, feed)
    return got, want


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("case", CASES, ids=[c.ids for c in CASES])
def test_every_op_and_its_gradient_match_the_interpreter(case, graph, backend):
    rng = np.random.default_rng(7)
    xs = [gc.placeholder(gc.float64, s, name=f"in{i}") for i, s in enumerate(case.shapes)]
    y = case.build(*xs)
    cotangent = gc.placeholder(gc.float64, y.shape, name="cotangent")
    grads = [g for g in gc.gradients(y, xs, grad_ys=cotangent) if g is not None]
    feed = {x: _values(s, case.domain, rng) for x, s in zip(xs, case.shapes)}
    feed[cotangent] = rng.standard_normal(y.shape)
    got, want = _run_both(graph, [y] + grads, feed, backend)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("n", [1, 3, 17, 129])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_odd_sizes_and_transposes(graph, n, ta, tb, backend):
    rng = np.random.default_rng(n)
    a_shape = (n + 2, n) if ta else (n, n + 2)
    b_shape = (5, n + 2) if tb else (n + 2, 5)
    a = gc.placeholder(gc.float32, a_shape, name="a")
    b = gc.placeholder(gc.float32, b_shape, name="b")
    y = gc.nn.relu(gc.matmul(a, b, transpose_a=ta, transpose_b=tb) + 0.5)
    feed = {a: rng.standard_normal(a_shape), b: rng.standard_normal(b_shape)}
    got, want = _run_both(graph, y, feed, backend)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("shape", [(1,), (7,), (33, 17), (3, 5, 129)])
def test_elementwise_and_reductions_on_odd_sizes(graph, shape, backend):
    rng = np.random.default_rng(1)
    x = gc.placeholder(gc.float32, shape, name="x")
    y = gc.tanh(x) * gc.sigmoid(x) + gc.exp(-x * x)
    fetches = [y, gc.reduce_sum(y), gc.reduce_max(y, axis=-1), gc.nn.softmax(y)]
    got, want = _run_both(graph, fetches, {x: rng.standard_normal(shape)}, backend)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("name,batch", [("mlp", 32), ("lenet5", 8)])
def test_train_steps_match_the_interpreter_over_several_steps(name, batch, backend):
    steps = 3
    if backend == "loopir":         # element by element in Python: a small batch
        batch, steps = 2, 2
    step = getattr(models, name)()
    ref = gc.Session(step.graph, backend="numpy")
    fast = gc.Session(step.graph, backend=backend)
    for i in range(steps):
        feed = step.batch(batch, seed=i)
        want, _ = ref.run([step.loss, step.train_op], feed)
        got, _ = fast.run([step.loss, step.train_op], feed)
        np.testing.assert_allclose(got, want, rtol=1e-5)
    for v in gc.global_variables(step.graph):
        np.testing.assert_allclose(fast.variable_value(v), ref.variable_value(v), rtol=1e-4,
                                   atol=1e-6, err_msg=v.name)


@pytest.mark.parametrize("backend", COMPILED)
def test_the_two_layer_net_trains_as_on_the_interpreter(backend):
    """The lecture's net (sigmoid hidden layer, squared error, plain SGD), step by step."""
    n, d_in = (4, 100) if backend == "loopir" else (64, 1000)
    g, t, data = two_layer_graph(n=n, d_in=d_in)
    ref, fast = gc.Session(g, backend="numpy"), gc.Session(g, backend=backend)
    feed = {t["x"]: data["x"], t["y"]: data["y"]}
    for _ in range(3):
        want, _ = ref.run([t["loss"], t["train"]], feed)
        got, _ = fast.run([t["loss"], t["train"]], feed)
        np.testing.assert_allclose(got, want, rtol=1e-5)
    for v in gc.global_variables(g):
        np.testing.assert_allclose(fast.variable_value(v), ref.variable_value(v), rtol=1e-5,
                                   atol=1e-6, err_msg=v.name)


@pytest.mark.parametrize("backend", COMPILED)
def test_one_compile_per_static_feed_shape(graph, backend):
    x = gc.placeholder(gc.float32, (None, None), name="x")
    y = gc.reduce_sum(x * 2.0)
    sess = gc.Session(graph, backend=backend)
    for n, m in ((3, 4), (3, 4), (5, 4), (3, 2)):
        assert sess.run(y, {x: np.ones((n, m))}) == pytest.approx(2.0 * n * m)
    assert sess.backend.compile_count == 2          # (N, 4) and (N, 2)
    static = gc.Session(graph, backend=backend, static_batch=True)
    for n in (3, 5, 3):
        static.run(y, {x: np.ones((n, 4))})
    assert static.backend.compile_count == 2


@pytest.mark.parametrize("backend", COMPILED)
def test_variables_are_updated_in_place_and_seen_by_the_session(graph, backend):
    v = gc.Variable(np.arange(4, dtype=np.float32), name="v")
    step = gc.assign_add(v, gc.constant(np.ones(4, np.float32)))
    old_plus = v + 0.0
    sess = gc.Session(graph, backend=backend)
    before, after = sess.run([old_plus, step])
    np.testing.assert_array_equal(before, [0, 1, 2, 3])      # reads see the old value
    np.testing.assert_array_equal(after, [1, 2, 3, 4])
    np.testing.assert_array_equal(sess.variable_value(v), [1, 2, 3, 4])
    sess.initialize()
    np.testing.assert_array_equal(sess.run(v), [0, 1, 2, 3])


@pytest.mark.parametrize("backend", COMPILED)
def test_dropout_masks_match_the_interpreter_run_after_run(graph, backend):
    x = gc.placeholder(gc.float32, (None, 64), name="x")
    w = gc.Variable(np.ones((64, 8), np.float32), name="w")
    h = gc.nn.dropout(gc.matmul(x, w), rate=0.3, seed=5)
    loss = gc.reduce_sum(h * h)
    (g,) = gc.gradients(loss, [w])
    feed = {x: np.random.default_rng(0).standard_normal((16, 64))}
    ref, fast = gc.Session(graph, backend="numpy"), gc.Session(graph, backend=backend)
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


CONV_CONFIGS = [dict(strides=1, padding="VALID"), dict(strides=2, padding="SAME"),
                dict(strides=(1, 2), padding=((1, 2), (0, 1))), dict(strides=1, padding=1,
                                                                      dilations=2),
                dict(strides=3, padding="SAME")]


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("cfg", CONV_CONFIGS, ids=[str(c) for c in CONV_CONFIGS])
@pytest.mark.parametrize("dtype", [gc.float32, gc.float64])
@pytest.mark.parametrize("cout", [5, 16, 20, 72])   # llvm: direct; f64 72: im2col + GEMM
def test_conv2d_and_its_gradients_match_the_interpreter(graph, cfg, dtype, cout, backend):
    rng = np.random.default_rng(3)
    x = gc.placeholder(dtype, (None, 9, 8, 3), name="x")
    w = gc.placeholder(dtype, (3, 2, 3, cout), name="w")
    y = gc.nn.conv2d(x, w, **cfg)
    c = gc.placeholder(dtype, y.shape, name="c")
    gx, gw = gc.gradients(y, [x, w], grad_ys=c)
    feed = {x: rng.standard_normal((4, 9, 8, 3)), w: rng.standard_normal((3, 2, 3, cout))}
    feed[c] = rng.standard_normal((4,) + tuple(y.shape[1:]))
    got, want = _run_both(graph, [y, gx, gw], feed, backend)
    tol = 1e-4 if dtype == gc.float32 else 1e-10
    for g, w_ in zip(got, want):
        np.testing.assert_allclose(g, w_, rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("pool", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("cfg", [dict(ksize=2, strides=2), dict(ksize=3, strides=1,
                                                                padding="SAME"),
                                 dict(ksize=3, strides=2, padding=1),
                                 dict(ksize=2, strides=2, dilations=2),
                                 dict(ksize=(2, 3), strides=1, padding=1, dilations=(2, 1))])
def test_pooling_and_its_gradient_match_the_interpreter(graph, pool, cfg, backend):
    rng = np.random.default_rng(4)
    x = gc.placeholder(gc.float64, (None, 7, 6, 2), name="x")
    y = getattr(gc.nn, pool)(x, **cfg)
    c = gc.placeholder(gc.float64, y.shape, name="c")
    (gx,) = gc.gradients(y, [x], grad_ys=c)
    (ggc,) = gc.gradients(gc.reduce_sum(gx * gx), [c])     # second order
    feed = {x: rng.standard_normal((3, 7, 6, 2)), c: rng.standard_normal((3,) + y.shape[1:])}
    got, want = _run_both(graph, [y, gx, ggc], feed, backend)
    for g, w_ in zip(got, want):
        np.testing.assert_allclose(g, w_, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("pool", ["max_pool3d", "avg_pool3d"])
def test_3d_pooling_and_its_gradient_match_the_interpreter(graph, pool, backend):
    rng = np.random.default_rng(5)
    x = gc.placeholder(gc.float64, (None, 5, 4, 6, 2), name="x")
    y = getattr(gc.nn, pool)(x, (3, 2, 2), (2, 1, 2), ((1, 1), (0, 1), (1, 0)),
                             dilations=(1, 2, 1))
    c = gc.placeholder(gc.float64, y.shape, name="c")
    (gx,) = gc.gradients(y, [x], grad_ys=c)
    feed = {x: rng.standard_normal((2, 5, 4, 6, 2)), c: rng.standard_normal((2,) + y.shape[1:])}
    got, want = _run_both(graph, [y, gx], feed, backend)
    for g, w_ in zip(got, want):
        np.testing.assert_allclose(g, w_, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", [gc.float32, gc.float64])
@pytest.mark.parametrize("shape,axes", [((5, 7, 6), (0, 1)), ((37, 10), (0,)),
                                        ((3, 256), (0,)), ((9, 4, 17), (0,)),
                                        ((50, 2, 3), (0,)), ((2, 1), (0,))])
def test_sums_over_leading_axes_match_the_interpreter(graph, dtype, shape, axes, backend):
    """Bias gradients: a buffered value summed over its leading axes (partial sums in
    vector registers, rows left over, an epilogue, keepdims, the mean)."""
    rng = np.random.default_rng(8)
    x = gc.placeholder(dtype, (None,) + shape[1:], name="x")
    doubled = gc.reduce_sum(x, axis=axes) * 2.0 + 1.0
    kept = gc.reduce_mean(x, axis=axes, keepdims=True)
    for n in (shape[0], 1):
        feed = {x: rng.standard_normal((n,) + shape[1:]).astype(dtype.np_type)}
        got, want = _run_both(graph, [doubled, kept], feed, backend)
        tol = 1e-5 if dtype == gc.float32 else 1e-12
        for g, w_ in zip(got, want):
            np.testing.assert_allclose(g, w_, rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", [gc.float32, gc.float64])
@pytest.mark.parametrize("shape,axes", [((5, 7, 6, 4), (0, 1, 2)), ((300, 3), (0,)),
                                        ((2, 1), (0,)), ((129, 2, 16), (0, 1)),
                                        ((37, 1000), (0,))])
def test_sums_of_computed_values_over_leading_axes_match_the_interpreter(graph, dtype, shape,
                                                                         axes, backend):
    """Batch norm's statistics and gradient sums: a value computed in the kernel summed
    over its leading axes, in chunks of rows (fewer rows than chunks, rows left over, no
    rows at all, an epilogue, the mean)."""
    rng = np.random.default_rng(9)
    x = gc.placeholder(dtype, (None,) + shape[1:], name="x")
    y = gc.placeholder(dtype, (None,) + shape[1:], name="y")
    mean = gc.reduce_mean(x, axis=axes, keepdims=True)
    variance = gc.reduce_mean(gc.square(x - mean), axis=axes) + 1.0
    dot = gc.reduce_sum(x * y, axis=axes, keepdims=True) * 3.0
    for n in (shape[0], 1, 0):
        feed = {x: rng.standard_normal((n,) + shape[1:]).astype(dtype.np_type),
                y: rng.standard_normal((n,) + shape[1:]).astype(dtype.np_type)}
        with np.errstate(all="ignore"):
            got, want = _run_both(graph, [variance, dot], feed, backend)
        tol = 1e-5 if dtype == gc.float32 else 1e-12
        for g, w_ in zip(got, want):
            np.testing.assert_allclose(g, w_, rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("shape,axes", [((6, 5, 4, 16), (1, 2)), ((3, 9, 7), (1,)),
                                        ((2, 3, 4, 5, 6), (2, 3))])
def test_sums_over_middle_axes_match_the_interpreter(graph, shape, axes, backend):
    """Global average pooling and its kind: sums over a block of middle axes, each
    leading index's rows added into its own outputs (a mean, a prologue, keepdims, and
    a sum with an epilogue, which takes the general path)."""
    rng = np.random.default_rng(10)
    x = gc.placeholder(gc.float64, (None,) + shape[1:], name="x")
    pooled = gc.reduce_mean(gc.nn.relu(x), axis=axes, name="pooled")
    kept = gc.reduce_sum(x * x, axis=axes, keepdims=True, name="kept")
    shifted = gc.reduce_sum(x, axis=axes) + 1.0
    for n in (shape[0], 1, 0):
        feed = {x: rng.standard_normal((n,) + shape[1:])}
        with np.errstate(all="ignore"):
            got, want = _run_both(graph, [pooled, kept, shifted], feed, backend)
        for g, w_ in zip(got, want):
            np.testing.assert_allclose(g, w_, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("height", [8, 7])        # windows tile the image, or leave a row
def test_max_pool_gradient_with_ties_goes_to_the_first_maximum(graph, height, backend):
    """Tiling windows write all their taps; ties (ReLU zeros) must still pick the first."""
    rng = np.random.default_rng(5)
    x = gc.placeholder(gc.float64, (None, height, 6, 3), name="x")
    y = gc.nn.max_pool2d(gc.nn.relu(x), 2, 2)
    c = gc.placeholder(gc.float64, y.shape, name="c")
    (gx,) = gc.gradients(y, [x], grad_ys=c)
    feed = {x: rng.integers(-2, 2, (4, height, 6, 3)).astype(np.float64),
            c: rng.standard_normal((4,) + y.shape[1:])}
    got, want = _run_both(graph, [gx], feed, backend)
    np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("backend", COMPILED)
def test_programs_are_found_by_placeholder_and_shape_whatever_the_feed_order(graph, backend):
    a = gc.placeholder(gc.float32, (None, None), name="a")
    b = gc.placeholder(gc.float32, (None, None), name="b")
    out = gc.reduce_sum(a) + 10.0 * gc.reduce_sum(b)
    sess = gc.Session(graph, backend=backend)
    small, big = np.ones((2, 3), np.float32), np.ones((4, 5), np.float32)
    assert sess.run(out, {a: small, b: big}) == pytest.approx(6 + 200)
    assert sess.run(out, {b: small, a: big}) == pytest.approx(20 + 60)
    assert sess.run(out, {a: small, b: big}) == pytest.approx(6 + 200)


@pytest.mark.parametrize("backend", ALL)
def test_a_gather_index_out_of_range_fails_the_run_as_on_the_interpreter(graph, backend):
    params = gc.Variable(np.arange(12, dtype=np.float32).reshape(4, 3), name="table")
    ids = gc.placeholder(gc.int32, (None,), name="ids")
    rows = gc.gather(params, ids, name="rows")
    (grad,) = gc.gradients(gc.reduce_sum(rows * rows), [params])
    sess = gc.Session(graph, backend=backend)
    got = sess.run([rows, grad], {ids: np.array([3, -4, 1], np.int32)})
    np.testing.assert_array_equal(got[0], np.arange(12).reshape(4, 3)[[3, 0, 1]])
    for bad in ([0, 4], [-5, 1]):
        with pytest.raises(gc.ExecutionError, match="gather index out of range"):
            sess.run([rows, grad], {ids: np.array(bad, np.int32)})


@pytest.mark.parametrize("backend", NATIVE)
def test_one_bad_label_among_many_rows_checked_in_parallel_always_fails_the_run(graph, backend):
    """Rows are checked by many threads at once: a thread whose row passes must not write
    the status word back (it could overwrite the failure another thread just wrote)."""
    logits = gc.placeholder(gc.float32, (None, 10), name="logits")
    labels = gc.placeholder(gc.int32, (None,), name="labels")
    loss = gc.reduce_mean(gc.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                          logits=logits))
    sess = gc.Session(graph, backend=backend)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1 << 15, 10)).astype(np.float32)
    y = rng.integers(0, 10, 1 << 15).astype(np.int32)
    sess.run(loss, {logits: x, labels: y})
    stmts = lower_program(passes.compile_program([loss], {logits: x.shape, labels: y.shape})
                          .program).kernels
    checks = [s for s in walk([st for k in stmts for st in k.body])
              if isinstance(s, Store) and s.buffer == "status"]
    assert checks and all(s.when is not None for s in checks)
    for bad_row in (3, 1 << 14, (1 << 15) - 1):
        bad = y.copy()
        bad[bad_row] = 10
        with pytest.raises(gc.ExecutionError, match="label out of range"):
            sess.run(loss, {logits: x, labels: bad})


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("shape", [(None, 3), (2, 3)])
def test_a_mask_and_its_float_result_match_the_interpreter(graph, shape, backend):
    # the bool mask dies where y is made: y must not be written over the mask's slot
    rng = np.random.default_rng(3)
    x = gc.placeholder(gc.float32, shape, name="x")
    mask = gc.reduce_max(x, 1, keepdims=True) >= x
    total = gc.reduce_sum(gc.where(mask, x, 0.0))
    y = gc.where(mask, 0.0, x) * x
    feed = {x: rng.standard_normal((16 if shape[0] is None else 2, 3))}
    got, want = _run_both(graph, [total, y], feed, backend)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    np.testing.assert_array_equal(got[1], want[1])
    assert not want[1].any()


@pytest.mark.parametrize("backend", COMPILED)
def test_gradients_through_a_one_hot_mask_match_the_interpreter(graph, backend):
    rng = np.random.default_rng(4)
    x = gc.placeholder(gc.float64, (None, 3), name="x")
    v = gc.Variable(rng.standard_normal(3), name="v")
    y = gc.maximum(v, gc.one_hot(gc.argmax(x, 1), 3, dtype=gc.float64) * x)
    grads = gc.gradients(gc.reduce_sum(y * y), [x, v])
    got, want = _run_both(graph, grads, {x: rng.standard_normal((8, 3))}, backend)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ALL)
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
