"""Benchmark: a train step compiled once for every batch size (the batch dimension left
symbolic) against the same step compiled for its batch size, in one run.

    OPENBLAS_NUM_THREADS=1 python bench/batch_polymorphic.py [--steps 300] [--rounds 3]

Prints the step time of each (median over rounds of each round's median, and the best
round), their ratios, and the compile counts after runs with batch sizes 128, 37 and 1.
Rounds alternate between the two, so a busy machine slows both alike.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import graphc as gc
from graphc import models


def session(name: str, static_batch: bool):
    step = getattr(models, name)()
    sess = gc.Session(step.graph, static_batch=static_batch)
    run = sess.make_callable([step.loss, step.train_op], [step.x, step.y])
    return step, sess, run


def median_ms(sess, run, batches, steps: int) -> float:
    """From the initial weights, cycling through fresh batches (one batch trained on
    over and over drives the loss to zero and the gradients into slow denormals)."""
    sess.initialize()
    for i in range(20):
        run(*batches[i % len(batches)])
    times = []
    for i in range(steps):
        t = time.perf_counter()
        run(*batches[i % len(batches)])
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["mlp", "lenet5"])
    args = parser.parse_args()
    print(f"# {platform.machine()} {os.cpu_count()} cores, graphc {gc.__version__}, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"{'workload':<8} {'batch':>5} {'static ms':>10} {'symbolic ms':>12} {'ratio':>6} "
          f"{'best static':>12} {'best symbolic':>14} {'ratio':>6} {'compiles':>12}")
    for name in [args.only] if args.only else ["mlp", "lenet5"]:
        runs = {mode: session(name, mode == "static") for mode in ("static", "symbolic")}
        step = runs["static"][0]
        arrays = {n: [(b[step.x], b[step.y]) for b in (step.batch(n, seed) for seed in range(8))]
                  for n in (128, 37, 1)}
        for n in (128, 37, 1):
            for mode, (_, _, run) in runs.items():
                run(*arrays[n][0])
        compiles = {mode: sess.backend.compile_count for mode, (_, sess, _) in runs.items()}
        for n in (128, 37):
            samples = {"static": [], "symbolic": []}
            for _ in range(args.rounds):          # interleaved, so drift hits both alike
                for mode, (_, sess, run) in runs.items():
                    samples[mode].append(median_ms(sess, run, arrays[n], args.steps))
            static, symbolic = (statistics.median(samples[m]) for m in ("static", "symbolic"))
            best_static, best_symbolic = (min(samples[m]) for m in ("static", "symbolic"))
            print(f"{name:<8} {n:>5} {static:>10.3f} {symbolic:>12.3f} {symbolic / static:>6.2f} "
                  f"{best_static:>12.3f} {best_symbolic:>14.3f} "
                  f"{best_symbolic / best_static:>6.2f} "
                  f"{compiles['static']:>6} vs {compiles['symbolic']}")


if __name__ == "__main__":
    main()
