"""LeNet-5 on real handwritten digits, end to end with gc.layers, gc.train and gc.data.

    28x28 MNIST-5k (or 8x8 digits, 3x3 kernels):
    conv 6@5x5 pad 2 + ReLU -> maxpool 2/2 -> conv 16@5x5 + ReLU -> maxpool 2/2
    -> FC 120 + ReLU -> FC 84 + ReLU -> FC 10, mean softmax cross-entropy

The pieces `graphc demo` uses, spelled out: per-channel mean subtraction with training
statistics, live random-crop augmentation, an optimizer of your choice with a cosine
schedule on global_step, fit with validation, held-out accuracy, a checkpoint that is
then restored into a NEW graph (by variable name) to show it predicts the same.

    python examples/lenet_digits.py [--epochs N] [--optimizer adam|momentum|rmsprop]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import graphc as gc  # noqa: E402
from graphc.examples_support import build_lenet, digits_splits  # noqa: E402


def make_optimizer(name, rate):
    if name == "adam":
        return gc.train.AdamOptimizer(rate)
    if name == "momentum":
        return gc.train.MomentumOptimizer(rate, momentum=0.9, use_nesterov=True)
    return gc.train.RMSPropOptimizer(rate, decay=0.9)


DEFAULT_LR = {"adam": 2e-3, "momentum": 0.05, "rmsprop": 1e-3}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--optimizer", default="adam", choices=sorted(DEFAULT_LR))
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--data", default="auto", choices=["auto", "mnist5k", "sklearn"])
    parser.add_argument("--backend", default=None)
    parser.add_argument("--out", default="graphc-examples")
    args = parser.parse_args(argv)

    (train, val, test), what = digits_splits(args.data)
    shape = train[0].shape[1:]
    g = gc.Graph()
    model = build_lenet(g, shape)
    with g.as_default():
        step = gc.train.get_or_create_global_step()
        total = args.epochs * -(-len(train[0]) // args.batch)
        rate = gc.train.cosine_decay(args.lr or DEFAULT_LR[args.optimizer], step, total)
        train_op = make_optimizer(args.optimizer, rate).minimize(model["loss"],
                                                                 global_step=step)
    print(f"LeNet-5 on {what}, {args.optimizer} with a cosine schedule over {total} steps")
    print(gc.layers.format_summary(g))

    sess = gc.Session(g, backend=args.backend)
    inputs = (model["images"], model["labels"])
    # ±2 pixel shifts help on 28x28 MNIST; on 8x8 digits a shift is too big a change
    augment = gc.data.Augmenter([gc.data.RandomCrop(padding=2)]) if shape[0] >= 28 else None
    gc.train.fit(sess, train_op, model["loss"], inputs, train, val, epochs=args.epochs,
                 batch_size=args.batch, accuracy_op=model["accuracy"], augment=augment,
                 plot_path=os.path.join(args.out, "lenet_digits.png"), plot_title="LeNet-5")
    _, held_out = gc.train.evaluate(sess, model["loss"], inputs, *test, model["accuracy"])
    print(f"held-out accuracy: {held_out:.1%} on {len(test[0])} digits")

    path = gc.train.Saver().save(sess, os.path.join(args.out, "lenet_digits.ckpt"))
    fresh = gc.Graph()
    again = build_lenet(fresh, shape, seed=123)          # other initial values
    restored = gc.Session(fresh, backend=args.backend)
    gc.train.Saver(gc.trainable_variables(fresh)).restore(restored, path)
    before = sess.run(model["logits"], {model["images"]: test[0][:100]})
    after = restored.run(again["logits"], {again["images"]: test[0][:100]})
    print(f"checkpoint {path} restored into a new graph: logits of 100 test digits differ "
          f"by at most {np.abs(before - after).max():.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
