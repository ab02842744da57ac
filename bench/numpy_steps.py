"""Hand-written numpy train steps of the benchmark workloads (the lecture's way):
forward, backward and update spelled out with numpy calls."""
from __future__ import annotations

import numpy as np


def seed_2layer(x, y, w1, w2, lr=1e-4):
    h = 1 / (1 + np.exp(-x.dot(w1)))
    y_pred = h.dot(w2)
    loss = np.square(y_pred - y).sum()
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    grad_w1 = x.T.dot(grad_h * h * (1 - h))
    w1 -= lr * grad_w1
    w2 -= lr * grad_w2
    return loss


def _xent(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)
    n = logits.shape[0]
    loss = -np.log(p[np.arange(n), labels]).mean()
    p[np.arange(n), labels] -= 1
    return loss, p / n


def _momentum(params, grads, slots, lr, mu):
    for p, g, v in zip(params, grads, slots):
        v *= mu
        v += g
        p -= lr * v


def mlp(x, labels, params, slots, lr=0.01, mu=0.9):
    w1, b1, w2, b2, w3, b3 = params
    a1 = np.maximum(x @ w1 + b1, 0)
    a2 = np.maximum(a1 @ w2 + b2, 0)
    logits = a2 @ w3 + b3
    loss, d3 = _xent(logits, labels)
    d2 = (d3 @ w3.T) * (a2 > 0)
    d1 = (d2 @ w2.T) * (a1 > 0)
    grads = [x.T @ d1, d1.sum(0), a1.T @ d2, d2.sum(0), a2.T @ d3, d3.sum(0)]
    _momentum(params, grads, slots, lr, mu)
    return loss


def _im2col(x, k, pad):
    n, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    cols = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))  # n,oh,ow,c,k,k
    return cols.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, k * k * c), (n, oh, ow)


def _col2im(cols, x_shape, k, pad):
    n, h, w, c = x_shape
    oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    dxp = np.zeros((n, h + 2 * pad, w + 2 * pad, c), cols.dtype)
    cols = cols.reshape(n, oh, ow, k, k, c)
    for a in range(k):
        for b in range(k):
            dxp[:, a:a + oh, b:b + ow, :] += cols[:, :, :, a, b, :]
    return dxp[:, pad:pad + h, pad:pad + w, :]


def _pool(x):
    n, h, w, c = x.shape
    win = x.reshape(n, h // 2, 2, w // 2, 2, c)
    out = win.max(axis=(2, 4))
    mask = win == out[:, :, None, :, None, :]
    first = np.cumsum(np.cumsum(mask, axis=2), axis=4) == 1   # ties: first in window
    return out, mask & first


def _unpool(g, mask):
    return (mask * g[:, :, None, :, None, :]).reshape(mask.shape[0], mask.shape[1] * 2,
                                                      mask.shape[3] * 2, mask.shape[5])


def lenet5(x, labels, params, slots, lr=0.01, mu=0.9):
    k1, c1, k2, c2, w3, b3, w4, b4, w5, b5 = params
    cols1, s1 = _im2col(x, 5, 2)
    z1 = np.maximum(cols1 @ k1.reshape(-1, 6) + c1, 0).reshape(*s1, 6)
    p1, m1 = _pool(z1)
    cols2, s2 = _im2col(p1, 5, 0)
    z2 = np.maximum(cols2 @ k2.reshape(-1, 16) + c2, 0).reshape(*s2, 16)
    p2, m2 = _pool(z2)
    f = p2.reshape(len(x), -1)
    a3 = np.maximum(f @ w3 + b3, 0)
    a4 = np.maximum(a3 @ w4 + b4, 0)
    logits = a4 @ w5 + b5
    loss, d5 = _xent(logits, labels)
    d4 = (d5 @ w5.T) * (a4 > 0)
    d3 = (d4 @ w4.T) * (a3 > 0)
    df = (d3 @ w3.T).reshape(p2.shape)
    dz2 = _unpool(df, m2) * (z2 > 0)
    dz2c = dz2.reshape(-1, 16)
    dp1 = _col2im(dz2c @ k2.reshape(-1, 16).T, p1.shape, 5, 0)
    dz1 = (_unpool(dp1, m1) * (z1 > 0)).reshape(-1, 6)
    grads = [(cols1.T @ dz1).reshape(k1.shape), dz1.sum(0),
             (cols2.T @ dz2c).reshape(k2.shape), dz2c.sum(0),
             f.T @ d3, d3.sum(0), a3.T @ d4, d4.sum(0), a4.T @ d5, d5.sum(0)]
    _momentum(params, grads, slots, lr, mu)
    return loss
