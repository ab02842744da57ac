"""gc.distributed in one process: plain single-process behaviour without a launcher, a
clear error under one without mpi4py, and allreduce as the identity."""
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc
from graphc.distributed.buckets import plan_buckets
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


def test_distributed_optimizer_averages_the_gradients_in_one_bucket_by_default():
    step = gc.models.mlp(distributed=True)
    (bucket,) = [n for n in step.graph.nodes if n.op.name.startswith("allreduce")]
    assert bucket.op.name == "allreduce_bucket"
    assert len(bucket.inputs) == len(gc.trainable_variables(step.graph))
    assert all(x.grad_of is not None for x in bucket.inputs)
    # the last layer's gradients first: the order the backward pass produces them
    assert bucket.inputs[0].shape == (10,) and bucket.inputs[-1].shape == (784, 256)
    assert "= allreduce_bucket(%gradients/" in format_graph(step.graph.nodes)


def test_bucket_bytes_zero_gives_each_gradient_its_own_allreduce():
    step = gc.models.mlp(distributed=True, bucket_bytes=0)
    reduced = [n for n in step.graph.nodes if n.op.name.startswith("allreduce")]
    assert len(reduced) == len(gc.trainable_variables(step.graph))
    assert {n.op.name for n in reduced} == {"allreduce"}
    assert all(n.inputs[0].grad_of is not None for n in reduced)


def _pairs(*specs):
    """(gradient, variable) pairs of the given (shape, dtype), None for no gradient."""
    g = gc.Graph()
    with g.as_default():
        out = []
        for spec in specs:
            var = gc.Variable(np.zeros(spec[0] if spec else (1,), np.float32))
            out.append((None if spec is None else gc.placeholder(spec[1], spec[0]), var))
    return out


def test_buckets_fill_in_reverse_up_to_their_size_one_dtype_each():
    f32, f64 = gc.float32, gc.float64
    pairs = _pairs(((100,), f32), ((10,), f32), None, ((20,), f64), ((50,), f32),
                   ((300,), f32))
    # 400 bytes: the 1200-byte gradient alone, then 50+10 floats, then 100 floats
    assert plan_buckets(pairs, 400) == [[5], [4, 1], [3], [0]]
    assert plan_buckets(pairs, 0) == [[5], [4], [3], [1], [0]]
    assert plan_buckets(pairs, 10 << 20) == [[5, 4, 1, 0], [3]]


def test_a_negative_bucket_size_is_refused():
    with pytest.raises(ValueError, match="bucket_bytes must be >= 0"):
        gc.distributed.DistributedOptimizer(gc.train.GradientDescentOptimizer(0.1),
                                            bucket_bytes=-1)


@pytest.mark.parametrize("backend", ["numpy", "llvm", "c", "loopir"])
def test_allreduce_bucket_in_one_process_is_the_concatenation(backend):
    g = gc.Graph()
    with g.as_default():
        a = gc.placeholder(gc.float32, [2, 3])
        b = gc.placeholder(gc.float32, [4])
        y = gc.distributed.allreduce_bucket([a * 2.0, b])
    va = np.arange(6, dtype=np.float32).reshape(2, 3)
    vb = np.arange(4, dtype=np.float32) - 10
    with gc.Session(graph=g, backend=backend) as sess:
        np.testing.assert_array_equal(sess.run(y, {a: va, b: vb}),
                                      np.concatenate([va.ravel() * 2, vb]))


def test_a_bucket_refuses_mixed_dtypes_and_unknown_shapes():
    g = gc.Graph()
    with g.as_default():
        a = gc.placeholder(gc.float32, [2])
        with pytest.raises(gc.DTypeError, match="share one dtype"):
            gc.distributed.allreduce_bucket([a, gc.placeholder(gc.float64, [2])])
        with pytest.raises(gc.ShapeError, match="static shapes"):
            gc.distributed.allreduce_bucket([a, gc.placeholder(gc.float32, [None])])


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
