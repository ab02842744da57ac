"""A multilayer perceptron on real handwritten digits, trained with gc.train.fit.

    flatten -> FC 256 + ReLU -> FC 128 + ReLU -> FC 10, mean softmax cross-entropy
    + the lecture's L2 penalty λ·½‖W‖² on the weight matrices (the "weights" collection)
    SGD with Nesterov momentum 0.9, step decay (× 0.1 after 2/3 of the run)

Prints per-epoch train / validation loss and accuracy, then the accuracy on images
held out from training, and saves a checkpoint and the loss curves.

    python examples/mlp_digits.py [--epochs N] [--data auto|mnist5k|sklearn] [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import graphc as gc  # noqa: E402
from graphc.examples_support import build_mlp, digits_splits  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--l2", type=float, default=1e-4)
    parser.add_argument("--data", default="auto", choices=["auto", "mnist5k", "sklearn"])
    parser.add_argument("--out", default="graphc-examples")
    args = parser.parse_args(argv)

    (train, val, test), what = digits_splits(args.data)
    g = gc.Graph()
    model = build_mlp(g, train[0].shape[1:], hidden=(256, 128))
    steps_per_epoch = -(-len(train[0]) // args.batch)
    with g.as_default():
        penalty = gc.losses.apply_regularization(gc.losses.l2_regularizer(args.l2))
        objective = model["loss"] + penalty
        step = gc.train.get_or_create_global_step()
        rate = gc.train.step_decay(args.lr, step, [2 * args.epochs * steps_per_epoch // 3])
        optimizer = gc.train.MomentumOptimizer(rate, momentum=0.9, use_nesterov=True)
        train_op = optimizer.minimize(objective, global_step=step)
    print(f"MLP on {what}")
    print(gc.layers.format_summary(g))

    sess = gc.Session(g)
    inputs = (model["images"], model["labels"])
    gc.train.fit(sess, train_op, model["loss"], inputs, train, val, epochs=args.epochs,
                 batch_size=args.batch, accuracy_op=model["accuracy"],
                 plot_path=os.path.join(args.out, "mlp_digits.png"), plot_title="MLP digits")
    _, held_out = gc.train.evaluate(sess, model["loss"], inputs, *test, model["accuracy"])
    print(f"held-out accuracy: {held_out:.1%} on {len(test[0])} digits")
    path = gc.train.Saver().save(sess, os.path.join(args.out, "mlp_digits.ckpt"))
    print(f"checkpoint with {len(gc.train.list_variables(path))} tensors (weights, momentum "
          f"slots, global_step) written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
