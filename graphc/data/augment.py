"""Data augmentation, applied live to each minibatch (the lecture: "perform the
augmentation live during training"), so every epoch sees new variants of each image.

Transforms take a batch of NHWC images and a numpy Generator and return a new batch;
`Augmenter` chains them and owns the seeded generator, so a run is reproducible: the
same seed gives the same crops and flips, batch after batch.
"""
from __future__ import annotations

import numpy as np


class RandomCrop:
    """Pad each image by `padding` pixels of `fill` on every side, then cut a window of
    `size` (default: the original height and width) at a random offset per image:
    a random shift of up to `padding` pixels, the lecture's "jittered crops"."""

    def __init__(self, padding=2, size=None, fill=0.0):
        if padding < 0:
            raise ValueError(f"RandomCrop: padding must be >= 0, got {padding}")
        self.padding = int(padding)
        self.size = None if size is None else _pair(size)
        self.fill = fill

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        images = _check_nhwc(images, "RandomCrop")
        n, h, w, _ = images.shape
        out_h, out_w = self.size or (h, w)
        p = self.padding
        padded = np.pad(images, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=self.fill)
        room_h, room_w = h + 2 * p - out_h, w + 2 * p - out_w
        if room_h < 0 or room_w < 0:
            raise ValueError(f"RandomCrop: a {out_h}x{out_w} crop does not fit {h}x{w} images "
                             f"padded by {p}")
        top = rng.integers(0, room_h + 1, size=n)
        left = rng.integers(0, room_w + 1, size=n)
        rows = top[:, None] + np.arange(out_h)            # (n, out_h)
        cols = left[:, None] + np.arange(out_w)           # (n, out_w)
        batch = np.arange(n)[:, None, None]
        return padded[batch, rows[:, :, None], cols[:, None, :]]


class RandomFlip:
    """Mirror each image left-right with probability `p` (not for digits or text, whose
    mirror image is another symbol)."""

    def __init__(self, p=0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        images = _check_nhwc(images, "RandomFlip")
        flip = rng.random(len(images)) < self.p
        out = images.copy()
        out[flip] = images[flip, :, ::-1]
        return out


def random_crop(images, padding=2, size=None, seed=None) -> np.ndarray:
    """One-off RandomCrop of a batch (use an Augmenter inside training loops)."""
    return RandomCrop(padding, size)(images, np.random.default_rng(seed))


def random_flip_left_right(images, p=0.5, seed=None) -> np.ndarray:
    """One-off RandomFlip of a batch."""
    return RandomFlip(p)(images, np.random.default_rng(seed))


class Augmenter:
    """Applies `transforms` in order to each batch, drawing from one seeded generator."""

    def __init__(self, transforms, seed=0):
        self.transforms = list(transforms)
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        """Start the random stream again (the same batches then get the same changes)."""
        self.rng = np.random.default_rng(self.seed)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        for transform in self.transforms:
            images = transform(images, self.rng)
        return images


def _pair(size) -> tuple[int, int]:
    if isinstance(size, int | np.integer):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def _check_nhwc(images, who: str) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"{who}: expects NHWC images (rank 4), got shape {images.shape}")
    return images
