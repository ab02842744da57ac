"""The lecture's 20-line numpy two-layer net, done with graphc, checked against numpy.

    N, D_in, H, D_out = 64, 1000, 100, 10
    h = 1 / (1 + exp(-x·w1));  y_pred = h·w2;  loss = Σ (y_pred − y)²
    w1 -= 1e-4 · ∂loss/∂w1;  w2 -= 1e-4 · ∂loss/∂w2

In graphc the four backward lines of the numpy version are one `minimize`: gradients
are derived symbolically as graph nodes and the update is part of the same program.
Both versions start from the same weights (float64) and the script prints their losses
side by side and the largest weight difference at the end.

    python examples/two_layer_net.py [--steps N]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import graphc as gc  # noqa: E402

N, D_IN, H, D_OUT = 64, 1000, 100, 10
LR = 1e-4


def numpy_step(x, y, w1, w2):
    """One step of the lecture's numpy code (forward, hand-written backward, update)."""
    h = 1 / (1 + np.exp(-x.dot(w1)))
    y_pred = h.dot(w2)
    loss = np.square(y_pred - y).sum()
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    grad_w1 = x.T.dot(grad_h * h * (1 - h))
    w1 -= LR * grad_w1
    w2 -= LR * grad_w2
    return loss


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((N, D_IN)), rng.standard_normal((N, D_OUT))
    w1_0, w2_0 = rng.standard_normal((D_IN, H)), rng.standard_normal((H, D_OUT))

    g = gc.Graph()
    with g.as_default():
        xs = gc.placeholder(gc.float64, (None, D_IN), name="x")
        ys = gc.placeholder(gc.float64, (None, D_OUT), name="y")
        w1 = gc.Variable(w1_0, name="w1")
        w2 = gc.Variable(w2_0, name="w2")
        h = gc.sigmoid(gc.matmul(xs, w1), name="h")
        y_pred = gc.matmul(h, w2, name="y_pred")
        loss = gc.reduce_sum(gc.square(y_pred - ys), name="loss")
        train = gc.train.GradientDescentOptimizer(LR).minimize(loss)
    sess = gc.Session(g)
    step = sess.make_callable([loss, train], feed_list=[xs, ys])

    nw1, nw2 = w1_0.copy(), w2_0.copy()
    print(f"two-layer sigmoid net {N}x{D_IN} -> {H} -> {D_OUT}, plain SGD lr {LR}, "
          f"backend={sess.backend.name}")
    print(f"{'step':>6}  {'graphc loss':>14}  {'numpy loss':>14}")
    start = time.perf_counter()
    for t in range(args.steps):
        g_loss, _ = step(x, y)
        n_loss = numpy_step(x, y, nw1, nw2)
        if t % max(1, args.steps // 8) == 0 or t == args.steps - 1:
            print(f"{t:6d}  {g_loss:14.4f}  {n_loss:14.4f}")
    elapsed = time.perf_counter() - start
    diff = max(np.abs(sess.variable_value(w1) - nw1).max(),
               np.abs(sess.variable_value(w2) - nw2).max())
    print(f"largest weight difference graphc vs numpy after {args.steps} steps: {diff:.2e}")
    print(f"{elapsed:.1f} s for both")
    return 0 if diff < 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
