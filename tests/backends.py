"""The backends the suite's backend tests run on, from one list: the numpy interpreter
(the oracle), the loop-IR interpreter (lowering checked without a code generator), the
native CPU backends, and the CUDA backend's generated source built for the CPU
("cuda-host": how CI, which has no GPU, runs the CUDA code). A new backend joins here."""
NATIVE = ("llvm", "c", "cuda-host")   # compiled to machine code: fast enough for any shape
COMPILED = ("loopir",) + NATIVE     # every backend that lowers programs to loop IR
ALL = ("numpy",) + COMPILED



def assert_gradients_match_the_interpreter(cases: dict, backend: str, values: list,
                                           square: bool = False) -> None:
    """Every case (a function of float64 tensors shaped as `values`) and the gradients
    of a weighted sum of them (of their squares with `square`), in one program on
    `backend`, against the numpy interpreter fed the same `values`."""
    import numpy as np

    import graphc as gc
    graph = gc.Graph()
    with graph.as_default():
        xs = [gc.placeholder(gc.float64, np.shape(v)) for v in values]
        ys = [fn(*xs) for _, fn in sorted(cases.items())]
        total = gc.add_n([gc.reduce_sum(y * y if square else y) * float(i + 1)
                          for i, y in enumerate(ys)])
        fetches = ys + gc.gradients(total, xs)
    feed = dict(zip(xs, values))
    want = gc.Session(graph, backend="numpy").run(fetches, feed)
    got = gc.Session(graph, backend=backend).run(fetches, feed)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-12)


def assert_gradient_matches_finite_differences(case, name: str) -> None:
    """The gradient of case(x), x a float64 [3, 4] tensor fed values in [0.3, 1.5) drawn
    from `name`, against central finite differences, and not all zero."""
    import zlib

    import numpy as np

    import graphc as gc
    graph = gc.Graph()
    with graph.as_default():
        x = gc.placeholder(gc.float64, (3, 4), name="x")
        y = case(x)
    value = np.random.default_rng(zlib.crc32(name.encode())).uniform(0.3, 1.5, (3, 4))
    for theoretical, numerical in gc.test.compute_gradient([x], y, {x: value}):
        np.testing.assert_allclose(theoretical, numerical, rtol=1e-6, atol=1e-7)
        assert np.abs(theoretical).max() > 0
