"""`DistributedOptimizer`: any gc.train optimizer, with its gradients averaged across
ranks between the backward pass and the update, so every rank applies the same update
and the weights stay identical.

The gradients travel in buckets (`buckets.py`): each bucket is one allreduce of the
flattened gradients concatenated, so a model's many small tensors (biases) share one
MPI call's latency instead of paying one each."""
from __future__ import annotations

from ..ops.collective import allreduce, allreduce_bucket
from ..ops.shape import reshape, split
from .buckets import DEFAULT_BUCKET_BYTES, plan_buckets


class DistributedOptimizer:
    """Wraps `optimizer`: compute_gradients → allreduce the gradients, packed into
    buckets of at most `bucket_bytes` (a larger gradient has a bucket of its own; 0: one
    allreduce per gradient) → apply_gradients. Everything else (slots, learning rate,
    variables()) is the wrapped optimizer's."""

    def __init__(self, optimizer, name: str = "DistributedOptimizer",
                 bucket_bytes: int = DEFAULT_BUCKET_BYTES):
        if bucket_bytes < 0:
            raise ValueError(f"DistributedOptimizer: bucket_bytes must be >= 0, got "
                             f"{bucket_bytes}")
        self._optimizer = optimizer
        self._name = name
        self.bucket_bytes = int(bucket_bytes)

    def compute_gradients(self, loss, var_list=None):
        pairs = self._optimizer.compute_gradients(loss, var_list)
        graph = loss.graph
        averaged = {}
        with graph.as_default(), graph.name_scope(self._name):
            for index, bucket in enumerate(plan_buckets(pairs, self.bucket_bytes)):
                averaged.update(zip(bucket, _average(
                    [pairs[i][0] for i in bucket], [pairs[i][1] for i in bucket], index)))
        return [(averaged.get(i), var) for i, (_, var) in enumerate(pairs)]

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


def _average(grads, variables, index):
    """The gradients of one bucket averaged over the ranks: one allreduce of their
    flattened concatenation, split back into their shapes (views the updates read); a
    bucket of one: its own allreduce, named after its variable."""
    if len(grads) == 1:
        return [allreduce(grads[0], name=f"allreduce_{_scope_name(variables[0])}")]
    reduced = allreduce_bucket(grads, name=f"allreduce_bucket_{index}")
    parts = split(reduced, [g.type.num_elements for g in grads], name=f"unpack_bucket_{index}")
    return [reshape(p, v.shape, name=f"averaged_{_scope_name(v)}")
            for p, v in zip(parts, variables)]


def _scope_name(var) -> str:
    return var.name.replace("/", "_").replace(":", "_")
