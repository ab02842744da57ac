"""gc.export: the exported library (through a C program built with gcc, and through
gc.load_exported) computes what the session computes — outputs, and k train steps —
links statically against libc, libm and pthreads alone, and refuses bad weights."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import struct
import subprocess
import tempfile

import numpy as np
import pytest

import graphc as gc
from graphc import models
from graphc.export import weights
from graphc.export.model import ABI_VERSION

CC = shutil.which("gcc") or shutil.which("cc")
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler on this machine")
TARGETS = ("c", "cpu", "cpu-portable", "cuda-host")
"""cuda-host: the CUDA target's generated source, built with its CPU emulation."""
STEPS = 3


def classifier(kind: str):
    step = models.mlp() if kind == "mlp" else models.lenet5()
    with step.graph.as_default():
        probs = gc.nn.softmax(step.logits, name="probs")
    return step, probs


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """(session, step, probs, folder) per (model, target): each model trained 2 steps in
    its session before the export, so the weights are not the initial ones."""
    made = {}

    def get(kind: str, target: str):
        if (kind, target) not in made:
            step, probs = classifier(kind)
            sess = gc.Session(graph=step.graph, backend="cuda-host" if target == "cuda-host"
                              else None)
            for i in range(2):
                sess.run(step.train_op, step.batch(16, seed=100 + i))
            folder = tmp_path_factory.mktemp(f"{kind}-{target}") / "export"
            gc.export(sess, [step.x], [probs], folder, name=kind, target=target,
                      train_step=step.train_op, loss=step.loss)
            made[kind, target] = (sess, step, probs, folder)
        return made[kind, target]
    return get


def assert_matches(actual, expected, target):
    if target in ("cpu", "cuda-host"):   # the session's own code, compiled ahead of time
        np.testing.assert_array_equal(actual, expected)
    else:                           # another GEMM blocking or the C compiler's code
        np.testing.assert_allclose(actual, expected, rtol=2e-5, atol=2e-6)


@needs_cc
@pytest.mark.parametrize("kind", ["mlp", "lenet"])
@pytest.mark.parametrize("target", TARGETS)
def test_loader_matches_session(exports, kind, target, tmp_path):
    sess, step, probs, folder = exports(kind, target)
    model = gc.load_exported(folder)
    for seed, n in ((1, 5), (2, 33)):             # two batch sizes, one library
        xb = step.batch(n, seed=seed)[step.x]
        assert_matches(model(xb), sess.run(probs, {step.x: xb}), target)
    # k train steps in the library equal k steps in a copy of the session
    twin = twin_session(sess, step, target)
    for i in range(STEPS):
        batch = step.batch(8, seed=200 + i)
        expected, _ = twin.run([step.loss, step.train_op], batch)
        loss = model.train_step(batch[step.x], batch[step.y])
        assert_matches(np.float32(loss), expected, target)
    model.save(tmp_path / "trained.safetensors")
    saved = weights.read(tmp_path / "trained.safetensors")
    for v in step.graph.get_collection(gc.ops.state.VARIABLES):
        assert_matches(saved[v.name], twin.variable_value(v), target)
    xb = step.batch(4, seed=9)[step.x]
    assert_matches(model(xb), twin.run(probs, {step.x: xb}), target)
    model.close()
    # the saved weights load into the same library, as the file the export wrote
    again = gc.load_exported(folder, weights=tmp_path / "trained.safetensors")
    assert_matches(again(xb), twin.run(probs, {step.x: xb}), target)
    again.close()


def twin_session(sess, step, target):
    """A session of the same graph and backend holding `sess`'s variable values."""
    twin = gc.Session(graph=step.graph, backend=sess.backend.name)
    for v in step.graph.get_collection(gc.ops.state.VARIABLES):
        twin.set_variable_value(v, sess.variable_value(v))
    return twin


HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "mlp.h"

static void *slurp(const char *path, long *size) {
    FILE *f = fopen(path, "rb");
    void *data;
    if (!f) { perror(path); exit(3); }
    fseek(f, 0, SEEK_END); *size = ftell(f); fseek(f, 0, SEEK_SET);
    data = malloc(*size ? *size : 1);
    if (fread(data, 1, *size, f) != (size_t) *size) exit(3);
    fclose(f);
    return data;
}

int main(int argc, char **argv) {
    mlp_context *ctx;
    long xs, ys;
    float *x, *probs, loss;
    int32_t *y;
    int64_t n;
    int status, i, steps;
    FILE *out;
    if (argc != 7) return 2;
    status = mlp_create(argv[1], &ctx);
    if (status != MLP_OK) {
        printf("create failed (%d): %s\n", status, mlp_last_error(ctx));
        mlp_destroy(ctx);
        return 1;
    }
    x = (float *) slurp(argv[2], &xs);
    y = (int32_t *) slurp(argv[3], &ys);
    n = ys / 4;
    steps = atoi(argv[4]);
    probs = (float *) malloc(n * 10 * sizeof(float));
    if (mlp_run(ctx, n, x, probs) != MLP_OK) { printf("%s\n", mlp_last_error(ctx)); return 1; }
    out = fopen(argv[5], "wb");
    fwrite(probs, sizeof(float), n * 10, out);
    for (i = 0; i < steps; i++) {
        if (mlp_train_step(ctx, n, x, y, &loss) != MLP_OK) {
            printf("%s\n", mlp_last_error(ctx));
            return 1;
        }
        fwrite(&loss, sizeof(float), 1, out);
    }
    fclose(out);
    if (mlp_save(ctx, argv[6]) != MLP_OK) { printf("%s\n", mlp_last_error(ctx)); return 1; }
    if (mlp_run(ctx, -1, x, probs) != MLP_ERROR_ARGUMENT) return 4;
    printf("batch -1: %s\n", mlp_last_error(ctx));
    mlp_destroy(ctx);
    return 0;
}
"""

ALLOWED_LIBRARIES = ("linux-vdso", "libc.so", "libm.so", "libpthread.so", "ld-linux")


@pytest.fixture(scope="module")
def harness(exports, tmp_path_factory):
    """The program HARNESS (written for mlp, renamed for the model) for a (model,
    target), linked against its libNAME.a."""
    built = {}

    def get(kind: str, target: str):
        if (kind, target) not in built:
            folder = exports(kind, target)[3]
            where = tmp_path_factory.mktemp(f"harness-{kind}-{target}")
            source = HARNESS.replace("mlp", kind).replace("MLP", kind.upper())
            (where / "main.c").write_text(source)
            flags = json.loads((folder / "manifest.json").read_text())["link_flags"]
            subprocess.run([CC, "-O1", "-std=c99", "-Wall", "-Werror", f"-I{folder}",
                            "main.c", str(folder / f"lib{kind}.a"), *flags, "-o", "harness"],
                           cwd=where, check=True, capture_output=True)
            built[kind, target] = where / "harness"
        return built[kind, target]
    return get


@needs_cc
@pytest.mark.parametrize("kind", ["mlp", "lenet"])
@pytest.mark.parametrize("target", TARGETS)
def test_c_program_links_statically_and_matches(exports, harness, kind, target, tmp_path):
    sess, step, probs, folder = exports(kind, target)
    program = harness(kind, target)
    ldd = subprocess.run(["ldd", str(program)], capture_output=True, text=True).stdout
    libraries = [os.path.basename(line.split()[0]) for line in ldd.splitlines() if line.strip()]
    allowed = ALLOWED_LIBRARIES + (("libstdc++.so", "libgcc_s.so") if target == "cuda-host"
                                   else ())
    assert libraries and all(lib.startswith(allowed) for lib in libraries), ldd
    undefined = subprocess.run(["nm", "-u", str(folder / f"lib{kind}.a")],
                               capture_output=True, text=True).stdout.split()
    assert not [s for s in undefined if s.startswith(("Py", "_Py", "graphc_", "LLVM"))]
    batch = step.batch(6, seed=5)
    batch[step.x].tofile(tmp_path / "x.bin")
    batch[step.y].tofile(tmp_path / "y.bin")
    run = subprocess.run([str(program), str(_weights_file(folder, kind)), "x.bin", "y.bin",
                          str(STEPS), "out.bin", "saved.safetensors"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "batch -1: " in run.stdout and "negative" in run.stdout
    out = np.fromfile(tmp_path / "out.bin", np.float32)
    twin = twin_session(sess, step, target)
    assert_matches(out[:60].reshape(6, 10), twin.run(probs, {step.x: batch[step.x]}), target)
    losses = [twin.run([step.loss, step.train_op], batch)[0] for _ in range(STEPS)]
    assert_matches(out[60:], np.array(losses, np.float32), target)
    saved = weights.read(tmp_path / "saved.safetensors")
    for v in step.graph.get_collection(gc.ops.state.VARIABLES):
        assert_matches(saved[v.name], twin.variable_value(v), target)


@needs_cc
def test_c_export_builds_strict_c99(exports, tmp_path):
    """The c target's source is C99 a strict compiler accepts without a warning."""
    _, _, _, folder = exports("lenet", "c")
    done = subprocess.run([CC, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", f"-I{folder}", "-c",
                           str(folder / "lenet.c"), "-o", str(tmp_path / "lenet.o")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    make = shutil.which("make")
    if make:                        # the Makefile rebuilds both libraries from the sources
        copy = tmp_path / "rebuild"
        shutil.copytree(folder, copy)
        for lib in ("liblenet.so", "liblenet.a", "lenet.o"):
            (copy / lib).unlink()
        done = subprocess.run([make, "-s"], cwd=copy, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert (copy / "liblenet.so").exists() and (copy / "liblenet.a").exists()


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (the CUDA compiler) is not "
                    "installed")
def test_cuda_export_builds_with_nvcc(tmp_path):
    """The cuda target's source builds with nvcc into both libraries; without a GPU the
    library refuses to load, naming why; with one it computes what the session does."""
    from test_cuda import _gpu
    step, probs = classifier("lenet")
    sess = gc.Session(graph=step.graph)
    folder = gc.export(sess, [step.x], [probs], tmp_path / "cuda", name="lenet",
                       target="cuda", train_step=step.train_op, loss=step.loss)
    symbols = subprocess.run(["nm", "-D", "--defined-only", os.path.join(folder, "liblenet.so")],
                             capture_output=True, text=True).stdout
    api = {line.split()[-1] for line in symbols.splitlines()}
    assert {"lenet_create", "lenet_run", "lenet_train_step", "lenet_save"} <= api
    assert not [s for s in api if s.startswith("graphc_")]
    assert os.path.getsize(os.path.join(folder, "liblenet.a")) > 0
    count, why = _gpu()
    if count == 0:
        with pytest.raises(gc.ExportError, match="CUDA|cuda"):
            gc.load_exported(folder)
        return
    model = gc.load_exported(folder)                # on a GPU: the device's numbers
    xb = step.batch(16, seed=1)[step.x]
    np.testing.assert_allclose(model(xb), sess.run(probs, {step.x: xb}), rtol=1e-4, atol=1e-5)
    batch = step.batch(16, seed=2)
    expected, _ = sess.run([step.loss, step.train_op], batch)
    np.testing.assert_allclose(model.train_step(batch[step.x], batch[step.y]), expected,
                               rtol=1e-4)


# -- the weights file ---------------------------------------------------------------------

def _weights_file(folder, kind="mlp"):
    return folder / f"{kind}.safetensors"


@needs_cc
def test_weights_file_is_safetensors(exports):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    sess, step, _, folder = exports("mlp", "c")
    loaded = safetensors_numpy.load_file(str(_weights_file(folder)))
    for v in step.graph.get_collection(gc.ops.state.VARIABLES):
        np.testing.assert_array_equal(loaded[v.name], sess.variable_value(v))


def _corrupt(path, how: str, other=None) -> dict:
    """Damage the weights file at `path` as `how` says; the numbers its message names."""
    data = bytearray(path.read_bytes())
    facts = {"size": len(data), "half": len(data) // 2,
             "huge": struct.unpack_from("<Q", data)[0] + 2 ** 63}
    if how == "flip data":
        data[-5] ^= 0x40
    elif how == "flip header":
        where = data.index(b"data_offsets")
        data[where] = ord("D")               # the entry's offsets go missing
    elif how == "truncate":
        data = data[: len(data) // 2]
    elif how == "cut in the header":
        data = data[:20]
    elif how == "huge header length":
        data[7] |= 0x80
    elif how == "empty":
        data = bytearray()
    elif how == "short length":
        data = data[:5]
    elif how == "another model":
        data = bytearray(other.read_bytes())
    elif how == "another version":
        arrays = weights.read(path)
        model = json_meta(path)["graphc_model"]
        data = bytearray(weights.encode(arrays, model, ABI_VERSION + 1))
    elif how in ("missing", "directory"):
        path.unlink()
        if how == "directory":
            path.mkdir()
        return facts
    path.write_bytes(bytes(data))
    return facts


def json_meta(path):
    raw = path.read_bytes()
    (size,) = struct.unpack_from("<Q", raw)
    return json.loads(raw[8: 8 + size])["__metadata__"]


CORRUPTIONS = {   # how: what the C loader says (and Python's reader, but where PYTHON_SAYS)
    "flip data": "are damaged: 'dense_2/bias/Momentum' fails its checksum",
    "flip header": "have 'dense/kernel' outside the file or of the wrong size",
    "truncate": "are truncated: expected {size} bytes, the file has {half}",
    "cut in the header": "are truncated or not safetensors: the header length",
    "huge header length": "are truncated or not safetensors: the header length {huge} is "
                          "larger than the file ({size} bytes)",
    "empty": "are truncated: 0 bytes", "short length": "are truncated: 5 bytes",
    "another model": "belong to another model", "another version": "have ABI version",
    "missing": "cannot open weights", "directory": "is a directory, not a file"}
PYTHON_SAYS = {"flip header": "have a malformed entry for 'dense/kernel'"}


@needs_cc
@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_bad_weights_are_refused(exports, harness, tmp_path, how):
    """Refused by the C API (the harness's mlp_create), by gc.load_exported and by
    Python's reader, each saying why."""
    _, _, _, folder = exports("mlp", "c")
    _, _, _, other = exports("lenet", "c")
    path = tmp_path / "w.safetensors"
    shutil.copy(_weights_file(folder), path)
    facts = _corrupt(path, how, _weights_file(other, "lenet"))
    says = f"weights '{path}' " if how not in ("missing", "another model") else ""
    said = says + CORRUPTIONS[how].format(**facts)
    run = subprocess.run([str(harness("mlp", "c")), str(path), "x", "y", "0", "o", "s"],
                         capture_output=True, text=True)
    assert run.returncode == 1 and said in run.stdout, run.stdout
    with pytest.raises(gc.WeightsError, match=re.escape(said)):
        gc.load_exported(folder, weights=path)
    with pytest.raises(gc.WeightsError, match=re.escape(PYTHON_SAYS.get(how, said))):
        weights.read(path, model=json_meta(_weights_file(folder))["graphc_model"],
                     abi=ABI_VERSION)


def test_python_weights_round_trip(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "é/b": np.array(3, np.int64),
              "m": np.array([True, False])}
    path = tmp_path / "w.safetensors"
    weights.write(path, arrays, "hash", ABI_VERSION, {"drop": 4})
    back = weights.read(path, model="hash", abi=ABI_VERSION)
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype and np.array_equal(back[k], v)
    assert json_meta(path)["graphc_rng:drop"] == "4"
    with pytest.raises(gc.WeightsError, match="another model"):
        weights.read(path, model="other")
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


@needs_cc
def test_saved_files_follow_the_umask(exports, tmp_path):
    """NAME_save and Python's writer create their files as any program does (mode 0666
    less the umask), and the header says what ERROR_STATE means."""
    _, _, _, folder = exports("mlp", "c")
    model = gc.load_exported(folder)
    umask = os.umask(0o027)
    try:
        model.save(tmp_path / "c.safetensors")
        weights.write(tmp_path / "py.safetensors", {"a": np.zeros(2)}, "h", ABI_VERSION)
    finally:
        os.umask(umask)
    for name in ("c", "py"):
        assert stat.S_IMODE(os.stat(tmp_path / f"{name}.safetensors").st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["c.safetensors", "py.safetensors"]
    header = (folder / "mlp.h").read_text()
    line = next(text for text in header.splitlines() if "MLP_ERROR_STATE" in text)
    assert "its create failed" in line and "big-endian" in line and "train step" not in line


# -- what the library checks ----------------------------------------------------------------

@needs_cc
def test_loader_checks_inputs(exports):
    _, step, _, folder = exports("mlp", "c")
    model = gc.load_exported(folder)
    with pytest.raises(ValueError, match=r"must have shape \[N, 784\]"):
        model(np.zeros((3, 783), np.float32))
    with pytest.raises(TypeError, match="takes 1 inputs"):
        model()
    with pytest.raises(TypeError, match="must be float32"):
        model(np.zeros((3, 784), np.complex64))
    with pytest.raises(ValueError, match="disagree on the batch size"):
        model.train_step(np.zeros((3, 784), np.float32), np.zeros(4, np.int32))
    model.close()
    with pytest.raises(gc.ExportError, match="closed"):
        model(np.zeros((3, 784), np.float32))


@needs_cc
def test_fixed_batch_export_refuses_other_batches(tmp_path):
    step, probs = classifier("mlp")
    sess = gc.Session(graph=step.graph)
    folder = gc.export(sess, [step.x], [probs], tmp_path / "fixed", name="mlp",
                       target="c", batch_size=4)
    model = gc.load_exported(folder)
    xb = step.batch(4, seed=1)[step.x]
    np.testing.assert_allclose(model(xb), sess.run(probs, {step.x: xb}), rtol=2e-5, atol=2e-6)
    with pytest.raises(ValueError, match=r"shape \[4, 784\]"):
        model(step.batch(5)[step.x])
    # the C API has no batch argument then: the arrays are 4 rows
    assert "int mlp_run(mlp_context *ctx, const float *x, float *probs);" in \
        open(os.path.join(folder, "mlp.h")).read()


def _run_and_check_graph():
    """A graph whose run-time check fails for a label out of range."""
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 3), name="x")
        idx = gc.placeholder(gc.int32, (None,), name="idx")
        table = gc.Variable(np.arange(12, dtype=np.float32).reshape(4, 3), name="table")
        picked = gc.gather(table, idx, name="picked")
        loss = gc.reduce_sum(picked * x, name="loss")
        train = gc.train.GradientDescentOptimizer(0.1).minimize(loss)
    return g, x, idx, table, picked, loss, train


@needs_cc
@pytest.mark.parametrize("target", ["c", "cpu"])
def test_failed_check_reports_and_keeps_variables(tmp_path, target):
    g, x, idx, table, picked, loss, train = _run_and_check_graph()
    sess = gc.Session(graph=g)
    folder = gc.export(sess, [x, idx], [picked], tmp_path / "e", name="gathers",
                       target=target, train_step=train, loss=loss)
    model = gc.load_exported(folder)
    xb = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    good = np.array([1, 3], np.int32)
    np.testing.assert_array_equal(model(xb, good), sess.run(picked, {x: xb, idx: good}))
    with pytest.raises(gc.ExportError, match="picked"):
        model(xb, np.array([1, 7], np.int32))
    with pytest.raises(gc.ExportError, match="out of range|outside"):
        model.train_step(xb, np.array([9, 0], np.int32))
    model.save(tmp_path / "after.safetensors")           # the failed step changed nothing
    np.testing.assert_array_equal(weights.read(tmp_path / "after.safetensors")["table"],
                                  sess.variable_value(table))
    expected, _ = sess.run([loss, train], {x: xb, idx: good})
    np.testing.assert_allclose(model.train_step(xb, good), expected, rtol=1e-6)


@needs_cc
def test_dropout_streams_continue_like_the_session(tmp_path):
    """A train step with dropout draws the session's masks, step after step."""
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 20), name="x")
        y = gc.placeholder(gc.int32, (None,), name="y")
        h = gc.layers.dense(x, 32, activation=gc.nn.relu, seed=1)
        h = gc.nn.dropout(h, rate=0.5, seed=7, training=True)
        logits = gc.layers.dense(h, 3, seed=2)
        loss = gc.losses.sparse_softmax_cross_entropy(y, logits)
        train = gc.train.AdamOptimizer(1e-2).minimize(loss)
    sess = gc.Session(graph=g)
    rng = np.random.default_rng(0)
    batch = {x: rng.standard_normal((8, 20)).astype(np.float32),
             y: rng.integers(0, 3, 8).astype(np.int32)}
    sess.run(train, batch)                            # one draw before the export
    folder = gc.export(sess, [x], [logits], tmp_path / "drop", name="drop", target="c",
                       train_step=train, loss=loss)
    model = gc.load_exported(folder)
    for _ in range(3):
        expected, _ = sess.run([loss, train], batch)
        np.testing.assert_allclose(model.train_step(batch[x], batch[y]), expected,
                                   rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "w.safetensors")          # the stream has drawn 1 + 3 masks
    counts = {k: v for k, v in json_meta(tmp_path / "w.safetensors").items()
              if k.startswith("graphc_rng:")}
    assert list(counts.values()) == ["4"], counts


@needs_cc
def test_print_in_an_exported_program(tmp_path, capfd):
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 2), name="x")
        shown = gc.print(x * 2.0, message="doubled: ")
        out = gc.reduce_sum(shown, axis=1, name="out")
    sess = gc.Session(graph=g)
    folder = gc.export(sess, [x], [out], tmp_path / "p", name="printing", target="c")
    model = gc.load_exported(folder)
    capfd.readouterr()
    np.testing.assert_array_equal(model(np.array([[1, 2], [3, 4]], np.float32)), [6, 14])
    printed = capfd.readouterr().out
    assert printed == "doubled: [2, 2] [2, 4, 6 ...]\n"          # summarize=3
    sess.run(out, {x: np.array([[1, 2], [3, 4]], np.float32)})
    # numpy writes 2. where C's %g writes 2
    assert re.sub(r"(\d)\.(?=[,\s\]])", r"\1", capfd.readouterr().out) == printed


# -- what export refuses ----------------------------------------------------------------------

def test_export_errors(tmp_path):
    step, probs = classifier("mlp")
    sess = gc.Session(graph=step.graph)
    with pytest.raises(gc.ExportError, match="C identifier"):
        gc.export(sess, [step.x], [probs], tmp_path / "a", name="my-model")
    with pytest.raises(gc.ExportError, match="unknown target"):
        gc.export(sess, [step.x], [probs], tmp_path / "a", target="tpu")
    with pytest.raises(gc.ExportError, match="needs loss="):
        gc.export(sess, [step.x], [probs], tmp_path / "a", train_step=step.train_op)
    with pytest.raises(gc.ExportError, match="updates variables"):
        gc.export(sess, [step.x, step.y], [step.train_op], tmp_path / "a")
    with pytest.raises(gc.ExportError, match="must be fed"):
        gc.export(sess, [], [probs], tmp_path / "a")
    graphc_like = json.dumps({"graphc_version": "0", "abi_version": ABI_VERSION,
                              "model_hash": "h", "files": {"m.h": "0"}})
    manifest = "manifest.json"
    taken = {   # folder: its files, why it is refused
        "notes": ({"notes.txt": "mine"}, f"it holds no {manifest}"),
        "extension": ({manifest: '{"manifest_version": 3}', "background.js": "x"},
                      f"its {manifest} is not graphc's: no graphc_version"),
        "not json": ({manifest: "{", "m.h": ""}, f"its {manifest} cannot be read as JSON"),
        "more": ({manifest: graphc_like, "m.h": "", "background.js": "x"},
                 "it holds what no export writes: background.js")}
    for folder, (files, why) in taken.items():
        (tmp_path / folder).mkdir()
        for name, text in files.items():
            (tmp_path / folder / name).write_text(text)
        message = f"{tmp_path / folder} exists and is not a graphc export ({why}"
        with pytest.raises(gc.ExportError, match=re.escape(message)):
            gc.export(sess, [step.x], [probs], tmp_path / folder)
        assert {p.name: p.read_text() for p in (tmp_path / folder).iterdir()} == files
    assert sorted(os.listdir(tmp_path)) == sorted(taken)     # no half-written folder left


@needs_cc
def test_export_replaces_an_earlier_export(tmp_path):
    step, probs = classifier("mlp")
    sess = gc.Session(graph=step.graph)
    first = gc.export(sess, [step.x], [probs], tmp_path / "e", name="mlp", target="c")
    sess.run(step.train_op, step.batch(8))
    again = gc.export(sess, [step.x], [probs], tmp_path / "e", name="mlp", target="c")
    assert first == again and sorted(os.listdir(tmp_path)) == ["e"]
    xb = step.batch(3, seed=4)[step.x]
    model = gc.load_exported(again)
    np.testing.assert_allclose(model(xb), sess.run(probs, {step.x: xb}), rtol=2e-5, atol=2e-6)


@needs_cc
def test_load_after_another_export_to_the_same_path(tmp_path, monkeypatch):
    """A model loaded from a path, then another exported there: loading it again runs the
    new library, not the one already loaded from that path, and leaves no copy behind."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    os.mkdir(tmp_path / "tmp")
    xb = np.array([[1, 2]], np.float32)
    loaded = []
    for scale in (2.0, 3.0):
        g = gc.Graph()
        with g.as_default():
            x = gc.placeholder(gc.float32, (None, 2), name="x")
            out = gc.reduce_sum(x * scale, axis=1, name="out")
        gc.export(gc.Session(graph=g), [x], [out], tmp_path / "e", name="scaled",
                  target="c")
        loaded.append(gc.load_exported(tmp_path / "e"))
        np.testing.assert_array_equal(loaded[-1](xb), [3 * scale])
    np.testing.assert_array_equal(loaded[0](xb), [6])       # the first still runs its own
    assert os.listdir(tmp_path / "tmp") == []


def test_loader_refuses_what_is_not_an_export(tmp_path):
    with pytest.raises(gc.ExportError, match="not a graphc export"):
        gc.load_exported(tmp_path)


TWO_MODELS = r"""
#include <stdio.h>
#include "mlp.h"
#include "lenet.h"

int main(int argc, char **argv) {
    mlp_context *a;
    lenet_context *b;
    if (argc != 3) return 2;
    if (mlp_create(argv[1], &a) != MLP_OK || lenet_create(argv[2], &b) != LENET_OK) return 1;
    printf("%s %d %s %d\n", mlp_info()->name, mlp_info()->n_variables, lenet_info()->name,
           lenet_info()->n_variables);
    mlp_destroy(a);
    lenet_destroy(b);
    return 0;
}
"""


@needs_cc
@pytest.mark.parametrize("target", ["c", "cpu"])
def test_two_models_link_into_one_program(exports, target, tmp_path):
    _, mlp_step, _, mlp = exports("mlp", target)
    _, lenet_step, _, lenet = exports("lenet", target)
    (tmp_path / "main.c").write_text(TWO_MODELS)
    subprocess.run([CC, "-std=c99", "-Wall", "-Werror", f"-I{mlp}", f"-I{lenet}", "main.c",
                    str(mlp / "libmlp.a"), str(lenet / "liblenet.a"), "-lm", "-pthread", "-o",
                    "both"], cwd=tmp_path, check=True, capture_output=True)
    run = subprocess.run([str(tmp_path / "both"), str(mlp / "mlp.safetensors"),
                          str(lenet / "lenet.safetensors")], capture_output=True, text=True)
    count = len(mlp_step.graph.get_collection(gc.ops.state.VARIABLES))
    assert run.stdout.split() == ["mlp", str(count), "lenet", "20"], run.stdout + run.stderr


@needs_cc
def test_contexts_in_threads_are_independent(exports):
    """Each thread its own context (the cpu target: each its own thread pool)."""
    import threading
    sess, step, probs, folder = exports("lenet", "cpu")
    batches = [step.batch(9, seed=50 + i)[step.x] for i in range(4)]
    expected = [sess.run(probs, {step.x: b}) for b in batches]
    results = [None] * 4

    def work(i):
        model = gc.load_exported(folder)
        for _ in range(3):
            results[i] = model(batches[i])
        model.close()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)
