"""Routines of the loop IR: each one's portable expansion computes what its numpy
implementation computes (the loop-IR interpreter runs both), so a target without a
native version of a routine still gets the right answer."""
import numpy as np
import pytest

from graphc.ir import float32, float64
from graphc.lower.interpret import run_kernel
from graphc.lower.loopir import Binary, Buffer, Const, Kernel, Load, Loop, Store, Var, add, idx, mul
from graphc.lower.nests import Names
from graphc.lower.routines import (BlockSum, ConvDirect, ConvFilterDirect, ConvGemm, ConvShape,
                                   Gemm)


def _both(routine, arrays, dtype):
    """The buffers after the routine ran natively (numpy) and as its expansion."""
    params = [Buffer(name, dtype, a.size) for name, a in arrays.items()]
    dtypes = {p.name: p.dtype for p in params}
    results = []
    for body in ([routine], routine.expand(dtypes.__getitem__, Names())):
        buffers = {name: a.copy() for name, a in arrays.items()}
        run_kernel(Kernel("k", params, body), buffers)
        results.append(buffers)
    return results


@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False), (False, True),
                                              (True, True)])
@pytest.mark.parametrize("beta, alpha", [(0.0, 1.0), (1.0, -0.5), (0.9, 1.0)])
def test_gemm_expansion(trans_a, trans_b, beta, alpha):
    rng = np.random.default_rng(0)
    m, n, k = 5, 3, 4
    lda, ldb, ldc = (m if trans_a else k) + 2, (k if trans_b else n) + 1, n + 3
    arrays = {"a": rng.standard_normal(3 + lda * (k if trans_a else m)),
              "b": rng.standard_normal(2 + ldb * (n if trans_b else k)),
              "c": rng.standard_normal(1 + ldc * m)}
    gemm = Gemm("a", 3, "b", 2, "c", 1, m, n, k, lda, ldb, ldc, trans_a, trans_b, beta, alpha)
    native, expanded = _both(gemm, arrays, float64)
    np.testing.assert_allclose(expanded["c"], native["c"], rtol=1e-12)
    assert not np.array_equal(native["c"], arrays["c"])


def test_gemm_expansion_runs_its_epilogue_after_the_product():
    rng = np.random.default_rng(1)
    r, c = Var("r"), Var("c")
    here = add(mul(r, idx(3)), c)
    relu = Loop(r, idx(4), [Loop(c, idx(3), [Store("c", here, Binary(
        "max", Load("c", here, float32), Const(0.0, float32)))])])
    arrays = {"a": rng.standard_normal(8).astype(np.float32),
              "b": rng.standard_normal(6).astype(np.float32), "c": np.zeros(12, np.float32)}
    gemm = Gemm("a", 0, "b", 0, "c", 0, 4, 3, 2, 2, 3, 3, epilogue=relu)
    native, expanded = _both(gemm, arrays, float32)
    want = np.maximum(arrays["a"].reshape(4, 2) @ arrays["b"].reshape(2, 3), 0).reshape(-1)
    np.testing.assert_allclose(native["c"], want, rtol=1e-6)
    np.testing.assert_allclose(expanded["c"], want, rtol=1e-6)


CONVS = [  # h, w, c_in, c_out, k, pad, stride, dilation
    (5, 6, 2, 3, (3, 2), (1, 0), (1, 1), (1, 1)),
    (7, 5, 1, 4, (2, 3), (0, 1), (2, 1), (1, 1)),
    (6, 6, 3, 2, (2, 2), (1, 1), (1, 1), (2, 2)),
]


def _shape(h, w, cin, cout, k, pad, stride, dilation) -> ConvShape:
    oh = (h + 2 * pad[0] - dilation[0] * (k[0] - 1) - 1) // stride[0] + 1
    ow = (w + 2 * pad[1] - dilation[1] * (k[1] - 1) - 1) // stride[1] + 1
    return ConvShape(h, w, cin, oh, ow, cout, k[0], k[1], pad[0], pad[1], stride[0],
                     stride[1], dilation[0], dilation[1])


@pytest.mark.parametrize("conv", CONVS)
def test_conv_direct_expansion(conv):
    rng = np.random.default_rng(2)
    s = _shape(*conv)
    arrays = {"x": rng.standard_normal(2 * s.h * s.w * s.c_in),
              "w": rng.standard_normal(s.kh * s.kw * s.c_in * s.c_out),
              "out": np.zeros(2 * s.oh * s.ow * s.c_out)}
    native, expanded = _both(ConvDirect("x", "w", "out", idx(1), s), arrays, float64)
    np.testing.assert_allclose(expanded["out"], native["out"], rtol=1e-12)
    half = s.oh * s.ow * s.c_out
    assert not native["out"][:half].any() and native["out"][half:].any()   # image 1 only


@pytest.mark.parametrize("conv", CONVS)
def test_conv_filter_direct_expansion(conv):
    rng = np.random.default_rng(3)
    s = _shape(*conv)
    size = s.kh * s.kw * s.c_in * s.c_out
    arrays = {"x": rng.standard_normal(2 * s.h * s.w * s.c_in),
              "dy": rng.standard_normal(2 * s.oh * s.ow * s.c_out),
              "acc": rng.standard_normal(size + 5)}
    routine = ConvFilterDirect("x", "dy", "acc", idx(5), idx(1), s)
    native, expanded = _both(routine, arrays, float64)
    np.testing.assert_allclose(expanded["acc"], native["acc"], rtol=1e-12)
    np.testing.assert_array_equal(native["acc"][:5], arrays["acc"][:5])    # before the offset


@pytest.mark.parametrize("count", [0, 5, 16, 37, 160])
def test_block_sum_expansion(count):
    rng = np.random.default_rng(4)
    arrays = {"x": rng.standard_normal(max(count, 1)), "out": np.full(32, np.nan)}
    native, expanded = _both(BlockSum("x", count, 32, "out"), arrays, float64)
    np.testing.assert_allclose(expanded["out"], native["out"], rtol=1e-12)
    want = [arrays["x"][t:count:32].sum() for t in range(32)]
    np.testing.assert_allclose(native["out"], want, rtol=1e-12)


@pytest.mark.parametrize("conv", CONVS)
@pytest.mark.parametrize("kind", ["forward", "input_gradient", "filter_gradient"])
def test_conv_gemm_expansion_and_numpy_match_the_interpreter(conv, kind):
    """The batch's convolution and both gradients against conv2d and its gradients on the
    numpy interpreter."""
    import graphc as gc
    rng = np.random.default_rng(5)
    s = _shape(*conv)
    batch = 3
    x = rng.standard_normal((batch, s.h, s.w, s.c_in))
    w = rng.standard_normal((s.kh, s.kw, s.c_in, s.c_out))
    dy = rng.standard_normal((batch, s.oh, s.ow, s.c_out))
    g = gc.Graph()
    with g.as_default():
        xp, wp = gc.placeholder(gc.float64, x.shape), gc.placeholder(gc.float64, w.shape)
        y = gc.nn.conv2d(xp, wp, strides=(s.stride_h, s.stride_w),
                         padding=((s.pad_h, s.pad_h + s.kh), (s.pad_w, s.pad_w + s.kw)),
                         dilations=(s.dilation_h, s.dilation_w))
        y = y[:, : s.oh, : s.ow, :]
        dx, dw = gc.gradients(y, [xp, wp], grad_ys=gc.constant(dy))
    want = gc.Session(g, backend="numpy").run({"forward": y, "input_gradient": dx,
                                               "filter_gradient": dw}[kind], {xp: x, wp: w})
    a, b = {"forward": (x, w), "input_gradient": (dy, w), "filter_gradient": (x, dy)}[kind]
    arrays = {"a": a.reshape(-1), "b": b.reshape(-1), "out": np.full(want.size + 2, np.nan)}
    native, expanded = _both(ConvGemm(kind, "a", "b", "out", batch, s), arrays, float64)
    np.testing.assert_allclose(native["out"][: want.size], want.reshape(-1), rtol=1e-10)
    np.testing.assert_allclose(expanded["out"][: want.size], want.reshape(-1), rtol=1e-10)
    assert np.isnan(native["out"][want.size:]).all()           # nothing past the output
