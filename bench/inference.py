"""Benchmark: one inference (forward pass only) of the mlp and LeNet-5 at small batches,
graphc against numpy by hand and PyTorch eager (no_grad), in interleaved rounds.

    OPENBLAS_NUM_THREADS=1 python bench/inference.py [--batch 1] [--rounds 7] [--calls 2000]

At batch 1 a call is tens of microseconds: what is measured is the per-call path (Python
glue, feeds, the native call) as much as the arithmetic.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

import graphc as gc  # noqa: E402
from graphc import models  # noqa: E402
import peers  # noqa: E402


def graphc_forward(step, x):
    sess = gc.Session(step.graph, backend="llvm")
    run = sess.make_callable(step.logits, [step.x])
    run(x)
    return lambda: run(x)   # noqa: E731


def numpy_mlp(step, x):
    params = [v.attrs["initial_value"] for v in gc.trainable_variables(step.graph)]

    def forward():
        h = x
        for i in range(0, len(params) - 2, 2):
            h = np.maximum(h @ params[i] + params[i + 1], 0)
        return h @ params[-2] + params[-1]
    return forward


def torch_forward(name, step, x):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(2)
    ps = [torch.tensor(v.attrs["initial_value"]) for v in gc.trainable_variables(step.graph)]
    convs = peers.CONVS.get(name, ())
    for i in range(len(convs)):
        ps[2 * i] = ps[2 * i].permute(3, 2, 0, 1).contiguous()
    t = torch.tensor(x)
    if convs:
        t = t.permute(0, 3, 1, 2).contiguous()

    def forward():
        with torch.no_grad():
            h = t
            for i, (padding, pool) in enumerate(convs):
                h = F.relu(F.conv2d(h, ps[2 * i], ps[2 * i + 1], padding=padding))
                if pool:
                    h = F.max_pool2d(h, 2)
            if convs:
                h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)
            rest = ps[2 * len(convs):]
            for i in range(0, len(rest) - 2, 2):
                h = F.relu(h @ rest[i] + rest[i + 1])
            return h @ rest[-2] + rest[-1]
    return forward


def median_us(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args(argv)
    for name in ("mlp", "lenet5"):
        step = getattr(models, name)()
        x = step.batch(args.batch)[step.x]
        contenders = {"graphc-llvm": graphc_forward(step, x)}
        if name == "mlp":
            contenders["numpy (by hand)"] = numpy_mlp(step, x)
        if peers.torch_available():
            contenders["torch eager"] = torch_forward(name, step, x)
        outs = {who: np.asarray(fn()) for who, fn in contenders.items()}
        for who, out in outs.items():
            np.testing.assert_allclose(out, outs["graphc-llvm"], rtol=1e-4, atol=1e-4,
                                       err_msg=f"{who} computes another function")
        rounds = {who: [] for who in contenders}
        for who, fn in contenders.items():
            median_us(fn, args.calls // 10)                  # warm-up
        for _ in range(args.rounds):
            for who, fn in contenders.items():
                rounds[who].append(median_us(fn, args.calls))
        ours = statistics.median(rounds["graphc-llvm"])
        print(f"\n{name} forward, batch {args.batch} (outputs agree)")
        for who, values in rounds.items():
            us = statistics.median(values)
            print(f"  {who:<18} {us:9.1f} us   graphc speed-up {us / ours:5.2f}x")


if __name__ == "__main__":
    main()
