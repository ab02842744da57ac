"""Print what the pass pipeline does to each benchmark workload's train step:
graph nodes, nodes after the optimising passes, kernels, planned peak vs naive bytes.

    python bench/passes_report.py
"""
from __future__ import annotations

import time

import graphc as gc
from graphc import models, passes
from graphc.examples_support import two_layer_graph


def workloads():
    g, t, _ = two_layer_graph()
    yield "seed-2layer", g, [t["loss"], t["train"]], {t["x"]: (64, 1000), t["y"]: (64, 10)}
    for name, batch in (("mlp", 128), ("lenet5", 64)):
        step = getattr(models, name)()
        yield name, step.graph, [step.loss, step.train_op], \
            {step.x: (batch,) + tuple(step.x.shape[1:]), step.y: (batch,)}


def main():
    print(f"{'workload':<12} {'graph':>6} {'program':>8} {'optimised':>9} {'kernels':>8} "
          f"{'gemm/conv':>9} {'peak KiB':>9} {'naive KiB':>10} {'ratio':>6} {'compile ms':>10}")
    for name, graph, fetches, shapes in workloads():
        start = time.perf_counter()
        result = passes.compile_program(fetches, shapes)
        ms = (time.perf_counter() - start) * 1e3
        records = {r.name: r for r in result.records}
        kernels = result.program.annotations["kernels"].kernels
        plan = result.program.annotations["memory"]
        products = sum(k.kind in ("gemm", "conv") for k in kernels)
        print(f"{name:<12} {len(graph.nodes):>6} {records['prune'].nodes:>8} "
              f"{len(result.program.nodes):>9} {len(kernels):>8} {products:>9} "
              f"{plan.peak_bytes / 1024:>9.0f} {plan.naive_bytes / 1024:>10.0f} "
              f"{plan.peak_bytes / plan.naive_bytes:>6.2f} {ms:>10.1f}")


if __name__ == "__main__":
    gc.reset_default_graph()
    main()
