"""What check_numerics costs: the mlp and lenet5 train steps with and without it.

    OPENBLAS_NUM_THREADS=1 python bench/check_numerics.py
"""
from __future__ import annotations

import statistics
import time

import graphc as gc
from graphc import models


def step_ms(step, batch, check, runs=100):
    sess = gc.Session(step.graph, check_numerics=check)
    run = sess.make_callable([step.loss, step.train_op], [step.x, step.y])
    feed = step.batch(batch)
    args = (feed[step.x], feed[step.y])
    for _ in range(10):
        run(*args)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        run(*args)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main():
    for name, batch in (("mlp", 128), ("lenet5", 64)):
        off = step_ms(getattr(models, name)(), batch, False)
        on = step_ms(getattr(models, name)(), batch, True)
        print(f"{name:<8} off {off:7.3f} ms   check_numerics {on:7.3f} ms   x{on / off:.2f}")


if __name__ == "__main__":
    main()
