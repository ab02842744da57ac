"""Small end-to-end programs shared by the CLI and the examples."""
from __future__ import annotations

import time

import numpy as np


def two_layer_graph(n=64, d_in=1000, h=100, d_out=10, lr=1e-4, seed=0, dtype=np.float32):
    """The lecture's 2-layer net: h = sigmoid(x·w1), loss = Σ (h·w2 − y)², plain SGD."""
    import graphc as gc
    rng = np.random.default_rng(seed)
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(dtype, (None, d_in), name="x")
        y = gc.placeholder(dtype, (None, d_out), name="y")
        w1 = gc.Variable(rng.standard_normal((d_in, h)).astype(dtype), name="w1")
        w2 = gc.Variable(rng.standard_normal((h, d_out)).astype(dtype), name="w2")
        hidden = gc.sigmoid(gc.matmul(x, w1), name="h")
        y_pred = gc.matmul(hidden, w2, name="y_pred")
        loss = gc.reduce_sum(gc.square(y_pred - y), name="loss")
        dw1, dw2 = gc.gradients(loss, [w1, w2])
        train = gc.group(gc.assign_sub(w1, dw1 * lr), gc.assign_sub(w2, dw2 * lr), name="train")
    data = {"x": rng.standard_normal((n, d_in)).astype(dtype),
            "y": rng.standard_normal((n, d_out)).astype(dtype)}
    return g, dict(x=x, y=y, w1=w1, w2=w2, loss=loss, train=train), data


def two_layer_demo(steps=200, backend=None) -> int:
    import graphc as gc
    g, t, data = two_layer_graph()
    sess = gc.Session(g, backend=backend)
    step = sess.make_callable([t["loss"], t["train"]], [t["x"], t["y"]])
    print(f"graphc {gc.__version__}: the lecture's two-layer sigmoid net (64x1000 -> 100 -> 10), "
          f"backend={sess.backend.name}")
    start = time.perf_counter()
    for i in range(steps):
        loss, _ = step(data["x"], data["y"])
        if i % max(1, steps // 5) == 0 or i == steps - 1:
            print(f"  step {i:4d}  loss {loss:12.3f}")
    elapsed = time.perf_counter() - start
    print(f"{steps} steps in {elapsed:.2f} s ({elapsed / steps * 1e3:.2f} ms/step)")
    print("The LeNet-5 digits demo arrives with the training toolkit; see README 'Status'.")
    return 0
