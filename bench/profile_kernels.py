"""Where a compiled train step spends its time, kernel by kernel.

    OPENBLAS_NUM_THREADS=1 python bench/profile_kernels.py WORKLOAD [--batch 64] [--runs 50]
                                                          [--symbolic]

--symbolic profiles the batch-polymorphic program (the batch left as N) at that batch.
"""
from __future__ import annotations

import argparse

import graphc as gc
from graphc import models, passes
from graphc.examples_support import two_layer_graph
from graphc.codegen.llvm.executable import LLVMExecutable, profile_report
from graphc.ir.symbolic import BATCH


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=["seed-2layer", "mlp", "lenet5", "cifar-vgg", "cifar-resnet"])
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--symbolic", action="store_true")
    args = parser.parse_args()
    batch = args.batch or {"seed-2layer": 64, "mlp": 128, "lenet5": 64, "cifar-vgg": 128,
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
    print(profile_report(exe, args.runs, batch))


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
