"""TF1's one-argument where and unique / unique_with_counts, and unique_all: their
result sizes depend on values, so they take constants; compared with numpy on the
numpy and llvm backends, and refused with a clear error on a run-time input."""
import numpy as np
import pytest

import graphc as gc

X = np.array([[2.0, 1.0, 2.0], [0.5, 1.0, 2.0], [2.0, 1.0, 2.0]])


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_where_indices_and_unique_match_numpy(backend):
    g = gc.Graph()
    with g.as_default():
        cond = gc.constant(X > 1.0)
        idx = gc.where(cond)
        y, inv = gc.unique(gc.constant(np.array([4, 1, 4, 3, 1], np.int32)))
        _, _, count = gc.unique_with_counts(gc.constant(np.array([4, 1, 4, 3, 1], np.int32)),
                                            out_idx=gc.int64)
        rows = gc.unique_all(gc.constant(X), axis=0)
        unsorted = gc.unique_all(gc.constant(X), sorted=False)
        got = gc.Session(g, backend=backend).run(
            [idx, y, inv, count, *rows, *unsorted])
    np.testing.assert_array_equal(got[0], np.argwhere(X > 1.0))
    np.testing.assert_array_equal(got[1], [4, 1, 3])
    np.testing.assert_array_equal(got[2], [0, 1, 0, 2, 1])
    assert got[3].dtype == np.int64
    np.testing.assert_array_equal(got[3], [2, 2, 1])
    values, first, inverse, counts = np.unique(X, axis=0, return_index=True,
                                               return_inverse=True, return_counts=True)
    for g_, w in zip(got[4:8], (values, first, inverse.ravel(), counts)):
        np.testing.assert_array_equal(g_, w)
    np.testing.assert_array_equal(got[8], [2.0, 1.0, 0.5])     # first-appearance order
    np.testing.assert_array_equal(got[9], [0, 1, 3])
    np.testing.assert_array_equal(got[10], [0, 1, 0, 2, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(got[11], [5, 3, 1])


def test_run_time_inputs_are_refused():
    g = gc.Graph()
    with g.as_default():
        p = gc.placeholder(gc.float32, (3,))
        with pytest.raises(gc.ShapeError, match="computed at run time"):
            gc.where(p > 0.0)
        with pytest.raises(gc.ShapeError, match="computed at run time"):
            gc.unique(p)
        with pytest.raises(ValueError, match="both x and y"):
            gc.where(p > 0.0, p)
