"""gc.einsum (issue 22): TF1's common equations against numpy.einsum on every backend,
gradients against finite differences in float64 and on every compiled backend against
the interpreter, and a clear error for each equation it cannot take."""
import numpy as np
import pytest

import graphc as gc
from backends import ALL, COMPILED

RNG = np.random.default_rng(22)

# equation, operand shapes (None: a dimension left unknown in the placeholder)
CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(None, 2, 3), (None, 3, 4)]),           # batched matmul
    ("ij->ji", [(2, 3)]),
    ("ii->i", [(3, 3)]),                                         # diagonal
    ("ii", [(3, 3)]),                                            # trace (implicit output)
    ("ij->", [(2, 3)]),
    ("ij->j", [(None, 3)]),
    ("i,j->ij", [(2,), (3,)]),                                   # outer product
    ("bi,bj->bij", [(2, 3), (2, 4)]),
    ("i,i", [(3,), (3,)]),                                       # dot
    ("ij,ij->i", [(None, 3), (None, 3)]),
    ("ij,j->i", [(None, 3), (3,)]),
    ("ij,kj", [(2, 3), (4, 3)]),                                 # implicit: A·Bᵀ
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),           # attention scores
    ("abcd,dcf->abf", [(2, 3, 4, 5), (5, 4, 6)]),                # two axes contracted
    ("ab,cd->abcd", [(2, 3), (4, 2)]),
    ("abc,cd,de->abe", [(2, 3, 4), (4, 5), (5, 2)]),             # three operands
    ("iij->j", [(3, 3, 2)]),
    ("ijk,ikj->i", [(2, 3, 4), (2, 4, 3)]),
    ("...ij,...jk->...ik", [(2, 2, 3), (2, 3, 4)]),
    ("...i,i->...", [(2, 3, 4), (4,)]),
]


def _known(shape):
    return tuple(2 if d is None else d for d in shape)


def _operands(k):
    rng = np.random.default_rng(k)
    return [rng.standard_normal(_known(s)) for s in CASES[k][1]]


def _graph():
    graph = gc.Graph()
    feed, fetches = {}, []
    with graph.as_default():
        for k, (equation, shapes) in enumerate(CASES):
            phs = [gc.placeholder(gc.float64, s, name=f"e{k}_{i}") for i, s in
                   enumerate(shapes)]
            feed.update(zip(phs, _operands(k)))
            fetches.append(gc.einsum(equation, *phs))
    return graph, feed, fetches


@pytest.mark.parametrize("backend", ALL)
def test_forward_matches_numpy(backend):
    graph, feed, fetches = _graph()
    got = gc.Session(graph, backend=backend).run(fetches, feed)
    for k, ((equation, _), value) in enumerate(zip(CASES, got)):
        want = np.einsum(equation, *_operands(k))
        assert np.shape(value) == want.shape, equation
        np.testing.assert_allclose(value, want, rtol=1e-12, atol=1e-12, err_msg=equation)


def test_list_of_operands_and_static_shapes(graph):
    a, b = gc.placeholder(gc.float32, (None, 3)), gc.placeholder(gc.float32, (3, 5))
    assert gc.einsum("ij,jk->ik", [a, b]).shape == (None, 5)
    assert gc.einsum("ij->ji", a).shape == (3, None)


GRADIENT_CASES = ["ij,jk->ik", "bij,bjk->bik", "ii->i", "ij->", "i,j->ij", "ij,ij->i",
                  "abcd,dcf->abf", "abc,cd,de->abe", "...i,i->..."]


@pytest.mark.parametrize("equation", GRADIENT_CASES)
def test_gradient_matches_finite_differences(equation):
    k = [c[0] for c in CASES].index(equation)
    values = _operands(k)
    graph = gc.Graph()
    with graph.as_default():
        phs = [gc.placeholder(gc.float64, v.shape) for v in values]
        y = gc.einsum(equation, *phs)
    pairs = gc.test.compute_gradient(phs, y, dict(zip(phs, values)))
    for theoretical, numerical in pairs:
        np.testing.assert_allclose(theoretical, numerical, rtol=1e-7, atol=1e-7)
        assert np.abs(theoretical).max() > 0


@pytest.mark.parametrize("backend", COMPILED)
def test_gradients_match_the_interpreter(backend):
    graph, feed, fetches = _graph()
    with graph.as_default():
        weights = [gc.constant(RNG.standard_normal(_known(f.shape))) for f in fetches]
        total = gc.add_n([gc.reduce_sum(f * w) for f, w in zip(fetches, weights)])
        grads = gc.gradients(total, list(feed))
    want = gc.Session(graph, backend="numpy").run(grads, feed)
    got = gc.Session(graph, backend=backend).run(grads, feed)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("equation, shapes, error, match", [
    ("ij,jk->il", [(2, 3), (3, 4)], ValueError, "output letters l are in no operand"),
    ("ij->ii", [(2, 2)], ValueError, "repeats in the output"),
    ("ij,jk", [(2, 3)], ValueError, "names 2 operands but was given 1"),
    ("i2->i", [(2, 2)], ValueError, "spelled with letters"),
    ("ijk->i", [(2, 3)], gc.ShapeError, "rank 2 but 'ijk' names 3 axes"),
    ("ij,jk->ik", [(2, 3), (4, 5)], gc.ShapeError, "'j' is 3 .* but 4"),
    ("ii->i", [(None, None)], gc.ShapeError, "diagonal over 'i' .* needs a known size"),
    ("abc,bcd->ad", [(None, 2, None), (2, None, 4)], gc.ShapeError, "all but one"),
])
def test_unsupported_equations_are_clear_errors(graph, equation, shapes, error, match):
    operands = [gc.placeholder(gc.float32, s) for s in shapes]
    with pytest.raises(error, match=match):
        gc.einsum(equation, *operands)
