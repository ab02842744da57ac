"""Session semantics (TF1): fetch structures, feeds, variables, assignments, callables."""
import collections

import numpy as np
import pytest

import graphc as gc

from backends import ALL


def test_fetch_structures_come_back_in_shape(graph):
    x = gc.placeholder(gc.float32, (2,), name="x")
    a, b = x * 2.0, x + 1.0
    sess = gc.Session(graph)
    feed = {x: [1.0, 2.0]}
    np.testing.assert_array_equal(sess.run(a, feed), [2, 4])
    out = sess.run({"a": a, "pair": (b, [a, "x:0"])}, feed)
    assert set(out) == {"a", "pair"} and isinstance(out["pair"], tuple)
    np.testing.assert_array_equal(out["pair"][1][1], [1, 2])
    Pair = collections.namedtuple("Pair", "first second")
    got = sess.run(Pair(a, b), feed)
    assert isinstance(got, Pair)
    np.testing.assert_array_equal(got.second, [2, 3])


def test_a_none_gradient_in_the_fetches_says_where_and_why(graph):
    x = gc.placeholder(gc.float32, (None,), name="x")
    used, unused = gc.Variable(1.0, name="used"), gc.Variable(1.0, name="unused")
    grads = gc.gradients(gc.reduce_sum(x * used), [used, unused])
    assert grads[1] is None                         # as TF1's tf.gradients
    sess = gc.Session(graph)
    why = "gc.gradients gives None for a variable the loss does not depend on"
    with pytest.raises(TypeError, match=rf"^fetches\[1\] is None: {why}"):
        sess.run(grads, {x: [1.0]})
    with pytest.raises(TypeError, match=rf"^fetches\['step'\]\['unused'\] is None: {why}"):
        sess.make_callable({"step": {"used": grads[0], "unused": grads[1]}}, [x])
    with pytest.raises(TypeError, match=r"^cannot fetch 3 \(fetches\[0\]\)"):
        sess.run([3])


def test_a_session_made_before_its_graph_has_nodes_runs_that_graph():
    mine = gc.Graph()
    sess = gc.Session(mine)
    with mine.as_default():
        v = gc.Variable(2.0, name="v")
    assert sess.graph is mine and sess.run(v * 3.0) == 6.0


def test_scalars_come_back_as_numpy_scalars_and_group_as_none(graph):
    x = gc.constant(3.0)
    v = gc.Variable(1.0, name="v")
    out = gc.Session(graph).run([x * 2.0, gc.group(gc.assign_add(v, 1.0))])
    assert out[0] == 6.0 and np.ndim(out[0]) == 0 and out[0].dtype == np.float32
    assert out[1] is None


def test_variables_are_initialized_and_reinitializable(graph):
    w = gc.Variable(np.arange(3, dtype=np.float32), name="w")
    step = gc.assign_add(w, gc.constant([1.0, 1.0, 1.0]))
    sess = gc.Session(graph)
    sess.run(step)
    sess.run(step)
    np.testing.assert_array_equal(sess.run(w), [2, 3, 4])
    sess.initialize()
    np.testing.assert_array_equal(sess.run(w), [0, 1, 2])
    # each session owns its values
    np.testing.assert_array_equal(gc.Session(graph).run(w), [0, 1, 2])


def test_variable_initialized_from_a_tensor_and_late_variables(graph):
    a = gc.Variable(gc.constant([1.0, 2.0]) * 3.0, name="a")
    sess = gc.Session(graph)
    b = gc.Variable([5, 6], name="b")   # made after the session: initialized on first use
    assert b.dtype == gc.int32 and a.dtype == gc.float32
    np.testing.assert_array_equal(sess.run(a), [3, 6])
    np.testing.assert_array_equal(sess.run(b), [5, 6])


def test_reads_in_a_run_see_the_old_value_and_assign_returns_the_new(graph):
    v = gc.Variable(10.0, name="v")
    new = gc.assign_sub(v, 4.0)
    doubled_old = v * 2.0
    sess = gc.Session(graph)
    assert sess.run([doubled_old, new]) == [20.0, 6.0]
    assert sess.run(v) == 6.0


def test_control_dependencies_run_the_update(graph):
    v = gc.Variable(0.0, name="counter")
    inc = gc.assign_add(v, 1.0)
    with gc.control_dependencies([inc]):
        out = gc.identity(gc.constant(7.0))
    sess = gc.Session(graph)
    sess.run(out)
    sess.run(out)
    assert sess.run(v) == 2.0


def test_two_assignments_to_one_variable_in_a_run_are_refused(graph):
    v = gc.Variable(0.0, name="v")
    both = gc.group(gc.assign(v, 1.0), gc.assign(v, 2.0))
    with pytest.raises(gc.GraphcError, match="assigned twice"):
        gc.Session(graph).run(both)


def test_make_callable_matches_run(graph, rng):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    w = gc.Variable(rng.standard_normal((3, 2)).astype(np.float32), name="w")
    y = gc.reduce_sum(gc.matmul(x, w))
    sess = gc.Session(graph)
    f = sess.make_callable([y, w], [x])
    xv = rng.standard_normal((4, 3)).astype(np.float32)
    got = f(xv)
    want = sess.run([y, w], {x: xv})
    assert got[0] == want[0]
    with pytest.raises(TypeError, match="expected 1 feed"):
        f()


@pytest.mark.parametrize("backend", ALL)
def test_a_callable_checks_every_feed_after_one_it_passed_as_it_is(graph, rng, backend):
    """make_callable skips converting an array of the dtype and shape it last passed
    unconverted; anything else is still converted or refused."""
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    f = gc.Session(graph, backend=backend).make_callable(gc.reduce_sum(x, axis=0), [x])
    xv = rng.standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(f(xv), xv.sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(f(xv * 2), 2 * xv.sum(axis=0), rtol=1e-5)   # fast path
    wide = rng.standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(f(wide[:, ::2]), wide[:, ::2].sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(f(xv.astype(np.float64)), xv.sum(axis=0), rtol=1e-5)
    with pytest.raises(gc.FeedError, match="shape"):
        f(np.zeros((4, 5), np.float32))
    with pytest.raises(gc.FeedError, match="cannot feed"):
        f(np.zeros((4, 3), np.complex64))
    np.testing.assert_allclose(f(xv), xv.sum(axis=0), rtol=1e-5)


def test_feeds_accept_safe_conversions(graph):
    x = gc.placeholder(gc.float32, (None,), name="x")
    sess = gc.Session(graph)
    out = sess.run(x * 1.0, {x: np.array([1, 2], dtype=np.int64)})
    assert out.dtype == np.float32
    out = sess.run(x * 1.0, {"x": [0.5]})  # by name, from a list
    np.testing.assert_array_equal(out, [0.5])


def test_unknown_batch_dimension_takes_any_size(graph, rng):
    x = gc.placeholder(gc.float64, (None, 2), name="x")
    y = gc.reduce_mean(x * x, axis=0)
    (g,) = gc.gradients(gc.reduce_sum(y), [x])
    sess = gc.Session(graph)
    for n in (1, 5, 17):
        xv = rng.standard_normal((n, 2))
        np.testing.assert_allclose(sess.run(g, {x: xv}), 2 * xv / n)


def test_fetching_a_variable_returns_a_copy(graph):
    v = gc.Variable(np.zeros(2, np.float32), name="v")
    sess = gc.Session(graph)
    got = sess.run(v)
    got[0] = 99
    assert sess.run(v)[0] == 0


@pytest.mark.parametrize("backend", ALL)
def test_closed_session_refuses_to_run(graph, backend):
    v = gc.Variable(np.zeros(2, np.float32), name="v")
    bump = gc.assign_add(v, np.ones(2, np.float32))
    sess = gc.Session(graph, backend=backend)
    step = sess.make_callable(bump)
    step()
    with sess:
        pass
    with pytest.raises(gc.GraphcError, match="closed"):
        sess.run(gc.constant(1.0))
    with pytest.raises(gc.GraphcError, match="closed"):
        sess.make_callable(bump)
    with pytest.raises(gc.GraphcError, match="closed"):   # never from initial values again
        step()
    with pytest.raises(gc.GraphcError, match="closed"):
        sess.variable_value(v)


@pytest.mark.parametrize("backend", ALL)
def test_one_session_serves_two_threads(graph, backend):
    """Runs from two threads, of other batch sizes and values, each get their own
    results (a compiled program's arena and outputs serve one run at a time)."""
    import threading
    x = gc.placeholder(gc.float32, (None, 64), name="x")
    w_value = np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32)
    w = gc.Variable(w_value, name="w")
    y = gc.nn.relu(gc.matmul(x, w))
    sess = gc.Session(graph, backend=backend)
    step = sess.make_callable(y, [x])
    wrong = []

    def work(seed, use_run):
        rng = np.random.default_rng(seed)
        for _ in range(150):
            xv = rng.standard_normal((rng.integers(1, 40), 64)).astype(np.float32)
            got = sess.run(y, {x: xv}) if use_run else step(xv)
            want = np.maximum(xv @ w_value, 0)
            if got.shape != want.shape or not np.allclose(got, want, rtol=1e-4, atol=1e-4):
                wrong.append(seed)
    threads = [threading.Thread(target=work, args=(seed, seed == 2)) for seed in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_default_graph_and_reset():
    g0 = gc.reset_default_graph()
    c = gc.constant(1.0, name="c")
    assert c.graph is g0 is gc.get_default_graph()
    g1 = gc.Graph()
    with g1.as_default():
        assert gc.constant(2.0).graph is g1
    assert gc.get_default_graph() is g0
    assert gc.Session().run(c) == 1.0


@pytest.mark.parametrize("backend", ALL)
def test_fetched_arrays_belong_to_the_caller(graph, rng, backend):
    """Each fetched array is the caller's own: writing to it changes neither the
    session nor another fetch of the same tensor in the same run, nor the fed array."""
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    y = x * 2.0
    sess = gc.Session(graph, backend=backend)
    xv = rng.standard_normal((4, 3)).astype(np.float32)
    first, again, fed = sess.run([y, y, x], {x: xv})
    assert first is not again
    first[0, 0] = 123.0
    fed[0, 0] = 456.0
    np.testing.assert_array_equal(again, 2 * xv)
    assert xv[0, 0] not in (123.0, 456.0)
    np.testing.assert_array_equal(sess.run(y, {x: xv}), 2 * xv)


@pytest.mark.parametrize("backend", ALL)
def test_an_array_changed_in_place_and_fed_again_is_read_again(graph, rng, backend):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    f = gc.Session(graph, backend=backend).make_callable(gc.reduce_sum(x, axis=0), [x])
    xv = rng.standard_normal((5, 3)).astype(np.float32)
    for _ in range(3):
        np.testing.assert_allclose(f(xv), xv.sum(axis=0), rtol=1e-5)
        xv += rng.standard_normal(xv.shape).astype(np.float32)


@pytest.mark.parametrize("backend", ["llvm", "c"])
def test_a_callables_lean_path_matches_the_interpreter_whatever_changes(graph, rng, backend):
    """After its first run a callable on a compiled backend calls the program directly
    (no dictionaries, no conversions) while the feeds keep their dtype, shape and
    layout. Training steps, new arrays, other batch sizes, layouts and dtypes, variables
    reset or restored between calls: every result is the interpreter's."""
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    w = gc.Variable(rng.standard_normal((3, 2)).astype(np.float32), name="w")
    loss = gc.reduce_mean(gc.square(gc.matmul(x, w)))
    train = gc.train.GradientDescentOptimizer(0.1).minimize(loss)
    sess, oracle = gc.Session(graph, backend=backend), gc.Session(graph, backend="numpy")
    step = sess.make_callable([loss, train], [x])
    score = sess.make_callable(loss, [x])
    batches = [rng.standard_normal((n, 3)).astype(np.float32) for n in (4, 4, 7, 4, 1)]
    wide = rng.standard_normal((4, 6)).astype(np.float32)
    feeds = batches + [wide[:, ::2], batches[0].astype(np.float64), batches[1]]
    for i, xv in enumerate(feeds):
        got_loss, got_none = step(xv)
        want_loss, _ = oracle.run([loss, train], {x: xv})
        assert got_none is None and isinstance(got_loss, np.floating)
        np.testing.assert_allclose(got_loss, want_loss, rtol=1e-5)
        np.testing.assert_allclose(score(xv), oracle.run(loss, {x: xv}), rtol=1e-5)
        if i == 3:                   # the session's variable arrays replaced between calls
            sess.initialize()
            oracle.initialize()
    np.testing.assert_allclose(sess.run(w), oracle.run(w), rtol=1e-5)
    sess.close()
    with pytest.raises(gc.GraphcError, match="closed"):
        step(batches[0])
