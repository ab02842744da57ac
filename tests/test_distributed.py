"""gc.distributed in one process: plain single-process behaviour without a launcher, a
clear error under one without mpi4py, and allreduce as the identity."""
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc
from graphc.ir.printer import format_graph

NO_MPI4PY = "import sys; sys.modules['mpi4py'] = None\n"


def _python(code: str, **env) -> subprocess.CompletedProcess:
    import os
    clean = {k: v for k, v in os.environ.items()
             if k not in gc.distributed.world.LAUNCHER_VARIABLES}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**clean, **env}, timeout=120)


def test_without_a_launcher_it_is_one_process_even_without_mpi4py():
    done = _python(NO_MPI4PY + "import graphc as gc\nprint(gc.distributed.init(), "
                   "gc.distributed.rank(), gc.distributed.size())")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(0, 1) 0 1"


def test_under_a_launcher_without_mpi4py_the_error_says_what_to_install():
    done = _python(NO_MPI4PY + "import graphc as gc\ngc.distributed.init()",
                   PMI_RANK="0", PMI_SIZE="2")
    assert done.returncode != 0
    assert "DistributedError" in done.stderr
    assert "PMI_RANK" in done.stderr and "graphc[mpi]" in done.stderr


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_allreduce_in_one_process_is_the_identity(backend):
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, [None, 3])
        y = gc.distributed.allreduce(x * 2.0)
    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    with gc.Session(graph=g, backend=backend) as sess:
        np.testing.assert_array_equal(sess.run(y, {x: value}), value * 2)


def test_distributed_optimizer_averages_each_gradient_before_the_update():
    step = gc.models.mlp(distributed=True)
    reduced = [n for n in step.graph.nodes if n.op.name == "allreduce"]
    assert len(reduced) == len(gc.trainable_variables(step.graph))
    assert all(n.inputs[0].grad_of is not None for n in reduced)
    text = format_graph(step.graph.nodes)
    assert "= allreduce(%gradients/" in text


def test_broadcast_in_one_process_changes_nothing():
    step = gc.models.mlp()
    with gc.Session(graph=step.graph) as sess:
        before = [sess.variable_value(v) for v in gc.global_variables(step.graph)]
        gc.distributed.broadcast_variables(sess)
        after = [sess.variable_value(v) for v in gc.global_variables(step.graph)]
    assert all((a == b).all() for a, b in zip(before, after))


def test_batches_shard_every_epoch_into_equal_disjoint_parts():
    x = np.arange(11)
    parts = [gc.data.BatchIterator(x, batch_size=2, seed=3, shard=(r, 2)) for r in range(2)]
    seen = [np.concatenate(list(p)) for p in parts]
    assert [len(p) for p in parts] == [3, 3] and [len(s) for s in seen] == [5, 5]
    assert not set(seen[0]) & set(seen[1])
    whole = np.concatenate(list(gc.data.BatchIterator(x, batch_size=2, seed=3)))
    assert sorted(whole) == list(range(11))
