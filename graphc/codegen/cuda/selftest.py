"""The CUDA backend on a GPU, in one command (from the repository's root):

    python -m graphc.codegen.cuda.selftest [--out DIR] [--steps 30] [--quick]

1. every op and its gradient (tests/test_gradients.py's cases) on backend="cuda"
   against the numpy interpreter, in float64 (compiled a few at a time, in parallel);
2. the seed-2layer, mlp, LeNet-5 and VGG-style train steps, three steps each, against
   the interpreter (loss and every variable), and the same with TF32 products
   (matmul_precision="high") to TF32's tolerance;
3. a benchmark: the mlp, LeNet-5 and VGG-style steps at batch 64 and 1024 — graphc on
   the GPU in float32 and with TF32, against PyTorch CUDA eager (its defaults: float32
   matmuls, TF32 convolutions through cuDNN) when torch sees the GPU — medians of
   `--steps` steps after warm-up, and how many of graphc's runs were one CUDA graph.

Prints one table and, with --out (default $OUT), writes it (results.md) and the raw
numbers (results.json) there. Exits 1 when a check failed. `--backend cuda-host` runs
it on the CPU through the host build (`--quick`: fewer cases, small batches), which is
how the script itself is checked where there is no GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import graphc as gc
from graphc import models
from graphc.examples_support import two_layer_graph

ROOT = Path(gc.__file__).resolve().parents[1]
CHECKED = ("seed-2layer", "mlp", "lenet5", "cifar-vgg")
TIMED = ("mlp", "lenet5", "cifar-vgg")
BUILDERS = {"mlp": models.mlp, "lenet5": models.lenet5, "cifar-vgg": models.cifar_vgg}


def _check_case(case, backend: str) -> tuple[str, str] | None:
    from test_gradients import _values
    g = gc.Graph()
    with g.as_default():
        rng = np.random.default_rng(7)
        xs = [gc.placeholder(gc.float64, s, name=f"in{i}") for i, s in enumerate(case.shapes)]
        y = case.build(*xs)
        cot = gc.placeholder(gc.float64, y.shape, name="cotangent")
        fetches = [y] + [d for d in gc.gradients(y, xs, grad_ys=cot) if d is not None]
        feed = {x: _values(s, case.domain, rng) for x, s in zip(xs, case.shapes)}
        feed[cot] = rng.standard_normal(y.shape)
    try:
        want = gc.Session(g, backend="numpy").run(fetches, feed)
        got = gc.Session(g, backend=backend).run(fetches, feed)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    except Exception as err:                       # every failure is reported
        return case.ids, f"{type(err).__name__}: {str(err)[:300]}"
    return None


def _check_ops(backend: str, quick: bool) -> list[tuple[str, str]]:
    """(case, what went wrong) for every op case that does not match the interpreter."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from test_gradients import CASES
    except ImportError:
        return [("ops", "tests/test_gradients.py not found beside the graphc package")]
    cases = CASES[::8] if quick else CASES
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:    # nvcc in parallel
        return [r for r in pool.map(lambda c: _check_case(c, backend), cases) if r]


def _workload(name: str, batch: int):
    """(graph, fetches, feed placeholders, feed arrays, initial parameters)."""
    if name == "seed-2layer":
        g, t, data = two_layer_graph(n=batch)
        params = [g.get_tensor_by_name(v).attrs["initial_value"] for v in ("w1", "w2")]
        return g, [t["loss"], t["train"]], [t["x"], t["y"]], [data["x"], data["y"]], params
    step = BUILDERS[name]()
    feed = step.batch(batch)
    params = [v.attrs["initial_value"] for v in gc.trainable_variables(step.graph)]
    return step.graph, [step.loss, step.train_op], [step.x, step.y], \
        [feed[step.x], feed[step.y]], params


def _check_train_step(name: str, precision: str, backend: str, quick: bool):
    """(what, what went wrong), or None when three steps match the interpreter."""
    batch = 8 if quick or name == "cifar-vgg" else 64
    rtol = 1e-4 if precision == "highest" else 1e-2
    g, fetches, placeholders, arrays, _ = _workload(name, batch)
    ref = gc.Session(g, backend="numpy")
    dev = gc.Session(g, backend=backend, matmul_precision=precision)
    feed = dict(zip(placeholders, arrays))
    try:
        for i in range(3):
            want, got = ref.run(fetches, feed)[0], dev.run(fetches, feed)[0]
            np.testing.assert_allclose(got, want, rtol=rtol, err_msg=f"step {i}")
        for v in gc.global_variables(g):
            got, want = dev.variable_value(v), ref.variable_value(v)
            if precision == "highest":
                np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5, err_msg=v.name)
            else:           # TF32: 10-bit mantissas in every product; by norm, and loose:
                #             a bias's few small updates are sums with much cancellation
                error = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-12)
                assert error < 0.1, f"{v.name}: relative error {error:.2e}"
    except Exception as err:
        return f"{name} ({precision})", f"{type(err).__name__}: {str(err)[:300]}"
    return None


def _check_train_steps(backend: str, quick: bool) -> list[tuple[str, str]]:
    """Every workload in float32 and TF32, compiled in parallel (nvcc takes a while)."""
    jobs = [(name, precision) for name in CHECKED for precision in ("highest", "high")]
    with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 2)) as pool:
        results = pool.map(lambda job: _check_train_step(*job, backend, quick), jobs)
        return [r for r in results if r]


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


def _graphc_step(g, fetches, placeholders, arrays, backend, precision, steps):
    sess = gc.Session(g, backend=backend, matmul_precision=precision)
    call = sess.make_callable(fetches, placeholders)
    ms = _median_ms(lambda: call(*arrays), steps)
    replays = sum(exe.graph_replays for _, exe in sess.backend._compiled.values())
    return ms, replays


def _benchmark(backend: str, steps: int, quick: bool) -> list[dict]:
    rows = []
    for name in TIMED:
        for batch in ((4, 16) if quick else (64, 1024)):
            g, fetches, placeholders, arrays, params = _workload(name, batch)
            fp32_ms, replays = _graphc_step(g, fetches, placeholders, arrays, backend,
                                            "highest", steps)
            tf32_ms, _ = _graphc_step(g, fetches, placeholders, arrays, backend, "high",
                                      steps)
            torch = _torch_step(name, params, arrays) if backend == "cuda" else None
            torch_ms = _median_ms(torch, steps) if torch is not None else None
            rows.append({"workload": name, "batch": batch, "graphc_ms": fp32_ms,
                         "graphc_tf32_ms": tf32_ms, "torch_cuda_eager_ms": torch_ms,
                         "graph_replays": replays})
    return rows


def _table(rows) -> list[str]:
    def ms(v):
        return "—" if v is None else f"{v:.3f}"

    def ratio(a, b):
        return f"{a / b:.2f}" if a and b else "—"
    lines = ["| workload | batch | graphc ms | graphc TF32 ms | torch cuda eager ms | "
             "torch / graphc | torch / graphc TF32 | graph replays |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["torch_cuda_eager_ms"]
        lines.append(f"| {r['workload']} | {r['batch']} | {ms(r['graphc_ms'])} | "
                     f"{ms(r['graphc_tf32_ms'])} | {ms(t)} | {ratio(t, r['graphc_ms'])} | "
                     f"{ratio(t, r['graphc_tf32_ms'])} | {r['graph_replays']} |")
    return lines


def _machine(backend: str) -> str:
    if backend != "cuda":
        return "host build on the CPU"
    try:
        import torch
        return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__}, cuDNN TF32 " \
            f"{torch.backends.cudnn.allow_tf32}, matmul TF32 " \
            f"{torch.backends.cuda.matmul.allow_tf32})"
    except Exception:                                # no torch: the GPU is still named
        return "an NVIDIA GPU"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("OUT"))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--backend", default="cuda", choices=("cuda", "cuda-host"))
    parser.add_argument("--quick", action="store_true",
                        help="every 8th op case, small batches: a dry run of the script")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    op_failures = _check_ops(args.backend, args.quick)
    print(f"ops and gradients checked ({time.perf_counter() - start:.0f} s)", flush=True)
    step_failures = _check_train_steps(args.backend, args.quick)
    print(f"train steps checked ({time.perf_counter() - start:.0f} s)", flush=True)
    rows = _benchmark(args.backend, args.steps, args.quick)
    failures = op_failures + step_failures
    summary = [f"machine: {_machine(args.backend)}",
               f"ops and gradients: {'all match' if not op_failures else op_failures}",
               f"train steps (float32 and TF32): "
               f"{'all match' if not step_failures else step_failures}",
               f"selftest took {time.perf_counter() - start:.0f} s"]
    text = "\n".join(_table(rows) + [""] + summary)
    print(text)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "results.md").write_text(text + "\n")
        (Path(args.out) / "results.json").write_text(json.dumps(
            {"benchmark": rows, "failures": failures, "machine": _machine(args.backend)},
            indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
