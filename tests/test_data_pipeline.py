"""Splits, preprocessing, seeded live augmentation and the shuffling batch iterator."""
import numpy as np
import pytest

import graphc as gc


def _labelled(n=200, classes=10):
    x = np.arange(n, dtype=np.float32).reshape(n, 1) * np.ones((1, 3), np.float32)
    y = (np.arange(n) % classes).astype(np.int32)
    return x, y


def test_split_is_disjoint_complete_and_stratified():
    x, y = _labelled()
    (xa, ya), (xv, yv), (xt, yt) = gc.data.train_val_test_split(x, y, val=0.1, test=40, seed=3)
    assert (len(xa), len(xv), len(xt)) == (140, 20, 40)
    ids = np.concatenate([xa[:, 0], xv[:, 0], xt[:, 0]])
    np.testing.assert_array_equal(np.sort(ids), np.arange(200))
    np.testing.assert_array_equal(np.bincount(yt), [4] * 10)
    np.testing.assert_array_equal(np.bincount(yv), [2] * 10)
    for xs, ys in ((xa, ya), (xv, yv), (xt, yt)):
        np.testing.assert_array_equal(xs[:, 0].astype(int) % 10, ys)   # pairs stay together


def test_split_is_reproducible_and_seed_dependent():
    x, y = _labelled()
    first = gc.data.train_val_test_split(x, y, seed=1)
    again = gc.data.train_val_test_split(x, y, seed=1)
    other = gc.data.train_val_test_split(x, y, seed=2)
    np.testing.assert_array_equal(first[2][0], again[2][0])
    assert not np.array_equal(first[2][0], other[2][0])


def test_split_errors():
    x, y = _labelled(10)
    with pytest.raises(ValueError, match="no training data"):
        gc.data.train_val_test_split(x, y, val=5, test=5)
    with pytest.raises(ValueError, match="samples"):
        gc.data.train_val_test_split(x, y[:3])


def test_preprocessing_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, 2.0, size=(500, 4, 4, 3)).astype(np.float32)
    test = rng.normal(5.0, 1.0, size=(50, 4, 4, 3)).astype(np.float32)
    centred = gc.data.MeanSubtraction().fit(train)
    np.testing.assert_allclose(centred(train).mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(centred(test), test - train.mean(axis=0, dtype=np.float64),
                               atol=1e-5)
    standard = gc.data.Standardization().fit(train)
    out = standard(train)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1.0, rtol=1e-4)
    channel = gc.data.PerChannelMean().fit(train)
    assert channel.mean.shape == (3,)
    np.testing.assert_allclose(channel(test), test - train.mean(axis=(0, 1, 2), dtype=np.float64),
                               atol=1e-5)
    assert channel(test).dtype == np.float32
    with pytest.raises(RuntimeError, match="fit"):
        gc.data.Standardization()(test)


def test_standardization_leaves_constant_features_centred():
    x = np.zeros((10, 2), np.float32)
    x[:, 1] = np.arange(10)
    out = gc.data.Standardization().fit_transform(x)
    assert np.all(np.isfinite(out)) and np.all(out[:, 0] == 0)


def _images(n=16, size=6, channels=2):
    return np.arange(n * size * size * channels, dtype=np.float32).reshape(
        n, size, size, channels)


def test_augmentation_is_reproducible_from_its_seed():
    images = _images()
    chain = [gc.data.RandomCrop(padding=2), gc.data.RandomFlip()]
    a, b = gc.data.Augmenter(chain, seed=5), gc.data.Augmenter(chain, seed=5)
    first = [a(images) for _ in range(3)]
    second = [b(images) for _ in range(3)]
    for u, v in zip(first, second):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(first[0], first[1])           # live: each batch differs
    a.reset()
    np.testing.assert_array_equal(a(images), first[0])
    other = gc.data.Augmenter(chain, seed=6)(images)
    assert not np.array_equal(other, first[0])


def test_random_crop_is_a_shift_within_the_padding():
    images = _images(n=64)
    out = gc.data.random_crop(images, padding=2, seed=0)
    assert out.shape == images.shape
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    for i in range(len(images)):
        windows = [padded[i, r:r + 6, c:c + 6] for r in range(5) for c in range(5)]
        assert any(np.array_equal(out[i], w) for w in windows)
    shifted = [not np.array_equal(out[i], images[i]) for i in range(len(images))]
    assert sum(shifted) > len(images) // 2
    cropped = gc.data.random_crop(images, padding=0, size=4, seed=0)
    assert cropped.shape == (64, 4, 4, 2)
    with pytest.raises(ValueError, match="does not fit"):
        gc.data.random_crop(images, padding=0, size=8)


def test_random_flip_mirrors_width():
    images = _images(n=200)
    out = gc.data.random_flip_left_right(images, p=0.5, seed=1)
    flipped = [np.array_equal(out[i], images[i, :, ::-1]) for i in range(200)]
    kept = [np.array_equal(out[i], images[i]) for i in range(200)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 60 < sum(flipped) < 140
    np.testing.assert_array_equal(gc.data.random_flip_left_right(images, p=1.0),
                                  images[:, :, ::-1])


def test_iterator_covers_each_sample_once_per_epoch():
    x, y = _labelled(103)
    batches = gc.data.BatchIterator(x, y, batch_size=10, seed=0)
    assert len(batches) == 11
    orders = []
    for _ in range(3):
        seen = []
        for xb, yb in batches:
            assert len(xb) == len(yb) <= 10
            np.testing.assert_array_equal(xb[:, 0].astype(int) % 10, yb)
            seen.extend(xb[:, 0].astype(int))
        assert sorted(seen) == list(range(103))
        orders.append(seen)
    assert orders[0] != orders[1]                             # reshuffled every epoch
    again = [int(xb[0, 0]) for xb, _ in gc.data.BatchIterator(x, y, batch_size=10, seed=0)]
    assert again == orders[0][::10]


def test_iterator_drop_last_no_shuffle_and_augment():
    x, y = _labelled(25)
    batches = list(gc.data.BatchIterator(x, y, batch_size=10, shuffle=False, drop_last=True))
    assert [len(b[0]) for b in batches] == [10, 10]
    np.testing.assert_array_equal(batches[0][0][:, 0], np.arange(10))

    def double(xb):
        return xb * 2

    doubled = next(iter(gc.data.BatchIterator(x, y, batch_size=5, shuffle=False,
                                              augment=double)))
    np.testing.assert_array_equal(doubled[0][:, 0], np.arange(5) * 2)
    one_epoch = list(gc.data.minibatches(x, batch_size=10, seed=1))
    assert sorted(np.concatenate(one_epoch)[:, 0].astype(int)) == list(range(25))
