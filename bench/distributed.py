"""Benchmark: data-parallel train steps (gc.distributed) of the mlp and LeNet-5 on the
llvm backend at 1 and 2 ranks on this machine; the bucket size against the step time;
what the allreduce costs per step; whether starting a reduction early (MPI_Iallreduce)
and waiting for it after the compute would hide it.

    python bench/distributed.py [--ranks 1 2] [--batch 64] [--steps 40]
                                [--buckets 0 16384 65536 262144 1048576 4194304]

It launches itself under `mpiexec -n R` for each R (needs the graphc[mpi] extra). Each
rank trains on its own batch of --batch examples, so 2 ranks process twice the examples
per step; on one machine the ranks share its cores (each rank's thread pool gets
cores / R threads). Configurations that are compared are timed in turn, one step each,
round after round, and their medians reported: a machine shared with other work drifts
less between neighbouring steps than between whole runs.

Per rank count and model it prints:
  step        the train step (one bucket, the default) and examples/s over all ranks;
  allreduce   the step less the same model's step without DistributedOptimizer, both on
              this many ranks (what averaging costs inside the step: the copy into the
              bucket and the MPI call), and the bare MPI_Allreduce of that many bytes
              through mpi4py, one call per gradient and one for all of them;
  buckets     (2 ranks or more) the step per bucket_bytes (0: one allreduce per gradient);
  overlap     (2 ranks or more) what starting a reduction early could gain: two steps
              without allreduces (the first stands for the backward pass up to a bucket's
              last gradient, the second for the rest of it) then a blocking MPI_Allreduce
              of the gradients' bytes, against MPI_Iallreduce started between the two
              and MPI_Wait after them (a whole step of compute to hide the reduction
              behind: more than a real backward pass leaves).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

import numpy as np

MODELS = ("mlp", "lenet5")
BUCKETS = (0, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20)


def worker(batch: int, steps: int, buckets: list[int]) -> None:
    """Under mpiexec: every measurement of each model."""
    import graphc as gc
    from mpi4py import MPI
    rank, size = gc.distributed.init()
    comm = MPI.COMM_WORLD
    for name in MODELS:
        build = getattr(gc.models, name)
        first = build()
        feeds = tuple(first.batch(batch, seed=rank)[t] for t in (first.x, first.y))
        sizes = [gc.distributed.DEFAULT_BUCKET_BYTES] + (list(buckets) if size > 1 else [])
        steps_of = {b: _step(gc, build(distributed=True, bucket_bytes=b), feeds)
                    for b in dict.fromkeys(sizes)}
        plain = build()
        steps_of["plain"] = _step(gc, plain, feeds)
        ms = _alternating(comm, steps_of, steps)
        default = ms[gc.distributed.DEFAULT_BUCKET_BYTES]
        grads = [np.zeros(v.shape, np.float32) for v in gc.trainable_variables(plain.graph)]
        bucket = np.zeros(sum(g.size for g in grads), np.float32)
        mpi = _alternating(comm, {
            "each": lambda: [comm.Allreduce(MPI.IN_PLACE, g) for g in grads],
            "bucket": lambda: comm.Allreduce(MPI.IN_PLACE, bucket)}, steps)
        rate = batch * size / default * 1e3
        _report(rank, f"{name:7s} ranks {size}  step {default:7.3f} ms ({rate:7.0f} "
                f"examples/s)  allreduce in the step {default - ms['plain']:+.3f} ms (step without "
                f"it {ms['plain']:.3f});  mpi4py, {bucket.nbytes / 1e6:.2f} MB: {len(grads)} calls "
                f"{mpi['each']:.3f} ms, one {mpi['bucket']:.3f} ms")
        if size == 1:
            continue
        _report(rank, f"{name:7s} ranks {size}  buckets: " + ", ".join(
            f"{_kib(b)} {ms[b]:.3f} ms ({_calls(gc, name, b)} calls)" for b in buckets))
        plain_step = steps_of["plain"]

        def blocking():            # the rest of the backward pass, then the reduction
            plain_step()
            plain_step()
            return _seconds(lambda: comm.Allreduce(MPI.IN_PLACE, bucket))

        def overlapped():          # the reduction started while the rest is computed
            plain_step()
            request = comm.Iallreduce(MPI.IN_PLACE, bucket)
            plain_step()
            return _seconds(request.Wait)
        probe, tails = _alternating(comm, {"blocking": blocking, "overlapped": overlapped},
                                    steps, tails=True)
        _report(rank, f"{name:7s} ranks {size}  overlap: compute, compute, Allreduce "
                f"{probe['blocking']:.3f} ms (the Allreduce {_span(tails['blocking'])}); "
                f"compute, Iallreduce, compute, Wait {probe['overlapped']:.3f} ms (the Wait "
                f"{_span(tails['overlapped'])}): {probe['overlapped'] - probe['blocking']:+.3f} ms")


def _step(gc, step, feeds):
    """The compiled train step of `step` as a function of nothing (feeds fixed), warmed,
    every rank starting from rank 0's weights."""
    sess = gc.Session(graph=step.graph, backend="llvm")
    gc.distributed.broadcast_variables(sess)
    run = sess.make_callable(step.train_op, [step.x, step.y])
    x, y = feeds
    for _ in range(3):
        run(x, y)
    return lambda: run(x, y)


def _alternating(comm, fns: dict, repeats: int, tails: bool = False):
    """Median milliseconds of each function, timed one call each in turn per round, over
    the ranks' slowest (a step ends when all ranks' steps do); with `tails`, also the
    medians of the seconds each call returns (the time of its last part) on the rank
    where it was shortest and on the one where it was longest: a collective's time on
    the last rank to reach it is the reduction itself, on the others also their wait for
    that rank."""
    times = {key: [] for key in fns}
    parts = {key: [] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            comm.Barrier()
            start = time.perf_counter()
            part = fn()
            times[key].append(comm.allreduce(time.perf_counter() - start, op=_max()))
            if tails:
                parts[key].append(comm.allgather(part))
    medians = {key: float(np.median(t)) * 1e3 for key, t in times.items()}
    if not tails:
        return medians
    return medians, {key: (float(np.median(np.min(t, axis=1))) * 1e3,
                           float(np.median(np.max(t, axis=1))) * 1e3)
                     for key, t in parts.items()}


def _span(low_high) -> str:
    return f"{low_high[0]:.3f} on the last rank to reach it, {low_high[1]:.3f} on the first"


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _calls(gc, name, bucket_bytes) -> int:
    graph = getattr(gc.models, name)(distributed=True, bucket_bytes=bucket_bytes).graph
    return sum(n.op.name.startswith("allreduce") for n in graph.nodes)


def _kib(n: int) -> str:
    return "per gradient" if n == 0 else f"{n >> 10} KiB"


def _report(rank: int, line: str) -> None:
    if rank == 0:
        print(line, flush=True)


def _max():
    from mpi4py import MPI
    return MPI.MAX


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--buckets", type=int, nargs="+", default=list(BUCKETS))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.batch, args.steps, args.buckets)
        return 0
    mpiexec = shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("bench/distributed.py: no mpiexec (pip install 'graphc[mpi]')")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for ranks in args.ranks:
        # the cores shared out between the ranks (each rank's thread pool gets its part)
        threads = max(1, (os.cpu_count() or 1) // ranks)
        env = {**os.environ, "PYTHONPATH": root, "GRAPHC_NUM_THREADS": str(threads)}
        subprocess.run([mpiexec, "-n", str(ranks), sys.executable, os.path.abspath(__file__),
                        "--worker", "--batch", str(args.batch), "--steps", str(args.steps),
                        "--buckets", *map(str, args.buckets)], check=True, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
