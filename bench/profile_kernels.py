"""Where a compiled train step spends its time, kernel by kernel.

    OPENBLAS_NUM_THREADS=1 python bench/profile_kernels.py lenet5 [--batch 64] [--runs 50]
                                                          [--symbolic]

--symbolic profiles the batch-polymorphic program (the batch left as N) at that batch.
"""
from __future__ import annotations

import argparse

import graphc as gc
from graphc import models, passes
from graphc.codegen.llvm.executable import LLVMExecutable, profile_report
from graphc.ir.symbolic import BATCH


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=["mlp", "lenet5"])
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--symbolic", action="store_true")
    args = parser.parse_args()
    step = getattr(models, args.workload)()
    batch = args.batch or {"mlp": 128, "lenet5": 64}[args.workload]
    lead = BATCH if args.symbolic else batch
    shapes = {step.x: (lead,) + tuple(step.x.shape[1:]), step.y: (lead,)}
    program = passes.compile_program([step.loss, step.train_op], shapes).program
    exe = LLVMExecutable(program, profile=True)
    sess = gc.Session(step.graph)
    variables = {node: sess.variable_value(user) for user, node in program.variables.items()}
    feeds, _ = program.bind(step.batch(batch), {})
    for _ in range(5):
        exe.run(feeds, variables)
    exe.profile_cycles[:] = 0
    for _ in range(args.runs):
        exe.run(feeds, variables)
    print(profile_report(exe, args.runs))


if __name__ == "__main__":
    main()
