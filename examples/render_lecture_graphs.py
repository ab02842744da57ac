"""Draw the lecture's examples with gc.viz: the pictures under docs/img/.

    (x + y) * z                     add_mul.png      forward values and every gradient
    the sigmoid neuron              sigmoid_neuron.png
    the two-layer net train step    two_layer_train_step.png, two_layer_fused.png (after
                                    the pass pipeline's fusion), two_layer_gradient_flow.png
    a 10-layer MLP train step       mlp10_train_step.png (a large graph, scopes collapsed)
    LeNet-5 train step              lenet5_train_step.png, lenet5_gradient_flow.png

    python examples/render_lecture_graphs.py [--out docs/img] [--format png]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import graphc as gc  # noqa: E402
from graphc.passes import compile_program  # noqa: E402


def every_value(graph, fetches, feed):
    """node -> value for every node `fetches` need (what the labels print)."""
    nodes = [n for n in graph.ancestors(fetches) if n.op.name != "no_op"]
    return dict(zip(nodes, gc.Session(graph).run(nodes, feed)))


def add_mul(out: Path, fmt: str) -> list[Path]:
    """The lecture's first circuit: f = (x + y) * z at x=-2, y=5, z=-4."""
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float64, (), name="x")
        y = gc.placeholder(gc.float64, (), name="y")
        z = gc.placeholder(gc.float64, (), name="z")
        q = gc.add(x, y, name="q")
        f = gc.multiply(q, z, name="f")
        grads = gc.gradients(f, [x, y, z])
    values = every_value(g, grads, {x: -2.0, y: 5.0, z: -4.0})
    title = "f = (x + y) · z at x = -2, y = 5, z = -4"
    return [gc.viz.render(grads, out / f"add_mul.{fmt}", values=values, title=title,
                          notes=which_gradient(grads, "f", [x, y, z]), legend=True,
                          rankdir="LR")]


def which_gradient(grads, of: str, wrt) -> dict:
    """Label each gradient node with the derivatives it is (the add gate hands its
    upstream gradient to both inputs, so one node can be df/dx and df/dy)."""
    notes: dict = {}
    for g, x in zip(grads, wrt):
        notes.setdefault(g, []).append(f"d{of}/d{x.name}")
    return {g: "is " + " and ".join(names) for g, names in notes.items()}


def sigmoid_neuron(out: Path, fmt: str) -> list[Path]:
    """f(w, x) = 1 / (1 + exp(-(w0·x0 + w1·x1 + w2))), every gate drawn, at the lecture's
    w = (2, -3, -3), x = (-1, -2)."""
    g = gc.Graph()
    with g.as_default():
        w = [gc.placeholder(gc.float64, (), name=f"w{i}") for i in range(3)]
        x = [gc.placeholder(gc.float64, (), name=f"x{i}") for i in range(2)]
        dot = gc.add(gc.multiply(w[0], x[0], name="w0x0") + gc.multiply(w[1], x[1], name="w1x1"),
                     w[2], name="dot")
        f = gc.reciprocal(1.0 + gc.exp(gc.negative(dot, name="neg"), name="exp"), name="f")
        grads = gc.gradients(f, w + x)
    feed = {w[0]: 2.0, x[0]: -1.0, w[1]: -3.0, x[1]: -2.0, w[2]: -3.0}
    values = every_value(g, [f] + grads, feed)
    title = "sigmoid neuron f = 1 / (1 + exp(-(w0·x0 + w1·x1 + w2))) at w = (2, -3, -3), " \
            "x = (-1, -2)"
    return [gc.viz.render([f] + grads, out / f"sigmoid_neuron.{fmt}", values=values,
                          notes=which_gradient(grads, "f", w + x), title=title, legend=True,
                          rankdir="LR")]


def two_layer(out: Path, fmt: str) -> list[Path]:
    """The lecture's numpy net as a graph: forward, backward and SGD update in one step."""
    from graphc.examples_support import two_layer_graph
    g, t, data = two_layer_graph()
    step = [t["loss"], t["train"]]
    paths = [gc.viz.render(step, out / f"two_layer_train_step.{fmt}", legend=True,
                           title="two-layer net: one train step (forward, backward, update)")]
    fused = compile_program(step, {t["x"]: data["x"], t["y"]: data["y"]}).program
    paths.append(gc.viz.render(fused, out / f"two_layer_fused.{fmt}", legend=True,
                               title="the same step after the pass pipeline: one frame per "
                                     "fused kernel"))
    feed = {t["x"]: data["x"], t["y"]: data["y"]}
    _, norms = gc.viz.render_gradient_flow(t["loss"], feed_dict=feed,
                                           path=out / f"two_layer_gradient_flow.{fmt}",
                                           title="two-layer net: gradient flow at step 0")
    report(norms)
    return paths + [out / f"two_layer_gradient_flow.{fmt}"]


def mlp10(out: Path, fmt: str) -> list[Path]:
    """A large graph: 10 dense ReLU layers, cross-entropy, SGD on all 20 variables."""
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 64), name="x")
        y = gc.placeholder(gc.int32, (None,), name="y")
        h = x
        for i in range(9):
            h = gc.layers.dense(h, 32, activation=gc.nn.relu, seed=i)
        logits = gc.layers.dense(h, 10, seed=9)
        loss = gc.reduce_mean(gc.nn.sparse_softmax_cross_entropy_with_logits(
            labels=y, logits=logits), name="loss")
        params = gc.trainable_variables()
        grads = gc.gradients(loss, params)
        with gc.name_scope("sgd"):
            updates = [gc.assign_sub(w, 0.01 * gw) for w, gw in zip(params, grads)]
        train = gc.group(*updates, name="train")
    title = (f"10-layer MLP train step: {len(g.nodes)} nodes; the backward pass framed by "
             "the layer each op differentiates")
    return [gc.viz.render([loss, train], out / f"mlp10_train_step.{fmt}", legend=True,
                          title=title)]


def lenet5(out: Path, fmt: str) -> list[Path]:
    """DESIGN.md's LeNet-5 with momentum SGD, and its gradient flow on one batch."""
    from lenet5 import build_lenet5, momentum_sgd
    g = gc.Graph()
    images, labels, logits, loss = build_lenet5(g)
    train = momentum_sgd(g, loss)
    paths = [gc.viz.render([loss, train], out / f"lenet5_train_step.{fmt}", legend=True,
                           title="LeNet-5: one train step (momentum SGD)")]
    rng = np.random.default_rng(0)
    feed = {images: rng.standard_normal((8, 28, 28, 1)).astype(np.float32),
            labels: rng.integers(0, 10, size=8).astype(np.int32)}
    with g.as_default():
        params = gc.trainable_variables()
    _, norms = gc.viz.render_gradient_flow(loss, params, feed_dict=feed,
                                           path=out / f"lenet5_gradient_flow.{fmt}",
                                           title="LeNet-5: gradient flow at initialisation")
    report(norms)
    return paths + [out / f"lenet5_gradient_flow.{fmt}"]


def report(norms) -> None:
    for stat in norms.values():
        ratio = "n/a" if stat.ratio is None else f"{stat.ratio:.3g}"
        print(f"    {stat.name:<16} |g| {stat.grad_norm:10.3g}  |g|/|w| {ratio:>10}  "
              f"{stat.status}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE.parent / "docs" / "img"))
    parser.add_argument("--format", default="png", choices=["png", "svg", "pdf", "dot"])
    args = parser.parse_args(argv)
    out = Path(args.out)
    os.makedirs(out, exist_ok=True)
    print(f"renderer: {gc.viz.find_renderer()}")
    for draw in (add_mul, sigmoid_neuron, two_layer, mlp10, lenet5):
        print(f"{draw.__name__}: {draw.__doc__.splitlines()[0]}")
        for path in draw(out, args.format):
            if args.format == "png":
                compact_png(path)
            print(f"  wrote {path}")
    return 0


def compact_png(path: Path) -> None:
    """Rewrite a PNG on white with a 256-colour palette: graphviz's flat colours and
    antialiased edges look the same, in about a third of the bytes."""
    try:
        from PIL import Image
    except ImportError:             # Pillow comes with matplotlib (graphc[plot])
        return
    with Image.open(path) as picture:
        white = Image.new("RGBA", picture.size, "white")
        flat = Image.alpha_composite(white, picture.convert("RGBA")).convert("RGB")
    flat.quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)


if __name__ == "__main__":
    sys.exit(main())
