"""Benchmark: how long a new process takes to its first train step, per workload.

    python bench/startup.py [--rounds 5] [--only cifar_vgg]

Each measurement is a fresh Python process (graphc imported, the model built, one step
run) and reports the import, the graph build and the first step (passes, lowering,
compile or cache load, and the step itself). Three cases per workload, in turns:
- cold: an empty disk cache (every module compiled, the GEMM routines too);
- new program: a cache that holds what other models compiled (the GEMM routines and
  the runtime) but not this model;
- warm: the cache this model's own cold run filled (the program cache and the objects).
Medians over the rounds; each round uses fresh cache folders.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

WORKLOADS = {"lenet5": 64, "cifar_vgg": 32, "cifar_resnet": 32}

CHILD = r"""
import json, sys, time
start = time.perf_counter()
import graphc as gc
from graphc import models
imported = time.perf_counter()
step = getattr(models, sys.argv[1])()
run = gc.Session(step.graph, backend="llvm").make_callable([step.loss, step.train_op],
                                                           [step.x, step.y])
feed = step.batch(int(sys.argv[2]))
built = time.perf_counter()
run(feed[step.x], feed[step.y])
done = time.perf_counter()
print(json.dumps({"import": imported - start, "build": built - imported,
                  "first_step": done - built}))
"""


def child(name: str, cache: str) -> dict:
    env = dict(os.environ, GRAPHC_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, "-c", CHILD, name, str(WORKLOADS[name])], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def one_round(names) -> dict:
    results = {}
    with tempfile.TemporaryDirectory() as root:
        for name in names:
            own, other = os.path.join(root, name), os.path.join(root, f"{name}-other")
            # another model compiled first: the GEMM routines and runtime are cached
            child("mlp" if name != "mlp" else "lenet5", other)
            results[name] = {"cold": child(name, own), "new program": child(name, other),
                             "warm": child(name, own)}
    return results


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", action="append", choices=sorted(WORKLOADS))
    args = parser.parse_args(argv)
    names = args.only or list(WORKLOADS)
    WORKLOADS.setdefault("mlp", 64)
    rounds = [one_round(names) for _ in range(args.rounds)]
    print(f"first train step of a new process (llvm), medians of {args.rounds} rounds, s")
    print(f"{'workload':<14} {'case':<12} {'import':>7} {'build':>7} {'first step':>11}"
          f"   first step over the rounds")
    for name in names:
        for case in ("cold", "new program", "warm"):
            runs = [r[name][case] for r in rounds]
            med = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
            spread = ", ".join(f"{run['first_step']:.2f}" for run in runs)
            print(f"{name:<14} {case:<12} {med['import']:7.2f} {med['build']:7.2f} "
                  f"{med['first_step']:11.2f}   {spread}")


if __name__ == "__main__":
    main()
