"""Benchmark two source trees of graphc against each other on the train steps, taking
turns: each round runs every workload once in a fresh process per tree (old, new, old,
new, ...), so a slow phase of a shared machine falls on both alike. Prints each tree's
median step time over the rounds, and new / old.

    git worktree add /tmp/old <commit>
    OPENBLAS_NUM_THREADS=1 python bench/compare_trees.py /tmp/old . [--rounds 6]
        [--backend llvm] [--only lenet5]

A tree's processes import graphc from that tree (PYTHONPATH); the disk cache is shared,
so warm it first (one round runs before the timed ones and is not counted). With
`--new-backend`, the new side runs another backend: `compare_trees.py . . --backend llvm
--new-backend c` compares the C backend with the LLVM backend on one tree.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

WORKLOADS = {"seed-2layer": 64, "mlp": 128, "lenet5": 64}

CHILD = r"""
import statistics, sys, time
import numpy as np
import graphc as gc
from graphc import models
name, batch, backend, steps = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
if name == "seed-2layer":
    from graphc.examples_support import two_layer_graph
    g, t, data = two_layer_graph(n=batch)
    sess = gc.Session(g, backend=backend)
    step = sess.make_callable([t["loss"], t["train"]], [t["x"], t["y"]])
    args = (data["x"], data["y"])
else:
    w = getattr(models, name)()
    sess = gc.Session(w.graph, backend=backend)
    step = sess.make_callable([w.loss, w.train_op], [w.x, w.y])
    feed = w.batch(batch)
    args = (feed[w.x], feed[w.y])
for _ in range(max(3, steps // 10)):
    step(*args)
times = []
for _ in range(steps):
    start = time.perf_counter()
    step(*args)
    times.append(time.perf_counter() - start)
print(statistics.median(times) * 1e3)
"""


def step_ms(tree: str, name: str, backend: str, steps: int) -> float:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree))
    done = subprocess.run([sys.executable, "-c", CHILD, name, str(WORKLOADS[name]), backend,
                           str(steps)], env=env, capture_output=True, text=True, check=True,
                          cwd=os.path.abspath(tree))
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--backend", default="llvm")
    parser.add_argument("--new-backend", default=None, help="the new side's (default: the same)")
    parser.add_argument("--only", default=None)
    args = parser.parse_args()
    names = [args.only] if args.only else list(WORKLOADS)
    times = {(tree, name): [] for tree in ("old", "new") for name in names}
    for round_ in range(args.rounds + 1):
        for name in names:
            for tree in ("old", "new"):
                backend = args.new_backend if tree == "new" and args.new_backend else args.backend
                ms = step_ms(getattr(args, tree), name, backend, args.steps)
                if round_:                       # round 0 warms the disk cache
                    times[(tree, name)].append(ms)
    print(f"{'workload':<12} {'old ms':>9} {'new ms':>9} {'new/old':>8}   per round (new/old)")
    for name in names:
        old, new = (statistics.median(times[(t, name)]) for t in ("old", "new"))
        ratios = " ".join(f"{n / o:.2f}" for o, n in zip(times[("old", name)],
                                                          times[("new", name)]))
        print(f"{name:<12} {old:>9.3f} {new:>9.3f} {new / old:>8.3f}   {ratios}")


if __name__ == "__main__":
    main()
