"""The CUDA backend on a GPU, in one command (from the repository's root):

    python -m graphc.codegen.cuda.selftest [--out DIR] [--steps 50]

1. every op and its gradient (tests/test_gradients.py's cases) on backend="cuda"
   against the numpy interpreter, in float64;
2. the seed-2layer, mlp and LeNet-5 train steps, three steps each, against the
   interpreter (loss and every variable);
3. a benchmark: the same steps at batch 64 and 1024, graphc on the GPU against PyTorch
   CUDA eager (when torch sees the GPU), medians of `--steps` steps after warm-up.

Prints one table and, with --out, writes it (results.md) and the raw numbers
(results.json) there. Exits 1 when a check failed. `--backend cuda-host` runs it all on
the CPU through the host build: the script checked before a GPU session.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import graphc as gc
from graphc import models
from graphc.examples_support import two_layer_graph

ROOT = Path(gc.__file__).resolve().parents[1]
WORKLOADS = ("seed-2layer", "mlp", "lenet5")
BACKEND = "cuda"


def _check_ops() -> list[tuple[str, str]]:
    """(case, what went wrong) for every op case that does not match the interpreter."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from test_gradients import CASES, _values
    except ImportError:
        return [("ops", "tests/test_gradients.py not found beside the graphc package")]
    failures = []
    for case in CASES:
        g = gc.Graph()
        with g.as_default():
            rng = np.random.default_rng(7)
            xs = [gc.placeholder(gc.float64, s, name=f"in{i}")
                  for i, s in enumerate(case.shapes)]
            y = case.build(*xs)
            cot = gc.placeholder(gc.float64, y.shape, name="cotangent")
            fetches = [y] + [d for d in gc.gradients(y, xs, grad_ys=cot) if d is not None]
            feed = {x: _values(s, case.domain, rng) for x, s in zip(xs, case.shapes)}
            feed[cot] = rng.standard_normal(y.shape)
        try:
            want = gc.Session(g, backend="numpy").run(fetches, feed)
            got = gc.Session(g, backend=BACKEND).run(fetches, feed)
            for a, b in zip(got, want):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        except Exception as err:                   # every failure is reported
            failures.append((case.ids, f"{type(err).__name__}: {str(err)[:300]}"))
    return failures


def _workload(name: str, batch: int):
    """(graph, fetches, feed placeholders, feed arrays, initial parameters)."""
    if name == "seed-2layer":
        g, t, data = two_layer_graph(n=batch)
        params = [g.get_tensor_by_name(v).attrs["initial_value"] for v in ("w1", "w2")]
        return g, [t["loss"], t["train"]], [t["x"], t["y"]], [data["x"], data["y"]], params
    step = getattr(models, name)()
    feed = step.batch(batch)
    params = [v.attrs["initial_value"] for v in gc.trainable_variables(step.graph)]
    return step.graph, [step.loss, step.train_op], [step.x, step.y], \
        [feed[step.x], feed[step.y]], params


def _check_train_steps() -> list[tuple[str, str]]:
    failures = []
    for name in WORKLOADS:
        g, fetches, placeholders, arrays, _ = _workload(name, 64)
        ref, gpu = gc.Session(g, backend="numpy"), gc.Session(g, backend=BACKEND)
        feed = dict(zip(placeholders, arrays))
        try:
            for i in range(3):
                want, got = ref.run(fetches, feed)[0], gpu.run(fetches, feed)[0]
                np.testing.assert_allclose(got, want, rtol=1e-4, err_msg=f"step {i}")
            for v in gc.global_variables(g):
                np.testing.assert_allclose(gpu.variable_value(v), ref.variable_value(v),
                                           rtol=1e-3, atol=1e-5, err_msg=v.name)
        except Exception as err:
            failures.append((name, f"{type(err).__name__}: {str(err)[:300]}"))
    return failures


def _median_ms(step, steps: int) -> float:
    for _ in range(max(3, steps // 5)):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _torch_step(name, params, arrays):
    try:
        import torch
        if not torch.cuda.is_available():
            return None
        sys.path.insert(0, str(ROOT / "bench"))
        import peers
    except ImportError:
        return None
    return peers.torch_step(name, params, arrays, device="cuda")


def _benchmark(steps: int) -> list[dict]:
    rows = []
    for name in WORKLOADS:
        for batch in (64, 1024):
            g, fetches, placeholders, arrays, params = _workload(name, batch)
            sess = gc.Session(g, backend=BACKEND)
            call = sess.make_callable(fetches, placeholders)
            graphc_ms = _median_ms(lambda: call(*arrays), steps)
            torch = _torch_step(name, params, arrays) if BACKEND == "cuda" else None
            torch_ms = _median_ms(torch, steps) if torch is not None else None
            rows.append({"workload": name, "batch": batch, "graphc_ms": graphc_ms,
                         "torch_cuda_eager_ms": torch_ms})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("OUT"))
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--backend", default="cuda", choices=("cuda", "cuda-host"))
    args = parser.parse_args(argv)
    global BACKEND
    BACKEND = args.backend
    start = time.perf_counter()
    op_failures = _check_ops()
    step_failures = _check_train_steps()
    rows = _benchmark(args.steps)
    lines = ["| workload | batch | graphc cuda ms | torch cuda eager ms | torch / graphc |",
             "|---|---|---|---|---|"]
    for r in rows:
        torch_ms = r["torch_cuda_eager_ms"]
        ratio = f"{torch_ms / r['graphc_ms']:.2f}" if torch_ms else "—"
        lines.append(f"| {r['workload']} | {r['batch']} | {r['graphc_ms']:.3f} | "
                     f"{'—' if torch_ms is None else f'{torch_ms:.3f}'} | {ratio} |")
    failures = op_failures + step_failures
    summary = [f"ops and gradients: {'all match' if not op_failures else op_failures}",
               f"train steps: {'all match' if not step_failures else step_failures}",
               f"selftest took {time.perf_counter() - start:.0f} s"]
    text = "\n".join(lines + [""] + summary)
    print(text)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "results.md").write_text(text + "\n")
        (Path(args.out) / "results.json").write_text(json.dumps(
            {"benchmark": rows, "failures": failures}, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
