"""`gc.data`: digits that ship with Python wheels, readers for MNIST IDX and CIFAR-10
files, splits, preprocessing, live augmentation and shuffled minibatches."""
from .augment import Augmenter, RandomCrop, RandomFlip, random_crop, random_flip_left_right
from .batching import BatchIterator, minibatches
from .digits import (DatasetUnavailable, available_sources, load_digits, load_mnist_5k,
                     load_sklearn_digits)
from .preprocess import MeanSubtraction, PerChannelMean, Standardization, train_val_test_split
from .readers import (CIFAR10_CLASSES, DataFormatError, load_cifar10, load_mnist,
                      read_cifar10_batch, read_idx, write_idx)

__all__ = ["Augmenter", "BatchIterator", "CIFAR10_CLASSES", "DataFormatError",
           "DatasetUnavailable", "MeanSubtraction", "PerChannelMean", "RandomCrop",
           "RandomFlip", "Standardization", "available_sources", "load_cifar10",
           "load_digits", "load_mnist", "load_mnist_5k", "load_sklearn_digits", "minibatches",
           "random_crop", "random_flip_left_right", "read_cifar10_batch", "read_idx",
           "train_val_test_split", "write_idx"]
