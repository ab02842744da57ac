"""TF1's tf.train.ExponentialMovingAverage: shadow copies of variables that trail them.

    shadow -= (1 − decay) · (shadow − value)
    decay = min(decay, (1 + n) / (10 + n))    when num_updates n is given (TF1's rule:
                                             the average moves fast early in training)

TF1 users write the update after the train op,

    with gc.control_dependencies([train_op]):
        train_op = ema.apply(var_list)

and TF1 then averages the values *after* the step. A graphc run reads every variable at
its start, so `apply` looks through the control dependencies in force (and the groups
among them) for assignments to the averaged variables and to `num_updates`, and averages
their new values: the same numbers as TF1. Without such dependencies it averages the
values the run started with.
"""
from __future__ import annotations

import numpy as np

from ..ir import Node, get_default_graph
from ..ops import Variable, assign_sub, cast, constant, group, minimum, trainable_variables
from ..ops.state import VARIABLES, initial_value_of

MOVING_AVERAGE_VARIABLES = "moving_average_variables"   # TF1's GraphKeys name
_ASSIGNS = ("assign", "assign_add", "assign_sub")


class ExponentialMovingAverage:
    """Shadow variables "<var>/<name>" updated by the op `apply` returns; `average(var)`
    is the shadow to read (e.g. for evaluation), `variables_to_restore()` the Saver map
    that loads the averages into the variables themselves."""

    def __init__(self, decay, num_updates=None, zero_debias=False,
                 name="ExponentialMovingAverage"):
        if zero_debias:
            raise NotImplementedError("ExponentialMovingAverage: zero_debias is not "
                                      "supported")
        self.decay = decay if isinstance(decay, Node) else float(decay)
        self.num_updates = num_updates
        self.name = name
        self._averages: dict[Node, Node] = {}

    def apply(self, var_list=None, name=None) -> Node:
        """Make the shadows (once per variable) and return the op that updates them."""
        var_list = list(trainable_variables() if var_list is None else var_list)
        if not var_list:
            raise ValueError("ExponentialMovingAverage.apply: no variables to average")
        graph = var_list[0].graph
        after = _values_after_dependencies(graph)
        updates = []
        with graph.as_default(), graph.name_scope(name or self.name):
            for var in var_list:
                shadow = self._make_shadow(var)
                value = after.get(var, var)
                keep = self._decay(var, after)
                updates.append(assign_sub(shadow, (shadow - value) * (1.0 - keep),
                                          name=f"update_{var.name.replace('/', '_')}"))
            return group(updates, name="apply")

    def average(self, var: Node) -> Node | None:
        return self._averages.get(var)

    def average_name(self, var: Node) -> str:
        return f"{var.name}/{self.name}"

    def variables_to_restore(self, moving_avg_variables=None, graph=None) -> dict:
        """{name in a checkpoint: variable}: each averaged variable under its shadow's
        name, every other variable under its own (TF1's map for evaluating averages)."""
        graph = graph or get_default_graph()
        if moving_avg_variables is None:
            moving_avg_variables = trainable_variables(graph) + \
                graph.get_collection(MOVING_AVERAGE_VARIABLES)
        averaged = list(dict.fromkeys(moving_avg_variables))
        names = {self.average_name(v): v for v in averaged}
        for var in graph.get_collection(VARIABLES):
            if var not in averaged:
                names.setdefault(var.name, var)
        return names

    def _make_shadow(self, var: Node) -> Node:
        if var in self._averages:
            raise ValueError(f"ExponentialMovingAverage: '{var.name}' is already averaged")
        if not var.dtype.is_floating:
            raise TypeError(f"ExponentialMovingAverage: '{var.name}' is {var.dtype.name}; "
                            "only float tensors can be averaged")
        if var.op.name == "variable":
            init = initial_value_of(var)          # the shadow starts where var starts
        elif var.type.is_fully_defined:
            init = np.zeros(var.shape, var.dtype.np_type)
        else:
            raise ValueError(f"ExponentialMovingAverage: '{var.name}' {var.type} needs a "
                             "known shape")
        with var.graph.name_scope(""):
            shadow = Variable(init, name=self.average_name(var), trainable=False)
        var.graph.add_to_collection(MOVING_AVERAGE_VARIABLES, var)
        self._averages[var] = shadow
        return shadow

    def _decay(self, var: Node, after: dict) -> Node:
        """The decay as a scalar of var's dtype (TF1 computes it in float32, so float64
        averages may differ from TF1's in the last bits); TF1's cap with num_updates."""
        decay = cast(self.decay, var.dtype) if isinstance(self.decay, Node) \
            else constant(self.decay, var.dtype, name="decay")
        if self.num_updates is None:
            return decay
        n = self.num_updates
        n = cast(after.get(n, n), var.dtype) if isinstance(n, Node) \
            else constant(float(n), var.dtype)
        return minimum(decay, (n + 1.0) / (n + 10.0), name="decay")


def _values_after_dependencies(graph) -> dict[Node, Node]:
    """variable → the assignment among the current control dependencies (through the
    groups that hold them) whose result is its new value."""
    found: dict[Node, Node] = {}
    stack, seen = list(graph.current_control_dependencies), set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.op.name in _ASSIGNS:
            found[node.inputs[0]] = node
        elif node.op.name == "no_op":
            stack.extend(node.control_inputs)
    return found
