"""`DistributedOptimizer`: any gc.train optimizer, with its gradients averaged across
ranks by allreduce nodes between the backward pass and the update, so every rank
applies the same update and the weights stay identical."""
from __future__ import annotations

from ..ops.collective import allreduce


class DistributedOptimizer:
    """Wraps `optimizer`: compute_gradients → allreduce each gradient → apply_gradients.
    Everything else (slots, learning rate, variables()) is the wrapped optimizer's."""

    def __init__(self, optimizer, name: str = "DistributedOptimizer"):
        self._optimizer = optimizer
        self._name = name

    def compute_gradients(self, loss, var_list=None):
        pairs = self._optimizer.compute_gradients(loss, var_list)
        graph = loss.graph
        averaged = []
        with graph.as_default(), graph.name_scope(self._name):
            for grad, var in pairs:
                if grad is not None:
                    grad = allreduce(grad, name=f"allreduce_{_scope_name(var)}")
                averaged.append((grad, var))
        return averaged

    def apply_gradients(self, grads_and_vars, global_step=None, name=None,
                        decay_var_list=None):
        return self._optimizer.apply_gradients(grads_and_vars, global_step=global_step,
                                               name=name, decay_var_list=decay_var_list)

    def minimize(self, loss, global_step=None, var_list=None, name=None,
                 decay_var_list=None):
        """The training step of the wrapped optimizer on gradients averaged over ranks."""
        return self.apply_gradients(self.compute_gradients(loss, var_list),
                                    global_step=global_step, name=name,
                                    decay_var_list=decay_var_list)

    def __getattr__(self, name):
        return getattr(self._optimizer, name)


def _scope_name(var) -> str:
    return var.name.replace("/", "_").replace(":", "_")
