"""The benchmark workloads of graphc as graph builders: one train step each.

Shared by the tests (kernel counts, memory, compiled-vs-interpreter checks), the
benchmarks and the examples, so every comparison measures the same graph.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import distributed as dist
from . import layers, nn, train
from .ir import Graph, Node, float32, int32
from .ops import control_dependencies, placeholder, reduce_mean


@dataclass
class TrainStep:
    graph: Graph
    x: Node
    y: Node
    loss: Node
    train_op: Node
    logits: Node

    def batch(self, n: int, seed: int = 0) -> dict:
        """A random batch (never zeros) of n examples."""
        rng = np.random.default_rng(seed)
        shape = (n,) + tuple(self.x.shape[1:])
        return {self.x: rng.standard_normal(shape).astype(np.float32),
                self.y: rng.integers(0, self.logits.shape[-1], n).astype(np.int32)}


def _classifier_step(graph, x, y, logits, optimizer, distributed=False,
                     bucket_bytes=dist.DEFAULT_BUCKET_BYTES) -> TrainStep:
    """Mean sparse softmax cross-entropy, minimised by `optimizer` after the graph's
    update ops (batch norm's moving averages); distributed: gradients averaged over the
    MPI ranks (gc.distributed) in buckets of `bucket_bytes`."""
    loss = reduce_mean(nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits),
                       name="loss")
    if distributed:
        optimizer = dist.DistributedOptimizer(optimizer, bucket_bytes=bucket_bytes)
    with control_dependencies(graph.get_collection(layers.UPDATE_OPS)):
        train_op = optimizer.minimize(loss)
    return TrainStep(graph, x, y, loss, train_op, logits)


def _momentum(lr, momentum):
    return train.MomentumOptimizer(lr, momentum=momentum)


def _dense_net(widths, optimizer, seed, distributed=False,
               bucket_bytes=dist.DEFAULT_BUCKET_BYTES) -> TrainStep:
    """784 inputs, a dense layer with ReLU per width, then 10 logits."""
    g = Graph()
    with g.as_default():
        x = placeholder(float32, (None, 784), name="x")
        y = placeholder(int32, (None,), name="y")
        h = x
        for i, width in enumerate(widths):
            h = layers.dense(h, width, activation=nn.relu, seed=seed + i)
        logits = layers.dense(h, 10, seed=seed + len(widths))
        return _classifier_step(g, x, y, logits, optimizer, distributed, bucket_bytes)


def mlp(lr=0.01, momentum=0.9, seed=0, distributed=False,
        bucket_bytes=dist.DEFAULT_BUCKET_BYTES) -> TrainStep:
    """784-256-256-10 with biases and ReLU, mean sparse softmax CE, SGD momentum 0.9."""
    return _dense_net((256, 256), _momentum(lr, momentum), seed, distributed, bucket_bytes)


def deep_mlp(depth=12, width=64, lr=1e-3, seed=0) -> TrainStep:
    """`depth` dense layers on 784 inputs (`width` units and ReLU each, the last 10
    logits), mean sparse softmax CE, Adam: a deep net whose pictures must stay readable."""
    return _dense_net((width,) * (depth - 1), train.AdamOptimizer(lr), seed)


def mlp_wide(lr=1e-3, seed=0) -> TrainStep:
    """784-1024-1024-10 with biases and ReLU, mean sparse softmax CE, Adam (epsilon
    1e-8): the GEMM-bound workload."""
    return _dense_net((1024, 1024), train.AdamOptimizer(lr, epsilon=1e-8), seed)


def lenet5(lr=0.01, momentum=0.9, seed=0, distributed=False,
           bucket_bytes=dist.DEFAULT_BUCKET_BYTES) -> TrainStep:
    """LeNet-5 on NHWC 28x28x1: conv 6@5x5 pad 2 + bias, ReLU, maxpool 2/2, conv 16@5x5
    + bias, ReLU, maxpool 2/2, 400 → 120 → 84 → 10 with ReLUs; SGD momentum 0.9."""
    g = Graph()
    with g.as_default():
        x = placeholder(float32, (None, 28, 28, 1), name="x")
        y = placeholder(int32, (None,), name="y")
        h = layers.conv2d(x, 6, 5, padding=2, activation=nn.relu, seed=seed)
        h = layers.max_pool2d(h, 2, 2)
        h = layers.conv2d(h, 16, 5, activation=nn.relu, seed=seed + 1)
        h = layers.max_pool2d(h, 2, 2)
        h = layers.flatten(h)
        h = layers.dense(h, 120, activation=nn.relu, seed=seed + 2)
        h = layers.dense(h, 84, activation=nn.relu, seed=seed + 3)
        logits = layers.dense(h, 10, seed=seed + 4)
        return _classifier_step(g, x, y, logits, _momentum(lr, momentum), distributed,
                                bucket_bytes)


def cifar_vgg(lr=0.01, momentum=0.9, seed=0) -> TrainStep:
    """A VGG-style net on NHWC 32x32x3: 3x3 SAME convolutions with biases and ReLU, 32,
    32, maxpool 2/2, 64, 64, maxpool 2/2, 128, maxpool 2/2, then dense 256 + ReLU and
    dense 10; SGD momentum 0.9."""
    g = Graph()
    with g.as_default():
        x = placeholder(float32, (None, 32, 32, 3), name="x")
        y = placeholder(int32, (None,), name="y")
        h = x
        for i, (channels, pool) in enumerate(VGG_CONVS):
            h = layers.conv2d(h, channels, 3, padding="SAME", activation=nn.relu,
                              seed=seed + i)
            if pool:
                h = layers.max_pool2d(h, 2, 2)
        h = layers.flatten(h)
        h = layers.dense(h, 256, activation=nn.relu, seed=seed + len(VGG_CONVS))
        logits = layers.dense(h, 10, seed=seed + len(VGG_CONVS) + 1)
        return _classifier_step(g, x, y, logits, _momentum(lr, momentum))


VGG_CONVS = ((32, False), (32, True), (64, False), (64, True), (128, True))
"""cifar_vgg's convolutions: (output channels, followed by a 2x2 max pool)."""


def cifar_resnet(lr=1e-3, seed=0, blocks=3, channels=16) -> TrainStep:
    """A ResNet-style net on NHWC 32x32x3: a 3x3 convolution to `channels` with batch
    norm and ReLU, then `blocks` residual blocks (conv-BN-ReLU-conv-BN, added to the
    block's input, then ReLU; convolutions 3x3 SAME without biases, batch norm in
    training mode with its moving averages updated each step), global average pooling
    and dense 10; Adam (epsilon 1e-8)."""
    g = Graph()
    with g.as_default():
        x = placeholder(float32, (None, 32, 32, 3), name="x")
        y = placeholder(int32, (None,), name="y")
        layer = iter(range(1000))

        def conv_bn(h):
            h = layers.conv2d(h, channels, 3, padding="SAME", use_bias=False,
                              seed=seed + next(layer))
            return layers.batch_norm(h, training=True)
        h = nn.relu(conv_bn(x))
        for _ in range(blocks):
            h = nn.relu(h + conv_bn(nn.relu(conv_bn(h))))
        h = reduce_mean(h, (1, 2))
        logits = layers.dense(h, 10, seed=seed + next(layer))
        return _classifier_step(g, x, y, logits, train.AdamOptimizer(lr, epsilon=1e-8))
