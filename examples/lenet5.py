"""LeNet-5 (DESIGN.md's lenet5 workload) built with gc.layers, trained on random data.

    (64, 28, 28, 1) -> conv 6@5x5 pad 2 + bias -> ReLU -> maxpool 2/2
                    -> conv 16@5x5 valid + bias -> ReLU -> maxpool 2/2 -> flatten 400
                    -> FC 120 -> ReLU -> FC 84 -> ReLU -> FC 10 -> mean sparse softmax CE

SGD with momentum 0.9 is written by hand with assign ops (v ← μ·v − lr·g; w ← w + v):
the optimizers of gc.train are not needed to show the whole step as one graph. The
batch is fixed, so the loss must fall from step to step as the net memorises it.

    python examples/lenet5.py [--steps N] [--lr LR]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import graphc as gc  # noqa: E402


def build_lenet5(graph, seed=0):
    """Placeholders, logits and loss of LeNet-5 in `graph`."""
    with graph.as_default():
        images = gc.placeholder(gc.float32, (None, 28, 28, 1), name="images")
        labels = gc.placeholder(gc.int32, (None,), name="labels")
        h = gc.layers.conv2d(images, 6, 5, padding=2, activation=gc.nn.relu, seed=seed,
                             name="conv1")
        h = gc.layers.max_pool2d(h, 2, 2, name="pool1")
        h = gc.layers.conv2d(h, 16, 5, padding="VALID", activation=gc.nn.relu, seed=seed + 1,
                             name="conv2")
        h = gc.layers.max_pool2d(h, 2, 2, name="pool2")
        h = gc.layers.flatten(h, name="flatten")
        h = gc.layers.dense(h, 120, activation=gc.nn.relu, seed=seed + 2, name="fc1")
        h = gc.layers.dense(h, 84, activation=gc.nn.relu, seed=seed + 3, name="fc2")
        logits = gc.layers.dense(h, 10, seed=seed + 4, name="fc3")
        loss = gc.reduce_mean(gc.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=logits), name="loss")
    return images, labels, logits, loss


def momentum_sgd(graph, loss, lr=0.01, momentum=0.9):
    """One train op: v ← μ·v − lr·∇w, then w ← w + v, for every trainable variable."""
    with graph.as_default():
        params = gc.trainable_variables()
        grads = gc.gradients(loss, params)
        updates = []
        with gc.name_scope("momentum"):
            for w, g in zip(params, grads):
                velocity = gc.Variable(np.zeros(w.shape, w.dtype.np_type),
                                       name=w.name.replace("/", "_") + "_velocity",
                                       trainable=False)
                v_new = gc.assign(velocity, velocity * momentum - g * lr)
                updates.append(gc.assign_add(w, v_new))
        updates += graph.get_collection(gc.layers.UPDATE_OPS)
        return gc.group(*updates, name="train")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)

    graph = gc.Graph()
    images, labels, logits, loss = build_lenet5(graph)
    train = momentum_sgd(graph, loss, lr=args.lr)

    print("LeNet-5, parameters per layer:")
    print(gc.layers.format_summary(graph))
    print(f"trainable parameters: {gc.layers.count_params(graph=graph, trainable_only=True)}")

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=args.batch).astype(np.int32)

    sess = gc.Session(graph, backend="numpy")
    step = sess.make_callable([loss, train], feed_list=[images, labels])
    times, losses = [], []
    for i in range(args.steps):
        start = time.perf_counter()
        value, _ = step(x, y)
        times.append(time.perf_counter() - start)
        losses.append(float(value))
        print(f"  step {i:3d}  loss {value:.4f}  ({times[-1] * 1e3:.1f} ms)")
    warm = times[1:] or times
    print(f"median step time on the numpy interpreter: {np.median(warm) * 1e3:.1f} ms "
          f"(batch {args.batch})")
    if len(losses) > 1 and not losses[-1] < losses[0]:
        print("the loss did not decrease", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
