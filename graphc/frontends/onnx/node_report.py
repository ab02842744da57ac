"""Run the onnx wheel's node tests on a graphc backend and count passes, skips and
failures (the numbers in docs/onnx.md); failures print with their first error line.

    python -m graphc.frontends.onnx.node_report --backend numpy [-k PATTERN] [-v]
"""
from __future__ import annotations

import argparse
import re
from collections import Counter

import numpy as np
from onnx.backend.test.loader import load_model_tests
from onnx.backend.test.runner import _normalize_tensor

from .backend import make_backend, unsupported_reason


def run_case(backend, case) -> str | None:
    """None if every data set matches, else the first error line."""
    try:
        rep = backend.prepare(case.model)
        for inputs, expected in case.data_sets:
            outputs = rep.run([_normalize_tensor(x) for x in inputs])
            for want, got in zip(expected, outputs):
                want = _normalize_tensor(want)
                if np.asarray(want).dtype.kind in "fc":
                    np.testing.assert_allclose(got, want, rtol=case.rtol, atol=case.atol)
                else:
                    np.testing.assert_array_equal(got, want)
    except Exception as err:  # noqa: BLE001 - reported, not handled
        return f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
    return None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("-k", default="", help="regex on the test name")
    parser.add_argument("-v", action="store_true", help="print every failure")
    args = parser.parse_args(argv)
    backend = make_backend(args.backend)
    counts, reasons = Counter(), Counter()
    for case in load_model_tests(kind="node"):
        if not re.search(args.k, case.name):
            continue
        reason = unsupported_reason(case.model)
        if reason:
            counts["skipped"] += 1
            reasons[reason.split(",")[0] if reason.startswith("no conv") else reason] += 1
            continue
        error = run_case(backend, case)
        counts["failed" if error else "passed"] += 1
        if error and args.v:
            print(f"{case.name}: {error}")
    total = sum(counts.values())
    print(f"{args.backend}: {counts['passed']} passed, {counts['skipped']} skipped, "
          f"{counts['failed']} failed of {total} node tests")


if __name__ == "__main__":
    main()
