"""TF1's math, reductions, shape and constructor ops (issue 22): forward against numpy,
gradients against finite differences (float64), and every compiled backend against the
interpreter in one program per backend."""

import numpy as np
import pytest

import graphc as gc
from backends import (ALL, COMPILED, assert_gradient_matches_finite_differences,
                      assert_gradients_match_the_interpreter)

RNG = np.random.default_rng(22)
X = RNG.standard_normal((3, 4)) * 2
XI = np.array([[7, -7, 0, 5], [-3, 8, 9, -1], [2, 0, -6, 4]], np.int32)
DIVISORS = np.array([3, -2, 0, -1], np.int32)
BATCH_INDEX = np.array([[[1, 0], [0, 1]], [[0, 0], [1, 1]], [[1, 1], [1, 0]]])


def _np_round_half_even(x):
    return np.round(x)          # numpy rounds halves to even, as TF1


def _forward(x, xi):
    """(graphc tensor, numpy value) pairs written from numpy's definitions."""
    xs = gc.reshape(x, (3, 4))          # the static shape some composites need
    cases = {
        "sin": (gc.sin(x * 7.0), np.sin(X * 7)),
        "cos": (gc.cos(x * 7.0), np.cos(X * 7)),
        "log1p": (gc.log1p(gc.abs(x)), np.log1p(np.abs(X))),
        "expm1": (gc.expm1(x * 1e-5), np.expm1(X * 1e-5)),
        "floor": (gc.floor(x), np.floor(X)),
        "ceil": (gc.ceil(x), np.ceil(X)),
        "round": (gc.round(x * 2.0) * 0.5, _np_round_half_even(X * 2) * 0.5),
        "round_halves": (gc.round(gc.constant([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], gc.float64)),
                         [-2.0, -2.0, -0.0, 0.0, 2.0, 2.0]),
        "mod": (gc.mod(x, 1.5), X - np.floor(X / 1.5) * 1.5),
        "int_mod": (xi % gc.constant(DIVISORS), np.mod(XI, np.where(DIVISORS, DIVISORS, 1))
                    * (DIVISORS != 0)),
        "int_floordiv": (xi // gc.constant(DIVISORS),
                         np.floor_divide(XI, np.where(DIVISORS, DIVISORS, 1)) * (DIVISORS != 0)),
        "truncatemod": (gc.truncatemod(x, gc.constant([1.5, -1.5, 0.7, -2.0], gc.float64)),
                        np.fmod(X, [1.5, -1.5, 0.7, -2.0])),
        "truncatediv": (gc.truncatediv(x, gc.constant([0.5, -0.5, 0.7, -2.0], gc.float64)),
                        np.trunc(X / [0.5, -0.5, 0.7, -2.0])),
        "int_truncatemod": (gc.truncatemod(xi, gc.constant(DIVISORS)),
                            np.fmod(XI, np.where(DIVISORS, DIVISORS, 1)) * (DIVISORS != 0)),
        "int_truncatediv": (gc.truncatediv(xi, gc.constant(DIVISORS)),
                            np.trunc(XI / np.where(DIVISORS, DIVISORS, 1)).astype(np.int32)
                            * (DIVISORS != 0)),
        **{f"pad_{mode}": (gc.pad(xs, [(2, 1), (1, 3)], mode=mode.upper()),
                           np.pad(X, [(2, 1), (1, 3)], mode=mode))
           for mode in ("reflect", "symmetric", "edge", "wrap")},
        "pad_wrap_twice": (gc.pad(xs, [(0, 0), (5, 6)], mode="WRAP"),
                           np.pad(X, [(0, 0), (5, 6)], mode="wrap")),
        "sign": (gc.sign(x), np.sign(X)),
        "square": (gc.square(xi), XI * XI),
        "rsqrt": (gc.rsqrt(gc.abs(x) + 1.0), 1 / np.sqrt(np.abs(X) + 1)),
        "reduce_prod": (gc.reduce_prod(x, 1), X.prod(1)),
        "reduce_prod_all": (gc.reduce_prod(xs, keepdims=True), X.prod(keepdims=True)),
        "reduce_prod_int": (gc.reduce_prod(xi, [1]), XI.prod(1)),
        "reduce_any": (gc.reduce_any(x > 2.0, 1), (X > 2).any(1)),
        "reduce_all": (gc.reduce_all(x > -3.0, keep_dims=True), (X > -3).all(keepdims=True)),
        "logsumexp": (gc.reduce_logsumexp(x * 300.0, 1),
                      np.log(np.exp(X * 300 - (X * 300).max(1, keepdims=True)).sum(1))
                      + (X * 300).max(1)),
        "cumsum": (gc.cumsum(x, 1), np.cumsum(X, 1)),
        "cumsum_excl_rev": (gc.cumsum(xs, 0, exclusive=True, reverse=True),
                            np.cumsum(X[::-1], 0)[::-1] - X),
        "shape": (gc.shape(x), [3, 4]),
        "size": (gc.size(x), 12),
        "size_int64": (gc.size(x, out_type=gc.int64), 12),
        "rank": (gc.rank(x), 2),
        "range": (gc.range(2, 11, 3), np.arange(2, 11, 3)),
        "range_float": (gc.range(1.5), [0.0, 1.0]),
        "zeros": (gc.zeros([2, 3], gc.int32), np.zeros((2, 3))),
        "ones": (gc.ones(2), np.ones(2)),
        "fill": (gc.fill([2, 2], 7.0), np.full((2, 2), 7.0)),
        "fill_tensor": (gc.fill([2, 3], gc.reduce_sum(x)), np.full((2, 3), X.sum())),
        "stack": (gc.stack([x, x * 2.0], axis=1), np.stack([X, X * 2], 1)),
        "unstack": (gc.unstack(xs, axis=1)[2], X[:, 2]),
        "expand_squeeze": (gc.squeeze(gc.expand_dims(x, 1), [1]), X),
        "tile": (gc.tile(x, [1, 2]), np.tile(X, (1, 2))),
        "reverse": (gc.reverse(x, [1]), X[:, ::-1]),
        "reverse_both": (gc.reverse(xs, [0, -1]), X[::-1, ::-1]),
        "gather_nd": (gc.gather_nd(x, gc.constant([[2, 1], [0, 3], [2, 1]])),
                      X[[2, 0, 2], [1, 3, 1]]),
        "gather_nd_batch": (gc.gather_nd(gc.reshape(x, (3, 2, 2)), gc.constant(BATCH_INDEX),
                                         batch_dims=1),
                            [[X.reshape(3, 2, 2)[b, i, j] for i, j in BATCH_INDEX[b]]
                             for b in range(3)]),
        "gather_nd_batch_rows": (gc.gather_nd(gc.reshape(x, (3, 2, 2)),
                                              gc.constant([[1], [0], [1]]), batch_dims=1),
                                 X.reshape(3, 2, 2)[[0, 1, 2], [1, 0, 1]]),
        "gather_nd_rows": (gc.gather_nd(x, gc.constant([[[1]], [[0]]])), X[[[1], [0]]]),
        "boolean_mask": (gc.boolean_mask(x, gc.constant([True, False, False, True]), axis=1),
                         X[:, [0, 3]]),
        "boolean_mask_2d": (gc.boolean_mask(xs, gc.constant(X > 0)), X[X > 0]),
        "matmul_batched_t": (gc.matmul(gc.stack([x, x]), gc.stack([x, -x]), transpose_b=True),
                             np.stack([X @ X.T, -X @ X.T])),
    }
    return {k: t for k, (t, _) in cases.items()}, {k: np.asarray(w) for k, (_, w) in cases.items()}


@pytest.mark.parametrize("backend", ALL)
def test_forward_matches_numpy(backend):
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (None, 4), name="x")
        xi = gc.placeholder(gc.int32, (None, 4), name="xi")
        fetches, expected = _forward(x, xi)
    got = gc.Session(graph, backend=backend).run(fetches, {x: X, xi: XI})
    for key, want in expected.items():
        assert np.shape(got[key]) == want.shape, key
        np.testing.assert_allclose(got[key], want, rtol=1e-13, atol=1e-13, err_msg=key)
    assert got["size"].dtype == got["shape"].dtype == np.int32          # TF1's out_type
    assert got["size_int64"].dtype == np.int64


def test_sin_and_cos_over_a_wide_range_and_in_float32():
    """The loop IR's polynomial sin / cos (compiled) against numpy, where reduction by
    π/2 is hardest: near multiples of π/2 and at large arguments."""
    wide = np.concatenate([np.linspace(-1e5, 1e5, 1001), np.arange(-40, 41) * np.pi / 2,
                           [0.0, 1e-300, -1e-8, 1.5e6]])
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (None,))
        x32 = gc.placeholder(gc.float32, (None,))
        fetches = [gc.sin(x), gc.cos(x), gc.sin(x32), gc.cos(x32)]
    got = gc.Session(graph, backend="llvm").run(fetches, {x: wide, x32: wide})
    np.testing.assert_allclose(got[0], np.sin(wide), atol=2e-11)
    np.testing.assert_allclose(got[1], np.cos(wide), atol=2e-11)
    w32 = wide.astype(np.float32)
    np.testing.assert_allclose(got[2], np.sin(w32.astype(np.float64)), atol=1e-7)
    np.testing.assert_allclose(got[3], np.cos(w32.astype(np.float64)), atol=1e-7)


GRADIENT_CASES = {
    "sin_cos": lambda x: gc.sin(x) * gc.cos(x * 2.0),
    "log1p_expm1": lambda x: gc.log1p(gc.square(x)) + gc.expm1(x),
    "mod": lambda x: gc.mod(x, gc.constant([1.3, 0.7, 2.1, 0.9], gc.float64)),
    "reduce_prod": lambda x: gc.reduce_prod(x, 1),
    "reduce_prod_all": lambda x: gc.reduce_prod(gc.reshape(x, (3, 4))),
    "logsumexp": lambda x: gc.reduce_logsumexp(x, 1, keepdims=True),
    "cumsum": lambda x: gc.cumsum(x, 1, reverse=True) * gc.range(4.0, dtype=gc.float64),
    "stack_unstack": lambda x: gc.stack(gc.unstack(gc.reshape(x, (3, 4)), axis=1)[::-1], 0),
    "reverse": lambda x: gc.reverse(x, [0, 1]) * x,
    "gather_nd": lambda x: gc.gather_nd(x, gc.constant([[2, 1], [0, 3], [2, 1]])),
    "gather_nd_batch": lambda x: gc.gather_nd(
        gc.reshape(x, (3, 4, 1)), gc.constant([[[3], [1]], [[0], [0]], [[2], [3]]]),
        batch_dims=1),
    "boolean_mask": lambda x: gc.boolean_mask(x, gc.constant([True, False, True, True]), 1),
    **{f"pad_{mode}": lambda x, mode=mode: gc.pad(x, [(2, 1), (1, 3)], mode=mode)
       * gc.range(1.0, 9.0, dtype=gc.float64)
       for mode in ("REFLECT", "SYMMETRIC", "EDGE", "WRAP")},
    "fill_tensor": lambda x: gc.fill([2], gc.reduce_sum(x)) * gc.constant([1.0, 2.0], gc.float64),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradient_matches_finite_differences(name):
    assert_gradient_matches_finite_differences(GRADIENT_CASES[name], name)


def test_reduce_prod_gradient_where_an_element_is_zero():
    """d/dxᵢ Π x = the product of the others: not 0, not NaN, where xᵢ = 0."""
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (2, 5), name="x")
        y = gc.reduce_prod(x, 1)
    value = RNG.uniform(0.5, 2.0, (2, 5))
    value[0, 3] = 0.0
    value[1, [1, 4]] = 0.0
    ((theoretical, numerical),) = gc.test.compute_gradient([x], y, {x: value})
    np.testing.assert_allclose(theoretical, numerical, rtol=1e-8, atol=1e-10)
    assert theoretical[0, 3] == pytest.approx(np.prod(np.delete(value[0], 3)))


@pytest.mark.parametrize("backend", COMPILED)
def test_gradients_match_the_interpreter(backend):
    """Every case's value and gradient in one program per backend."""
    assert_gradients_match_the_interpreter(GRADIENT_CASES, backend,
                                           [RNG.uniform(0.3, 1.5, (3, 4))])


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_gather_nd_refuses_an_index_out_of_range(backend):
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (None, 4), name="x")
        i = gc.placeholder(gc.int32, (2, 2), name="i")
        y = gc.gather_nd(x, i)
    sess = gc.Session(graph, backend=backend)
    np.testing.assert_array_equal(sess.run(y, {x: X, i: [[2, 3], [0, 0]]}), [X[2, 3], X[0, 0]])
    for bad in ([[0, 4], [0, 0]], [[3, 0], [0, 0]], [[0, -1], [0, 0]]):
        with pytest.raises(gc.ExecutionError):
            sess.run(y, {x: X, i: bad})


def test_clear_errors_where_a_size_is_needed(graph):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    with pytest.raises(gc.ShapeError, match="mask 'm' is computed at run time"):
        gc.boolean_mask(x, gc.greater(x, 0.0, name="m"))
    with pytest.raises(gc.ShapeError, match="reduced axes need known sizes"):
        gc.reduce_prod(x, 0)
    with pytest.raises(gc.ShapeError, match="unknown size; give num="):
        gc.unstack(x)
    with pytest.raises(TypeError, match="bool tensor"):
        gc.reduce_any(x)


SCORES = np.array([[0.3, -1.0, 2.5, 0.3, 7.0], [1.0, 1.0, 1.0, -2.0, 0.5],
                   [4.0, 3.0, 2.0, 1.0, 0.0]])


@pytest.mark.parametrize("backend", ALL)
def test_sort_argsort_and_top_k_match_numpy(backend):
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (None, 5), name="x")
        values, indices = gc.top_k(x, 3)
        fetches = [gc.sort(x), gc.sort(x, direction="DESCENDING"), gc.argsort(x),
                   values, indices]
    got = gc.Session(graph, backend=backend).run(fetches, {x: SCORES})
    order = np.argsort(-SCORES, axis=1, kind="stable")        # ties: the first index first
    np.testing.assert_array_equal(got[0], np.sort(SCORES, 1))
    np.testing.assert_array_equal(got[1], -np.sort(-SCORES, 1))
    np.testing.assert_array_equal(got[2], np.argsort(SCORES, 1, kind="stable"))
    np.testing.assert_array_equal(got[3], np.take_along_axis(SCORES, order, 1)[:, :3])
    np.testing.assert_array_equal(got[4], order[:, :3])


def test_sort_and_top_k_gradients_match_finite_differences():
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (3, 5), name="x")
        y = gc.sort(x) * gc.range(1.0, 6.0, dtype=gc.float64) + gc.top_k(x, 2)[0][:, :1]
    value = RNG.permutation(15).reshape(3, 5) * 0.3            # no ties
    ((theoretical, numerical),) = gc.test.compute_gradient([x], y, {x: value})
    np.testing.assert_allclose(theoretical, numerical, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("op,want", [(gc.truncatemod, np.fmod), (gc.floormod, np.mod)],
                         ids=["truncatemod", "floormod"])
@pytest.mark.parametrize("backend", ALL)
def test_mod_by_an_infinite_divisor_is_numpys(graph, backend, op, want):
    """a mod ±∞ as numpy: truncatemod gives the dividend (C's fmod); floormod the
    dividend, or the divisor where the signs differ (TF1); the formulas
    a − trunc(a/b)·b and a − floor(a/b)·b alone give NaN there."""
    a = gc.placeholder(gc.float64, (None,), name="a")
    b = gc.placeholder(gc.float64, (None,), name="b")
    values = np.array([5.0, -5.0, 0.0, 3.5, -2.25, 7.0, -7.0, 1.0])
    divisors = np.array([np.inf, np.inf, np.inf, -np.inf, -np.inf, 2.0, -3.0, 0.3])
    got = gc.Session(graph, backend=backend).run(op(a, b), {a: values, b: divisors})
    np.testing.assert_allclose(got, want(values, divisors), rtol=1e-12)


def test_pad_mode_errors(graph):
    x = gc.placeholder(gc.float32, (None, 1, 3))
    with pytest.raises(ValueError, match="pad mode 'MIRROR'"):
        gc.pad(x, [(0, 0), (0, 0), (1, 1)], mode="MIRROR")
    with pytest.raises(gc.ShapeError, match="axis 0's size known"):
        gc.pad(x, [(1, 0), (0, 0), (0, 0)], mode="EDGE")
    with pytest.raises(gc.ShapeError, match="axis 1's size known and > 1"):
        gc.pad(x, [(0, 0), (1, 1), (0, 0)], mode="REFLECT")
    with pytest.raises(gc.ShapeError, match="must not be negative"):
        gc.pad(x, [(0, 0), (0, 0), (-1, 0)], mode="WRAP")
