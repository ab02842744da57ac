"""gc.clip_by_value, clip_by_norm, global_norm and clip_by_global_norm: forward against
numpy versions of TF1's definitions and gradients against finite differences, on every
backend."""
import numpy as np
import pytest

import graphc as gc
from backends import ALL

RNG = np.random.default_rng(3)
A = RNG.standard_normal((3, 4))
B = RNG.standard_normal(5) * 3


def _feed(graph, *arrays):
    with graph.as_default():
        return [gc.placeholder(gc.float64, a.shape, name=f"t{i}") for i, a in enumerate(arrays)]


def np_clip_by_norm(t, c, axes=None):
    norm = np.sqrt(np.sum(t * t, axis=axes, keepdims=True))
    return t * c / np.maximum(norm, c)


@pytest.mark.parametrize("backend", ALL)
def test_forward_matches_numpy(backend):
    g = gc.Graph()
    a, b = _feed(g, A, B)
    with g.as_default():
        fetches = {
            "value": gc.clip_by_value(a, -0.5, 0.7),
            "value_tensor_bounds": gc.clip_by_value(a, -np.ones(4), np.arange(4) * 0.3),
            "norm": gc.clip_by_norm(a, 1.5),
            "norm_rows": gc.clip_by_norm(a, 1.0, axes=[1]),
            "norm_unclipped": gc.clip_by_norm(b, 100.0),
            "global": gc.global_norm([a, None, b]),
        }
        clipped, norm = gc.clip_by_global_norm([a, None, b], 2.0)
        fetches["clipped_a"], fetches["clipped_b"] = clipped[0], clipped[2]
        assert clipped[1] is None and norm is not None
    got = gc.Session(g, backend=backend).run(fetches, {a: A, b: B})
    total = np.sqrt(np.sum(A ** 2) + np.sum(B ** 2))
    expected = {
        "value": np.clip(A, -0.5, 0.7),
        "value_tensor_bounds": np.minimum(np.maximum(A, -1.0), np.arange(4) * 0.3),
        "norm": np_clip_by_norm(A, 1.5),
        "norm_rows": np_clip_by_norm(A, 1.0, axes=1),
        "norm_unclipped": B,
        "global": total,
        "clipped_a": A * 2.0 / total,
        "clipped_b": B * 2.0 / total,
    }
    for key, want in expected.items():
        np.testing.assert_allclose(got[key], want, rtol=1e-13, atol=1e-15, err_msg=key)
    assert np.linalg.norm(np.concatenate([got["clipped_a"].ravel(), got["clipped_b"]])) == \
        pytest.approx(2.0, rel=1e-13)


@pytest.mark.filterwarnings("ignore:invalid value encountered")   # inf − inf, on purpose
@pytest.mark.parametrize("backend", ALL)
def test_global_norm_below_the_clip_leaves_tensors_alone_and_inf_gives_nan(backend):
    g = gc.Graph()
    a, b = _feed(g, A, B)
    with g.as_default():
        kept, _ = gc.clip_by_global_norm([a, b], 1e6)
        nan, norm = gc.clip_by_global_norm([a, b], 1.0)
    sess = gc.Session(g, backend=backend)
    k0, k1 = sess.run(kept, {a: A, b: B})
    np.testing.assert_array_equal(k0, A)
    np.testing.assert_array_equal(k1, B)
    inf_b = B.copy()
    inf_b[0] = np.inf
    values = sess.run(nan + [norm], {a: A, b: inf_b})
    assert np.isinf(values[2])
    assert np.isnan(values[0]).all() and np.isnan(values[1]).all()


CASES = {
    "clip_by_value": lambda t: gc.clip_by_value(t, -0.5, 0.7),
    "clip_by_norm": lambda t: gc.clip_by_norm(t, 1.5),
    "clip_by_norm_axes": lambda t: gc.clip_by_norm(t, 1.0, axes=[0]),
    "global_norm": lambda t: gc.global_norm([t, t * 2.0]),
    "clip_by_global_norm": lambda t: gc.clip_by_global_norm([t, gc.square(t)], 1.0)[0][1],
}


@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_matches_finite_differences(name, backend):
    g = gc.Graph()
    (a,) = _feed(g, A)
    with g.as_default():
        y = CASES[name](a)
    session = gc.Session(g, backend=backend)
    # A keeps away from the clip bounds by more than δ, so the kinks do not matter
    assert gc.test.compute_gradient_error(a, y, {a: A}, session=session) < 1e-7


def test_norm_gradient_is_finite_at_zero():
    g = gc.Graph()
    with g.as_default():
        t = gc.placeholder(gc.float64, (3,), name="t")
        (grad,) = gc.gradients(gc.reduce_sum(gc.clip_by_norm(t, 1.0)), [t])
    np.testing.assert_array_equal(gc.Session(g, backend="numpy").run(grad, {t: np.zeros(3)}),
                                  1.0)


def test_bad_arguments_are_refused():
    g = gc.Graph()
    (a,) = _feed(g, A)
    with g.as_default():
        with pytest.raises(ValueError, match="clip_norm must be > 0"):
            gc.clip_by_norm(a, 0.0)
        with pytest.raises(TypeError, match="list or tuple"):
            gc.clip_by_global_norm(a, 1.0)
        with pytest.raises(ValueError, match="no tensors"):
            gc.global_norm([None])
