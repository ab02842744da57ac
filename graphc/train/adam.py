"""Adam (TF1's AdamOptimizer) and AdamW (TF's AdamWOptimizer, decoupled weight decay).

TF1's Adam puts ε on the uncorrected second moment ("epsilon hat", the formulation just
before section 2.1 of Kingma & Ba):

    m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²
    x -= α·√(1 − β2^t) / (1 − β1^t) · m / (√v + ε)

torch.optim.Adam (and the paper's Algorithm 1) put it on the corrected one,
x -= α·(m / (1 − β1^t)) / (√(v / (1 − β2^t)) + ε): `convention="torch"`. The two agree
to within ε's effect; they differ visibly where √v is comparable to ε.
"""
from __future__ import annotations

from ..ir import Node
from ..ops import assign, assign_sub, sqrt, square
from .optimizer import Optimizer, check_convention, check_fraction


class AdamOptimizer(Optimizer):
    """Adam with TF1's defaults (α = 0.001, β1 = 0.9, β2 = 0.999, ε = 1e-8).

    β1^t and β2^t live in "<name>/beta1_power" and "<name>/beta2_power" (they start at
    β1, β2 for t = 1 and are multiplied once per step), m and v in "<var>/Adam" and
    "<var>/Adam_1" (TF1's names).
    """

    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 convention="tf1", weight_decay=0.0, decay_var_list=None, name="Adam"):
        super().__init__(learning_rate, name, weight_decay, decay_var_list)
        self.beta1 = check_fraction(name, "beta1", beta1)
        self.beta2 = check_fraction(name, "beta2", beta2)
        self.epsilon = float(epsilon)
        self.convention = check_convention(name, convention)

    def _powers(self, var):
        return (self._non_slot(var, "beta1_power", self.beta1),
                self._non_slot(var, "beta2_power", self.beta2))

    def _step(self, grad, var, lr) -> Node:
        """What Adam subtracts from var this step (slot updates among its inputs)."""
        b1, b2 = self.beta1, self.beta2
        m, v = self._slots_named(var, self.slot_names)
        b1_power, b2_power = self._powers(var)
        m_new = assign(m, m * b1 + grad * (1.0 - b1), name="first_moment")
        v_new = assign(v, v * b2 + square(grad) * (1.0 - b2), name="second_moment")
        if self.convention == "torch":
            return lr * (m_new / (1.0 - b1_power)) / (sqrt(v_new / (1.0 - b2_power))
                                                       + self.epsilon)
        lr_t = lr * sqrt(1.0 - b2_power) / (1.0 - b1_power)
        return lr_t * m_new / (sqrt(v_new) + self.epsilon)

    def _apply_dense(self, grad, var, lr):
        return assign_sub(var, self._step(grad, var, lr), name="update")

    def _finish(self, var_list):
        b1_power, b2_power = self._powers(var_list[0])
        # reads of the powers in this run still see β^t; the next step sees β^(t+1)
        return [assign(b1_power, b1_power * self.beta1, name="update_beta1_power"),
                assign(b2_power, b2_power * self.beta2, name="update_beta2_power")]


class AdamWOptimizer(AdamOptimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as TF's AdamWOptimizer:

        x -= λ·x + (Adam's step)                     (λ = `weight_decay`)

    The decay is not multiplied by α there (TF's documentation: decay λ with your
    schedule yourself; λ may be a scalar tensor). `convention="torch"` is
    torch.optim.AdamW: x -= α·λ·x + (Adam's torch-convention step). Every variable is
    decayed unless `decay_var_list` says otherwise (as both). The decay uses x before
    the step and never enters the moments, unlike `weight_decay=` of the other
    optimizers, which adds λ·x to the gradient.
    """

    def __init__(self, weight_decay, learning_rate=0.001, beta1=0.9, beta2=0.999,
                 epsilon=1e-8, convention="tf1", decay_var_list=None, name="AdamW"):
        super().__init__(learning_rate, beta1, beta2, epsilon, convention, weight_decay,
                         decay_var_list, name)

    def _decays(self, var):
        return True if self.decay_var_list is None else var in self.decay_var_list

    def _decayed(self, grad, var):
        return grad                   # decoupled: the decay is applied in _apply_dense

    def _apply_dense(self, grad, var, lr):
        step = self._step(grad, var, lr)
        if self._decays(var):
            decay = self._scalar(self.weight_decay, var, "weight_decay")
            step = step + var * (decay * lr if self.convention == "torch" else decay)
        return assign_sub(var, step, name="update")
