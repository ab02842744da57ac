"""`gc.distributed`: data-parallel training over MPI (Horovod's model on TF1).

Start N processes with an MPI launcher (`mpiexec -n 2 python train.py`); each calls
`init()`, builds the same graph, wraps its optimizer in `DistributedOptimizer` (the
gradients are averaged across ranks by one allreduce per bucket of gradients, inside the
compiled step), calls `broadcast_variables(sess)` so every rank starts from rank 0's
weights, and trains on its own shard of the data. Without a launcher it is one process,
unchanged."""
from ..ops.collective import allreduce, allreduce_bucket
from .broadcast import broadcast_variables
from .buckets import DEFAULT_BUCKET_BYTES
from .metrics import average
from .optimizer import DistributedOptimizer
from .world import DistributedError, init, is_root, launched_by_mpi, rank, size

__all__ = ["DEFAULT_BUCKET_BYTES", "DistributedError", "DistributedOptimizer", "allreduce",
           "allreduce_bucket", "average", "broadcast_variables", "init", "is_root",
           "launched_by_mpi", "rank", "size"]
