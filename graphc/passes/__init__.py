"""The pass pipeline: program → pruned, specialised, folded, deduplicated, simplified,
fused kernels with a memory plan. Backend-neutral: both code generators consume it.

    result = gc.passes.compile_program([loss, train_op], {x: (128, 784), y: (128,)})
    print(result.report())                      # per-pass stats and timings
    print(gc.passes.dump([loss], {x: (4, 3)}))  # the IR after every pass
"""
from __future__ import annotations

import numpy as np

from ..ir import get_default_graph
from ..runtime.fetches import flatten_fetches
from ..runtime.feeds import resolve_feed_key
from ..runtime.interpreter import RunContext, execute
from ..runtime.program import Program
from .cse import CommonSubexpressions
from .fold import FoldConstants
from .fuse import Fuse
from .interpret import execute_kernels
from .kernels import FusedKernel, KernelGraph
from .manager import PassError, PipelineResult, describe, run_pipeline, verify
from .memory import MemoryPlan, PlanMemory
from .simplify import Simplify
from .specialize import Prune, Specialize


def default_passes(feed_shapes, one_op_per_kernel: bool = False) -> list:
    """The pipeline. `one_op_per_kernel` (for check_numerics) keeps every op in a kernel
    of its own, so a check after each kernel names the op that produced a value."""
    return [Prune(), Specialize(feed_shapes), FoldConstants(), CommonSubexpressions(),
            Simplify(), FoldConstants(), CommonSubexpressions(),
            Fuse(one_op_per_kernel), PlanMemory()]


def program_for(fetches, feeds, graph=None) -> Program:
    """The unoptimised program of `fetches` given placeholders `feeds` (TF1 run semantics)."""
    graph = graph or _graph_of(fetches)
    flat = list(dict.fromkeys(flatten_fetches(graph, fetches)))
    feeds = [resolve_feed_key(graph, f) for f in feeds]
    return Program.build(graph, flat, sorted(feeds, key=_node_id))


def compile_program(fetches, feed_shapes: dict, graph=None, passes=None,
                    print_after=None, out=None) -> PipelineResult:
    """Run the pipeline for `fetches` with placeholders of the given concrete shapes
    (a dict placeholder → shape, or placeholder → example array)."""
    graph = graph or _graph_of(fetches)
    shapes = {resolve_feed_key(graph, k): np.shape(v) if not isinstance(v, tuple) else v
              for k, v in feed_shapes.items()}
    static = [n for n in graph.nodes if n.op.name == "placeholder" and n.type.is_fully_defined]
    program = program_for(fetches, list(dict.fromkeys(list(shapes) + static)), graph)
    return run_pipeline(program, passes or default_passes(shapes), print_after, out)


def dump(fetches, feed_shapes: dict, after=("all",), graph=None) -> str:
    """The IR after each pass in `after` ("all" for every pass), as one text."""
    import io
    sink = io.StringIO()
    result = compile_program(fetches, feed_shapes, graph, print_after=after, out=sink)
    return "\n\n".join(text for _, text in result.dumps)


def execute_program(program: Program, feed_dict: dict, variables: dict,
                    rng_counters: dict | None = None):
    """Run a program on the interpreter — node by node, or kernel by kernel once fused —
    and return (output values, variable writes keyed by the user's variables)."""
    feeds, values = program.bind(feed_dict, variables)
    ctx = RunContext(feeds, values, {} if rng_counters is None else rng_counters)
    kernels = program.annotations.get("kernels")
    results = execute_kernels(kernels, ctx) if kernels is not None \
        else execute(program.nodes, ctx)
    return [results[n] for n in program.outputs], program.user_writes(ctx.writes)


def _graph_of(fetches):
    flat = fetches if isinstance(fetches, list | tuple) else [fetches]
    for f in flat:
        if hasattr(f, "graph"):
            return f.graph
    return get_default_graph()


def _node_id(node):
    return node.id


__all__ = ["CommonSubexpressions", "FoldConstants", "Fuse", "FusedKernel", "KernelGraph",
           "MemoryPlan", "PassError", "PipelineResult", "PlanMemory", "Prune", "Simplify",
           "Specialize", "compile_program", "default_passes", "describe", "dump",
           "execute_program", "program_for", "verify"]
