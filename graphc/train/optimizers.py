"""Optimizers: each parameter update is built as graph nodes next to forward and backward.

`minimize(loss)` = `compute_gradients` (symbolic backward nodes) + `apply_gradients`
(slot variables and assign nodes), returned as ONE group op, so a compiled backend can
run forward, backward and the update of every parameter as a single program.

The update rules are the lecture's, written per parameter x with gradient dx and
learning rate α (a float, or a tensor such as a schedule on `global_step`):

    SGD        x -= α·dx
    Momentum   v = ρ·v + dx;             x -= α·v
    Nesterov   v' = ρ·v − α·dx;          x += −ρ·v + (1 + ρ)·v'
    AdaGrad    g2 += dx²;                x -= α·dx / (√g2 + 1e-7)
    RMSProp    g2 = β·g2 + (1 − β)·dx²;  x -= α·dx / (√g2 + 1e-7)
    Adam       m = β1·m + (1 − β1)·dx;   v = β2·v + (1 − β2)·dx²
               m̂ = m / (1 − β1^t);       v̂ = v / (1 − β2^t)
               x -= α·m̂ / (√v̂ + 1e-7)    (t = 1, 2, ... counts this optimizer's steps)

Within one run every read of a variable sees its value from the start of the run, and
an assign's result is the new value; the rules lean on both: `v' = assign(v, ...)` feeds
the parameter's update, while `v` (read elsewhere) is still the old velocity.
"""
from __future__ import annotations

import numpy as np

from ..autodiff import gradients
from ..ir import Node
from ..ops import (Variable, add_n, assign, assign_add, assign_sub, cast, constant, group,
                   sqrt, square, trainable_variables)


class Optimizer:
    """Base class: gradients, weight decay, slot variables and the grouped update.

    Subclasses implement `_apply_dense(grad, var, lr)` returning the node that assigns
    `var` (and, through its inputs, the slot updates); `_finish` may add updates that
    run once per step (Adam's β powers).

    `weight_decay` λ adds λ·x to each decayed parameter's gradient before the rule,
    the same as adding λ·½‖x‖² to the loss. By default it decays parameters of rank
    >= 2 (weight matrices and conv filters) and leaves biases alone, as the lecture
    regularises W, not b; pass `decay_var_list` to choose.
    """

    slot_names: tuple[str, ...] = ()

    def __init__(self, learning_rate, name: str, weight_decay: float = 0.0,
                 decay_var_list=None):
        if not isinstance(learning_rate, Node):
            learning_rate = float(learning_rate)
            if not learning_rate > 0:
                raise ValueError(f"{name}: learning_rate must be > 0, got {learning_rate}")
        if weight_decay < 0:
            raise ValueError(f"{name}: weight_decay must be >= 0, got {weight_decay}")
        self.learning_rate = learning_rate
        self.weight_decay = float(weight_decay)
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
                        name: str | None = None) -> Node:
        """Slot variables and update nodes for each pair, as one group op; with
        `global_step` the group also adds 1 to it."""
        pairs = [(g, v) for g, v in grads_and_vars]
        usable = [(g, v) for g, v in pairs if g is not None]
        if not usable:
            names = ", ".join(v.name for _, v in pairs)
            raise ValueError(f"{self._name}: no gradient for any variable ({names}); does "
                             "the loss depend on them?")
        graph = usable[0][1].graph
        updates = []
        with graph.as_default(), graph.name_scope(name or self._name):
            for grad, var in usable:
                self._check_pair(grad, var)
                with graph.name_scope(f"update_{_scope_name(var)}"):
                    grad = self._decayed(grad, var)
                    updates.append(self._apply_dense(grad, var, self._lr(var)))
            updates.extend(self._finish([v for _, v in usable]))
            if global_step is not None:
                updates.append(assign_add(global_step, constant(1, global_step.dtype),
                                          name="increment_global_step"))
            return group(updates, name="train")

    def minimize(self, loss: Node, var_list=None, global_step: Node | None = None,
                 name: str | None = None) -> Node:
        """The whole training step: backward nodes plus updates, as one op to run."""
        return self.apply_gradients(self.compute_gradients(loss, var_list),
                                    global_step=global_step, name=name)

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

    def _non_slot(self, var: Node, name: str, init: float) -> Node:
        """A scalar variable kept once per optimizer (e.g. Adam's β1^t)."""
        if name not in self._non_slots:
            with var.graph.name_scope(""):
                state = Variable(np.asarray(init, var.dtype.np_type),
                                 name=f"{self._name}/{name}", trainable=False)
            state.attrs["slot_of"] = (self._name, name)
            self._non_slots[name] = state
        return self._non_slots[name]

    def _lr(self, var: Node) -> Node:
        """The learning rate as a scalar tensor of the variable's dtype."""
        lr = self.learning_rate
        if isinstance(lr, Node):
            if lr.graph is not var.graph:
                raise ValueError(f"{self._name}: the learning-rate tensor '{lr.name}' belongs "
                                 "to another graph than the variables")
            if lr.shape != ():
                raise ValueError(f"{self._name}: learning rate '{lr.name}' must be a scalar, "
                                 f"has shape {lr.shape}")
            return cast(lr, var.dtype)
        return constant(lr, var.dtype, name="learning_rate")

    def _decayed(self, grad: Node, var: Node) -> Node:
        if self.weight_decay == 0.0:
            return grad
        decays = var.rank >= 2 if self.decay_var_list is None else var in self.decay_var_list
        if not decays:
            return grad
        return add_n([grad, var * self.weight_decay], name="decayed_grad")

    def _check_pair(self, grad: Node, var: Node) -> None:
        if not isinstance(var, Node) or var.op.name != "variable":
            raise TypeError(f"{self._name}: {var!r} is not a Variable")
        if not var.dtype.is_floating:
            raise TypeError(f"{self._name}: variable '{var.name}' is {var.dtype.name}; only "
                            "float variables can be trained")
        if grad.dtype != var.dtype or (None not in grad.shape and grad.shape != var.shape):
            raise ValueError(f"{self._name}: gradient '{grad.name}' {grad.type} does not fit "
                             f"variable '{var.name}' {var.type}")

    def _apply_dense(self, grad: Node, var: Node, lr: Node) -> Node:
        raise NotImplementedError

    def _finish(self, var_list: list[Node]) -> list[Node]:
        return []


class GradientDescentOptimizer(Optimizer):
    """Vanilla SGD: x -= α·dx."""

    def __init__(self, learning_rate, weight_decay=0.0, decay_var_list=None,
                 name="GradientDescent"):
        super().__init__(learning_rate, name, weight_decay, decay_var_list)

    def _apply_dense(self, grad, var, lr):
        return assign_sub(var, lr * grad, name="update")


class MomentumOptimizer(Optimizer):
    """SGD with momentum (the lecture's form): v = ρ·v + dx; x -= α·v.

    With `use_nesterov=True`, the lecture's Nesterov update after the change of variables
    x̃ = x + ρ·v (the velocity here includes the step size):
        v' = ρ·v − α·dx;  x += −ρ·v + (1 + ρ)·v'
    For a constant α both spellings give the same parameters as TF's
    x -= α·(dx + ρ·(ρ·v + dx)); the slot "<var>/Momentum" holds the velocity.
    """

    slot_names = ("momentum",)

    def __init__(self, learning_rate, momentum=0.9, use_nesterov=False, weight_decay=0.0,
                 decay_var_list=None, name="Momentum"):
        super().__init__(learning_rate, name, weight_decay, decay_var_list)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"{name}: momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.use_nesterov = bool(use_nesterov)

    def _apply_dense(self, grad, var, lr):
        v = self._slot(var, "momentum", self._name)
        rho = self.momentum
        if not self.use_nesterov:
            v_new = assign(v, v * rho + grad, name="velocity")
            return assign_sub(var, lr * v_new, name="update")
        v_new = assign(v, v * rho - lr * grad, name="velocity")
        return assign_add(var, v_new * (1.0 + rho) - v * rho, name="update")


class AdagradOptimizer(Optimizer):
    """AdaGrad: g2 += dx²; x -= α·dx / (√g2 + ε), ε = 1e-7 as in the lecture (the
    accumulator starts at `initial_accumulator_value`, 0 in the lecture)."""

    slot_names = ("accumulator",)

    def __init__(self, learning_rate, initial_accumulator_value=0.0, epsilon=1e-7,
                 weight_decay=0.0, decay_var_list=None, name="Adagrad"):
        super().__init__(learning_rate, name, weight_decay, decay_var_list)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def _apply_dense(self, grad, var, lr):
        acc = self._slot(var, "accumulator", self._name, self.initial_accumulator_value)
        acc_new = assign_add(acc, square(grad), name="grad_squared")
        return assign_sub(var, lr * grad / (sqrt(acc_new) + self.epsilon), name="update")


class RMSPropOptimizer(Optimizer):
    """RMSProp ("leaky AdaGrad"): g2 = β·g2 + (1 − β)·dx²; x -= α·dx / (√g2 + ε),
    β = `decay` (0.9), ε = 1e-7."""

    slot_names = ("rms",)

    def __init__(self, learning_rate, decay=0.9, epsilon=1e-7, weight_decay=0.0,
                 decay_var_list=None, name="RMSProp"):
        super().__init__(learning_rate, name, weight_decay, decay_var_list)
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"{name}: decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.epsilon = float(epsilon)

    def _apply_dense(self, grad, var, lr):
        ms = self._slot(var, "rms", self._name)
        ms_new = assign(ms, ms * self.decay + square(grad) * (1.0 - self.decay),
                        name="grad_squared")
        return assign_sub(var, lr * grad / (sqrt(ms_new) + self.epsilon), name="update")


class AdamOptimizer(Optimizer):
    """Adam with bias correction (Kingma & Ba), ε = 1e-7 as in the lecture:

        m = β1·m + (1 − β1)·dx;  v = β2·v + (1 − β2)·dx²
        x -= α · (m / (1 − β1^t)) / (√(v / (1 − β2^t)) + ε)

    β1^t and β2^t live in "<name>/beta1_power" and "<name>/beta2_power" (they start at
    β1, β2 for t = 1 and are multiplied once per step), m and v in "<var>/Adam" and
    "<var>/Adam_1" (TF1's names).
    """

    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-7,
                 weight_decay=0.0, decay_var_list=None, name="Adam"):
        super().__init__(learning_rate, name, weight_decay, decay_var_list)
        for what, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: {what} must be in [0, 1), got {beta}")
        self.beta1, self.beta2 = float(beta1), float(beta2)
        self.epsilon = float(epsilon)

    def _powers(self, var):
        return (self._non_slot(var, "beta1_power", self.beta1),
                self._non_slot(var, "beta2_power", self.beta2))

    def _apply_dense(self, grad, var, lr):
        b1, b2 = self.beta1, self.beta2
        m = self._slot(var, "m", self._name)
        v = self._slot(var, "v", f"{self._name}_1")
        b1_power, b2_power = self._powers(var)
        m_new = assign(m, m * b1 + grad * (1.0 - b1), name="first_moment")
        v_new = assign(v, v * b2 + square(grad) * (1.0 - b2), name="second_moment")
        m_hat = m_new / (1.0 - b1_power)
        v_hat = v_new / (1.0 - b2_power)
        return assign_sub(var, lr * m_hat / (sqrt(v_hat) + self.epsilon), name="update")

    def _finish(self, var_list):
        b1_power, b2_power = self._powers(var_list[0])
        # reads of the powers in this run still see β^t; the next step sees β^(t+1)
        return [assign(b1_power, b1_power * self.beta1, name="update_beta1_power"),
                assign(b2_power, b2_power * self.beta2, name="update_beta2_power")]


def _scope_name(var: Node) -> str:
    """The variable's whole name as one scope name (conv1/kernel → conv1_kernel): an
    update's scope says which layer's variable it updates."""
    return var.name.replace("/", "_")

