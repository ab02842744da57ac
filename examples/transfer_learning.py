"""Transfer learning: pretrain LeNet-5 on digits 0-4, then train only a new last layer
on a few images of 5-9, on top of the frozen pretrained layers.

1. Train LeNet-5 (a 5-way head) on the digits 0-4 and save a checkpoint.
2. Build a NEW LeNet-5 graph (same layer names) for 5-9 (labels 5..9 become 0..4),
   restore the layers below a cut point from the checkpoint by name (a partial
   restore: Saver(var_list=...)), put a new last layer "head" on the cut, and train
   only it: minimize(loss, var_list=<head's kernel and bias>). The restored layers stay
   frozen (checked).
3. Baseline: the same head trained on the same layers left random (untrained).

Two cut points are compared: the 400 pooled convolutional features (generic strokes
and edges: they transfer) and the 84 units of fc2 (trained to tell 0-4 apart: they
transfer poorly to new classes; random features do as well).

    python examples/transfer_learning.py [--pretrain-epochs N] [--shots N]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import graphc as gc  # noqa: E402
from graphc.examples_support import build_lenet, digits_splits  # noqa: E402

CUTS = {"conv features (400)": ("flatten/reshape", ("conv1", "conv2")),
        "fc2 features (84)": ("fc2/relu", ("conv1", "conv2", "fc1", "fc2"))}


def subset(split, digits, offset=0, limit=None):
    """The samples of `split` whose label is in `digits`, labels shifted by -offset."""
    x, y = split
    keep = np.flatnonzero(np.isin(y, digits))[:limit]
    return x[keep], (y[keep] - offset).astype(np.int32)


def pretrain(shape, data, epochs, path):
    g = gc.Graph()
    model = build_lenet(g, shape, num_classes=5, seed=0)
    with g.as_default():
        train_op = gc.train.AdamOptimizer(2e-3).minimize(model["loss"])
    sess = gc.Session(g)
    inputs = (model["images"], model["labels"])
    gc.train.fit(sess, train_op, model["loss"], inputs, data[0], data[1], epochs=epochs,
                 accuracy_op=model["accuracy"], progress=False)
    _, acc = gc.train.evaluate(sess, model["loss"], inputs, *data[2], model["accuracy"])
    return acc, gc.train.Saver().save(sess, path)


def train_head(shape, cut, train, test, epochs, checkpoint=None):
    """LeNet-5 with a new 5-way "head" on the tensor `cut`; the layers below it come from
    `checkpoint` (or stay random) and only the head trains. Returns (held-out accuracy,
    whether the layers below stayed unchanged)."""
    tensor_name, layers = CUTS[cut]
    g = gc.Graph()
    model = build_lenet(g, shape, num_classes=5, seed=1)
    below = [v for layer in layers
             for v in gc.layers.variables(layer, trainable_only=True, graph=g)]
    with g.as_default():
        logits = gc.layers.dense(g.get_tensor_by_name(tensor_name), 5, seed=7, name="head")
        loss = gc.losses.sparse_softmax_cross_entropy(model["labels"], logits)
        accuracy = gc.train.accuracy(logits, model["labels"])
        head = gc.layers.variables("head", trainable_only=True)
        train_op = gc.train.AdamOptimizer(1e-2).minimize(loss, var_list=head)
    sess = gc.Session(g)
    if checkpoint is not None:
        gc.train.Saver(below).restore(sess, checkpoint)
    frozen = {v: sess.variable_value(v) for v in below}
    inputs = (model["images"], model["labels"])
    gc.train.fit(sess, train_op, loss, inputs, train, epochs=epochs, batch_size=32,
                 progress=False, log=None)
    unchanged = all(np.array_equal(sess.variable_value(v), value)
                    for v, value in frozen.items())
    _, held_out = gc.train.evaluate(sess, loss, inputs, *test, accuracy)
    return held_out, unchanged


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-epochs", type=int, default=4)
    parser.add_argument("--finetune-epochs", type=int, default=30)
    parser.add_argument("--shots", type=int, default=100, help="5-9 images to train on")
    parser.add_argument("--data", default="auto", choices=["auto", "mnist5k", "sklearn"])
    parser.add_argument("--out", default="graphc-examples")
    args = parser.parse_args(argv)

    (train, val, test), what = digits_splits(args.data)
    shape = train[0].shape[1:]
    low = [subset(s, [0, 1, 2, 3, 4]) for s in (train, val, test)]
    high_train = subset(train, [5, 6, 7, 8, 9], offset=5, limit=args.shots)
    high_test = subset(test, [5, 6, 7, 8, 9], offset=5)

    print(f"1. pretraining LeNet-5 on the digits 0-4 of {what} ({len(low[0][0])} images)")
    acc, checkpoint = pretrain(shape, low, args.pretrain_epochs,
                               os.path.join(args.out, "digits_0_4.ckpt"))
    print(f"   held-out accuracy on 0-4: {acc:.1%}; checkpoint {checkpoint}")
    print(f"2. a new last layer trained on {len(high_train[0])} images of 5-9, "
          f"held-out accuracy on {len(high_test[0])} more:")
    all_frozen = True
    for cut in CUTS:
        transferred, frozen = train_head(shape, cut, high_train, high_test,
                                         args.finetune_epochs, checkpoint)
        random_, _ = train_head(shape, cut, high_train, high_test, args.finetune_epochs)
        all_frozen &= frozen
        print(f"   on {cut:20s} pretrained on 0-4: {transferred:6.1%}   random: {random_:6.1%}"
              f"   (restored layers unchanged: {frozen})")
    return 0 if all_frozen else 1


if __name__ == "__main__":
    sys.exit(main())
