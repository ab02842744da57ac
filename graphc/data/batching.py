"""Minibatches: each epoch a fresh seeded shuffle, every sample exactly once."""
from __future__ import annotations

import math

import numpy as np

from .. import distributed


class BatchIterator:
    """Iterate (x_batch, y_batch) over one epoch per `iter()`.

    Each epoch draws a new permutation from a generator seeded once, so a run is
    reproducible and epochs differ. The last, smaller batch is kept unless `drop_last`.
    `augment` (e.g. an `Augmenter`) is applied to each x batch as it is produced.

    `shard` = (index, count): this process's part of each epoch, every count-th sample of
    the shuffled order (all processes draw the same one), equally many for each so that
    data-parallel ranks run the same number of steps; by default gc.distributed's (rank,
    size), i.e. the whole data in a single process.
    """

    def __init__(self, x, y=None, batch_size=64, shuffle=True, seed=0, drop_last=False,
                 augment=None, shard=None):
        self.shard = (distributed.rank(), distributed.size()) if shard is None else shard
        if not 0 <= self.shard[0] < self.shard[1]:
            raise ValueError(f"shard {self.shard} is not (index, count) with "
                             "0 <= index < count")
        self.x = np.asarray(x)
        self.y = None if y is None else np.asarray(y)
        if self.y is not None and len(self.y) != len(self.x):
            raise ValueError(f"x has {len(self.x)} samples but y has {len(self.y)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if drop_last and self.num_samples < batch_size:
            raise ValueError(f"drop_last with {self.num_samples} samples and batch_size "
                             f"{batch_size} would give no batch at all")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.augment = augment
        self.rng = np.random.default_rng(seed)
        self.epoch = 0

    @property
    def num_samples(self) -> int:
        """Samples this process sees per epoch."""
        return len(self.x) // self.shard[1]

    def __len__(self) -> int:
        """Batches per epoch."""
        whole = self.num_samples / self.batch_size
        return int(whole) if self.drop_last else math.ceil(whole)

    def __iter__(self):
        order = self.rng.permutation(len(self.x)) if self.shuffle else np.arange(len(self.x))
        index, count = self.shard
        order = order[index::count][: self.num_samples]
        self.epoch += 1
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            xb = self.x[idx]
            if self.augment is not None:
                xb = self.augment(xb)
            yield (xb, self.y[idx]) if self.y is not None else xb


def minibatches(x, y=None, batch_size=64, shuffle=True, seed=0, drop_last=False):
    """One epoch of minibatches (a generator); see BatchIterator for several epochs."""
    return iter(BatchIterator(x, y, batch_size, shuffle, seed, drop_last))
