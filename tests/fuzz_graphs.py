"""A differential fuzzer: random graphs run on every compiled backend and on the numpy
interpreter (the oracle), values and gradients compared.

`build_case(chooser)` makes one random graph from a chooser's answers: a few inputs
(float32 or float64; ranks 1-4; sizes of 1, small, large and sometimes 0; a leading
`None` batch dimension in half the cases), then a chain of ops drawn from a catalogue
— elementwise ops with broadcasting, reductions, shape ops, slices, concat, pad, gather,
matmul, conv2d, pools, softmax, cross-entropy, where, one_hot/argmax, dropout, casts —
each applied to a tensor made earlier, then a loss over some of them, its gradients
and, in some cases, an optimizer step. `check_case(case, backends)` runs it on the
interpreter and on each backend (a batch-polymorphic case at two batch sizes, in one
session) and compares every value, gradient and updated variable.

The chooser is hypothesis in the test suite (`tests/test_fuzz.py`, which shrinks a
failure to a small graph) or a seeded numpy generator (`RandomChooser`) for the
reachability check and for quick experiments.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import graphc as gc

SMALL_DIMS = (1, 2, 3, 4, 5, 7, 8)
LARGE_DIMS = (16, 17, 33, 65, 129)
MAX_ELEMENTS = 6000
"""Ops whose result would be larger are skipped (keeps one case well under a second)."""
BATCH_SIZES = (0, 1, 2, 3, 5, 8)


class RandomChooser:
    """Answers from a seeded numpy generator."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def integer(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))


class HypothesisChooser:
    """Answers drawn by hypothesis (`st.data()`), so failures shrink."""

    def __init__(self, data):
        from hypothesis import strategies as st
        self.data, self.st = data, st

    def integer(self, lo: int, hi: int) -> int:
        return self.data.draw(self.st.integers(lo, hi))


def choice(chooser, options):
    return options[chooser.integer(0, len(options) - 1)]


def chance(chooser, percent: int) -> bool:
    return chooser.integer(0, 99) < percent


@dataclass
class Case:
    """One random graph and what to run and compare."""

    graph: gc.Graph
    dtype: object
    feeds: dict                      # placeholder -> (kind, low, high): how to fill it
    outputs: list                    # values compared (float and integer)
    grads: list                      # gradients of the loss, compared
    train_op: object                 # an optimizer step, or None
    batches: tuple                   # batch sizes to run, in order, in one session
    seed: int
    tolerance: float                 # of the lowest precision any value passed through
    steps: list = field(default_factory=list)    # what was built, for failure messages

    def feed(self, batch: int, run: int) -> dict:
        rng = np.random.default_rng([self.seed, batch, run])
        values = {}
        for ph, (kind, low, high) in self.feeds.items():
            shape = tuple(batch if d is None else d for d in ph.shape)
            if kind == "float":
                value = rng.standard_normal(shape)
                value += np.where(value >= 0, 0.1, -0.1)      # never zero
                values[ph] = value.astype(ph.dtype.np_type)
            else:
                values[ph] = rng.integers(low, high, shape).astype(ph.dtype.np_type)
        return values

    def describe(self) -> str:
        return "; ".join(self.steps)


class _Builder:
    """The state of one case being built: the pool of float tensors ops apply to."""

    def __init__(self, chooser, dtype, symbolic: bool, seed: int):
        self.chooser = chooser
        self.dtype = dtype
        self.symbolic = symbolic
        self.rng = np.random.default_rng(seed)
        self.pool: list = []
        self.ints: list = []
        self.feeds: dict = {}
        self.steps: list[str] = []
        self.variables = 0
        self.through_float32 = dtype == gc.float32    # values rounded to float32 somewhere

    def dim(self, large_percent=10, empty_percent=3) -> int:
        if chance(self.chooser, empty_percent):
            return 0
        if chance(self.chooser, large_percent):
            return choice(self.chooser, LARGE_DIMS)
        return choice(self.chooser, SMALL_DIMS)

    def input(self, index: int):
        rank = self.chooser.integer(1, 4)
        if rank == 4:           # NHWC images for convolutions and pools
            shape = [self.dim(0, 0), self.chooser.integer(1, 9), self.chooser.integer(1, 9),
                     choice(self.chooser, (1, 2, 3, 4, 8))]
        else:
            shape = [self.dim(large_percent=25 if rank <= 2 else 5) for _ in range(rank)]
        if self.symbolic and chance(self.chooser, 70):
            shape[0] = None
        x = gc.placeholder(self.dtype, tuple(shape), name=f"in{index}")
        self.feeds[x] = ("float", None, None)
        self.pool.append(x)
        self.steps.append(f"in{index}{tuple(shape)}")

    def variable(self, shape, scale: float = 0.5):
        value = self.rng.standard_normal(shape) * scale
        self.variables += 1
        return gc.Variable(value.astype(self.dtype.np_type), name=f"v{self.variables}")

    def pick(self):
        """A float tensor of the pool, the recent ones more often."""
        n = len(self.pool)
        return self.pool[max(0, n - 1 - self.chooser.integer(0, min(n - 1, 4)))] \
            if chance(self.chooser, 70) else choice(self.chooser, self.pool)

    def broadcast_partner(self, x):
        """Another operand for a binary op with x: a pool tensor of x's shape, or a new
        variable of a shape x broadcasts with (dims set to 1, leading dims dropped)."""
        same = [t for t in self.pool if t is not x and t.shape == x.shape]
        if same and chance(self.chooser, 40):
            return choice(self.chooser, same)
        if any(d is None for d in x.shape) and chance(self.chooser, 30):
            return x * 0.5 + 0.25            # batch-shaped, from x itself
        keep = self.chooser.integer(0, x.rank)
        shape = [1 if d is None or chance(self.chooser, 40) else d
                 for d in x.shape[x.rank - keep:]]
        return self.variable(tuple(shape))

    def suitable(self, x, fits):
        """x if fits(x), else a pool tensor that fits (an op needing rank 4 should not
        wait for a rank-4 tensor to be picked by chance), else None."""
        if fits(x):
            return x
        others = [t for t in self.pool if fits(t)]
        return choice(self.chooser, others) if others else None

    def static_axis(self, x, nonempty=False):
        """One of x's axes of a size known now (of size > 0 with `nonempty`), or None."""
        axes = [i for i, d in enumerate(x.shape) if d is not None and (d or not nonempty)]
        return choice(self.chooser, axes) if axes else None


# -- the catalogue: each takes the builder and a float tensor, returns a new tensor ---------
def _unary(b, x):
    name, fn = choice(b.chooser, UNARY)
    b.steps.append(name)
    return fn(x)


UNARY = [
    ("neg", gc.negative), ("abs", gc.abs), ("exp∘tanh", lambda x: gc.exp(gc.tanh(x))),
    ("log(|x|+½)", lambda x: gc.log(gc.abs(x) + 0.5)),
    ("sqrt(|x|+¼)", lambda x: gc.sqrt(gc.abs(x) + 0.25)), ("square", gc.square),
    ("sigmoid", gc.sigmoid), ("tanh", gc.tanh), ("relu", gc.nn.relu),
    ("leaky_relu", gc.nn.leaky_relu), ("elu", gc.nn.elu), ("softplus", gc.nn.softplus),
    ("reciprocal(x²+1)", lambda x: gc.reciprocal(x * x + 1.0)),
    ("rsqrt(x²+1)", lambda x: gc.rsqrt(x * x + 1.0)),
    ("pow(|x|+1, 1.5)", lambda x: gc.pow(gc.abs(x) + 1.0, 1.5)),
    ("sign·x", lambda x: gc.sign(x) * x),
]


def _binary(b, x):
    y = b.broadcast_partner(x)
    name, fn = choice(b.chooser, BINARY)
    b.steps.append(f"{name} {y.shape}")
    return fn(x, y) if chance(b.chooser, 70) else fn(y, x)


BINARY = [
    ("add", gc.add), ("sub", gc.subtract), ("mul", gc.multiply), ("max", gc.maximum),
    ("min", gc.minimum), ("div", lambda x, y: x / (y * y + 1.0)),
    ("where(x>y)", lambda x, y: gc.where(x > y, x, y * 2.0)),
]


def _reduce(b, x):
    name, fn = choice(b.chooser, REDUCE)
    if chance(b.chooser, 20):
        axis = None
    else:
        axis = sorted({b.chooser.integer(0, x.rank - 1)
                       for _ in range(b.chooser.integer(1, x.rank))})
    keepdims = chance(b.chooser, 50)
    b.steps.append(f"{name} {axis} keep={keepdims}")
    return fn(x, axis=axis, keepdims=keepdims)


REDUCE = [("sum", gc.reduce_sum), ("mean", gc.reduce_mean), ("max", gc.reduce_max),
          ("min", gc.reduce_min)]


def _centre(b, x):
    """x − reduce(x) kept and broadcast back: a reduction and its consumer fused."""
    axis = b.chooser.integer(0, x.rank - 1)
    fn = choice(b.chooser, (gc.reduce_max, gc.reduce_mean))
    b.steps.append(f"x - {fn.__name__}(x, {axis})")
    return x - fn(x, axis=axis, keepdims=True)


def _softmax(b, x):
    axis = b.chooser.integer(-1, x.rank - 1)
    fn = choice(b.chooser, (gc.nn.softmax, gc.nn.log_softmax))
    b.steps.append(f"{fn.__name__} {axis}")
    return fn(x, axis=axis)


def _cross_entropy(b, x):
    x = b.suitable(x, lambda t: t.rank == 2 and bool(t.shape[1]))
    if x is None:
        return None
    labels = gc.placeholder(gc.int32, (x.shape[0],), name=f"labels{len(b.feeds)}")
    b.feeds[labels] = ("int", 0, x.shape[1])
    b.steps.append("sparse_softmax_cross_entropy")
    return gc.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=x)


def _matmul(b, x):
    x = b.suitable(x, lambda t: t.rank >= 2 and t.shape[-1] is not None)
    if x is None:
        return None
    if chance(b.chooser, 25) and x.rank == 2:
        b.steps.append("x @ xᵀ")
        return gc.matmul(x, x, transpose_b=True)
    n = b.dim(large_percent=20, empty_percent=0)
    transpose = chance(b.chooser, 40)
    k = x.shape[-1]
    w = b.variable((n, k) if transpose else (k, n), scale=1 / np.sqrt(max(k, 1)))
    b.steps.append(f"matmul {k}x{n} transpose_b={transpose}")
    return gc.matmul(x, w, transpose_b=transpose)


def _transpose(b, x):
    perm = [int(i) for i in b.rng.permutation(x.rank)] if x.rank > 1 else [0]
    if chance(b.chooser, 50):                       # deterministic for shrinking
        perm = list(reversed(range(x.rank)))
    b.steps.append(f"transpose {perm}")
    return gc.transpose(x, perm)


def _reshape(b, x):
    if x.rank >= 2 and x.shape[0] is not None and chance(b.chooser, 50):
        b.steps.append("reshape (-1,)")
        return gc.reshape(x, (-1,))
    if x.rank >= 2:
        b.steps.append("reshape merge the last two dims")
        last = None if None in x.shape[-2:] else x.shape[-2] * x.shape[-1]
        shape = tuple(-1 if d is None else d for d in x.shape[:-2]) + (last or -1,)
        if shape.count(-1) > 1:
            return None
        return gc.reshape(x, shape)
    b.steps.append("reshape add a dim")
    return gc.reshape(x, (-1, 1))


def _expand_squeeze(b, x):
    axis = b.chooser.integer(0, x.rank)
    b.steps.append(f"expand_dims {axis} then squeeze")
    y = gc.expand_dims(x, axis)
    return gc.squeeze(y * 1.5, axis) if chance(b.chooser, 50) else y


def _slice(b, x):
    axis = b.static_axis(x)
    if axis is None or x.shape[axis] == 0:
        return None
    n = x.shape[axis]
    start = b.chooser.integer(0, n - 1)
    stop = b.chooser.integer(start + 1, n)
    step = choice(b.chooser, (1, 1, 2, 3, -1))
    index = [slice(None)] * x.rank
    index[axis] = slice(stop - 1, None if start == 0 else start - 1, -1) if step == -1 \
        else slice(start, stop, step)
    b.steps.append(f"slice axis {axis} {index[axis]}")
    return x[tuple(index)]


def _concat(b, x):
    axis = b.static_axis(x)
    if axis is None:
        return None
    other = [t for t in b.pool if t.rank == x.rank and all(
        a == c for i, (a, c) in enumerate(zip(t.shape, x.shape)) if i != axis)]
    y = choice(b.chooser, other)
    b.steps.append(f"concat axis {axis} with {y.shape}")
    return gc.concat([x, gc.tanh(y)], axis=axis)


def _pad(b, x):
    pads = [[0, 0] if d is None else [b.chooser.integer(0, 2), b.chooser.integer(0, 2)]
            for d in x.shape]
    value = choice(b.chooser, (0.0, 1.5))
    b.steps.append(f"pad {pads} {value}")
    return gc.pad(x, pads, constant_values=value)


def _gather(b, x):
    axis = b.static_axis(x, nonempty=True)
    if axis is None:
        return None
    n = x.shape[axis]
    count = b.chooser.integer(1, 6)
    if chance(b.chooser, 50):
        indices = gc.constant(b.rng.integers(-n, n, count).astype(np.int32))
    else:
        indices = gc.placeholder(gc.int32, (count,), name=f"ids{len(b.feeds)}")
        b.feeds[indices] = ("int", -n, n)
    b.steps.append(f"gather axis {axis} of {n}, {count} indices")
    return gc.gather(x, indices, axis=axis)


def _one_hot_argmax(b, x):
    axis = b.static_axis(x, nonempty=True)
    if axis is None:
        return None
    depth = x.shape[axis]
    picked = gc.argmax(x, axis)
    b.ints.append(picked)
    hot = gc.one_hot(picked, depth, dtype=b.dtype)
    perm = list(range(x.rank - 1))
    perm.insert(axis, x.rank - 1)
    b.steps.append(f"one_hot(argmax axis {axis}) · x")
    return gc.transpose(hot, perm) * x if x.rank > 1 else hot * x


def _conv(b, x):
    x = b.suitable(x, lambda t: t.rank == 4 and t.shape[3] is not None)
    if x is None:
        return None
    kh, kw = b.chooser.integer(1, 3), b.chooser.integer(1, 3)
    cout = choice(b.chooser, (1, 2, 3, 6, 8, 16, 17, 32))
    strides = b.chooser.integer(1, 2)
    dilations = 1 if strides > 1 else b.chooser.integer(1, 2)
    padding = choice(b.chooser, ("SAME", "VALID", 1))
    w = b.variable((kh, kw, x.shape[3], cout), scale=1 / np.sqrt(kh * kw * x.shape[3]))
    b.steps.append(f"conv2d {kh}x{kw}→{cout} s{strides} d{dilations} {padding}")
    return gc.nn.conv2d(x, w, strides=strides, padding=padding, dilations=dilations)


def _pool(b, x):
    x = b.suitable(x, lambda t: t.rank == 4)
    if x is None:
        return None
    k = b.chooser.integer(1, 3)
    s = b.chooser.integer(1, 3)
    padding = choice(b.chooser, ("SAME", "VALID"))
    fn = choice(b.chooser, (gc.nn.max_pool2d, gc.nn.avg_pool2d))
    b.steps.append(f"{fn.__name__} {k} / {s} {padding}")
    return fn(x, k, s, padding=padding)


def _bias(b, x):
    x = b.suitable(x, lambda t: t.rank >= 2 and t.shape[-1] is not None)
    if x is None:
        return None
    b.steps.append("bias_add")
    return gc.nn.bias_add(x, b.variable((x.shape[-1],)))


def _dropout(b, x):
    rate = choice(b.chooser, (0.1, 0.5))
    b.steps.append(f"dropout {rate}")
    return gc.nn.dropout(x, rate=rate, seed=b.chooser.integer(0, 1000))


def _cast(b, x):
    other = gc.float64 if b.dtype == gc.float32 else gc.float32
    b.through_float32 = True
    b.steps.append(f"cast to {other.name} and back")
    return gc.cast(gc.cast(x, other) * 1.25, b.dtype)


def _tile(b, x):
    multiples = [1 if d is None else b.chooser.integer(1, 2) for d in x.shape]
    b.steps.append(f"tile {multiples}")
    return gc.tile(x, multiples)


def _add_n(b, x):
    same = [t for t in b.pool if t.shape == x.shape]
    if len(same) < 2:
        return None
    b.steps.append(f"add_n of {len(same[:4])}")
    return gc.add_n(same[:4])


CATALOGUE: list[tuple[str, Callable, int]] = [      # (name, builder, weight)
    ("unary", _unary, 6), ("binary", _binary, 6), ("reduce", _reduce, 3),
    ("centre", _centre, 2), ("softmax", _softmax, 2), ("cross_entropy", _cross_entropy, 1),
    ("matmul", _matmul, 3), ("transpose", _transpose, 2), ("reshape", _reshape, 2),
    ("expand_squeeze", _expand_squeeze, 1), ("slice", _slice, 2), ("concat", _concat, 1),
    ("pad", _pad, 1), ("gather", _gather, 1), ("one_hot_argmax", _one_hot_argmax, 1),
    ("conv2d", _conv, 3), ("pool", _pool, 2), ("bias_add", _bias, 1),
    ("dropout", _dropout, 1), ("cast", _cast, 1), ("tile", _tile, 1), ("add_n", _add_n, 1),
]
_WEIGHTED = [entry for entry in CATALOGUE for _ in range(entry[2])]
SCALAR_OPS = ("unary", "binary", "dropout", "cast")
"""The catalogue entries that take a rank-0 tensor (a full reduction's result)."""


def build_case(chooser) -> Case:
    """One random graph, its feeds, and what to compare (see the module docstring)."""
    dtype = choice(chooser, (gc.float32, gc.float64))
    symbolic = chance(chooser, 50)
    seed = chooser.integer(0, 2 ** 31 - 1)
    g = gc.Graph()
    with g.as_default():
        b = _Builder(chooser, dtype, symbolic, seed)
        for i in range(chooser.integer(1, 3)):
            b.input(i)
        for _ in range(chooser.integer(1, 8)):
            name, build, _ = choice(chooser, _WEIGHTED)
            x = b.pick()
            if name not in SCALAR_OPS:
                x = b.suitable(x, lambda t: t.rank > 0)
                if x is None:
                    continue
            try:
                y = build(b, x)
            except (gc.ShapeError, gc.DTypeError):      # not for this operand: skip
                continue
            if y is None or y.dtype != dtype:
                continue
            if (y.type.num_elements or 0) > MAX_ELEMENTS or \
                    (None in y.shape and np.prod([d or 1 for d in y.shape]) * 8 > MAX_ELEMENTS):
                continue
            b.pool.append(y)
        fetched = b.pool[-chooser.integer(1, min(3, len(b.pool))):]
        loss = gc.add_n([_summary(b, t) for t in fetched])
        wrt = [p for p, (kind, _, _) in b.feeds.items() if kind == "float"] + \
            g.get_collection("trainable_variables")
        grads = gc.gradients(loss, wrt)
        trained = [v for v, d in zip(wrt, grads) if d is not None and v.op.name == "variable"]
        grads = [d for d in grads if d is not None]
        train_op = None
        if trained and chance(chooser, 30):
            optimizer = choice(chooser, (gc.train.GradientDescentOptimizer(0.05),
                                         gc.train.MomentumOptimizer(0.05, momentum=0.9),
                                         gc.train.AdamOptimizer(0.01)))
            train_op = optimizer.minimize(loss, var_list=trained)
            b.steps.append(type(optimizer).__name__)
    batches = (choice(chooser, BATCH_SIZES), choice(chooser, BATCH_SIZES[1:])) \
        if any(None in p.shape for p in b.feeds) else (None,)
    tolerance = TOLERANCE["float32" if b.through_float32 else dtype.name]
    return Case(g, dtype, b.feeds, [loss] + list(fetched) + b.ints, grads, train_op,
                batches, seed, tolerance, b.steps)


def _summary(b, t):
    """A scalar that depends on every element of t differently (so gradients differ)."""
    last = t.shape[-1] if t.rank else None
    weights = b.rng.standard_normal(last if last else ()).astype(b.dtype.np_type)
    return gc.reduce_sum(t * gc.constant(weights)) + 0.5 * gc.reduce_sum(gc.tanh(t))


# -- running and comparing -------------------------------------------------------------------
TOLERANCE = {"float32": 2e-4, "float64": 1e-9}


def run_case(case: Case, backend: str) -> list:
    """Per batch size: the fetched values (or the error a run raised), then every
    variable's value after the runs."""
    sess = gc.Session(case.graph, backend=backend)
    fetches = case.outputs + case.grads + ([] if case.train_op is None else [case.train_op])
    results = []
    for run, batch in enumerate(case.batches):
        try:
            with np.errstate(all="ignore"):
                results.append(sess.run(fetches, case.feed(batch or 0, run)))
        except gc.ExecutionError as err:
            results.append(err)
    variables = case.graph.get_collection("variables")
    return results + [[sess.variable_value(v) for v in variables]]


def check_case(case: Case, backends=("llvm",)) -> None:
    """Every backend gives the interpreter's values, gradients and variables (or fails
    the same runs)."""
    want = run_case(case, "numpy")
    tol = case.tolerance
    fetched = [t.name for t in case.outputs + case.grads] + ["train_op"]
    variables = [v.name for v in case.graph.get_collection("variables")]
    for backend in backends:
        got = run_case(case, backend)
        for i, (g, w) in enumerate(zip(got, want)):
            last = i == len(want) - 1
            what = f"{backend}, {'variables' if last else f'run {i}'}: {case.describe()}"
            names = variables if last else fetched
            if isinstance(w, Exception) or isinstance(g, Exception):
                assert type(g) is type(w), f"{what}: {g!r} vs the interpreter's {w!r}"
                continue
            for name, a, e in zip(names, g, w):
                if e is None:
                    continue
                e = np.asarray(e)
                finite = np.abs(e[np.isfinite(e)]) if e.dtype.kind == "f" else np.abs(e)
                scale = max(1.0, float(finite.max())) if finite.size else 1.0
                np.testing.assert_allclose(a, e, rtol=tol, atol=tol * scale, equal_nan=True,
                                           err_msg=f"{name} ({what})")
