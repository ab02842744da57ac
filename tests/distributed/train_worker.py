"""Run by tests/test_distributed_mpi.py under `mpiexec -n 2`: data-parallel training of a
graphc model, checked against one process training on the concatenated batch.

    python train_worker.py MODEL BACKEND SCENARIO [CHECKPOINT_DIR]

MODEL: mlp | lenet5; SCENARIO: equal (k steps), buckets (k steps with the gradients in
one bucket, in several and one allreduce each: identical weights), raise (rank 1 raises
mid-training), checkpoint (k steps, rank 0 saves, a fresh session restores on rank 0,
broadcasts and trains k more), refuse (BACKEND cannot call MPI: rank 0 prints the
error), fit (gc.train.fit on a sharded data set). Rank 0 prints "OK" when every check passed."""
import os
import sys

import numpy as np

import graphc as gc

STEPS = 3
PER_RANK = 8


def batches(step, size, count):
    """The global batch of each step (what one process would train on) and its seeds."""
    feeds = [step.batch(PER_RANK * size, seed=100 + i) for i in range(count)]
    return [(f[step.x], f[step.y]) for f in feeds]


def shard(batch, step, rank):
    part = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    return {step.x: batch[0][part], step.y: batch[1][part]}


def weights(sess, step):
    """Every variable's value: weights and the optimizer's slots."""
    return [sess.variable_value(v) for v in gc.global_variables(step.graph)]


def scramble(sess, step, rank):
    """Rank 0 keeps its initial weights, the others start from noise (and nonzero
    slots): broadcast_variables must give every rank rank 0's."""
    if rank == 0:
        return
    rng = np.random.default_rng(rank)
    for v in gc.global_variables(step.graph):
        sess.set_variable_value(v, rng.standard_normal(v.shape).astype(v.dtype.np_type))


def train(sess, step, global_batches, rank, fail_at=None):
    for i, batch in enumerate(global_batches):
        if i == fail_at:
            raise RuntimeError(f"rank {rank} fails on purpose at step {i}")
        sess.run(step.train_op, shard(batch, step, rank))


def reference(build, backend, start, global_batches):
    """One process, no allreduce, from the same start, on the whole batches."""
    step = build(distributed=False)
    with gc.Session(graph=step.graph, backend=backend) as sess:
        for v, value in zip(gc.global_variables(step.graph), start):
            sess.set_variable_value(v, value)
        for x, y in global_batches:
            sess.run(step.train_op, {step.x: x, step.y: y})
        return weights(sess, step)


def check(mine, comm, expected=()):
    everyone = comm.gather(mine, root=0)
    if comm.Get_rank() != 0:
        return
    for other in everyone[1:]:
        for a, b in zip(everyone[0], other):
            np.testing.assert_array_equal(a, b, err_msg="ranks disagree")
    for a, b in zip(everyone[0], expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


def main(model, backend, scenario, directory=None):
    from mpi4py import MPI
    rank, size = gc.distributed.init()
    assert size > 1, "run me under mpiexec -n 2"
    build = {"mlp": gc.models.mlp, "lenet5": gc.models.lenet5}[model]
    step = build(distributed=True)
    rounds = 2 if scenario == "checkpoint" else 1
    global_batches = batches(step, size, STEPS * rounds)
    sess = gc.Session(graph=step.graph, backend=backend)
    if scenario == "refuse":
        try:
            sess.run(step.train_op, shard(global_batches[0], step, rank))
        except Exception as err:           # noqa: BLE001 - the refusal, whatever its class
            print(f"{type(err).__name__}: {err}" if rank == 0 else "", end="", flush=True)
        return
    if scenario == "fit":
        return fit(sess, step, MPI.COMM_WORLD)
    if scenario == "buckets":
        return buckets(build, backend, sess, step, global_batches, rank, MPI.COMM_WORLD)
    scramble(sess, step, rank)
    gc.distributed.broadcast_variables(sess)
    start = weights(sess, step)
    if scenario == "raise":
        train(sess, step, global_batches, rank, fail_at=1 if rank == 1 else None)
        return
    train(sess, step, global_batches[:STEPS], rank)
    if scenario == "checkpoint":
        path = os.path.join(directory, "model")
        if rank == 0:
            gc.train.Saver().save(sess, path)
        MPI.COMM_WORLD.Barrier()
        sess.close()
        sess = gc.Session(graph=step.graph, backend=backend)
        scramble(sess, step, rank)
        if rank == 0:
            gc.train.Saver().restore(sess, path)
        gc.distributed.broadcast_variables(sess)
        train(sess, step, global_batches[STEPS:], rank)
    expected = reference(build, backend, start, global_batches)
    check(weights(sess, step), MPI.COMM_WORLD, expected)
    if rank == 0:
        print("OK", flush=True)


BUCKET_SIZES = (0, 16 << 10)
"""One allreduce per gradient; 16 KiB buckets (several of them, and a gradient larger than
a bucket alone in its own). The default (one bucket for all) is `sess`."""


def buckets(build, backend, sess, step, global_batches, rank, comm):
    """Every bucket size gives the same weights, bit for bit: each element's sum over
    the ranks is the same sum whichever buffer it travels in."""
    scramble(sess, step, rank)
    gc.distributed.broadcast_variables(sess)
    start = weights(sess, step)
    train(sess, step, global_batches, rank)
    bucketed = weights(sess, step)
    for bucket_bytes in BUCKET_SIZES:
        other = build(distributed=True, bucket_bytes=bucket_bytes)
        calls = [n for n in other.graph.nodes if n.op.name.startswith("allreduce")]
        assert len(calls) > 1, calls
        with gc.Session(graph=other.graph, backend=backend) as other_sess:
            for v, value in zip(gc.global_variables(other.graph), start):
                other_sess.set_variable_value(v, value)
            train(other_sess, other, global_batches, rank)
            for a, b in zip(bucketed, weights(other_sess, other)):
                np.testing.assert_array_equal(a, b, err_msg=f"bucket_bytes={bucket_bytes}")
    check(bucketed, comm, reference(build, backend, start, global_batches))
    if rank == 0:
        print("OK", flush=True)


def fit(sess, step, comm):
    """Each rank trains on half of 64 samples; the ranks agree on the weights and on the
    (averaged) losses, and only rank 0 prints."""
    x, y = batches(step, 4, 1)[0]             # 4 x PER_RANK = 32 samples
    history = gc.train.fit(sess, step.train_op, step.loss, (step.x, step.y), (x, y),
                           epochs=2, batch_size=4, progress=False)
    assert len(history.step_loss) == 2 * 32 // 2 // 4, len(history.step_loss)
    check(weights(sess, step) + [np.array(history.step_loss)], comm)
    if comm.Get_rank() == 0:
        print("OK", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
