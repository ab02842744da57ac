"""Benchmark: data-parallel train steps (gc.distributed) of the mlp and LeNet-5 on the
llvm backend at 1 and 2 ranks on this machine, and what the allreduces cost: the
gradients' bytes reduced as one bucket against one MPI call per gradient.

    python bench/distributed.py [--ranks 1 2] [--batch 64] [--steps 40]

It launches itself under `mpiexec -n R` for each R (needs the graphc[mpi] extra). Each
rank trains on its own batch of --batch examples, so 2 ranks process twice the examples
per step; on one machine the ranks share its cores (each rank's thread pool gets
cores / R threads).
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


def worker(batch: int, steps: int) -> None:
    """Under mpiexec: time each model's step and the allreduce of its gradients."""
    import graphc as gc
    from mpi4py import MPI
    rank, size = gc.distributed.init()
    comm = MPI.COMM_WORLD
    for name in MODELS:
        step = getattr(gc.models, name)(distributed=True)
        sess = gc.Session(graph=step.graph, backend="llvm")
        gc.distributed.broadcast_variables(sess)
        run = sess.make_callable(step.train_op, [step.x, step.y])
        feeds = step.batch(batch, seed=rank)
        x, y = feeds[step.x], feeds[step.y]
        for _ in range(3):
            run(x, y)
        step_ms = _timed(comm, lambda: run(x, y), steps)
        grads = [np.zeros(v.shape, np.float32) for v in gc.trainable_variables(step.graph)]
        each_ms = _timed(comm, lambda: [comm.Allreduce(MPI.IN_PLACE, g) for g in grads],
                         steps)
        bucket = np.zeros(sum(g.size for g in grads), np.float32)
        bucket_ms = _timed(comm, lambda: comm.Allreduce(MPI.IN_PLACE, bucket), steps)
        if rank == 0:
            print(f"{name:7s} ranks {size}  step {step_ms:7.3f} ms  "
                  f"({batch * size / step_ms * 1e3:8.0f} examples/s)  allreduce of "
                  f"{bucket.nbytes / 1e6:.2f} MB: {len(grads)} calls {each_ms:.3f} ms, "
                  f"one bucket {bucket_ms:.3f} ms", flush=True)
        sess.close()


def _timed(comm, fn, repeats: int) -> float:
    """Median milliseconds of fn over the ranks' slowest (a step ends when all do)."""
    times = []
    for _ in range(repeats):
        comm.Barrier()
        start = time.perf_counter()
        fn()
        times.append(comm.allreduce(time.perf_counter() - start, op=_max()))
    return float(np.median(times)) * 1e3


def _max():
    from mpi4py import MPI
    return MPI.MAX


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.batch, args.steps)
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
                        "--worker", "--batch", str(args.batch), "--steps", str(args.steps)],
                       check=True, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
