"""Pointwise GEMM epilogues (lower/epilogue.py): which nests after a gemm may run on each
final block of C inside the GEMM, and programs whose epilogues the LLVM backend fuses
computing, on every compiled backend, what the interpreter computes."""
import re

import numpy as np
import pytest

import graphc as gc
from graphc import passes
from graphc.codegen.llvm.executable import LLVMExecutable
from graphc.ir import float32
from graphc.ir.symbolic import BATCH
from graphc.lower.epilogue import attach_epilogues, gemm_epilogue
from graphc.lower.loopir import Binary, Buffer, Const, Kernel, Load, Loop, Store, Var, add, idx, mul
from graphc.lower.routines import Gemm

from backends import COMPILED

M, N, K = 4, 8, 3
R, C = Var("r"), Var("c")
HERE = add(mul(R, idx(N)), C)                       # C's own element


def _kernel(epilogue_body, *, extents=(M, N), distinct=True, extra_loop=False):
    """gemm(a, b -> out) followed by `for r: for c: epilogue_body`."""
    params = [Buffer("a", float32, M * K, True), Buffer("b", float32, K * N, True),
              Buffer("out", float32, M * N, True), Buffer("bias", float32, N, True),
              Buffer("w", float32, M * N, distinct)]
    call = Gemm("a", 0, "b", 0, "out", 0, M, N, K, K, N, N)
    body = list(epilogue_body)
    if extra_loop:
        body = [Loop(Var("j"), idx(2), body)]
    nest = Loop(R, idx(extents[0]), [Loop(C, idx(extents[1]), body, "vector")], "parallel")
    return Kernel("k", params, [call, nest])


def _load(buffer, index):
    return Load(buffer, index, float32)


BIAS_RELU = [Store("out", HERE, Binary("max", Binary("add", _load("out", HERE),
                                                        _load("bias", C)), Const(0.0, float32)))]
WEIGHT_UPDATE = [Store("w", HERE, Binary("sub", _load("w", HERE),
                                         Binary("mul", Const(0.01, float32), _load("out", HERE))))]


def test_bias_relu_and_a_weight_update_are_pointwise():
    for body in (BIAS_RELU, WEIGHT_UPDATE):
        kernel = _kernel(body)
        nest = kernel.body[1]
        assert gemm_epilogue(kernel, 0) is nest
        attach_epilogues(kernel)                      # lowering moves it into the Gemm
        assert len(kernel.body) == 1 and kernel.body[0].epilogue is nest
    assert gemm_epilogue(_kernel(BIAS_RELU), 1) is None          # not a gemm


@pytest.mark.parametrize("why,kernel", [
    ("reads a neighbour of its element",
     _kernel([Store("out", HERE, _load("out", add(HERE, idx(1))))])),
    ("reads its row's first element",
     _kernel([Store("w", HERE, _load("out", mul(R, idx(N))))])),
    ("writes a GEMM operand",
     _kernel([Store("a", mul(R, idx(K)), _load("out", HERE))])),
    ("writes a buffer that may share memory with another",
     _kernel(WEIGHT_UPDATE, distinct=False)),
    ("writes one element per column from every row",
     _kernel([Store("bias", C, _load("out", HERE))])),
    ("covers fewer columns than the product",
     _kernel(BIAS_RELU, extents=(M, N - 1))),
    ("has a loop inside",
     _kernel(BIAS_RELU, extra_loop=True)),
])
def test_nests_that_are_not_element_local_stay_separate(why, kernel):
    assert gemm_epilogue(kernel, 0) is None, why


def _fused_kernels(exe) -> set[str]:
    return set(re.findall(r'define internal void @"(kernel\d+)_epilogue\d+"', exe.llvm_ir))


@pytest.mark.parametrize("backend", COMPILED)
def test_dense_relu_epilogue_in_a_program_matches_the_interpreter(graph, backend):
    rng = np.random.default_rng(11)
    x = gc.placeholder(gc.float32, (None, 600), name="x")       # K = 600: two K slices
    w = gc.Variable(rng.standard_normal((600, 37)).astype(np.float32) * 0.05, name="w")
    b = gc.Variable(rng.standard_normal(37).astype(np.float32), name="b")
    h = gc.nn.relu(gc.matmul(x, w) + b, name="h")
    s = gc.sigmoid(gc.matmul(h, gc.transpose(w[:37, :])), name="s")
    for shapes in ({x: (67, 600)}, {x: (BATCH, 600)}):           # static and symbolic M
        program = passes.compile_program([h, s], shapes).program
        assert _fused_kernels(LLVMExecutable(program, threads=False))
    data = rng.standard_normal((67, 600)).astype(np.float32)
    for rows in (67, 3, 130):                  # the pool's grids differ with M
        feed = {x: data[:rows] if rows <= 67 else np.tile(data, (2, 1))[:rows]}
        want = gc.Session(graph, backend="numpy").run([h, s], feed)
        got = gc.Session(graph, backend=backend).run([h, s], feed)
        for g, wv in zip(got, want):
            np.testing.assert_allclose(g, wv, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("backend", COMPILED)
def test_momentum_training_with_fused_updates_follows_the_interpreter(graph, backend):
    """A weight update fused into the gradient GEMM (v = ρv + Xᵀ·dY; W −= lr·v per
    block), over several steps, against the interpreter."""
    rng = np.random.default_rng(12)
    x = gc.placeholder(gc.float32, (None, 129), name="x")
    y = gc.placeholder(gc.int32, (None,), name="y")
    h = gc.layers.dense(x, 67, activation=gc.nn.relu, name="d1")
    logits = gc.layers.dense(h, 10, name="d2")
    loss = gc.losses.sparse_softmax_cross_entropy(y, logits)
    train = gc.train.MomentumOptimizer(0.05, 0.9).minimize(loss)
    program = passes.compile_program([loss, train], {x: (33, 129), y: (33,)}).program
    fused = _fused_kernels(LLVMExecutable(program))
    assert len(fused) >= 3                 # forward dense layers and weight updates
    reference, compiled = gc.Session(graph, backend="numpy"), gc.Session(graph, backend=backend)
    for step in range(4):
        feed = {x: rng.standard_normal((33, 129)).astype(np.float32),
                y: rng.integers(0, 10, 33).astype(np.int32)}
        want, _ = reference.run([loss, train], feed)
        got, _ = compiled.run([loss, train], feed)
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6, err_msg=f"step {step}")
        for v in gc.trainable_variables(graph):
            np.testing.assert_allclose(compiled.variable_value(v), reference.variable_value(v),
                                       rtol=2e-5, atol=2e-6, err_msg=f"{v.name}, step {step}")
