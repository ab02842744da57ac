"""Running a fused program kernel by kernel on the ops' references: each kernel
evaluates its members and keeps only its roots, and views read the buffer they alias,
so a kernel that reads a value no earlier kernel materialised fails here, before any
backend is involved (`execute_program`)."""
from __future__ import annotations

import numpy as np

from ..ir import ExecutionError, Node
from ..runtime.interpreter import RunContext, check_result, execute


def execute_kernels(kernel_graph, ctx: RunContext) -> dict[Node, np.ndarray]:
    """Run a fused program kernel by kernel: each kernel evaluates its members with their
    references and keeps only its roots, and views read the buffer they alias, so a
    kernel that reads a value no earlier kernel materialised fails here, before any
    backend is involved."""
    buffers = execute(kernel_graph.sources, ctx)

    def read(node, x, i, local):
        if x in local:
            return local[x]
        if x in buffers:
            return buffers[x]
        if x in kernel_graph.aliases:
            base = read(x, kernel_graph.aliases[x], 0, {})
            buffers[x] = x.op.reference(x, *[base] + [np.broadcast_to(
                np.zeros((), r.dtype.np_type), r.shape) for r in x.inputs[1:]])
            return buffers[x]
        if i in node.op.shape_only_inputs:     # a stand-in with the right shape
            return np.broadcast_to(np.zeros((), x.dtype.np_type), x.shape)
        raise ExecutionError(f"'{node.name}' reads '{x.name}', which no earlier kernel "
                             "materialised")

    for kernel in kernel_graph.kernels:
        local: dict[Node, np.ndarray] = {}
        for node in kernel.members:
            inputs = [read(node, x, i, local) for i, x in enumerate(node.inputs)]
            out = np.asarray(node.op.evaluate(node, inputs, ctx))
            check_result(node, out)
            local[node] = out
        for root in kernel.roots:
            buffers[root] = local[root]
    for view in kernel_graph.aliases:
        read(view, view, 0, {})
    return buffers
