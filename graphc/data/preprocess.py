"""Splitting a data set and the lecture's preprocessing.

Statistics come from the training split only and are then applied unchanged to the
validation and test splits (otherwise held-out data leaks into training):

    mean subtraction     X -= mean over the training set       (one mean image)
    standardisation      X = (X − mean) / std, per feature
    per-channel mean     X -= one mean per channel (R, G, B)   (what ConvNets often use)
"""
from __future__ import annotations

import numpy as np


def train_val_test_split(x, y, val=0.1, test=0.2, seed=0, stratify=True):
    """Shuffle and cut (x, y) into ((x_train, y_train), (x_val, y_val), (x_test, y_test)).

    `val` and `test` are fractions (0 <= f < 1) or counts. With `stratify` every class
    is cut in the same proportions, so a small validation set still holds every digit.
    """
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
    n = len(x)
    n_val, n_test = _count(val, n, "val"), _count(test, n, "test")
    if n_val + n_test >= n:
        raise ValueError(f"val ({n_val}) + test ({n_test}) leave no training data of {n}")
    rng = np.random.default_rng(seed)
    order = _stratified_order(y, rng) if stratify else rng.permutation(n)
    test_idx, val_idx = order[:n_test], order[n_test:n_test + n_val]
    train_idx = rng.permutation(order[n_test + n_val:])
    return ((x[train_idx], y[train_idx]), (x[val_idx], y[val_idx]), (x[test_idx], y[test_idx]))


def _count(part, n: int, what: str) -> int:
    if isinstance(part, float):
        if not 0.0 <= part < 1.0:
            raise ValueError(f"{what} fraction must be in [0, 1), got {part}")
        return int(round(part * n))
    part = int(part)
    if part < 0:
        raise ValueError(f"{what} count must be >= 0, got {part}")
    return part


def _stratified_order(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A permutation in which every prefix holds the classes in about their proportions:
    shuffle within each class, then order all samples by their rank fraction in class."""
    position = np.empty(len(y), dtype=np.float64)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        position[members] = (np.arange(len(members)) + rng.random()) / len(members)
    return np.argsort(position, kind="stable")


class _Fitted:
    """Base for preprocessors: `fit(x_train)` learns statistics, calling it applies them."""

    name = "preprocessing"

    def fit(self, x):
        self._learn(np.asarray(x, dtype=np.float64))
        return self

    def __call__(self, x) -> np.ndarray:
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__}: call fit(x_train) before applying it")
        x = np.asarray(x)
        dtype = x.dtype if x.dtype.kind == "f" else np.float32
        return self._apply(x).astype(dtype, copy=False)

    transform = __call__

    def fit_transform(self, x):
        return self.fit(x)(x)


class MeanSubtraction(_Fitted):
    """X − (mean image of the training set): the lecture's `X -= np.mean(X, axis=0)`."""

    def __init__(self):
        self.mean = None

    @property
    def fitted(self):
        return self.mean is not None

    def _learn(self, x):
        self.mean = x.mean(axis=0)

    def _apply(self, x):
        return x - self.mean


class Standardization(_Fitted):
    """(X − mean) / std per feature, with the training set's statistics; features that
    never vary (std below `eps`) are only centred."""

    def __init__(self, eps=1e-8):
        self.eps = eps
        self.mean = self.std = None

    @property
    def fitted(self):
        return self.mean is not None

    def _learn(self, x):
        self.mean = x.mean(axis=0)
        std = x.std(axis=0)
        self.std = np.where(std < self.eps, 1.0, std)

    def _apply(self, x):
        return (x - self.mean) / self.std


class PerChannelMean(_Fitted):
    """X − one mean per channel (last axis, NHWC), e.g. one value each for R, G and B."""

    def __init__(self):
        self.mean = None

    @property
    def fitted(self):
        return self.mean is not None

    def _learn(self, x):
        self.mean = x.reshape(-1, x.shape[-1]).mean(axis=0)

    def _apply(self, x):
        return x - self.mean
