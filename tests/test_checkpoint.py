"""Checkpoints: round trip by name (slots included), a new graph, partial restore, clear
errors on corrupt / truncated / foreign files, and saves interrupted midway."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import graphc as gc
from graphc.train import checkpoint as ckpt

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _model(seed=0):
    """A tiny two-layer model trained with Adam (so it has slots and beta powers)."""
    g = gc.Graph()
    rng = np.random.default_rng(seed)
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 4), name="x")
        h = gc.layers.dense(x, 5, activation=gc.nn.relu, seed=seed, name="hidden")
        out = gc.layers.dense(h, 2, seed=seed + 1, name="out")
        loss = gc.reduce_mean(gc.square(out))
        step = gc.train.get_or_create_global_step()
        train = gc.train.AdamOptimizer(0.01).minimize(loss, global_step=step)
    data = rng.standard_normal((8, 4)).astype(np.float32)
    return g, dict(x=x, loss=loss, train=train, step=step), data


def _trained(steps=3, seed=0):
    g, t, data = _model(seed)
    sess = gc.Session(g)
    for _ in range(steps):
        sess.run(t["train"], {t["x"]: data})
    return g, t, data, sess


def _values(sess):
    return {v.name: sess.variable_value(v) for v in gc.global_variables(sess.graph)}


def test_round_trip_restores_every_variable_and_slot(tmp_path):
    g, t, data, sess = _trained()
    before = _values(sess)
    assert "hidden/kernel/Adam" in before and "Adam/beta1_power" in before
    path = gc.train.Saver().save(sess, tmp_path / "model.ckpt")
    for _ in range(2):
        sess.run(t["train"], {t["x"]: data})
    assert not np.allclose(sess.variable_value(g.get_tensor_by_name("hidden/kernel")),
                           before["hidden/kernel"])
    restored = gc.train.Saver().restore(sess, path)
    assert sorted(restored) == sorted(before)
    for name, value in _values(sess).items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    assert dict(gc.train.list_variables(path))["hidden/kernel"] == (4, 5)


def test_restore_into_a_new_graph_by_name_continues_training_identically(tmp_path):
    g, t, data, sess = _trained()
    path = gc.train.Saver().save(sess, tmp_path / "model.ckpt", global_step=t["step"])
    assert path.endswith("model.ckpt-3")
    g2, t2, _ = _model(seed=5)                        # other initial values, same names
    sess2 = gc.Session(g2)
    gc.train.Saver().restore(sess2, path)
    assert sess2.run(t2["step"]) == 3
    for _ in range(2):
        sess.run(t["train"], {t["x"]: data})
        sess2.run(t2["train"], {t2["x"]: data})
    np.testing.assert_allclose(sess2.run(t2["loss"], {t2["x"]: data}),
                               sess.run(t["loss"], {t["x"]: data}), rtol=1e-6)


def _noisy_model():
    """Dropout and a random_normal input noise: a step's numbers depend on the streams."""
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float64, (8, 4), name="x")
        noisy = x + gc.random_normal((8, 4), stddev=0.5, dtype=gc.float64, seed=3)
        h = gc.nn.dropout(gc.layers.dense(noisy, 6, activation=gc.nn.relu, seed=1), rate=0.5)
        loss = gc.reduce_mean(gc.square(gc.layers.dense(h, 1, seed=2)))
        train = gc.train.GradientDescentOptimizer(0.1).minimize(loss)
    return g, x, train


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_a_restored_run_draws_what_an_uninterrupted_one_would(tmp_path, backend):
    data = np.random.default_rng(4).standard_normal((8, 4))

    def steps(sess, x, train, n):
        for _ in range(n):
            sess.run(train, {x: data})
        return _values(sess)

    g, x, train = _noisy_model()
    sess = gc.Session(g, backend=backend)
    steps(sess, x, train, 3)
    gc.train.Saver().save(sess, tmp_path / "model.ckpt", global_step=3)
    uninterrupted = steps(sess, x, train, 3)

    g2, x2, train2 = _noisy_model()                   # a new process would build this
    fresh = gc.Session(g2, backend=backend)
    gc.train.Saver().restore(fresh, gc.train.latest_checkpoint(tmp_path))
    resumed = steps(fresh, x2, train2, 3)
    for name, value in uninterrupted.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)

    g3, x3, train3 = _noisy_model()          # variables alone: the streams start again
    partial = gc.Session(g3, backend=backend)
    gc.train.Saver(gc.global_variables(g3)).restore(partial, tmp_path / "model.ckpt-3")
    restarted = steps(partial, x3, train3, 3)
    assert not np.allclose(restarted["dense/kernel"], uninterrupted["dense/kernel"])


def test_malformed_random_streams_are_refused(tmp_path):
    g, x, train = _noisy_model()
    sess = gc.Session(g, backend="numpy")
    arrays = {v.name: sess.variable_value(v) for v in gc.global_variables(g)}
    path = ckpt.write_checkpoint(tmp_path / "bad.ckpt", arrays, {"random_streams": [1]})
    with pytest.raises(ckpt.CheckpointError, match="random_streams"):
        gc.train.Saver().restore(sess, path)


def test_partial_restore_for_transfer_learning(tmp_path):
    g, t, data, sess = _trained()
    path = gc.train.Saver().save(sess, tmp_path / "model.ckpt")
    saved = gc.train.load_checkpoint(path)
    g2, t2, _ = _model(seed=9)
    sess2 = gc.Session(g2)
    out_before = sess2.variable_value(g2.get_tensor_by_name("out/kernel"))
    hidden = gc.layers.variables("hidden", trainable_only=True, graph=g2)
    assert gc.train.Saver(hidden).restore(sess2, path) == ["hidden/kernel", "hidden/bias"]
    np.testing.assert_array_equal(sess2.variable_value(hidden[0]), saved["hidden/kernel"])
    np.testing.assert_array_equal(sess2.variable_value(g2.get_tensor_by_name("out/kernel")),
                                  out_before)


def test_saver_with_a_name_map(tmp_path):
    g, t, data, sess = _trained()
    path = gc.train.Saver().save(sess, tmp_path / "model.ckpt")
    g2 = gc.Graph()
    with g2.as_default():
        w = gc.Variable(np.zeros((4, 5), np.float32), name="encoder/w")
    sess2 = gc.Session(g2)
    gc.train.Saver({"hidden/kernel": w}).restore(sess2, path)
    np.testing.assert_array_equal(sess2.variable_value(w),
                                  sess.variable_value(g.get_tensor_by_name("hidden/kernel")))


def test_missing_and_mismatched_variables_are_named(tmp_path):
    g, t, data, sess = _trained()
    path = gc.train.Saver(gc.layers.variables("hidden", graph=g)).save(sess, tmp_path / "h")
    with pytest.raises(gc.train.CheckpointError, match="no value for out/kernel"):
        gc.train.Saver().restore(sess, path)
    g2 = gc.Graph()
    with g2.as_default():
        w = gc.Variable(np.zeros((3, 3), np.float32), name="hidden/kernel")
    with pytest.raises(gc.train.CheckpointError, match=r"float32\[4, 5\].*float32\[3, 3\]"):
        gc.train.Saver([w]).restore(gc.Session(g2), path)


def _saved_file(tmp_path):
    g, t, data, sess = _trained()
    return gc.train.Saver().save(sess, tmp_path / "model.ckpt")


def test_truncated_file_is_refused_with_reason(tmp_path):
    path = _saved_file(tmp_path)
    blob = open(path, "rb").read()
    for cut in (5, 40, len(blob) - 7):
        with open(path, "wb") as f:
            f.write(blob[:cut])
        with pytest.raises(gc.train.CheckpointError, match="truncated"):
            gc.train.load_checkpoint(path)


def test_corrupt_bytes_are_refused_with_reason(tmp_path):
    path = _saved_file(tmp_path)
    blob = bytearray(open(path, "rb").read())
    data_byte = bytearray(blob)
    data_byte[-3] ^= 0xFF
    with open(path, "wb") as f:
        f.write(data_byte)
    with pytest.raises(gc.train.CheckpointError, match="corrupt.*fails its checksum"):
        gc.train.load_checkpoint(path)
    header_byte = bytearray(blob)
    header_byte[30] ^= 0x01
    with open(path, "wb") as f:
        f.write(header_byte)
    with pytest.raises(gc.train.CheckpointError, match="header fails its checksum"):
        gc.train.load_checkpoint(path)


def test_foreign_file_and_newer_version_are_refused(tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("hello, this is not a checkpoint")
    with pytest.raises(gc.train.CheckpointError, match="not a graphc checkpoint"):
        gc.train.load_checkpoint(other)
    path = _saved_file(tmp_path)
    blob = bytearray(open(path, "rb").read())
    blob[8] = 99                                      # the format version field
    with open(path, "wb") as f:
        f.write(blob)
    with pytest.raises(gc.train.CheckpointError, match="format version 99"):
        gc.train.load_checkpoint(path)
    with pytest.raises(gc.train.CheckpointError, match="no checkpoint at"):
        gc.train.load_checkpoint(tmp_path / "missing.ckpt")


def _with_header(header_bytes: bytes, data: bytes = b"") -> bytes:
    """A checkpoint whose header is `header_bytes`, its CRC valid."""
    import struct
    import zlib
    return (struct.pack("<8sII", b"GRAPHCKP", 1, len(header_bytes)) + header_bytes +
            struct.pack("<I", zlib.crc32(header_bytes)) + data)


def _tensor(**changes):
    import zlib
    entry = {"name": "w", "dtype": "float32", "shape": [2], "offset": 0, "nbytes": 8,
             "crc32": zlib.crc32(bytes(8))}
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


CRAFTED_HEADERS = {
    "not JSON": b"{tensors: oops",
    "not UTF-8": b"\xff\xfe{}",
    "a JSON list": b"[1, 2, 3]",
    "no tensors list": b'{"tensors": 3, "data_nbytes": 8}',
    "bad data size": b'{"tensors": [], "data_nbytes": "8"}',
    "unknown dtype": _tensor(dtype="complex64"),
    "null dtype": _tensor(dtype=None),
    "shape not matching its bytes": _tensor(shape=[3]),
    "negative shape": _tensor(shape=[-2]),
    "missing crc32": _tensor(crc32=None),
    "offset past the data": _tensor(offset=4),
    "boolean size": _tensor(nbytes=True, shape=[]),
    "entry not an object": ["w"],
}


@pytest.mark.parametrize("case", sorted(CRAFTED_HEADERS))
def test_crafted_headers_with_valid_checksums_are_refused(tmp_path, case):
    import json
    header = CRAFTED_HEADERS[case]
    if not isinstance(header, bytes):
        header = json.dumps({"tensors": [header], "data_nbytes": 8, "meta": {}}).encode()
    path = tmp_path / "crafted.ckpt"
    path.write_bytes(_with_header(header, bytes(8)))
    with pytest.raises(gc.train.CheckpointError, match="malformed header"):
        gc.train.load_checkpoint(path)
    g = gc.Graph()
    with g.as_default():
        gc.Variable(np.zeros(2, np.float32), name="w")
    with pytest.raises(gc.train.CheckpointError):
        gc.train.Saver().restore(gc.Session(g, backend="numpy"), path)


def test_a_folder_or_unreadable_path_is_a_checkpoint_error(tmp_path):
    with pytest.raises(gc.train.CheckpointError, match="cannot read checkpoint"):
        gc.train.load_checkpoint(tmp_path)


def test_a_save_removes_temporaries_of_saves_that_died(tmp_path):
    g = gc.Graph()
    with g.as_default():
        gc.Variable(np.ones(4, np.float32), name="w")
    sess = gc.Session(g, backend="numpy")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    old = time.time() - 2 * ckpt.STALE_AFTER_S
    stale = [f".model.ckpt-{i}.{dead}.abcd_{i:03d}.tmp" for i in range(3)] + \
        [".model.ckpt.k2j4h5g6.tmp"]                 # an older graphc's name, no pid
    fresh_of_the_dead = f".model.ckpt-9.{dead}.zzzzzzzz.tmp"      # may be another machine's
    live = f".model.ckpt-7.{os.getpid()}.qwertyui.tmp"            # a save still writing
    keep = [fresh_of_the_dead, live, ".model.ckpt.unrelated", "notes.tmp"]
    for name in stale + keep:
        (tmp_path / name).write_bytes(b"x" * 100)
    for name in stale[:3] + [live]:
        os.utime(tmp_path / name, (old, old))
    os.utime(tmp_path / stale[3], (old - ckpt.STALE_WITHOUT_PID_S,) * 2)
    gc.train.Saver().save(sess, tmp_path / "model.ckpt")
    assert sorted(os.listdir(tmp_path)) == sorted(keep + ["model.ckpt", "checkpoint"])


def test_save_that_fails_midway_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    g, t, data, sess = _trained()
    saver = gc.train.Saver()
    path = saver.save(sess, tmp_path / "model.ckpt")
    old = open(path, "rb").read()
    sess.run(t["train"], {t["x"]: data})

    def write_half_then_fail(file, chunks):
        chunks = list(chunks)
        for chunk in chunks[:len(chunks) // 2]:
            file.write(chunk)
        raise KeyboardInterrupt("interrupted while saving")

    monkeypatch.setattr(ckpt, "_write_chunks", write_half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        saver.save(sess, path)
    assert open(path, "rb").read() == old
    # the temporary file was removed; "checkpoint" is the first save's state file
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "model.ckpt"]
    monkeypatch.undo()
    saver.restore(sess, path)                         # still a valid checkpoint


KILLED_SAVER = textwrap.dedent("""
    import sys, time
    import numpy as np
    import graphc as gc
    from graphc.train import checkpoint as ckpt

    path, marker = sys.argv[1], sys.argv[2]

    def write_half_then_hang(file, chunks):
        chunks = list(chunks)
        for chunk in chunks[:len(chunks) // 2]:
            file.write(chunk)
        file.flush()
        open(marker, "w").close()
        time.sleep(60)

    g = gc.Graph()
    with g.as_default():
        w = gc.Variable(np.full((64, 64), 2.0, np.float32), name="w")
    ckpt._write_chunks = write_half_then_hang
    gc.train.Saver().save(gc.Session(g), path)
""")


def test_save_killed_with_sigkill_leaves_the_old_checkpoint(tmp_path):
    g = gc.Graph()
    with g.as_default():
        gc.Variable(np.ones((64, 64), np.float32), name="w")
    path = gc.train.Saver().save(gc.Session(g), tmp_path / "model.ckpt")
    marker = tmp_path / "writing"
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", KILLED_SAVER, path, str(marker)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "the saving process ended before writing"
            assert time.monotonic() < deadline, "the saving process never started writing"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    np.testing.assert_array_equal(gc.train.load_checkpoint(path)["w"], np.ones((64, 64)))
    leftovers = [n for n in os.listdir(tmp_path)
                 if n not in ("model.ckpt", "checkpoint", "writing")]
    assert all(n.startswith(".model.ckpt.") and n.endswith(".tmp") for n in leftovers)
