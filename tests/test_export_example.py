"""examples/export_c: the C program builds with its Makefile against an exported LeNet-5,
classifies digits as the session does, and fine-tunes it step for step like the session."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

import graphc as gc
from graphc.examples_support import build_lenet, read_digits, write_digits

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "export_c")
pytestmark = pytest.mark.skipif(shutil.which("make") is None or shutil.which("cc") is None,
                                reason="the example needs make and a C compiler")
STEPS, TRAIN_BATCH = 3, 32


@pytest.mark.parametrize("target", ["cpu", "c"])
def test_example_classifies_and_fine_tunes(tmp_path, target):
    graph = gc.Graph()
    model = build_lenet(graph, (28, 28, 1), seed=3)
    with graph.as_default():
        train_op = gc.train.MomentumOptimizer(0.05, momentum=0.9).minimize(model["loss"])
        probs = gc.nn.softmax(model["logits"], name="probs")
    sess = gc.Session(graph)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((150, 28, 28, 1)).astype(np.float32)
    labels = rng.integers(0, 10, 150).astype(np.int32)
    feeds = {model["images"]: images[:64], model["labels"]: labels[:64]}
    for _ in range(5):                  # some training, so the predictions are not uniform
        sess.run(train_op, feeds)
    folder = gc.export(sess, [model["images"]], {"probs": probs}, tmp_path / "lenet-export",
                       name="lenet", target=target, train_step=train_op, loss=model["loss"],
                       train_inputs=[model["images"], model["labels"]])
    digits = tmp_path / "digits.bin"
    write_digits(digits, images, labels)
    back = read_digits(digits)
    assert np.array_equal(back[0], images) and np.array_equal(back[1], labels)
    build = tmp_path / "build"
    shutil.copytree(EXAMPLE, build, ignore=shutil.ignore_patterns("lenet_c"))
    done = subprocess.run(["make", "-s", f"EXPORT={folder}"], cwd=build, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    program = str(build / "lenet_c")

    run = subprocess.run([program, "classify", folder, str(digits)], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    correct = int(re.search(r"\((\d+) of 150 digits\)", run.stdout).group(1))
    predicted = sess.run(probs, {model["images"]: images}).argmax(axis=1)
    assert correct == int((predicted == labels).sum())

    tuned = tmp_path / "tuned.safetensors"
    run = subprocess.run([program, "finetune", folder, str(digits), str(STEPS), str(tuned)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    losses = [float(v) for v in re.findall(r"step \d+ loss (\S+)", run.stdout)]
    expected = []
    for step in range(STEPS):
        start = step * TRAIN_BATCH % (len(images) - TRAIN_BATCH + 1)
        batch = {model["images"]: images[start: start + TRAIN_BATCH],
                 model["labels"]: labels[start: start + TRAIN_BATCH]}
        expected.append(sess.run([model["loss"], train_op], batch)[0])
    np.testing.assert_allclose(losses, expected, rtol=1e-5)
    after = int(re.findall(r"\((\d+) of 150 digits\)", run.stdout)[-1])
    predicted = sess.run(probs, {model["images"]: images}).argmax(axis=1)
    assert after == int((predicted == labels).sum())

    run = subprocess.run([program, "classify", folder, str(tmp_path / "missing.bin")],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "missing.bin" in run.stderr


SCRIPT = '''
import numpy as np
import graphc as gc

def build():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 3), name="x")
        w = gc.Variable(np.arange(6, dtype=np.float32).reshape(3, 2), name="w")
        y = gc.matmul(x, w, name="y")
    return {"session": gc.Session(g), "inputs": [x], "outputs": [y], "name": "tiny"}
'''


def test_command_line_export(tmp_path, capsys):
    from graphc.cli import main
    script = tmp_path / "spec.py"
    script.write_text(SCRIPT)
    assert main(["export", f"{script}:build", "--out", str(tmp_path / "tiny")]) == 0
    assert "exported 'tiny' (target c)" in capsys.readouterr().out
    model = gc.load_exported(tmp_path / "tiny")
    x = np.array([[1, 2, 3]], np.float32)
    np.testing.assert_array_equal(model(x), x @ np.arange(6, dtype=np.float32).reshape(3, 2))
    assert main(["export", f"{script}:nothing", "--out", str(tmp_path / "t2")]) == 2
    assert "nothing" in capsys.readouterr().err
    assert main(["export", "spec.txt", "--out", str(tmp_path / "t3")]) == 2
    assert "FILE.py:FUNCTION" in capsys.readouterr().err
    # the script's own error: one line naming the file, its line and the error
    text = SCRIPT + "\ndef broken():\n    return {}['session']\n"
    script.write_text(text)
    assert main(["export", f"{script}:broken", "--out", str(tmp_path / "t4")]) == 1
    line = len(text.splitlines())
    said = capsys.readouterr()
    assert said.err == f"graphc export: {script}, line {line}: KeyError: 'session'\n", said
    script.write_text("import graphc\nraise RuntimeError('no data\\nhere')\n")
    assert main(["export", f"{script}:build", "--out", str(tmp_path / "t4")]) == 1
    assert capsys.readouterr().err == f"graphc export: {script}, line 2: RuntimeError: no data\n"
    assert not (tmp_path / "t4").exists()


def test_command_line_exports_the_demo_checkpoint(tmp_path, capsys):
    """`graphc export demo --checkpoint` restores the demo's trained LeNet-5."""
    from graphc.cli import main
    from graphc.examples_support import demo_model
    graph = gc.Graph()
    model, train_op = demo_model(graph, (28, 28, 1), seed=5)
    sess = gc.Session(graph)
    rng = np.random.default_rng(1)
    images = rng.standard_normal((8, 28, 28, 1)).astype(np.float32)
    sess.run(train_op, {model["images"]: images, model["labels"]: np.arange(8) % 10})
    checkpoint = gc.train.Saver().save(sess, str(tmp_path / "lenet.ckpt"))
    assert main(["export", "demo", "--checkpoint", checkpoint, "--out",
                 str(tmp_path / "demo")]) == 0
    exported = gc.load_exported(tmp_path / "demo")
    with graph.as_default():
        probs = gc.nn.softmax(model["logits"])
    np.testing.assert_allclose(exported(images), sess.run(probs, {model["images"]: images}),
                               rtol=2e-5, atol=2e-6)
