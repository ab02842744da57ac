"""Readers for data sets kept as local files: MNIST's IDX files and CIFAR-10's python
batches. Nothing is downloaded; point them at files you have.

IDX (the MNIST distribution format): two zero bytes, a type code, the number of
dimensions n, then n big-endian uint32 sizes and the big-endian data. Files may be
gzipped (as distributed) or not.

CIFAR-10 "python version": pickled dicts with b"data" (N x 3072 uint8, each row the
1024 red, 1024 green and 1024 blue values of a 32x32 image, row-major) and b"labels".
They are unpickled with a loader that only builds numpy arrays and plain containers,
so a tampered file cannot run code.
"""
from __future__ import annotations

import gzip
import io
import os
import pickle
import struct

import numpy as np

from ..ir import GraphcError

IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class DataFormatError(GraphcError, ValueError):
    """A data file that is not in the format its reader expects."""


def _read_bytes(path) -> bytes:
    with open(path, "rb") as file:
        blob = file.read()
    if blob[:2] == b"\x1f\x8b":
        try:
            blob = gzip.decompress(blob)
        except (OSError, EOFError) as err:
            raise DataFormatError(f"'{path}': broken gzip data ({err})") from None
    return blob


def read_idx(path) -> np.ndarray:
    """The array stored in an IDX file (gzipped or not), in native byte order."""
    blob = _read_bytes(path)
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0:
        raise DataFormatError(f"'{path}' is not an IDX file (bad magic number)")
    code, ndim = blob[2], blob[3]
    if code not in IDX_TYPES:
        raise DataFormatError(f"'{path}': unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(blob) < header:
        raise DataFormatError(f"'{path}' is truncated inside its header")
    shape = struct.unpack(f">{ndim}I", blob[4:header])
    dtype = IDX_TYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(blob) != expected:
        raise DataFormatError(f"'{path}': shape {shape} needs {expected} bytes, the file has "
                              f"{len(blob)}")
    data = np.frombuffer(blob, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path, array) -> None:
    """Write `array` as an IDX file (gzipped when `path` ends in .gz)."""
    array = np.asarray(array)
    codes = {v.newbyteorder("="): k for k, v in IDX_TYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"IDX cannot store {array.dtype}")
    blob = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    blob += array.astype(IDX_TYPES[code]).tobytes()
    if os.fspath(path).endswith(".gz"):
        blob = gzip.compress(blob)
    with open(path, "wb") as file:
        file.write(blob)


def _find(folder, names) -> str:
    for name in names:
        for candidate in (name, name + ".gz"):
            path = os.path.join(folder, candidate)
            if os.path.isfile(path):
                return path
    raise FileNotFoundError(f"none of {', '.join(names)} (or .gz) in '{folder}'")


def load_mnist(folder, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST from IDX files in `folder`: split "train" (train-*) or "test" (t10k-*).

    Returns (images (N, H, W, 1) float32 in [0, 1], labels (N,) int32).
    """
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images = read_idx(_find(folder, [f"{prefix}-images-idx3-ubyte",
                                     f"{prefix}-images.idx3-ubyte"]))
    labels = read_idx(_find(folder, [f"{prefix}-labels-idx1-ubyte",
                                     f"{prefix}-labels.idx1-ubyte"]))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataFormatError(f"MNIST files in '{folder}' disagree: images {images.shape}, "
                              f"labels {labels.shape}")
    return images[..., None].astype(np.float32) / 255.0, labels.astype(np.int32)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers only."""

    ALLOWED = {(core, name) for core in ("numpy.core.multiarray", "numpy._core.multiarray")
               for name in ("_reconstruct", "scalar")}
    ALLOWED |= {(core, "_frombuffer") for core in ("numpy.core.numeric", "numpy._core.numeric")}
    ALLOWED |= {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise DataFormatError(f"refusing to unpickle {module}.{name}: a CIFAR batch only "
                                  "holds numpy arrays and lists")
        return super().find_class(module, name)


def read_cifar10_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: (images (N, 32, 32, 3) uint8 NHWC, labels (N,) int32)."""
    blob = _read_bytes(path)
    try:
        batch = _ArrayUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        if isinstance(err, DataFormatError):
            raise
        raise DataFormatError(f"'{path}' is not a CIFAR-10 python batch ({err})") from None
    if not isinstance(batch, dict):
        raise DataFormatError(f"'{path}' is not a CIFAR-10 python batch (no dict inside)")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataFormatError(f"'{path}': a CIFAR-10 batch needs 'data' and 'labels', found "
                              f"{sorted(batch)}")
    data = np.asarray(batch["data"], dtype=np.uint8)
    labels = np.asarray(batch["labels"], dtype=np.int32)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise DataFormatError(f"'{path}': data {data.shape} and labels {labels.shape} are not "
                              "N x 3072 and N")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def load_cifar10(folder) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((x_train, y_train), (x_test, y_test)) from data_batch_1..5 and test_batch in
    `folder` (images float32 in [0, 1], NHWC). Missing training batches are skipped, so
    a folder with a subset works; at least one is needed."""
    train = []
    for i in range(1, 6):
        path = os.path.join(folder, f"data_batch_{i}")
        if os.path.isfile(path):
            train.append(read_cifar10_batch(path))
    if not train:
        raise FileNotFoundError(f"no CIFAR-10 data_batch_* files in '{folder}'")
    x_test, y_test = read_cifar10_batch(_find(folder, ["test_batch"]))
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return ((x_train.astype(np.float32) / 255.0, y_train),
            (x_test.astype(np.float32) / 255.0, y_test))


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
