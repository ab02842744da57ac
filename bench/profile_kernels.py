"""Where a compiled train step spends its time, kernel by kernel.

    OPENBLAS_NUM_THREADS=1 python bench/profile_kernels.py WORKLOAD [--batch 64] [--runs 50]
                                                          [--symbolic]

--symbolic profiles the batch-polymorphic program (the batch left as N) at that batch.
"""
from __future__ import annotations

import argparse
import math

import graphc as gc
from graphc import models, passes
from graphc.examples_support import two_layer_graph
from graphc.codegen.llvm.executable import LLVMExecutable, profile_report
from graphc.ir.symbolic import BATCH


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=["seed-2layer", "mlp", "mlp-wide", "lenet5", "cifar-vgg", "cifar-resnet"])
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--symbolic", action="store_true")
    args = parser.parse_args()
    batch = args.batch or {"seed-2layer": 64, "mlp": 128, "mlp-wide": 256, "lenet5": 64, "cifar-vgg": 128,
                                  "cifar-resnet": 64}[args.workload]
    graph, x, y, fetches, data = _workload(args.workload, batch)
    lead = BATCH if args.symbolic else batch
    shapes = {x: (lead,) + tuple(x.shape[1:]), y: (lead,) + tuple(y.shape[1:])}
    program = passes.compile_program(fetches, shapes).program
    exe = LLVMExecutable(program, profile=True)
    sess = gc.Session(graph)
    variables = {user: sess.variable_value(user) for user in program.variables}
    for _ in range(5):
        exe.run(data, variables)
    exe.profile_cycles[:] = 0
    for _ in range(args.runs):
        exe.run(data, variables)
    print(profile_report(exe, args.runs, lambda k, us: rate(k, us, batch)))


def rate(k, us: float, batch: int) -> str:
    """A GEMM's or convolution's GFLOP/s, any other kernel's GB/s (the bytes of the
    buffers it reads and the values it writes, each once)."""
    flops = kernel_flops(k, batch)
    if flops:
        return f"{flops / us / 1e3:6.1f} GFLOP/s "
    nodes = {n.id: n for n in tuple(k.inputs) + tuple(k.roots)}
    moved = sum(_elements(n, batch) * n.dtype.itemsize for n in nodes.values())
    return f"{moved / us / 1e3:6.1f} GB/s     "


def _elements(node, batch: int) -> int:
    return math.prod(d if isinstance(d, int) else batch for d in node.shape)


def kernel_flops(k, batch: int) -> int:
    """2·(multiply-adds) of a kernel's GEMM or convolution (0 for the others)."""
    a = k.anchor
    if a is None:
        return 0
    if a.op.name == "matmul":
        x = a.inputs[0]
        inner = x.shape[-2] if a.attrs.get("transpose_a") else x.shape[-1]
        return 2 * _elements(a, batch) * (inner if isinstance(inner, int) else batch)
    if a.op.name.startswith("conv2d"):
        kh, kw, cin, _ = a.inputs[1].shape
        out = a.inputs[2] if a.op.name != "conv2d" else a       # dY: the output positions
        return 2 * _elements(out, batch) * kh * kw * cin
    return 0


def _workload(name, batch):
    """(graph, x, y, fetches, feed dict) of a shared workload at `batch`."""
    if name == "seed-2layer":
        graph, t, data = two_layer_graph(n=batch)
        return graph, t["x"], t["y"], [t["loss"], t["train"]], {t["x"]: data["x"],
                                                                 t["y"]: data["y"]}
    step = getattr(models, name.replace("-", "_"))()
    return step.graph, step.x, step.y, [step.loss, step.train_op], step.batch(batch)


if __name__ == "__main__":
    main()
