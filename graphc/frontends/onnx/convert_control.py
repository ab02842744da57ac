"""ONNX's control flow (If, Loop, Scan) as straight-line graph ops: graphc's graphs have
no control flow and its shapes are static, so each subgraph is converted by the same
importer (`Context.subgraph`) once per use.

- If: a condition known now picks its branch; otherwise both branches are converted
  and each output is `where(cond, then, else)` (the branches must agree in shape).
- Loop: unrolled for a trip count known now, stopping where the condition, when known
  now, turns false. A condition computed at run time is followed by masking: each
  iteration's carried values are kept only while it holds (`where`), up to the trip
  count; scan outputs then would have a data-dependent length and are refused.
- Scan: unrolled over the scan inputs' (known) length.
"""
from __future__ import annotations

import numpy as np

from ... import ops
from ...ir import bool_
from .context import converter, static_value
from .errors import NeedsStaticValue

MAX_UNROLL = 10_000
"""Most iterations a Loop without a known trip count may unroll into the graph."""


def _known_bool(node) -> bool | None:
    value = static_value(node)
    return None if value is None else bool(np.ravel(value)[0])


@converter("If", attrs=("then_branch", "else_branch"))
def if_(ctx):
    cond = ctx.input(0)
    known = _known_bool(cond)
    if known is not None:
        return ctx.subgraph("then_branch" if known else "else_branch", [])
    then, other = ctx.subgraph("then_branch", []), ctx.subgraph("else_branch", [])
    cond = ops.reshape(cond, [])
    results = []
    for k, (a, b) in enumerate(zip(then, other)):
        if a.dtype != b.dtype or a.shape != b.shape:
            error = ctx.error(f"the condition is computed at run time and output {k} differs "
                              f"between the branches ({a.type} and {b.type}): graphc selects "
                              "between both branches' results, which needs one shape")
            try:
                ctx.static(0)
            except NeedsStaticValue as err:   # a graph input decides it: it may be bound
                raise NeedsStaticValue(str(error), err.input_name) from None
            raise error
        results.append(ops.where(cond, a, b))
    return results


@converter("Loop", attrs=("body",))
def loop(ctx):
    trips = int(np.ravel(ctx.static(0))[0]) if ctx.has_input(0) else None
    cond = ctx.input(1) if ctx.has_input(1) else ops.constant(True)
    carried = [ctx.input(i) for i in range(2, ctx.num_inputs)]
    scans: list[list] = []
    running = None                    # the run-time condition once it is not known now
    i = 0
    while trips is None or i < trips:
        if running is None:
            known = _known_bool(cond)
            if known is False:
                break
            if known is None:
                if i == 0 and ctx.has_input(1) and len(ctx.node.output) > len(carried):
                    ctx.static(1)       # scan outputs: their length needs the condition
                if trips is None:
                    raise ctx.error("neither the trip count nor the condition is known when "
                                    "the graph is built: graphc cannot unroll the loop")
                running = ops.reshape(cond, [])
        if i >= MAX_UNROLL:
            raise ctx.error(f"the loop runs over {MAX_UNROLL} iterations: too many to unroll")
        with ctx.graph.name_scope(f"iteration_{i}"):
            outputs = ctx.subgraph("body", [ops.constant(np.int64(i)),
                                            ops.cast(cond, bool_), *carried])
            cond, new, scan = outputs[0], outputs[1:len(carried) + 1], \
                outputs[len(carried) + 1:]
            if running is not None:
                if scan:
                    raise ctx.error("the condition is computed at run time, so the scan "
                                    "outputs' length would depend on data")
                new = [_keep(ctx, running, n, o) for n, o in zip(new, carried)]
                cond = running = ops.logical_and(running, ops.reshape(cond, []))
        carried = new
        scans.append(scan)
        i += 1
    return carried + _stack_scans(ctx, scans, len(ctx.node.output) - len(carried))


def _keep(ctx, live, new, old):
    if new.shape != old.shape or new.dtype != old.dtype:
        raise ctx.error(f"a loop-carried value changes from {old.type} to {new.type} under "
                        "a run-time condition: graphc keeps one shape")
    return ops.where(live, new, old)


def _stack_scans(ctx, scans, count, axes=None, reverse=None):
    """Each scan output's per-iteration values stacked (along axes[k], reversed where
    reverse[k])."""
    if count and not scans:
        raise ctx.error("the loop runs no iteration, so its scan outputs' shapes are unknown")
    results = []
    for k in range(count):
        steps = [s[k] for s in scans]
        if reverse and reverse[k]:
            steps = steps[::-1]
        axis = axes[k] if axes else 0
        results.append(ops.stack(steps, axis=axis if axis >= 0 else steps[0].rank + 1 + axis))
    return results


@converter("Scan", attrs=("body", "num_scan_inputs", "scan_input_axes",
                          "scan_input_directions", "scan_output_axes",
                          "scan_output_directions"))
def scan(ctx):
    m = ctx.attr("num_scan_inputs")
    inputs = [ctx.input(i) for i in range(ctx.num_inputs)]
    states, sequences = inputs[:len(inputs) - m], inputs[len(inputs) - m:]
    axes = ctx.attr("scan_input_axes", [0] * m)
    directions = ctx.attr("scan_input_directions", [0] * m)
    slices = []
    for x, axis, backward in zip(sequences, axes, directions):
        axis = axis + x.rank if axis < 0 else axis
        if x.shape[axis] is None:
            raise ctx.error(f"scan input {x.name} {x.type}: axis {axis} must have a known "
                            "length to unroll")
        steps = ops.unstack(x, axis=axis)
        slices.append(steps[::-1] if backward else steps)
    lengths = {len(s) for s in slices}
    if len(lengths) != 1:
        raise ctx.error(f"the scan inputs have different lengths {sorted(lengths)}")
    scans = []
    for t in range(lengths.pop()):
        with ctx.graph.name_scope(f"iteration_{t}"):
            outputs = ctx.subgraph("body", states + [s[t] for s in slices])
        states, step = outputs[:len(states)], outputs[len(states):]
        scans.append(step)
    count = len(ctx.node.output) - len(states)
    return states + _stack_scans(ctx, scans, count, ctx.attr("scan_output_axes", None),
                                 ctx.attr("scan_output_directions", None))
