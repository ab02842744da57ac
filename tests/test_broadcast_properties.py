"""Property tests: broadcasting ops agree with numpy for forward values, inferred shapes
(with unknown dims) and gradients (summed back over broadcast axes)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import graphc as gc

OPS = {"add": (gc.add, np.add), "mul": (gc.multiply, np.multiply),
       "maximum": (gc.maximum, np.maximum), "sub": (gc.subtract, np.subtract)}


def _declared(shape, hide):
    """The placeholder's declared shape: some dims hidden as unknown (None)."""
    return tuple(None if h else d for d, h in zip(shape, hide))


@settings(max_examples=60, deadline=None)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=3),
       op=st.sampled_from(sorted(OPS)), data=st.data())
def test_binary_broadcasting_matches_numpy(shapes, op, data):
    a_shape, b_shape = shapes.input_shapes
    hide_a = data.draw(st.lists(st.booleans(), min_size=len(a_shape), max_size=len(a_shape)))
    hide_b = data.draw(st.lists(st.booleans(), min_size=len(b_shape), max_size=len(b_shape)))
    seed = data.draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    av = rng.standard_normal(a_shape)
    bv = rng.standard_normal(b_shape) + 0.01   # no exact ties for maximum
    g = gc.Graph()
    with g.as_default():
        a = gc.placeholder(gc.float64, _declared(a_shape, hide_a), name="a")
        b = gc.placeholder(gc.float64, _declared(b_shape, hide_b), name="b")
        graph_fn, numpy_fn = OPS[op]
        out = graph_fn(a, b)
        c = gc.placeholder(gc.float64, (None,) * len(shapes.result_shape), name="c")
        ga, gb = gc.gradients(gc.reduce_sum(out * c), [a, b])
    # the static shape is a sound over-approximation of the run-time one
    assert len(out.shape) == len(shapes.result_shape)
    for static, actual in zip(out.shape, shapes.result_shape):
        assert static is None or static == actual
    cv = rng.standard_normal(shapes.result_shape)
    got, got_a, got_b = gc.Session(g).run([out, ga, gb], {a: av, b: bv, c: cv})
    np.testing.assert_allclose(got, numpy_fn(av, bv))
    assert got_a.shape == a_shape and got_b.shape == b_shape
    if op == "add":
        np.testing.assert_allclose(got_a, _sum_to(cv, a_shape))
        np.testing.assert_allclose(got_b, _sum_to(cv, b_shape))
    if op == "mul":
        np.testing.assert_allclose(got_a, _sum_to(cv * np.broadcast_to(bv, cv.shape), a_shape))


def _sum_to(x, shape):
    """Independent unbroadcast: sum every copy of each element of `shape`'s array."""
    out = np.zeros(shape)
    for idx in np.ndindex(x.shape):
        src = idx[len(idx) - len(shape):]
        src = tuple(0 if d == 1 else i for i, d in zip(src, shape))
        out[src] += x[idx]
    return out


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4),
       data=st.data())
def test_reductions_match_numpy(shape, data):
    axes = data.draw(st.sets(st.integers(0, len(shape) - 1)))
    keep = data.draw(st.booleans())
    axis = tuple(sorted(axes)) or None
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    xv = rng.standard_normal(shape)
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float64, [None] * len(shape))
        outs = [gc.reduce_sum(x, axis, keep), gc.reduce_mean(x, axis, keep),
                gc.reduce_max(x, axis, keep), gc.reduce_min(x, axis, keep)]
        grads = gc.gradients(gc.reduce_sum(outs[1]), [x])
    got = gc.Session(g).run(outs + grads, {x: xv})
    for value, fn in zip(got, [np.sum, np.mean, np.max, np.min]):
        np.testing.assert_allclose(value, fn(xv, axis=axis, keepdims=keep))
    count = xv.size if axis is None else int(np.prod([shape[i] for i in axis]))
    np.testing.assert_allclose(got[-1], np.full(shape, 1.0 / count))
