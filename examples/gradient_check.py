"""Gradient checking: graphc's symbolic gradients against centred finite differences.

The lecture's recipe: in float64, for a few random coordinates i of each parameter,
    numeric_i = (f(x + h·e_i) − f(x − h·e_i)) / 2h
    relative error = |analytic_i − numeric_i| / max(|analytic_i|, |numeric_i|)
(below ~1e-7 is right; ~1e-2 means a bug). Checked here on a small convolutional net
(conv → ReLU → max-pool → dense → softmax cross-entropy + L2) on real 8x8-or-28x28
digits, then with gc.test.gradient_inner_product_error over whole tensors at once, and
finally on a deliberately wrong gradient, to show what a bug looks like.

    python examples/gradient_check.py [--coords N]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import graphc as gc  # noqa: E402


def digits_batch(n=8):
    """A few real digits when a digits set is installed, else random images."""
    try:
        x, y = gc.data.load_digits()
        return x[::len(x) // n][:n].astype(np.float64), y[::len(y) // n][:n]
    except gc.data.DatasetUnavailable:
        rng = np.random.default_rng(0)
        return rng.random((n, 8, 8, 1)), rng.integers(0, 10, n).astype(np.int32)


def small_positive(shape, dtype=gc.float64):
    """Biases of 0.1 (the lecture's advice for ReLU): pre-activations of blank image
    areas then sit away from ReLU's kink at 0, where finite differences are wrong."""
    return gc.init.constant(shape, 0.1, dtype)


def small_convnet(image_shape):
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float64, (None,) + image_shape, name="x")
        y = gc.placeholder(gc.int32, (None,), name="y")
        h = gc.layers.conv2d(x, 3, 3, padding=1, activation=gc.nn.relu, seed=0,
                             bias_initializer=small_positive, name="conv")
        h = gc.layers.max_pool2d(h, 2, 2, name="pool")
        logits = gc.layers.dense(gc.layers.flatten(h), 10, seed=1, name="dense")
        data_loss = gc.losses.sparse_softmax_cross_entropy(y, logits)
        reg = gc.losses.apply_regularization(gc.losses.l2_regularizer(1e-3))
        loss = gc.add(data_loss, reg, name="loss")
    return g, x, y, loss


def sparse_check(sess, loss, var, grad, feeds, coords, rng, h=1e-5):
    """Largest relative error over `coords` random coordinates of `var`."""
    analytic = sess.run(grad, feeds)
    value = sess.variable_value(var)
    worst = 0.0
    for _ in range(coords):
        i = tuple(rng.integers(0, d) for d in value.shape)
        shifted = value.copy()
        shifted[i] += h
        sess.set_variable_value(var, shifted)
        f_plus = sess.run(loss, feeds)
        shifted[i] -= 2 * h
        sess.set_variable_value(var, shifted)
        f_minus = sess.run(loss, feeds)
        sess.set_variable_value(var, value)
        numeric = (f_plus - f_minus) / (2 * h)
        scale = max(abs(analytic[i]), abs(numeric), 1e-12)
        worst = max(worst, abs(analytic[i] - numeric) / scale)
    return worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coords", type=int, default=10)
    args = parser.parse_args(argv)

    images, labels = digits_batch()
    g, x, y, loss = small_convnet(images.shape[1:])
    params = gc.trainable_variables(g)
    grads = gc.gradients(loss, params)
    sess = gc.Session(g)
    feeds = {x: images, y: labels}
    rng = np.random.default_rng(0)
    print(f"small conv net on {len(images)} digits {images.shape[1:3]}, float64, "
          f"{args.coords} random coordinates per variable:")
    worst = 0.0
    for var, grad in zip(params, grads):
        err = sparse_check(sess, loss, var, grad, feeds, args.coords, rng)
        worst = max(worst, err)
        print(f"  {var.name:14s} {str(var.shape):16s} max relative error {err:.2e}")
    whole = gc.test.gradient_inner_product_error(params, loss, feeds, session=sess)
    print(f"inner-product check over every parameter at once: relative error {whole:.2e}")

    with g.as_default():                 # a bug: dloss/dz taken as s instead of s(1 − s)
        z = gc.placeholder(gc.float64, (5,), name="z")
        s = gc.sigmoid(z)
        wrong_grad = s
    z0 = rng.standard_normal(5)
    numeric = (sess.run(s, {z: z0 + 1e-5}) - sess.run(s, {z: z0 - 1e-5})) / 2e-5
    analytic = sess.run(wrong_grad, {z: z0})
    bug = np.max(np.abs(analytic - numeric) / np.maximum(np.abs(analytic), np.abs(numeric)))
    print(f"a wrong sigmoid gradient s instead of s(1 − s): relative error {bug:.2e} "
          "(a bug shows as ~1e-1, not ~1e-8)")
    ok = worst < 1e-6 and whole < 1e-6
    print("symbolic gradients agree with finite differences" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
