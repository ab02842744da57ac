"""What is particular to the LLVM backend and the CPU target's lowering: its stages in
`inspect`, the direct convolutions' choice, the same bits whatever the thread count,
GEMMs that update a variable in place. (The backend-neutral matrix: test_backends.py.)"""
import re

import numpy as np
import pytest

import graphc as gc

def _run_both(graph, fetches, feed):
    want = gc.Session(graph, backend="numpy").run(fetches, feed)
    got = gc.Session(graph, backend="llvm").run(fetches, feed)
    return got, want


def test_inspect_shows_every_stage(graph):
    x = gc.placeholder(gc.float32, (None, 8), name="x")
    y = gc.reduce_sum(gc.tanh(x) * 2.0, name="total")
    feed = {x: np.ones((4, 8), np.float32)}
    seen = gc.Session(graph, backend="llvm").inspect(y, feed)
    assert "kernel 0 reduction -> %total" in seen.program
    assert "for i" in seen.loop_ir and "tanh(b0_x[" in seen.loop_ir and "* 2.0" in seen.loop_ir
    assert "define void @\"graphc_program\"" in seen["LLVM IR"]
    assert "graphc_program:" in seen["assembly"]
    on_numpy = gc.Session(graph, backend="numpy").inspect(y, feed)
    assert on_numpy.loop_ir is None and "kernel 0 reduction" in on_numpy.program


@pytest.mark.parametrize("dtype", [gc.float32, gc.float64])
@pytest.mark.parametrize("cout", [5, 16, 20, 64, 129])
@pytest.mark.parametrize("stride", [1, 2])
def test_convolutions_with_up_to_eight_vectors_of_channels_run_direct(graph, dtype, cout,
                                                                       stride):
    """Forward and filter gradient: direct while C_out fits 8 vectors (128 float32, 64
    float64 channels); the input gradient too (its output channels are C_in) at stride 1
    with SAME padding, as a convolution of dY with the turned filter."""
    x = gc.placeholder(dtype, (None, 9, 8, 20), name="x")
    w = gc.placeholder(dtype, (3, 2, 20, cout), name="w")
    y = gc.nn.conv2d(x, w, strides=stride, padding="SAME")
    gx, gw = gc.gradients(gc.reduce_sum(y * y), [x, w])
    feed = {x: np.ones((4, 9, 8, 20)), w: np.ones((3, 2, 20, cout))}
    loop_ir = gc.Session(graph, backend="llvm").inspect([y, gw, gx], feed).loop_ir
    direct = cout <= (128 if dtype == gc.float32 else 64)
    assert loop_ir.count("conv_direct(") == direct + (stride == 1)
    assert ("conv_filter_direct(" in loop_ir) == direct


def test_inspect_a_program_with_views(graph):
    """A reshape is a view of its input's buffer: the memory plan prints it as one."""
    x = gc.placeholder(gc.float32, (None, 4, 4, 1), name="x")
    flat = gc.reshape(gc.nn.max_pool2d(x, 2, 2), (-1, 4), name="flat")
    y = gc.reduce_sum(gc.matmul(flat, gc.constant(np.ones((4, 2), np.float32))), name="total")
    seen = gc.Session(graph, backend="llvm").inspect(y, {x: np.ones((3, 4, 4, 1), np.float32)})
    assert "%flat: a view @" in seen.program


def test_compiled_train_steps_are_deterministic_across_runs_and_thread_counts(tmp_path):
    """Work is split by index, never by thread: the same bits with 1 or 2 threads."""
    import os
    import subprocess
    import sys
    script = (
        "import numpy as np, graphc as gc\n"
        "from graphc import models\n"
        "step = models.lenet5()\n"
        "sess = gc.Session(step.graph, backend='llvm')\n"
        "losses = [sess.run([step.loss, step.train_op], step.batch(16, seed=i))[0]\n"
        "          for i in range(3)]\n"
        "w = sess.variable_value(gc.trainable_variables(step.graph)[0])\n"
        "print(np.asarray(losses, np.float32).tobytes().hex(), w.tobytes().hex()[:4096])\n")
    outputs = []
    for threads in ("1", "2", "2"):
        env = dict(os.environ, GRAPHC_NUM_THREADS=threads, GRAPHC_CACHE_DIR=str(tmp_path))
        outputs.append(subprocess.run([sys.executable, "-c", script], env=env, check=True,
                                      capture_output=True, text=True).stdout)
    assert outputs[0] == outputs[1] == outputs[2]


def _gemm_betas(step_fetches, shapes):
    """(beta, C buffer) of every GEMM of the lowered program."""
    from graphc import passes
    from graphc.lower.access import walk
    from graphc.lower.program import lower_program
    from graphc.lower.routines import Gemm
    lowered = lower_program(passes.compile_program(step_fetches, shapes).program)
    return [(s.beta, s.c) for s in walk([s for k in lowered.kernels for s in k.body])
            if isinstance(s, Gemm)]


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_velocity_is_one_gemm_call_and_matches_the_interpreter(graph, rng, nesterov):
    """v = ρ·v + Xᵀ·dY runs as the GEMM call itself (beta ρ into the velocity slot), the
    parameter step as a pass over v; Nesterov's step reads v's old value, so there the
    product keeps its own buffer. Either way: the interpreter's values, step after step."""
    x = gc.placeholder(gc.float32, (None, 40), name="x")
    y = gc.placeholder(gc.float32, (None, 12), name="y")
    w = gc.Variable(rng.standard_normal((40, 12)).astype(np.float32), name="w")
    loss = gc.reduce_mean(gc.square(gc.matmul(x, w) - y))
    train = gc.train.MomentumOptimizer(0.05, momentum=0.8,
                                       use_nesterov=nesterov).minimize(loss)
    calls = _gemm_betas([loss, train], {x: (32, 40), y: (32, 12)})
    velocity = [buffer for beta, buffer in calls if beta == pytest.approx(0.8)]
    assert (velocity != []) is not nesterov, calls
    assert all("Momentum" in buffer for buffer in velocity)
    ref = gc.Session(graph, backend="numpy")
    fast = gc.Session(graph, backend="llvm")
    for i in range(4):
        feed = {x: rng.standard_normal((32, 40)).astype(np.float32),
                y: rng.standard_normal((32, 12)).astype(np.float32)}
        want, _ = ref.run([loss, train], feed)
        got, _ = fast.run([loss, train], feed)
        np.testing.assert_allclose(got, want, rtol=1e-5)
    for v in gc.global_variables(graph):
        np.testing.assert_allclose(fast.variable_value(v), ref.variable_value(v), rtol=1e-5,
                                   atol=1e-6, err_msg=v.name)



def test_kernels_with_the_same_code_share_one_function(graph):
    """Two layers that differ only in their buffers compile one kernel function, called
    once for each with its own buffers: both results still come out right."""
    rng = np.random.default_rng(6)
    x1 = gc.placeholder(gc.float32, (None, 40), name="x1")
    x2 = gc.placeholder(gc.float32, (None, 40), name="x2")
    y1 = gc.tanh(x1) * 2.0 + 1.0
    y2 = gc.tanh(x2) * 2.0 + 1.0
    y3 = gc.tanh(x2) * 3.0 + 1.0                       # another constant: other code
    feed = {x1: rng.standard_normal((5, 40)), x2: rng.standard_normal((5, 40))}
    sess = gc.Session(graph, backend="llvm")
    seen = sess.inspect([y1, y2, y3], feed)
    defined = re.findall(r'define internal void @"?(kernel\d+)"?\(', seen["LLVM IR"])
    assert len(defined) == 2, defined
    got = sess.run([y1, y2, y3], feed)
    want = gc.Session(graph, backend="numpy").run([y1, y2, y3], feed)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got[0], got[1])
