"""The differential fuzzer (fuzz_graphs.py) in the suite: random graphs on every
compiled backend against the numpy interpreter, values and gradients.

The bounded profile runs here by default (the same examples on every run, ~1 minute
cold); the long profile explores new ones each time:

    GRAPHC_FUZZ_EXAMPLES=3000 GRAPHC_FUZZ_RANDOM=1 pytest tests/test_fuzz.py

A failure is shrunk by hypothesis to a small graph; its steps are in the message.
"""
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphc import passes

from fuzz_graphs import HypothesisChooser, RandomChooser, build_case, check_case

from backends import NATIVE

COMPILED_BACKENDS = NATIVE     # the loop-IR interpreter is too slow for these sizes
EXAMPLES = int(os.environ.get("GRAPHC_FUZZ_EXAMPLES", "200"))
RANDOM = os.environ.get("GRAPHC_FUZZ_RANDOM", "0") == "1"


@settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_random_graphs_match_the_interpreter(data):
    check_case(build_case(HypothesisChooser(data)), COMPILED_BACKENDS)


def test_the_generator_reaches_fused_in_place_and_template_kernels():
    """The fuzzer is only as good as what it reaches: over 60 random cases, kernels that
    fuse several ops, values written in place, GEMM and convolution templates, update
    kernels, symbolic batches and empty batches all occur."""
    seen = {"in place": 0, "fused": 0, "gemm": 0, "conv": 0, "update": 0, "symbolic": 0,
            "empty batch": 0, "two dtypes": set()}
    for seed in range(60):
        case = build_case(RandomChooser(seed))
        shapes = {p: tuple(3 if d is None else d for d in p.shape) for p in case.feeds}
        roots = case.outputs + case.grads + ([] if case.train_op is None else [case.train_op])
        program = passes.compile_program(list(dict.fromkeys(roots)), shapes).program
        kernels = program.annotations["kernels"].kernels
        seen["in place"] += bool(program.annotations["memory"].in_place)
        seen["fused"] += any(len(k.members) >= 3 for k in kernels)
        for kind in ("gemm", "conv", "update"):
            seen[kind] += any(k.kind == kind for k in kernels)
        seen["symbolic"] += case.batches != (None,)
        seen["empty batch"] += 0 in case.batches
        seen["two dtypes"].add(case.dtype.name)
    assert seen.pop("two dtypes") == {"float32", "float64"}
    assert min(seen.values()) >= 2, seen


def test_a_wrong_backend_is_caught(monkeypatch):
    """The comparison can fail: a backend whose sums are off by one part in a thousand
    is reported, with the graph's steps in the message."""
    import pytest
    import graphc as gc
    real_run = gc.Session.run

    def skewed(self, fetches, feed_dict=None):
        values = real_run(self, fetches, feed_dict)
        if self.backend.name != "llvm":
            return values
        return [v * 1.001 if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
                for v in values]
    monkeypatch.setattr(gc.Session, "run", skewed)
    for seed in range(20):
        case = build_case(RandomChooser(seed))
        try:
            check_case(case, COMPILED_BACKENDS)
        except AssertionError as err:
            assert case.describe() in str(err)
            return
    pytest.fail("a skewed backend passed 20 random cases")
