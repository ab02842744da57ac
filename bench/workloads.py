"""Benchmark: one train step (forward + backward + update of every parameter) of each
shared workload, for graphc and its peers in one run; medians and ratios.

    OPENBLAS_NUM_THREADS=1 python bench/workloads.py [--steps 100] [--rounds 5] [--only mlp]

The contenders take turns: each round runs `steps` steps of every contender in turn, and
a contender's time is the median over rounds of its per-round medians. A slow phase of a
shared machine (another process, a vCPU taken away for a while) then falls on every
contender alike instead of on whichever ran at that moment; the spread over rounds is
printed too.

numpy's OpenBLAS threads keep spinning after a call and distort other threads'
timings, so run graphc with OPENBLAS_NUM_THREADS=1 (numpy's own row then uses one
thread too); the row "numpy (own threads)" times the same numpy step in a child process
without that variable, on its turn in each round. Peers that are not installed are
reported, not fatal.
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
        step = getattr(models, name.replace("-", "_"))()
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
    return statistics.median(times) * 1e3 if times else None


class ChildSteps:
    """A numpy step timed in a child process where OpenBLAS keeps its own threads: each
    call asks the child for the median of `steps` more steps (ms)."""

    LOOP = ("import sys; sys.path.insert(0, {here!r}); import workloads as w; "
            "step = w.numpy_step({name!r}, w.BATCH[{name!r}]); w.time_steps(step, 0, {warmup})\n"
            "for line in sys.stdin: print(w.time_steps(step, int(line), 0), flush=True)")

    def __init__(self, name, warmup):
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
        code = self.LOOP.format(here=os.path.dirname(os.path.abspath(__file__)), name=name,
                                warmup=warmup)
        self.child = subprocess.Popen([sys.executable, "-W", "ignore", "-c", code], env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True)

    def __call__(self, steps):
        self.child.stdin.write(f"{steps}\n")
        self.child.stdin.flush()
        return float(self.child.stdout.readline())

    def close(self):
        self.child.stdin.close()
        self.child.wait()


REST_S = 0.25
"""Rest between turns: longer than the spin of any contender's idle worker threads
(OpenBLAS's spin for ~2^28 cycles, 70-100 ms here, before they sleep; XLA's and
OpenMP's pools spin too), so no contender runs beside the last one's spinning threads.
(0.05 s before; the seed-2layer rounds of graphc, which follows jax's turn, were slow in
2 of 5 rounds then, 1 of 5 in one run at 0.3 s: weak evidence, a sound rule.)"""


def first_loss(run) -> float:
    """The loss a step function returns (graphc: [loss, None]; PyTorch: a tensor)."""
    out = run()
    value = out[0] if isinstance(out, (list, tuple)) else out
    return float(value.item() if hasattr(value, "item") else value)


def check_first_losses(first: dict, ours: float) -> None:
    """Every contender's first step must see graphc's first loss (the same model,
    weights and data): exit before anything is timed otherwise."""
    wrong = {who: v for who, v in first.items() if abs(v - ours) > 1e-4 * max(1, abs(ours))}
    if wrong:
        raise SystemExit(f"first losses differ from graphc's {ours:.6g}: {wrong}")
    print(f"  first losses agree: graphc {ours:.6g}, largest difference "
          f"{max([abs(v - ours) for v in first.values()] + [0]):.2g}")


def in_rounds(contenders: dict, rounds: int, steps: int, warmup: int) -> dict:
    """{name: (median over rounds, lowest, highest)} of per-round medians (ms). A contender
    is a step function of no arguments, or a callable taking the step count and returning
    the median itself (ChildSteps). Between turns the machine rests REST_S, so the worker
    threads a contender leaves spinning go to sleep before the next one runs."""
    per_round = {who: [] for who in contenders}
    for who, run in contenders.items():          # warm-up (and compile) before round 1
        if not isinstance(run, ChildSteps):
            time_steps(run, 0, warmup)
    for _ in range(rounds):
        for who, run in contenders.items():
            time.sleep(REST_S)
            per_round[who].append(run(steps) if isinstance(run, ChildSteps)
                                  else time_steps(run, steps, 0))
    return {who: (statistics.median(v), min(v), max(v)) for who, v in per_round.items()}


def graphc_step(name, batch, backend):
    """(step function, compile seconds, the first step's loss)."""
    g, feeds, fetches, _, arrays = workload(name, batch)
    sess = gc.Session(g, backend=backend)
    run = sess.make_callable(fetches, feeds)
    start = time.perf_counter()
    loss = run(*arrays)[0]
    compile_s = time.perf_counter() - start
    return (lambda: run(*arrays)), compile_s, float(loss)   # noqa: E731


def numpy_step(name, batch):
    _, _, _, params, arrays = workload(name, batch)
    params = [np.array(p) for p in params]
    slots = [np.zeros_like(p) for p in params]
    fn = getattr(numpy_steps, name.replace("-", "_"))
    if name == "seed-2layer":
        return lambda: fn(arrays[0], arrays[1], *params)   # noqa: E731
    return lambda: fn(arrays[0], arrays[1], params, slots)   # noqa: E731


BATCH = {"seed-2layer": 64, "mlp": 128, "mlp-wide": 256, "lenet5": 64, "cifar-vgg": 128,
         "cifar-resnet": 64}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100, help="steps per contender per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--only", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=None, help="instead of the workload's")
    args = parser.parse_args(argv)
    print(f"# {platform.machine()} {os.cpu_count()} cores, {platform.processor() or ''} "
          f"python {platform.python_version()}, numpy {np.__version__}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}; "
          f"{args.rounds} rounds of {args.steps} steps")
    names = [args.only] if args.only else list(BATCH)
    for name in names:
        batch = args.batch or BATCH[name]
        contenders, notes, children, first = {}, {}, [], {}
        step, compile_s, ours = graphc_step(name, batch, "llvm")
        contenders["graphc-llvm"] = step
        if hasattr(numpy_steps, name.replace("-", "_")):
            contenders["numpy (hand-written)"] = numpy_step(name, batch)
        if name not in peers.CHANNELS_LAST and hasattr(numpy_steps, name.replace("-", "_")):
            # (convolutions in numpy: 10x behind)
            children.append(ChildSteps(name, args.warmup))
            contenders["numpy (own threads)"] = children[-1]
        _, _, _, params, arrays = workload(name, batch)
        if peers.torch_available():
            contenders["torch eager"] = peers.torch_step(name, params, arrays,
                                                         threads=args.threads)
            if name in peers.CHANNELS_LAST:
                contenders["torch channels_last"] = peers.torch_step(
                    name, params, arrays, threads=args.threads, channels_last=True)
            first.update({who: first_loss(contenders[who]) for who in contenders
                          if who.startswith("torch")})
            try:
                contenders["torch.compile"] = peers.torch_step(
                    name, params, arrays, compiled=True, threads=args.threads)
                first["torch.compile"] = first_loss(contenders["torch.compile"])  # compiles
            except Exception as err:      # a compile failure is a result, not a crash
                contenders.pop("torch.compile", None)
                notes["torch.compile"] = f"failed: {type(err).__name__}"
        else:
            notes["torch"] = "not installed"
        jax_step = peers.jax_step(name, params, arrays) if peers.jax_available() else None
        if jax_step is not None:
            contenders["jax.jit"] = jax_step
            first["jax.jit"] = first_loss(jax_step)
        else:
            notes["jax"] = "not installed" if not peers.jax_available() else "no JAX version"
        check_first_losses(first, ours)
        results = in_rounds(contenders, args.rounds, args.steps, args.warmup)
        for child in children:
            child.close()
        ours = results["graphc-llvm"][0]
        print(f"\n{name} (batch {batch}; graphc compile {compile_s:.2f} s)")
        for who, (ms, low, high) in results.items():
            print(f"  {who:<22} {ms:8.3f} ms   (rounds {low:.3f}-{high:.3f})   "
                  f"graphc speed-up {ms / ours:5.2f}x")
        for who, note in notes.items():
            print(f"  {who:<22} {note}")


if __name__ == "__main__":
    main()
