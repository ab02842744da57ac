"""Every differentiable op's symbolic gradient against central finite differences
(float64, full Jacobian), over several shapes including broadcasting."""
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import graphc as gc
from graphc.ir import OPS
from graphc.ops import apply


@dataclass
class Case:
    op: str                      # the op whose gradient rule is under test
    build: Callable              # placeholders -> output tensor
    shapes: list                 # input shapes
    domain: str = "any"          # any | pos | away0 | distinct | unit | above1
    tol: float = 1e-6
    ids: str = ""
    extra: dict = field(default_factory=dict)


def _values(shape, domain, rng):
    if domain == "pos":
        return rng.uniform(0.5, 2.0, size=shape)
    if domain == "unit":    # inside (−1, 1), away from its ends (asin, atanh, tan)
        return rng.uniform(-0.9, 0.9, size=shape)
    if domain == "above1":  # acosh
        return rng.uniform(1.2, 3.0, size=shape)
    if domain == "away0":   # both signs present, nothing near the kink at 0
        n = int(np.prod(shape))
        signs = rng.permutation(np.where(np.arange(n) % 2 == 0, 1.0, -1.0)).reshape(shape)
        return signs * rng.uniform(0.3, 2.0, size=shape)
    if domain == "distinct":   # no ties, gaps far larger than the finite-difference step
        n = int(np.prod(shape))
        shift = rng.uniform(0.05, 0.3)   # differs between inputs, so a and b never tie
        return (rng.permutation(n) * 0.37 - n * 0.15 + shift).reshape(shape)
    return rng.standard_normal(shape)


def _unary(op):
    return getattr(gc, op, None) or getattr(gc.nn, op)


UNARY = [("neg", "any"), ("abs", "away0"), ("exp", "any"), ("log", "pos"), ("sqrt", "pos"),
         ("rsqrt", "pos"), ("square", "any"), ("reciprocal", "away0"), ("sigmoid", "any"),
         ("tanh", "any"), ("relu", "away0"), ("leaky_relu", "away0"), ("elu", "away0"),
         ("softplus", "any"), ("log1p", "pos"), ("expm1", "any"), ("sin", "any"),
         ("cos", "any"), ("tan", "unit"), ("asin", "unit"), ("acos", "unit"), ("atan", "any"),
         ("sinh", "any"), ("cosh", "any"), ("asinh", "any"), ("acosh", "above1"),
         ("atanh", "unit")]
BINARY = [("add", "any"), ("sub", "any"), ("mul", "any"), ("div", "pos"), ("pow", "pos"),
          ("maximum", "distinct"), ("minimum", "distinct")]
BINARY_FN = {"add": gc.add, "sub": gc.subtract, "mul": gc.multiply, "div": gc.divide,
             "pow": gc.pow, "maximum": gc.maximum, "minimum": gc.minimum}
BROADCAST_SHAPES = [[(2, 3), (2, 3)], [(2, 3), (3,)], [(2, 1), (1, 3)], [(), (2, 3)],
                    [(3, 1, 2), (4, 1)]]

CASES = []
for _op, _dom in UNARY:
    for _shape in [(3,), (2, 3)]:
        CASES.append(Case(_op, _unary(_op), [_shape], _dom, ids=f"{_op}{_shape}"))
for _op, _dom in BINARY:
    for _shapes in BROADCAST_SHAPES:
        CASES.append(Case(_op, BINARY_FN[_op], _shapes, _dom, ids=f"{_op}{_shapes}"))
CASES += [
    Case("leaky_relu", lambda x: gc.nn.leaky_relu(x, alpha=0.05), [(2, 3)], "away0",
         ids="leaky_relu_alpha"),
    Case("elu", lambda x: gc.nn.elu(x, alpha=0.7), [(2, 3)], "away0", ids="elu_alpha"),
    Case("where", lambda a, b: gc.where(gc.constant([True, False, True]), a, b),
         [(2, 3), (2, 3)], ids="where"),
    Case("where", lambda a, b: gc.where(gc.constant([[True], [False]]), a, b),
         [(2, 3), (3,)], ids="where_broadcast"),
    Case("cast", lambda x: gc.cast(gc.cast(x, gc.float32), gc.float64) * 2.0, [(2, 3)],
         tol=1e-3, extra={"delta": 1e-3}, ids="cast_roundtrip"),
    Case("add_n", lambda a, b, c: gc.add_n([a, b, c]), [(2, 3), (2, 3), (3,)], ids="add_n"),
    Case("identity", gc.identity, [(2, 3)], ids="identity"),
    Case("allreduce", gc.distributed.allreduce, [(2, 3)], ids="allreduce"),
    Case("allreduce_bucket", lambda a, b: gc.distributed.allreduce_bucket([a, b]),
         [(2, 3), (4,)], ids="allreduce_bucket"),
    Case("floormod", lambda a, b: gc.mod(a * 3.0, b), [(2, 3), (3,)], "pos", ids="floormod"),
    Case("truncatemod", lambda a, b: gc.truncatemod(a * -3.0, b), [(2, 3), (3,)], "pos",
         ids="truncatemod"),
    Case("placeholder_with_default",
         lambda x: gc.placeholder_with_default(x, (2, 3)) * 2.0, [(2, 3)],
         ids="placeholder_with_default"),
    # matmul: every transpose variant, batched, broadcast batch
    Case("matmul", gc.matmul, [(2, 3), (3, 4)], ids="matmul"),
    Case("matmul", lambda a, b: gc.matmul(a, b, transpose_a=True), [(3, 2), (3, 4)], ids="mm_ta"),
    Case("matmul", lambda a, b: gc.matmul(a, b, transpose_b=True), [(2, 3), (4, 3)], ids="mm_tb"),
    Case("matmul", lambda a, b: gc.matmul(a, b, True, True), [(3, 2), (4, 3)], ids="mm_tab"),
    Case("matmul", gc.matmul, [(2, 2, 3), (2, 3, 4)], ids="mm_batched"),
    Case("matmul", gc.matmul, [(2, 2, 3), (3, 4)], ids="mm_broadcast_b"),
    Case("matmul", lambda a, b: a @ b, [(2, 3), (2, 3, 2)], ids="mm_broadcast_a"),
]
for _op in ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min"]:
    for _axis, _keep in [(None, False), (0, False), ((0, 2), True), (-1, False), (1, True)]:
        CASES.append(Case(_op, lambda x, o=_op, a=_axis, k=_keep: getattr(gc, o)(x, a, k),
                          [(2, 3, 2)], "distinct", ids=f"{_op}_{_axis}_{_keep}"))
CASES += [
    Case("reshape", lambda x: gc.reshape(x, (3, -1)), [(2, 3, 2)], ids="reshape"),
    Case("transpose", lambda x: gc.transpose(x, (2, 0, 1)), [(2, 3, 2)], ids="transpose"),
    Case("transpose", gc.transpose, [(2, 3)], ids="transpose_default"),
    Case("expand_dims", lambda x: gc.expand_dims(x, 1), [(2, 3)], ids="expand_dims"),
    Case("squeeze", lambda x: gc.squeeze(x), [(2, 1, 3, 1)], ids="squeeze_all"),
    Case("squeeze", lambda x: gc.squeeze(x, 1), [(2, 1, 3)], ids="squeeze_axis"),
    Case("concat", lambda a, b: gc.concat([a, b], 1), [(2, 3), (2, 2)], ids="concat1"),
    Case("concat", lambda a, b, c: gc.concat([a, b, c], 0), [(1, 3), (2, 3), (1, 3)],
         ids="concat0"),
    Case("strided_slice", lambda x: x[1:, ::2], [(3, 5)], ids="slice_step"),
    Case("strided_slice", lambda x: x[-1, None, 1:3], [(3, 5)], ids="slice_int_newaxis"),
    Case("strided_slice", lambda x: x[..., ::-2], [(2, 3, 4)], ids="slice_ellipsis_reverse"),
    Case("strided_slice", lambda x: gc.concat(gc.split(x, 2, axis=1), 0) * 3.0, [(2, 4)],
         ids="split"),
    Case("strided_slice", lambda x: gc.slice(x, [1, 0], [1, -1]), [(3, 4)], ids="tf_slice"),
    Case("pad", lambda x: gc.pad(x, [[1, 0], [2, 1]]), [(2, 3)], ids="pad"),
    Case("broadcast_to", lambda x: gc.broadcast_to(x, (2, 4, 3)), [(4, 1)], ids="broadcast_to"),
    Case("tile", lambda x: gc.tile(x, [2, 3]), [(2, 2)], ids="tile"),
    Case("gather", lambda p: gc.gather(p, gc.constant([2, 0, 2])), [(3, 2)], ids="gather"),
    Case("gather", lambda p: gc.gather(p, gc.constant([[1, 1], [0, 2]]), axis=1), [(2, 3)],
         ids="gather_axis1"),
    Case("gather", lambda p: p[gc.constant([1, 0])], [(3, 2)], ids="getitem_tensor"),
    Case("softmax", gc.nn.softmax, [(2, 4)], ids="softmax"),
    Case("softmax", lambda x: gc.nn.softmax(x, axis=0), [(3, 2)], ids="softmax_axis0"),
    Case("log_softmax", gc.nn.log_softmax, [(2, 4)], ids="log_softmax"),
    Case("sparse_softmax_cross_entropy",
         lambda x: gc.nn.sparse_softmax_cross_entropy_with_logits(
             labels=gc.constant([3, 0, 1]), logits=x), [(3, 4)], ids="xent"),
    Case("sparse_softmax_cross_entropy",
         lambda x: gc.losses.multiclass_hinge_loss(gc.constant([2, 0]), x), [(2, 3)],
         "distinct", ids="hinge"),
    Case("reduce_mean",
         lambda p, t: gc.losses.mean_squared_error(t, p), [(2, 3), (2, 3)], ids="mse"),
    Case("abs", lambda w: gc.losses.l1_regularizer(0.1)(w), [(2, 3)], "away0", ids="l1"),
    Case("square", lambda w: gc.losses.l2_regularizer(0.1)(w), [(2, 3)], ids="l2"),
    Case("add", lambda w: gc.losses.elastic_net_regularizer(0.1, 0.2)(w), [(2, 3)], "away0",
         ids="elastic_net"),
]
# internal ops used by gradient rules: checked directly, since grad-of-grad runs through them
CASES += [
    Case("broadcast_like", lambda x, r: apply("broadcast_like", [x, r]) * 1.0, [(3,), (2, 3)],
         ids="broadcast_like"),
    Case("sum_like", lambda x, r: apply("sum_like", [x, r]), [(2, 3), (1, 3)], ids="sum_like"),
    Case("reshape_like", lambda x, r: apply("reshape_like", [x, r]), [(6,), (2, 3)],
         ids="reshape_like"),
    Case("concat_part", lambda g, a, b: apply("concat_part", [g, a, b], index=1, axis=1),
         [(2, 5), (2, 2), (2, 3)], ids="concat_part"),
    Case("slice_grad", lambda g, r: apply("slice_grad", [g, r],
                                          spec=(("s", 1, None, None), ("s", None, None, 2))),
         [(2, 2), (3, 4)], ids="slice_grad"),
    Case("tile_grad", lambda g, r: apply("tile_grad", [g, r], multiples=(2, 1)),
         [(4, 3), (2, 3)], ids="tile_grad"),
    Case("gather_grad", lambda g, p: apply("gather_grad", [g, gc.constant([1, 1, 0]), p],
                                           axis=0), [(3, 2), (2, 2)], ids="gather_grad"),
]
# scatters: each reduction, rows written once (the gradients' assumption) and, for add,
# a row written twice
CASES += [
    Case("scatter_rows", lambda d, u, r=r: apply("scatter_rows", [d, gc.constant([3, 0, 1]), u],
                                                  reduction=r), [(4, 2), (3, 2)],
         "distinct", ids=f"scatter_rows_{r}")
    for r in ("update", "add", "mul", "max", "min")
] + [
    Case("scatter_rows", lambda d, u: apply("scatter_rows", [d, gc.constant([2, -2, 0]), u],
                                            reduction="add"), [(4, 2), (3, 2)],
         ids="scatter_rows_add_repeated"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.ids for c in CASES])
def test_gradient_matches_finite_differences(case, graph):
    rng = np.random.default_rng(zlib.crc32(case.ids.encode()))
    xs = [gc.placeholder(gc.float64, shape, name=f"in{i}") for i, shape in enumerate(case.shapes)]
    y = case.build(*xs)
    feed = {x: _values(s, case.domain, rng) for x, s in zip(xs, case.shapes)}
    pairs = gc.test.compute_gradient(xs, y, feed, delta=case.extra.get("delta", 1e-6))
    for theoretical, numerical in pairs:
        np.testing.assert_allclose(theoretical, numerical, atol=case.tol, rtol=case.tol)
    assert any(np.abs(t).max() > 0 for t, _ in pairs), "gradient is identically zero"


def test_reduce_max_shares_the_gradient_among_ties(graph):
    x = gc.placeholder(gc.float64, (2, 3))
    (g,) = gc.gradients(gc.reduce_sum(gc.reduce_max(x, axis=1) * gc.constant([1.0, 10.0],
                                                                              gc.float64)), [x])
    out = gc.Session(graph).run(g, {x: [[1.0, 3.0, 3.0], [5.0, 2.0, 4.0]]})
    np.testing.assert_array_equal(out, [[0, 0.5, 0.5], [10, 0, 0]])


def test_sign_has_a_zero_gradient(graph):
    x = gc.placeholder(gc.float64, (3,))
    (g,) = gc.gradients(gc.reduce_sum(gc.sign(x) * x), [x])
    out = gc.Session(graph).run(g, {x: [-2.0, 0.5, 3.0]})
    np.testing.assert_array_equal(out, [-1.0, 1.0, 1.0])   # only the x factor contributes


# ops whose output is not a differentiable function of their float inputs
NOT_DIFFERENTIABLE = {"sign", "equal", "not_equal", "less", "less_equal", "greater",
                      "greater_equal", "logical_and", "logical_or", "logical_not", "argmax",
                      "argmin", "one_hot", "size", "fill_like", "placeholder", "variable",
                      "constant", "assign", "assign_add", "assign_sub", "no_op",
                      "stop_gradient", "floor", "ceil", "round", "floordiv", "is_nan",
                      "is_inf", "bitwise_and", "bitwise_or", "bitwise_xor", "left_shift",
                      "right_shift", "invert", "bitcast", "truncatediv"}
CORE_MODULES = {"elementwise", "reduce", "linalg", "shape", "indexing", "softmax", "state"}


def test_every_core_op_has_a_gradient_case():
    """A new op in the core modules fails this until it gets a row above."""
    core = {name for name, op in OPS.items()
            if type(op).__module__.rsplit(".", 1)[-1] in CORE_MODULES}
    covered = {c.op for c in CASES}
    missing = core - covered - NOT_DIFFERENTIABLE
    assert not missing, f"ops without a gradient check: {sorted(missing)}"
