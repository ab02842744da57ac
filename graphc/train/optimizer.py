"""The optimizer base: TF1's compute_gradients / apply_gradients / minimize, slot variables,
graphc's optional coupled weight decay and the grouped update.

`minimize(loss)` = `compute_gradients` (symbolic backward nodes) + `apply_gradients`
(slot variables and assign nodes), returned as ONE group op, so a compiled backend can
run forward, backward and the update of every parameter as a single program.

Within one run every read of a variable sees its value from the start of the run, and
an assign's result is the new value; the update rules lean on both: `v' = assign(v, ...)`
feeds the parameter's update, while `v` (read elsewhere) is still the old value.
"""
from __future__ import annotations

import numpy as np

from ..autodiff import gradients
from ..ir import Node
from ..ops import Variable, add_n, assign_add, cast, constant, group, trainable_variables

CONVENTIONS = ("tf1", "torch")


class Optimizer:
    """Base class: gradients, weight decay, slot variables and the grouped update.

    Subclasses implement `_apply_dense(grad, var, lr)` returning the node that assigns
    `var` (its inputs carry the slot updates), or a list of nodes when a slot update is
    not an input of the variable's; `_finish` may add updates that run once per step
    (Adam's β powers).

    `weight_decay` λ is a graphc extra (TF1's optimizers have none): it adds λ·x to each
    decayed parameter's gradient before the rule, exactly as adding λ·½‖x‖² to the loss
    would (coupled L2, torch.optim's `weight_decay`). By default it decays parameters of
    rank >= 2 (weight matrices and conv filters) and leaves biases alone; pass
    `decay_var_list` to choose. For decoupled decay use `AdamWOptimizer`.
    """

    slot_names: tuple[str, ...] = ()

    def __init__(self, learning_rate, name: str, weight_decay: float = 0.0,
                 decay_var_list=None):
        if not isinstance(learning_rate, Node):
            learning_rate = float(learning_rate)
            if not learning_rate > 0:
                raise ValueError(f"{name}: learning_rate must be > 0, got {learning_rate}")
        if not isinstance(weight_decay, Node) and weight_decay < 0:
            raise ValueError(f"{name}: weight_decay must be >= 0, got {weight_decay}")
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay if isinstance(weight_decay, Node) \
            else float(weight_decay)
        self.decay_var_list = None if decay_var_list is None else list(decay_var_list)
        self._name = name
        self._slots: dict[tuple[Node, str], Node] = {}
        self._non_slots: dict[str, Node] = {}

    # -- the TF1 interface ----------------------------------------------------------------
    def get_name(self) -> str:
        return self._name

    def compute_gradients(self, loss: Node, var_list=None) -> list[tuple[Node | None, Node]]:
        """(gradient, variable) pairs; the gradient is None where loss does not depend on
        the variable. `var_list` defaults to the graph's trainable variables."""
        if not isinstance(loss, Node):
            raise TypeError(f"{self._name}: loss must be a graphc tensor, got {loss!r}")
        if var_list is None:
            var_list = trainable_variables(loss.graph)
        var_list = list(var_list)
        if not var_list:
            raise ValueError(f"{self._name}: no variables to optimize (the graph has no "
                             "trainable variables and no var_list was given)")
        for var in var_list:
            if not isinstance(var, Node) or var.op.name != "variable":
                raise TypeError(f"{self._name}: var_list entry {var!r} is not a Variable")
        if not loss.dtype.is_floating:
            raise TypeError(f"{self._name}: loss '{loss.name}' is {loss.dtype.name}; "
                            "it must be a float tensor")
        grads = gradients(loss, var_list)
        return list(zip(grads, var_list))

    def apply_gradients(self, grads_and_vars, global_step: Node | None = None,
                        name: str | None = None, decay_var_list=None) -> Node:
        """Slot variables and update nodes for each pair, as one group op; with
        `global_step` the group also adds 1 to it. `decay_var_list`, when given,
        replaces the constructor's (TF's AdamWOptimizer takes it here)."""
        pairs = [(g, v) for g, v in grads_and_vars]
        usable = [(g, v) for g, v in pairs if g is not None]
        if not usable:
            names = ", ".join(v.name for _, v in pairs)
            raise ValueError(f"{self._name}: no gradient for any variable ({names}); does "
                             "the loss depend on them?")
        if decay_var_list is not None:
            self.decay_var_list = list(decay_var_list)
        graph = usable[0][1].graph
        updates = []
        with graph.as_default(), graph.name_scope(name or self._name):
            for grad, var in usable:
                self._check_pair(grad, var)
                with graph.name_scope(f"update_{_scope_name(var)}"):
                    grad = self._decayed(grad, var)
                    update = self._apply_dense(grad, var, self._lr(var))
                    updates.extend(update if isinstance(update, list) else [update])
            updates.extend(self._finish([v for _, v in usable]))
            if global_step is not None:
                updates.append(assign_add(global_step, constant(1, global_step.dtype),
                                          name="increment_global_step"))
            return group(updates, name="train")

    def minimize(self, loss: Node, global_step: Node | None = None, var_list=None,
                 name: str | None = None, decay_var_list=None) -> Node:
        """The whole training step: backward nodes plus updates, as one op to run
        (TF1's argument order: loss, global_step, var_list)."""
        return self.apply_gradients(self.compute_gradients(loss, var_list),
                                    global_step=global_step, name=name,
                                    decay_var_list=decay_var_list)

    def get_slot(self, var: Node, name: str) -> Node | None:
        return self._slots.get((var, name))

    def get_slot_names(self) -> list[str]:
        return list(self.slot_names)

    def variables(self) -> list[Node]:
        """Every variable this optimizer made (slots and per-step state)."""
        return list(self._slots.values()) + list(self._non_slots.values())

    # -- helpers for subclasses ------------------------------------------------------------
    def _slot(self, var: Node, slot: str, suffix: str, init: float = 0.0) -> Node:
        """A non-trainable variable shaped like `var`, named `<var>/<suffix>`."""
        key = (var, slot)
        if key not in self._slots:
            value = np.full(var.shape, init, dtype=var.dtype.np_type)
            with var.graph.name_scope(""):       # slot names hang off the variable's name
                state = Variable(value, name=f"{var.name}/{suffix}", trainable=False)
            state.attrs["slot_of"] = (self._name, slot)     # what pictures call it
            self._slots[key] = state
        return self._slots[key]

    def _slots_named(self, var: Node, slots, inits=None) -> list[Node]:
        """TF1's slot names for several slots: `<var>/<Name>`, `<var>/<Name>_1`, ..."""
        inits = inits or [0.0] * len(slots)
        return [self._slot(var, slot, self._name if i == 0 else f"{self._name}_{i}", init)
                for i, (slot, init) in enumerate(zip(slots, inits))]

    def _non_slot(self, var: Node, name: str, init: float) -> Node:
        """A scalar variable kept once per optimizer (e.g. Adam's β1^t)."""
        if name not in self._non_slots:
            with var.graph.name_scope(""):
                state = Variable(np.asarray(init, var.dtype.np_type),
                                 name=f"{self._name}/{name}", trainable=False)
            state.attrs["slot_of"] = (self._name, name)
            self._non_slots[name] = state
        return self._non_slots[name]

    def _scalar(self, value, var: Node, what: str) -> Node:
        """A hyper-parameter (a float or a scalar tensor) as a tensor of var's dtype."""
        if isinstance(value, Node):
            if value.graph is not var.graph:
                raise ValueError(f"{self._name}: the {what} tensor '{value.name}' belongs "
                                 "to another graph than the variables")
            if value.shape != ():
                raise ValueError(f"{self._name}: {what} '{value.name}' must be a scalar, "
                                 f"has shape {value.shape}")
            return cast(value, var.dtype)
        return constant(value, var.dtype, name=what)

    def _lr(self, var: Node) -> Node:
        """The learning rate as a scalar tensor of the variable's dtype."""
        return self._scalar(self.learning_rate, var, "learning_rate")

    def _decays(self, var: Node) -> bool:
        """Whether weight decay applies to var: rank >= 2 unless decay_var_list says."""
        if self.decay_var_list is not None:
            return var in self.decay_var_list
        return var.rank >= 2

    def _decayed(self, grad: Node, var: Node) -> Node:
        """The gradient plus the coupled decay λ·x."""
        if (not isinstance(self.weight_decay, Node) and self.weight_decay == 0.0) \
                or not self._decays(var):
            return grad
        decay = self._scalar(self.weight_decay, var, "weight_decay")
        return add_n([grad, var * decay], name="decayed_grad")

    def _check_pair(self, grad: Node, var: Node) -> None:
        if not isinstance(var, Node) or var.op.name != "variable":
            raise TypeError(f"{self._name}: {var!r} is not a Variable")
        if not var.dtype.is_floating:
            raise TypeError(f"{self._name}: variable '{var.name}' is {var.dtype.name}; only "
                            "float variables can be trained")
        if grad.dtype != var.dtype or (None not in grad.shape and grad.shape != var.shape):
            raise ValueError(f"{self._name}: gradient '{grad.name}' {grad.type} does not fit "
                             f"variable '{var.name}' {var.type}")

    def _apply_dense(self, grad: Node, var: Node, lr: Node) -> Node | list[Node]:
        raise NotImplementedError

    def _finish(self, var_list: list[Node]) -> list[Node]:
        return []


def check_convention(name: str, convention: str) -> str:
    """'tf1' (the default: TF1's documented formula) or 'torch' (torch.optim's)."""
    if convention not in CONVENTIONS:
        raise ValueError(f"{name}: convention must be one of {', '.join(CONVENTIONS)}, "
                         f"got {convention!r}")
    return convention


def check_fraction(name: str, what: str, value) -> float:
    """A decay rate or β in [0, 1)."""
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: {what} must be in [0, 1), got {value}")
    return value


def _scope_name(var: Node) -> str:
    """The variable's whole name as one scope name (conv1/kernel → conv1_kernel): an
    update's scope says which layer's variable it updates."""
    return var.name.replace("/", "_")
