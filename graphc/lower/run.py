"""Running a lowered program on the loop-IR interpreter (the check of lowering itself)."""
from __future__ import annotations

import numpy as np

from ..ir.symbolic import evaluate
from .interpret import run_kernel
from .program import LoweredProgram


def bind_buffers(lp: LoweredProgram, feeds: dict, variables: dict, arena: np.ndarray,
                 n: int = 0) -> dict:
    """Flat arrays for every buffer at batch size n: feeds and variables (keyed by
    program nodes) are used in place, so updates land in the variables' arrays."""
    out = {}
    for b in lp.buffers:
        if b.kind == "sizes":
            out[b.name] = np.array([n], np.int64)
            continue
        if b.kind == "feed":
            out[b.name] = np.ascontiguousarray(feeds[b.node]).reshape(-1)
        elif b.kind == "variable":
            out[b.name] = variables[b.node].reshape(-1)
        elif b.kind == "constant":
            out[b.name] = b.value
        elif b.kind == "callback":
            continue
        elif b.kind in ("workspace", "status", "rng"):
            out[b.name] = np.zeros(evaluate(b.size, n), b.dtype.np_type)
        else:
            out[b.name] = b.in_arena(arena, n)
    return out


def run_lowered(lp: LoweredProgram, feed_dict: dict, variables: dict):
    """(outputs, writes) like `passes.execute_program`, through the loop-IR interpreter."""
    program = lp.program
    feeds, _ = program.bind(feed_dict, {})
    state = {node: np.array(variables[user], copy=True)
             for user, node in program.variables.items()}
    n = lp.batch_size(feeds)
    arena = np.zeros(max(evaluate(lp.arena_bytes, n), 1), np.uint8)
    buffers = bind_buffers(lp, feeds, state, arena, n)
    if lp.prints:
        buffers["print_callback"] = lp.prints        # the interpreter's print routine reads it
    for kernel in lp.kernels:
        run_kernel(kernel, buffers)
    outputs = []
    for node in program.outputs:
        name = lp.value_buffer.get(node)
        shape = evaluate(node.shape, n)
        outputs.append(None if name is None else
                       buffers[name][: int(np.prod(shape))].reshape(shape).copy())
    writes = {user: state[node] for user, node in program.variables.items()
              if any(r.inputs[0] is node for r in program.updates)}
    return outputs, writes
