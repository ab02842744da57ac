"""Which gradients share an allreduce: Horovod's tensor fusion and PyTorch DDP's buckets.

Every allreduce pays a latency of its own (2·(N−1)·α on a ring), whatever its size, so a
model's small gradients are packed into buckets of up to `bucket_bytes` each, reduced by
one call. Buckets fill in the order the backward pass produces the gradients (the last
layer's first, i.e. the variables in reverse), so that a bucket's inputs are ready
together; each holds one dtype."""
from __future__ import annotations

DEFAULT_BUCKET_BYTES = 4 << 20
"""4 MiB: both benchmark models' gradients (mlp 1.08 MB, LeNet-5 0.25 MB) in one bucket;
below Horovod's 64 MiB fusion buffer and PyTorch's 25 MiB buckets, which are sized for
models of hundreds of megabytes (bench/distributed.py's bucket sweep, docs/distributed.md)."""


def plan_buckets(grads_and_vars, bucket_bytes: int) -> list[list[int]]:
    """Buckets as lists of indices into `grads_and_vars` (pairs without a gradient are
    left out). A gradient of `bucket_bytes` or more, or of unknown size, has a bucket of
    its own; bucket_bytes 0 gives every gradient its own."""
    buckets: list[list[int]] = []
    open_bucket: dict[object, tuple[list[int], int]] = {}     # dtype -> (indices, bytes)
    for i in reversed(range(len(grads_and_vars))):
        grad = grads_and_vars[i][0]
        if grad is None:
            continue
        size = _nbytes(grad)
        indices, filled = open_bucket.get(grad.dtype, (None, 0))
        if size is None or indices is None or filled + size > bucket_bytes:
            indices, filled = [], 0
            buckets.append(indices)
        indices.append(i)
        open_bucket[grad.dtype] = (indices, filled + (size or 0))
        if size is None:
            open_bucket.pop(grad.dtype)
    return buckets


def _nbytes(grad) -> int | None:
    count = grad.type.num_elements
    return None if not isinstance(count, int) else count * grad.dtype.itemsize
