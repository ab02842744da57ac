"""Benchmark: one train step (forward + backward + update of every parameter) of each
shared workload, for graphc and its peers in one run; medians and ratios.

    OPENBLAS_NUM_THREADS=1 python bench/workloads.py [--steps 200] [--only mlp]

numpy's OpenBLAS threads keep spinning after a call and distort other threads'
timings, so run graphc with OPENBLAS_NUM_THREADS=1 (numpy's own row then uses one
thread too); the row "numpy (own threads)" times the same numpy step in a child
process without that variable. Peers that are not installed are reported, not fatal.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

import graphc as gc  # noqa: E402
from graphc import models  # noqa: E402
from graphc.examples_support import two_layer_graph  # noqa: E402
import numpy_steps  # noqa: E402
import peers  # noqa: E402


def workload(name, batch):
    """(graph step callable factory, initial params, data) for a workload."""
    if name == "seed-2layer":
        g, t, data = two_layer_graph(n=batch)
        feeds = [t["x"], t["y"]]
        fetches = [t["loss"], t["train"]]
        params = [g.get_tensor_by_name("w1").attrs["initial_value"],
                  g.get_tensor_by_name("w2").attrs["initial_value"]]
        arrays = (data["x"], data["y"])
    else:
        step = getattr(models, name)()
        g, feeds, fetches = step.graph, [step.x, step.y], [step.loss, step.train_op]
        params = [v.attrs["initial_value"] for v in gc.trainable_variables(step.graph)]
        batch_data = step.batch(batch)
        arrays = (batch_data[step.x], batch_data[step.y])
    return g, feeds, fetches, params, arrays


def time_steps(step, steps, warmup):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def graphc_step(name, batch, backend):
    g, feeds, fetches, _, arrays = workload(name, batch)
    sess = gc.Session(g, backend=backend)
    run = sess.make_callable(fetches, feeds)
    start = time.perf_counter()
    run(*arrays)
    compile_s = time.perf_counter() - start
    return (lambda: run(*arrays)), compile_s   # noqa: E731


def numpy_step(name, batch):
    _, _, _, params, arrays = workload(name, batch)
    params = [np.array(p) for p in params]
    slots = [np.zeros_like(p) for p in params]
    fn = getattr(numpy_steps, name.replace("-", "_"))
    if name == "seed-2layer":
        return lambda: fn(arrays[0], arrays[1], *params)   # noqa: E731
    return lambda: fn(arrays[0], arrays[1], params, slots)   # noqa: E731


BATCH = {"seed-2layer": 64, "mlp": 128, "lenet5": 64}


def numpy_threaded_ms(name, steps, warmup):
    """The numpy step's median in a child process where OpenBLAS uses its own threads."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); "
            f"import workloads as w; "
            f"print(w.time_steps(w.numpy_step({name!r}, w.BATCH[{name!r}]), "
            f"{steps}, {warmup}))")
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env,
                          capture_output=True, text=True)
    return float(done.stdout.split()[-1]) if done.returncode == 0 else "failed"


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--only", default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"# {platform.machine()} {os.cpu_count()} cores, {platform.processor() or ''} "
          f"python {platform.python_version()}, numpy {np.__version__}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    names = [args.only] if args.only else list(BATCH)
    for name in names:
        batch = BATCH[name]
        rows = {}
        step, compile_s = graphc_step(name, batch, "llvm")
        rows["graphc-llvm"] = time_steps(step, args.steps, args.warmup)
        rows["numpy (hand-written)"] = time_steps(numpy_step(name, batch), args.steps,
                                                  args.warmup)
        if name != "lenet5":              # im2col in numpy: 10x behind, not a contender
            rows["numpy (own threads)"] = numpy_threaded_ms(name, args.steps, args.warmup)
        _, _, _, params, arrays = workload(name, batch)
        if peers.torch_available():
            rows["torch eager"] = time_steps(peers.torch_step(name, params, arrays,
                                                              threads=args.threads),
                                             args.steps, args.warmup)
            try:
                rows["torch.compile"] = time_steps(
                    peers.torch_step(name, params, arrays, compiled=True,
                                     threads=args.threads), args.steps, args.warmup)
            except Exception as err:      # a compile failure is a result, not a crash
                rows["torch.compile"] = f"failed: {type(err).__name__}"
        else:
            rows["torch"] = "not installed"
        if peers.jax_available():
            rows["jax.jit"] = time_steps(peers.jax_step(name, params, arrays), args.steps,
                                         args.warmup)
        else:
            rows["jax"] = "not installed"
        ours = rows["graphc-llvm"]
        print(f"\n{name} (batch {batch}; graphc compile {compile_s:.2f} s)")
        for who, ms in rows.items():
            if isinstance(ms, str):
                print(f"  {who:<22} {ms}")
            else:
                print(f"  {who:<22} {ms:8.3f} ms   graphc speed-up {ms / ours:5.2f}x")


if __name__ == "__main__":
    main()
