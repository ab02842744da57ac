"""The exported library's train step and inference next to the session's, on the mlp
and LeNet-5 workloads: the session (LLVM backend), the `cpu` export and the `c` export
through gc.load_exported (one ctypes call each), taking turns in one process. Prints the
median of each over the rounds and export / session.

    python bench/export_steps.py [--rounds 7] [--steps 20]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np

import graphc as gc
from graphc import models

WORKLOADS = {"mlp": 128, "lenet5": 64}


def timed(fn, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="graphc-export-bench-")
    print(f"{'workload':<8} {'what':<12} {'session ms':>11} {'cpu ms':>8} {'c ms':>8} "
          f"{'cpu/session':>12} {'c/session':>10}")
    for name, batch in WORKLOADS.items():
        w = getattr(models, name)()
        with w.graph.as_default():
            probs = gc.nn.softmax(w.logits)
        sess = gc.Session(w.graph)
        data = w.batch(batch, seed=1)
        exported = {t: gc.load_exported(gc.export(
            sess, [w.x], [probs], f"{folder}/{name}-{t}", name=name, target=t,
            train_step=w.train_op, loss=w.loss)) for t in ("cpu", "c")}
        step = sess.make_callable([w.loss, w.train_op], [w.x, w.y])
        infer = sess.make_callable(probs, [w.x])
        runs = {"train step": {"session": lambda: step(data[w.x], data[w.y]),
                               **{t: (lambda m=m: m.train_step(data[w.x], data[w.y]))
                                  for t, m in exported.items()}},
                "inference": {"session": lambda: infer(data[w.x]),
                              **{t: (lambda m=m: m(data[w.x])) for t, m in exported.items()}}}
        for what, fns in runs.items():
            for fn in fns.values():
                timed(fn, 3)                                  # warm
            times = {k: [] for k in fns}
            for _ in range(args.rounds):
                for k, fn in fns.items():
                    times[k].append(timed(fn, args.steps))
            med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
            print(f"{name:<8} {what:<12} {med['session']:>11.3f} {med['cpu']:>8.3f} "
                  f"{med['c']:>8.3f} {med['cpu'] / med['session']:>12.2f} "
                  f"{med['c'] / med['session']:>10.2f}")


if __name__ == "__main__":
    main()
