"""TF1's optimizers, each rule written as graph nodes next to forward and backward.

Per parameter x with gradient g and learning rate α (a float, or a scalar tensor such as
a schedule on `global_step`), the rules and defaults are TF1's documented ones:

    GradientDescent  x -= α·g
    Momentum         a = μ·a + g;  x -= α·a       (use_nesterov: x -= α·g + α·μ·a)
    Adagrad          a += g²;  x -= α·g / √a      (a starts at 0.1)
    Adadelta         a = ρ·a + (1 − ρ)·g²;  u = √(d + ε) / √(a + ε) · g;  x -= α·u;
                     d = ρ·d + (1 − ρ)·u²         (α = 0.001, ρ = 0.95, ε = 1e-8)
    RMSProp          s = ρ·s + (1 − ρ)·g²;  m = μ·m + α·g / √(s + ε);  x -= m
                     (s starts at 1; ρ = 0.9, μ = 0, ε = 1e-10; centered: s − ḡ² under
                     the root, with ḡ = ρ·ḡ + (1 − ρ)·g)
    Ftrl             TF1's FTRL-proximal, see `FtrlOptimizer`

Adam and AdamW are in `adam.py`. Where torch.optim's formula differs (RMSProp, Adam,
AdamW), `convention="torch"` selects it.
"""
from __future__ import annotations

from ..ops import (abs, assign, assign_add, assign_sub, pow, rsqrt, sign, sqrt, square,
                   where, zeros_like)
from .optimizer import Optimizer, check_convention, check_fraction


class GradientDescentOptimizer(Optimizer):
    """Vanilla SGD: x -= α·g."""

    def __init__(self, learning_rate, weight_decay=0.0, decay_var_list=None,
                 name="GradientDescent"):
        super().__init__(learning_rate, name, weight_decay, decay_var_list)

    def _apply_dense(self, grad, var, lr):
        return assign_sub(var, lr * grad, name="update")


class MomentumOptimizer(Optimizer):
    """TF1's momentum: a = μ·a + g; x -= α·a, the accumulator a in "<var>/Momentum".

    With `use_nesterov=True`: a = μ·a + g; x -= α·g + α·μ·a (TF1's and torch.optim's
    Nesterov; for a constant α the same parameters as the lecture's change of variables
    x̃ = x + μ·v). torch.optim.SGD(momentum=μ, nesterov=...) is the same rule.
    """

    slot_names = ("momentum",)

    def __init__(self, learning_rate, momentum=0.9, use_nesterov=False, weight_decay=0.0,
                 decay_var_list=None, name="Momentum"):
        super().__init__(learning_rate, name, weight_decay, decay_var_list)
        self.momentum = check_fraction(name, "momentum", momentum)
        self.use_nesterov = bool(use_nesterov)

    def _apply_dense(self, grad, var, lr):
        accum = self._slot(var, "momentum", self._name)
        accum_new = assign(accum, accum * self.momentum + grad, name="accumulate")
        if self.use_nesterov:
            return assign_sub(var, lr * grad + lr * self.momentum * accum_new, name="update")
        return assign_sub(var, lr * accum_new, name="update")


class AdagradOptimizer(Optimizer):
    """TF1's AdaGrad: a += g²; x -= α·g / √a, with a starting at
    `initial_accumulator_value` (0.1) in "<var>/Adagrad".

    `epsilon` (a graphc extra, 0 by default as TF1 has none) is added to √a:
    x -= α·g / (√a + ε). torch.optim.Adagrad is `initial_accumulator_value=0.0,
    epsilon=1e-10`.
    """

    slot_names = ("accumulator",)

    def __init__(self, learning_rate, initial_accumulator_value=0.1, epsilon=0.0,
                 weight_decay=0.0, decay_var_list=None, name="Adagrad"):
        super().__init__(learning_rate, name, weight_decay, decay_var_list)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)
        if self.initial_accumulator_value < 0 or self.epsilon < 0 or \
                self.initial_accumulator_value + self.epsilon == 0:
            raise ValueError(f"{name}: initial_accumulator_value must be > 0 (or epsilon > 0 "
                             f"with an accumulator from 0), got "
                             f"{self.initial_accumulator_value} and epsilon {self.epsilon}")

    def _apply_dense(self, grad, var, lr):
        acc = self._slot(var, "accumulator", self._name, self.initial_accumulator_value)
        acc_new = assign_add(acc, square(grad), name="accumulate")
        if self.epsilon == 0.0:
            return assign_sub(var, lr * grad * rsqrt(acc_new), name="update")
        return assign_sub(var, lr * grad / (sqrt(acc_new) + self.epsilon), name="update")


class AdadeltaOptimizer(Optimizer):
    """TF1's Adadelta (Zeiler 2012), the same rule as torch.optim.Adadelta:

        a = ρ·a + (1 − ρ)·g²;  u = √(d + ε) / √(a + ε) · g;  x -= α·u;
        d = ρ·d + (1 − ρ)·u²

    a and d start at 0, in "<var>/Adadelta" and "<var>/Adadelta_1". TF1's defaults:
    α = 0.001, ρ = 0.95, ε = 1e-8 (torch's are 1.0, 0.9, 1e-6).
    """

    slot_names = ("accum", "accum_update")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-8, weight_decay=0.0,
                 decay_var_list=None, name="Adadelta"):
        super().__init__(learning_rate, name, weight_decay, decay_var_list)
        self.rho = check_fraction(name, "rho", rho)
        self.epsilon = float(epsilon)

    def _apply_dense(self, grad, var, lr):
        rho, eps = self.rho, self.epsilon
        accum, accum_update = self._slots_named(var, self.slot_names)
        accum_new = assign(accum, accum * rho + square(grad) * (1.0 - rho), name="accumulate")
        step = sqrt(accum_update + eps) * rsqrt(accum_new + eps) * grad
        # the step uses d before this update; d's new value feeds no other node
        update_new = assign(accum_update, accum_update * rho + square(step) * (1.0 - rho),
                            name="accumulate_update")
        return [assign_sub(var, step * lr, name="update"), update_new]


class RMSPropOptimizer(Optimizer):
    """TF1's RMSProp:

        s = ρ·s + (1 − ρ)·g²;  m = μ·m + α·g / √(s + ε);  x -= m

    s starts at 1.0 ("<var>/RMSProp"), m at 0 ("<var>/RMSProp_1", made only when
    μ > 0: with μ = 0 the rule is x -= α·g / √(s + ε)). TF1's defaults: ρ = `decay` =
    0.9, μ = `momentum` = 0, ε = 1e-10. `centered=True` keeps ḡ = ρ·ḡ + (1 − ρ)·g too
    and divides by √(s − ḡ² + ε).

    `convention="torch"` is torch.optim.RMSprop's rule (pass its alpha as `decay`):
    s starts at 0, ε is added after the root, and α multiplies the momentum buffer
    instead of entering it: m = μ·m + g / (√s + ε); x -= α·m.
    """

    slot_names = ("rms", "mg", "momentum")

    def __init__(self, learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10,
                 centered=False, convention="tf1", weight_decay=0.0, decay_var_list=None,
                 name="RMSProp"):
        super().__init__(learning_rate, name, weight_decay, decay_var_list)
        self.decay = check_fraction(name, "decay", decay)
        self.momentum = check_fraction(name, "momentum", momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)
        self.convention = check_convention(name, convention)

    def _apply_dense(self, grad, var, lr):
        rho, tf1 = self.decay, self.convention == "tf1"
        slots = ["rms"] + (["mg"] if self.centered else []) + \
            (["momentum"] if self.momentum > 0 else [])
        state = dict(zip(slots, self._slots_named(var, slots, [1.0 if tf1 else 0.0, 0, 0])))
        ms = state["rms"]
        ms_new = assign(ms, ms * rho + square(grad) * (1.0 - rho), name="mean_square")
        if self.centered:
            mg = state["mg"]
            mg_new = assign(mg, mg * rho + grad * (1.0 - rho), name="mean_grad")
            ms_new = ms_new - square(mg_new)
        if tf1:
            step = lr * grad * rsqrt(ms_new + self.epsilon)
        else:
            step = grad / (sqrt(ms_new) + self.epsilon)
        if self.momentum > 0:
            mom = state["momentum"]
            step = assign(mom, mom * self.momentum + step, name="momentum")
        return assign_sub(var, step if tf1 else lr * step, name="update")


class FtrlOptimizer(Optimizer):
    """TF1's FTRL-proximal (McMahan et al. 2013), without l2 shrinkage:

        a' = a + g²;  z += g − (a'^(−p) − a^(−p)) / α · x
        x = (sign(z)·l1 − z) / (a'^(−p) / α + 2·l2)  if |z| > l1, else 0;  a = a'

    p = `learning_rate_power` (−0.5: the roots), a starts at `initial_accumulator_value`
    (0.1) in "<var>/Ftrl", z at 0 in "<var>/Ftrl_1"; l1, l2 are the regularization
    strengths (0).
    """

    slot_names = ("accum", "linear")

    def __init__(self, learning_rate, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 weight_decay=0.0, decay_var_list=None, name="Ftrl"):
        super().__init__(learning_rate, name, weight_decay, decay_var_list)
        if float(learning_rate_power) > 0:
            raise ValueError(f"{name}: learning_rate_power must be <= 0, got "
                             f"{learning_rate_power}")
        for what, value in (("initial_accumulator_value", initial_accumulator_value),
                            ("l1_regularization_strength", l1_regularization_strength),
                            ("l2_regularization_strength", l2_regularization_strength)):
            if float(value) < 0:
                raise ValueError(f"{name}: {what} must be >= 0, got {value}")
        self.learning_rate_power = float(learning_rate_power)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.l1 = float(l1_regularization_strength)
        self.l2 = float(l2_regularization_strength)

    def _power(self, a):
        """a^(−p): a square root for TF1's default p = −0.5, as TF1 computes it."""
        p = -self.learning_rate_power
        return sqrt(a) if p == 0.5 else pow(a, p)

    def _apply_dense(self, grad, var, lr):
        accum, linear = self._slots_named(var, self.slot_names,
                                          [self.initial_accumulator_value, 0.0])
        accum_new = assign_add(accum, square(grad), name="accumulate")
        sigma = (self._power(accum_new) - self._power(accum)) / lr
        linear_new = assign_add(linear, grad - sigma * var, name="linear")
        quadratic = self._power(accum_new) / lr + 2.0 * self.l2
        shrunk = (sign(linear_new) * self.l1 - linear_new) / quadratic
        value = where(abs(linear_new) > self.l1, shrunk, zeros_like(shrunk))
        return assign(var, value, name="update")
