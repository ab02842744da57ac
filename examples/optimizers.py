"""The same model under each of the lecture's optimizers: loss curves in one PNG.

An MLP (784-128-10 on MNIST-5k, 64-128-10 on 8x8 digits) starts from the same weights
and sees the same minibatches in the same order under each optimizer; only the update
rule changes:

    SGD        x -= α·dx
    Momentum   v = ρv + dx; x -= αv
    Nesterov   v' = ρv − α·dx; x += −ρv + (1 + ρ)v'
    AdaGrad    g2 += dx²; x -= α·dx / (√g2 + 1e-7)
    RMSProp    g2 = βg2 + (1 − β)dx²; x -= α·dx / (√g2 + 1e-7)
    Adam       moments with bias correction; x -= α·m̂ / (√v̂ + 1e-7)

graphc's defaults are TF1's (ε under the root for RMSProp, on √v for Adam, accumulators
from 0.1 or 1.0); the lecture's forms above are asked for explicitly below. Nesterov is
computed in TF1's form, which gives the same parameters for a constant α.

    python examples/optimizers.py [--epochs N] [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import graphc as gc  # noqa: E402
from graphc.examples_support import build_mlp, digits_splits  # noqa: E402


def sgd():
    return gc.train.GradientDescentOptimizer(0.1)


def momentum():
    return gc.train.MomentumOptimizer(0.02, momentum=0.9)


def nesterov():
    return gc.train.MomentumOptimizer(0.02, momentum=0.9, use_nesterov=True)


def adagrad():
    return gc.train.AdagradOptimizer(0.02, initial_accumulator_value=0.0, epsilon=1e-7)


def rmsprop():
    return gc.train.RMSPropOptimizer(1e-3, decay=0.9, epsilon=1e-7, convention="torch")


def adam():
    return gc.train.AdamOptimizer(1e-3, epsilon=1e-7, convention="torch")


OPTIMIZERS = {"SGD α=0.1": sgd, "Momentum α=0.02 ρ=0.9": momentum,
              "Nesterov α=0.02 ρ=0.9": nesterov, "AdaGrad α=0.02": adagrad,
              "RMSProp α=1e-3": rmsprop, "Adam α=1e-3": adam}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--data", default="auto", choices=["auto", "mnist5k", "sklearn"])
    parser.add_argument("--out", default="graphc-examples")
    args = parser.parse_args(argv)

    (train, val, _), what = digits_splits(args.data)
    print(f"MLP on {what}: {args.epochs} epochs per optimizer, same start, same batches")
    curves = {}
    for label, make in OPTIMIZERS.items():
        g = gc.Graph()
        model = build_mlp(g, train[0].shape[1:], hidden=(128,), seed=0)
        with g.as_default():
            train_op = make().minimize(model["loss"])
        history = gc.train.fit(gc.Session(g), train_op, model["loss"],
                               (model["images"], model["labels"]), train, val,
                               epochs=args.epochs, accuracy_op=model["accuracy"], seed=0,
                               progress=False, log=None)
        curves[label] = history.step_loss
        print(f"  {label:24s} final train loss {history.train_loss[-1]:.4f}   "
              f"validation accuracy {history.val_accuracy[-1]:.1%}")
    try:
        path = gc.train.plot_curves(curves, os.path.join(args.out, "optimizers.png"),
                                    title="training loss per step (MLP on the digits)",
                                    smoothing=10)
        print(f"loss curves written to {path}")
    except gc.train.PlotUnavailable as err:
        print(f"no picture: {err}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
