"""gc.random_uniform, random_normal and truncated_normal: counter-based draws that are the
same on every backend, new every run, repeated by a new session with the same seed, and
distributed as they should be."""
import statistics

import numpy as np
import pytest

import graphc as gc
from backends import COMPILED


def _draws(graph, n=4000):
    """n draws of each kind (the loop-IR interpreter is slow: few there)."""
    with graph.as_default():
        return {
            "uniform": gc.random_uniform((n,), seed=1),
            "uniform_range": gc.random_uniform((2, 3), -2.0, 5.0, dtype=gc.float64, seed=2),
            "uniform_int": gc.random_uniform((n,), 3, 9, dtype=gc.int32, seed=3),
            "normal": gc.random_normal((n,), mean=1.0, stddev=2.0, seed=4),
            "normal64": gc.random_normal((n // 80 + 1, 80), dtype=gc.float64, seed=5),
            "truncated": gc.truncated_normal((n,), stddev=0.5, seed=6),
        }


@pytest.mark.parametrize("backend", COMPILED)
def test_every_backend_draws_the_interpreters_numbers_run_after_run(backend):
    graph = gc.Graph()
    fetches = _draws(graph, 40 if backend == "loopir" else 4000)
    ref = gc.Session(graph, backend="numpy")
    fast = gc.Session(graph, backend=backend)
    first = None
    for _ in range(2):
        want, got = ref.run(fetches), fast.run(fetches)
        for key in fetches:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=1e-6, err_msg=key)
        if first is None:
            first = want
    assert not np.array_equal(first["normal"], want["normal"])     # a new draw every run


def test_a_new_session_repeats_the_sequence():
    graph = gc.Graph()
    fetches = _draws(graph)
    a, b = gc.Session(graph, backend="numpy"), gc.Session(graph, backend="numpy")
    runs_a = [a.run(fetches) for _ in range(2)]
    runs_b = [b.run(fetches) for _ in range(2)]
    for ra, rb in zip(runs_a, runs_b):
        for key in fetches:
            np.testing.assert_array_equal(ra[key], rb[key])


def test_distributions():
    graph = gc.Graph()
    fetches = _draws(graph)
    got = gc.Session(graph, backend="numpy").run(fetches)
    n = 4000
    u = got["uniform"]
    assert got["uniform"].dtype == np.float32 and 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 4 * np.sqrt(1 / 12 / n)
    r = got["uniform_range"]
    assert r.dtype == np.float64 and (-2 <= r).all() and (r < 5).all()
    i = got["uniform_int"]
    assert i.dtype == np.int32 and set(np.unique(i)) == set(range(3, 9))
    z = got["normal"]
    assert abs(z.mean() - 1.0) < 4 * 2 / np.sqrt(n) and abs(z.std() - 2.0) < 0.1
    z64 = got["normal64"].ravel()
    assert abs(z64.mean()) < 4 / np.sqrt(z64.size) and abs(z64.std() - 1.0) < 0.05
    t = got["truncated"]
    sd = np.sqrt(1 - 4 * np.exp(-2) / np.sqrt(2 * np.pi) / 0.9544997361036416)  # of N(0,1)|≤2
    assert np.abs(t).max() <= 1.0 and abs(t.std() - 0.5 * sd) < 0.02


def test_the_inverse_normal_cdf_matches_pythons():
    """ndtri (AS241 in graph ops) against statistics.NormalDist.inv_cdf."""
    p = np.concatenate([np.linspace(1e-6, 1 - 1e-6, 999), [1e-300, 1e-20, 0.075, 0.925,
                                                           1 - 1e-12]])
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (None,))
        y = gc.ops.ndtri(x)
    for backend in ("numpy", "llvm"):
        got = gc.Session(graph, backend=backend).run(y, {x: p})
        want = [statistics.NormalDist().inv_cdf(v) for v in p]
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)
