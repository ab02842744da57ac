"""TF1's global step: the int64 variable "global_step" counting finished training steps.

`minimize(loss, global_step=step)` adds 1 to it in the same run as the update; reads in
that run (a schedule, say) see the count before the step, as in TF1.
"""
from __future__ import annotations

import numpy as np

from ..ir import Node, get_default_graph
from ..ops import Variable
from ..ops.state import VARIABLES

GLOBAL_STEP = "global_step"   # TF1's tf.GraphKeys.GLOBAL_STEP


def get_global_step(graph=None) -> Node | None:
    """The graph's global step: the one in the "global_step" collection, else a variable
    named "global_step" (as TF1 falls back to 'global_step:0'), else None."""
    graph = graph or get_default_graph()
    steps = graph.get_collection(GLOBAL_STEP)
    if steps:
        return steps[0]
    named = [v for v in graph.get_collection(VARIABLES) if v.name == "global_step"]
    return named[0] if named else None


def create_global_step(graph=None) -> Node:
    """A new int64 variable "global_step" starting at 0; an error if the graph has one."""
    graph = graph or get_default_graph()
    if get_global_step(graph) is not None:
        raise ValueError("create_global_step: the graph already has a global step; use "
                         "get_or_create_global_step")
    with graph.as_default(), graph.name_scope(""), graph.control_dependencies(None):
        step = Variable(np.int64(0), name="global_step", trainable=False)
    graph.add_to_collection(GLOBAL_STEP, step)
    return step


def get_or_create_global_step(graph=None) -> Node:
    """The graph's global step, made on first use."""
    graph = graph or get_default_graph()
    step = get_global_step(graph)
    return create_global_step(graph) if step is None else step


def global_step(sess, global_step_tensor: Node) -> int:
    """The step count as a Python int (TF1's tf.train.global_step)."""
    return int(sess.run(global_step_tensor))
