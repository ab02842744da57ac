"""The benchmark workloads written for PyTorch and JAX, when they are installed.
Each builder returns a step function of no arguments (data bound) or None."""
from __future__ import annotations


def torch_available():
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False


def jax_available():
    try:
        import jax  # noqa: F401
        return True
    except ImportError:
        return False


CONVS = {"lenet5": ((2, True), (0, True)),
         "cifar-vgg": ((1, False), (1, True), (1, False), (1, True), (1, True))}
CHANNELS_LAST = ("lenet5", "cifar-vgg", "cifar-resnet")
ADAM = ("mlp-wide", "cifar-resnet")
"""Workloads trained with Adam (the others: SGD with momentum 0.9)."""
"""Workloads with convolutions: PyTorch runs them in NCHW and in channels_last order."""
"""Each workload's convolutions: (padding, followed by a 2x2 max pool)."""


# -- PyTorch -----------------------------------------------------------------------------
def torch_step(name, params, data, compiled=False, threads=2, device="cpu",
               channels_last=False):
    """device: "cpu", or "cuda" (the step then ends with the GPU's work done);
    channels_last: convolution workloads' images and filters in NHWC memory order."""
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)

    def tensor(value, grad=False):
        return torch.tensor(value, device=device, requires_grad=grad)
    ps = [tensor(p, True) for p in params]
    if name == "cifar-resnet":
        loss_fn, opt = _torch_resnet(torch, F, ps, [tensor(d) for d in data], channels_last)
    elif name == "seed-2layer":
        x, y = (tensor(d) for d in data)

        def loss_fn():
            h = torch.sigmoid(x @ ps[0])
            return ((h @ ps[1] - y) ** 2).sum()
        opt = torch.optim.SGD(ps, lr=1e-4)
    else:
        x = tensor(data[0])
        labels = tensor(data[1]).long()
        convs = CONVS.get(name, ())
        layout = torch.channels_last if channels_last else torch.contiguous_format
        if convs:
            x = x.permute(0, 3, 1, 2).contiguous(memory_format=layout)   # NCHW indexing
            for i in range(len(convs)):                   # HWIO filters as OIHW
                w = tensor(params[2 * i].transpose(3, 2, 0, 1).copy())
                ps[2 * i] = w.contiguous(memory_format=layout).requires_grad_(True)

        def loss_fn():
            h = x
            for i, (padding, pool) in enumerate(convs):
                h = F.relu(F.conv2d(h, ps[2 * i], ps[2 * i + 1], padding=padding))
                if pool:
                    h = F.max_pool2d(h, 2)
            if convs:                                     # flattened in NHWC order
                h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)
            rest = ps[2 * len(convs):]
            for i in range(0, len(rest) - 2, 2):
                h = F.relu(h @ rest[i] + rest[i + 1])
            return F.cross_entropy(h @ rest[-2] + rest[-1], labels)
        opt = torch.optim.Adam(ps, lr=1e-3, eps=1e-8) if name in ADAM else \
            torch.optim.SGD(ps, lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        opt.step()
        if device != "cpu":
            torch.cuda.synchronize()
        return loss

    return torch.compile(step) if compiled else step


def _torch_resnet(torch, F, ps, data, channels_last):
    """graphc.models.cifar_resnet: params are (conv kernel HWIO, gamma, beta) per
    convolution, then the dense kernel and bias; batch norm in training mode (graphc's
    momentum 0.99 kept is PyTorch's 0.01 new, epsilon 1e-3); Adam, epsilon 1e-8."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    x = data[0].permute(0, 3, 1, 2).contiguous(memory_format=layout)
    labels = data[1].long()
    convs = (len(ps) - 2) // 3
    for i in range(convs):
        w = ps[3 * i].detach().permute(3, 2, 0, 1).contiguous(memory_format=layout)
        ps[3 * i] = w.requires_grad_(True)
    running = [(torch.zeros(ps[3 * i + 1].shape[0]), torch.ones(ps[3 * i + 1].shape[0]))
               for i in range(convs)]

    def conv_bn(h, i):
        h = F.conv2d(h, ps[3 * i], padding=1)
        mean, var = running[i]
        return F.batch_norm(h, mean, var, ps[3 * i + 1], ps[3 * i + 2], training=True,
                            momentum=0.01, eps=1e-3)

    def loss_fn():
        h = F.relu(conv_bn(x, 0))
        for block in range((convs - 1) // 2):
            r = F.relu(conv_bn(h, 1 + 2 * block))
            h = F.relu(h + conv_bn(r, 2 + 2 * block))
        h = h.mean(dim=(2, 3))
        return F.cross_entropy(h @ ps[-2] + ps[-1], labels)
    return loss_fn, torch.optim.Adam(ps, lr=1e-3, eps=1e-8)


# -- JAX ---------------------------------------------------------------------------------
def jax_step(name, params, data):
    """None for a workload without a JAX version (those trained with Adam)."""
    if name in ADAM:
        return None
    import jax
    import jax.numpy as jnp
    x = jnp.asarray(data[0])
    y = jnp.asarray(data[1])

    if name == "seed-2layer":
        def loss_fn(ps):
            h = jax.nn.sigmoid(x @ ps[0])
            return jnp.sum((h @ ps[1] - y) ** 2)

        @jax.jit
        def update(ps, vs):
            loss, g = jax.value_and_grad(loss_fn)(ps)
            return loss, [p - 1e-4 * gi for p, gi in zip(ps, g)], vs
    else:
        def loss_fn(ps):
            h = x
            dn = ("NHWC", "HWIO", "NHWC")
            convs = CONVS.get(name, ())
            for i, (padding, pool) in enumerate(convs):
                h = jax.lax.conv_general_dilated(h, ps[2 * i], (1, 1), [(padding, padding)] * 2,
                                                 dimension_numbers=dn) + ps[2 * i + 1]
                h = jax.nn.relu(h)
                if pool:
                    h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1),
                                              (1, 2, 2, 1), "VALID")
            if convs:
                h = h.reshape(h.shape[0], -1)
            rest = ps[2 * len(convs):]
            for i in range(0, len(rest) - 2, 2):
                h = jax.nn.relu(h @ rest[i] + rest[i + 1])
            logits = h @ rest[-2] + rest[-1]
            logp = jax.nn.log_softmax(logits)
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

        @jax.jit
        def update(ps, vs):
            loss, g = jax.value_and_grad(loss_fn)(ps)
            vs = [0.9 * v + gi for v, gi in zip(vs, g)]
            return loss, [p - 0.01 * v for p, v in zip(ps, vs)], vs

    state = {"ps": [jnp.asarray(p) for p in params],
             "vs": [jnp.zeros_like(jnp.asarray(p)) for p in params]}

    def step():
        loss, state["ps"], state["vs"] = update(state["ps"], state["vs"])
        return loss.block_until_ready()

    return step
