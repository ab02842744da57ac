"""The CUDA backend where no GPU is: the generated source of every op, gradient and train
step compiles to PTX with nvcc without a warning (many programs per nvcc run), and the
host build of the same source runs the test matrix (tests/backends.py: "cuda-host").
Tests that need a GPU are marked `gpu` and skip, saying why, where there is none."""
import ctypes
import functools
import re
import shutil

import numpy as np
import pytest

import graphc as gc
from graphc import models, passes
from graphc.codegen.cuda.prelude import PRELUDE
from graphc.codegen.cuda.render import bundle_source
from graphc.codegen.cuda.toolchain import Library, memory, ptx
from graphc.examples_support import two_layer_graph
from graphc.lower.program import lower_program
from graphc.lower.target import CUDA

from test_gradients import CASES, _values

needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None,
                                reason="nvcc (the CUDA compiler) is not installed")


@functools.lru_cache(maxsize=1)
def _gpu() -> tuple[int, str]:
    if shutil.which("nvcc") is None:
        return 0, "nvcc is not installed"
    return memory(False).devices()


def needs_gpu(test):
    count, why = _gpu()
    return pytest.mark.skipif(count == 0, reason=f"no NVIDIA GPU here ({why})")(test)


def _program_args(fetches, feed_shapes, tf32=False) -> tuple:
    """program_source's arguments for a program, lowered for the CUDA target."""
    program = passes.compile_program(fetches, feed_shapes).program
    lowered = lower_program(program, target=CUDA)
    slots = {b.name: i for i, b in enumerate(lowered.buffers)}
    stop = slots["status"] if lowered.failures else None
    sizes = {i: n.type.num_elements for i, n in enumerate(lowered.prints or [])}
    return lowered.kernels, slots, stop, sizes, tf32


def _case_programs():
    for case in CASES:
        g = gc.Graph()
        with g.as_default():
            xs = [gc.placeholder(gc.float64, s, name=f"in{i}") for i, s in enumerate(case.shapes)]
            y = case.build(*xs)
            cot = gc.placeholder(gc.float64, y.shape, name="cotangent")
            grads = [d for d in gc.gradients(y, xs, grad_ys=cot) if d is not None]
            shapes = {x: s for x, s in zip(xs, case.shapes)}
            shapes[cot] = y.shape
            yield _program_args([y] + grads, shapes)


def _train_step_programs():
    g, t, _ = two_layer_graph(n=64)
    yield _program_args([t["loss"], t["train"]], {t["x"]: (64, 1000), t["y"]: (64, 10)})
    for name in ("mlp", "lenet5"):
        step = getattr(models, name)()
        shapes = {step.x: (64,) + tuple(step.x.shape[1:]), step.y: (64,)}
        yield _program_args([step.loss, step.train_op], shapes)
        yield _program_args([step.loss, step.train_op], shapes, tf32=True)
        from graphc.ir.symbolic import BATCH
        yield _program_args([step.loss, step.train_op],
                            {step.x: (BATCH,) + tuple(step.x.shape[1:]), step.y: (BATCH,)})


@needs_nvcc
def test_every_op_and_train_step_compiles_to_ptx_without_warnings():
    programs = list(_case_programs()) + list(_train_step_programs())
    texts = []
    for start in range(0, len(programs), 50):
        source = bundle_source(programs[start: start + 50])
        text, warnings = ptx(source)
        assert warnings == "", warnings[:3000]
        assert ".entry" in text and "sm_90" in text
        texts.append(text)
    assert any("mma.sync" in text for text in texts)     # the TF32 programs' tensor cores


def test_the_host_build_runs_blocks_at_once_and_full_warps(graph, monkeypatch):
    """A grid of several blocks of 256 threads: every element written once, by the
    host build running blocks on two CPU threads."""
    monkeypatch.setenv("GRAPHC_CUDA_HOST_THREADS", "2")
    x = gc.placeholder(gc.float32, (None, 1000), name="x")
    y = gc.tanh(x) * 2.0 + 1.0
    value = np.random.default_rng(0).standard_normal((37, 1000)).astype(np.float32)
    sess = gc.Session(graph, backend="cuda-host")
    np.testing.assert_allclose(sess.run(y, {x: value}), np.tanh(value) * 2 + 1, rtol=1e-5,
                               atol=1e-6)
    source = sess.inspect(y, {x: value})["CUDA source"]
    assert "GRAPHC_LAUNCH(state, kernel0_0, graphc_blocks(" in source and \
        "GRAPHC_THREADS 256" in source


def _executables(sess):
    return [exe for _, exe in sess.backend._compiled.values()]


def _source(sess, fetches, feed) -> str:
    return sess.inspect(fetches, feed)["CUDA source"]


@pytest.mark.parametrize("build,x_shape", [
    (lambda x: gc.reduce_sum(x, axis=1), (6, 5000)),            # a row per block
    (lambda x: gc.reduce_max(x, axis=0), (3000, 7)),            # a column per block
    (lambda x: gc.reduce_mean(x), (999, 13)),                   # one block, everything
    (lambda x: gc.nn.softmax(x), (5, 2000)),                    # folds, then a spread loop
    (lambda x: gc.reduce_min(gc.cast(x * 100.0, gc.int32), axis=1), (4, 700)),
])
def test_long_folds_are_shared_by_a_block_and_match_the_interpreter(graph, build, x_shape):
    x = gc.placeholder(gc.float32, (None,) + x_shape[1:], name="x")
    y = build(x)
    value = np.random.default_rng(0).standard_normal(x_shape).astype(np.float32)
    sess = gc.Session(graph, backend="cuda-host")
    got = sess.run(y, {x: value})
    want = gc.Session(graph, backend="numpy").run(y, {x: value})
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    assert re.search(r"\w+ = graphc_block_fold\(", _source(sess, y, {x: value}))


def test_the_host_build_fails_a_block_that_leaves_others_at_a_barrier():
    """A barrier only some of a block's threads reach is a failed launch naming the
    problem (on a GPU it hangs or is undefined), not a hang of the host build."""
    source = PRELUDE + r"""
__global__ void diverge(float *x) {
    if (threadIdx.x < 64) return;
    __syncthreads();
    x[threadIdx.x] = 1.0f;
}
__global__ void shuffle_sum(float *x) {
    float v = x[threadIdx.x];
    for (int d = 16; d >= 1; d >>= 1) v += __shfl_down_sync(0xffffffffu, v, d);
    __syncwarp();
    if ((threadIdx.x & 31u) == 0) x[threadIdx.x] = v;
}
extern "C" int run(int which, float *x, char *error, int error_size) {
    graphc_state *state;
    if (graphc_state_create(&state, error, error_size)) return 1;
    if (which == 0) GRAPHC_LAUNCH(state, diverge, 2, 128, true, x);
    else GRAPHC_LAUNCH(state, shuffle_sum, 1, 64, true, x);
    int failed = GRAPHC_CHECK_LAUNCH(which == 0 ? "diverge" : "shuffle_sum");
    graphc_state_destroy(state);
    return failed;
}
"""
    lib = Library(source, True, symbols=("run",)).handle
    error = ctypes.create_string_buffer(256)
    x = np.arange(128, dtype=np.float32)
    assert lib.run(0, x.ctypes.data_as(ctypes.c_void_p), error, 256) == 1
    assert b"diverge: threads of a block left the kernel while others wait" in error.value
    y = np.arange(64, dtype=np.float32)
    assert lib.run(1, y.ctypes.data_as(ctypes.c_void_p), error, 256) == 0
    assert y[0] == sum(range(32)) and y[32] == sum(range(32, 64)) and y[1] == 1


@pytest.mark.parametrize("sms", ["1", "4", "64"])     # 128×128 tiles; 64×64; split K
@pytest.mark.parametrize("dtype", [gc.float32, gc.float64])
def test_gemms_of_every_transpose_and_size_match_numpy(graph, monkeypatch, sms, dtype):
    monkeypatch.setenv("GRAPHC_CUDA_HOST_SMS", sms)
    rng = np.random.default_rng(int(sms))
    cases = []
    for m, n, k in [(1, 1, 1), (37, 70, 300), (260, 130, 700), (3, 5, 0)]:
        for ta in (False, True):
            for tb in (False, True):
                a = gc.placeholder(dtype, (k, m) if ta else (m, k))
                b = gc.placeholder(dtype, (n, k) if tb else (k, n))
                cases.append((gc.matmul(a, b, transpose_a=ta, transpose_b=tb), a, b))
    batched_a = gc.placeholder(dtype, (3, 20, 30))
    batched_b = gc.placeholder(dtype, (30, 9))
    cases.append((gc.matmul(batched_a, batched_b), batched_a, batched_b))  # a host loop
    feed = {p: rng.standard_normal(p.shape).astype(dtype.np_type)
            for _, a, b in cases for p in (a, b)}
    got = gc.Session(graph, backend="cuda-host").run([c for c, _, _ in cases], feed)
    tol = 1e-4 if dtype == gc.float32 else 1e-11
    for (c, a, b), value in zip(cases, got):
        ta, tb = c.attrs["transpose_a"], c.attrs["transpose_b"]
        want = np.matmul(np.swapaxes(feed[a], -1, -2) if ta else feed[a],
                         np.swapaxes(feed[b], -1, -2) if tb else feed[b])
        np.testing.assert_allclose(value, want, rtol=tol, atol=tol)


def test_a_repeated_step_is_one_graph_replay_and_follows_new_values(graph, monkeypatch):
    """The second run with the same buffers records the launches; later ones replay
    them, reading the feeds' and variables' new values; a new batch size runs eagerly
    and is recorded again; GRAPHC_CUDA_GRAPHS=0 never records."""
    step = models.mlp()
    ref = gc.Session(step.graph, backend="numpy")
    sess = gc.Session(step.graph, backend="cuda-host")
    for i, batch in enumerate([16, 16, 16, 16, 9, 9, 9]):
        feed = step.batch(batch, seed=i)
        want, _ = ref.run([step.loss, step.train_op], feed)
        got, _ = sess.run([step.loss, step.train_op], feed)
        np.testing.assert_allclose(got, want, rtol=1e-4)
    (exe,) = _executables(sess)
    assert exe.graph_replays == 2 + 1
    for v in gc.global_variables(step.graph):
        np.testing.assert_allclose(sess.variable_value(v), ref.variable_value(v), rtol=1e-3,
                                   atol=1e-5, err_msg=v.name)
    monkeypatch.setenv("GRAPHC_CUDA_GRAPHS", "0")
    plain = gc.Session(step.graph, backend="cuda-host")
    for i in range(3):
        plain.run([step.loss, step.train_op], step.batch(16, seed=i))
    assert _executables(plain)[0].graph_replays == 0


def test_tf32_is_opt_in_and_rounds_products_to_tf32(graph):
    x = gc.placeholder(gc.float32, (None, 300), name="x")
    w = gc.Variable(np.random.default_rng(0).standard_normal((300, 70)).astype(np.float32))
    img = gc.placeholder(gc.float32, (None, 9, 9, 3), name="img")
    f = gc.Variable(np.random.default_rng(2).standard_normal((3, 3, 3, 5)).astype(np.float32))
    conv = gc.nn.conv2d(img, f, padding="SAME")
    fetches = [gc.matmul(x, w), conv] + gc.gradients(gc.reduce_sum(conv * conv), [img, f])
    rng = np.random.default_rng(1)
    feed = {x: rng.standard_normal((50, 300)).astype(np.float32),
            img: rng.standard_normal((4, 9, 9, 3)).astype(np.float32)}
    want = gc.Session(graph, backend="numpy").run(fetches, feed)

    def errors(precision):
        got = gc.Session(graph, backend="cuda-host", matmul_precision=precision).run(
            fetches, feed)
        return [np.abs(a - b).max() / np.abs(b).max() for a, b in zip(got, want)]
    assert max(errors("highest")) < 3e-6
    tf32 = errors("high")
    assert all(2e-5 < e < 2e-3 for e in tf32), tf32        # 10-bit mantissas, float sums
    with pytest.raises(gc.GraphcError, match="matmul_precision 'medium' is not one of"):
        gc.Session(graph, backend="cuda-host", matmul_precision="medium")


def test_variables_stay_on_the_device_until_the_session_reads_them(graph):
    v = gc.Variable(np.zeros(3, np.float32), name="v")
    bump = gc.assign_add(v, np.ones(3, np.float32))
    sess = gc.Session(graph, backend="cuda-host")
    for _ in range(3):
        sess.run(bump)
    host = sess._variables[v]
    np.testing.assert_array_equal(host, 0)                    # not copied back per run
    np.testing.assert_array_equal(sess.variable_value(v), 3)  # but when read
    sess.set_variable_value(v, np.full(3, 10, np.float32))    # a new value is uploaded
    np.testing.assert_array_equal(sess.run(bump), 11)


def test_no_gpu_is_a_clear_error_naming_the_host_build():
    count, _ = _gpu()
    if count:
        pytest.skip("a GPU is present: backend='cuda' works here")
    if shutil.which("nvcc") is None:
        with pytest.raises(gc.GraphcError, match="nvcc"):
            gc.Session(gc.Graph(), backend="cuda")
        return
    with pytest.raises(gc.GraphcError, match="no usable NVIDIA GPU.*cuda-host"):
        gc.Session(gc.Graph(), backend="cuda")


@needs_gpu
@pytest.mark.parametrize("name,batch", [("mlp", 64), ("lenet5", 64)])
def test_train_steps_on_the_gpu_match_the_interpreter(name, batch):
    step = getattr(models, name)()
    ref, gpu = gc.Session(step.graph, backend="numpy"), gc.Session(step.graph, backend="cuda")
    for i in range(3):
        feed = step.batch(batch, seed=i)
        want, _ = ref.run([step.loss, step.train_op], feed)
        got, _ = gpu.run([step.loss, step.train_op], feed)
        np.testing.assert_allclose(got, want, rtol=1e-4)
    for v in gc.global_variables(step.graph):
        np.testing.assert_allclose(gpu.variable_value(v), ref.variable_value(v), rtol=1e-3,
                                   atol=1e-5, err_msg=v.name)


@needs_gpu
@pytest.mark.parametrize("case", CASES[:40], ids=[c.ids for c in CASES[:40]])
def test_ops_on_the_gpu_match_the_interpreter(case, graph):
    rng = np.random.default_rng(7)
    xs = [gc.placeholder(gc.float64, s, name=f"in{i}") for i, s in enumerate(case.shapes)]
    y = case.build(*xs)
    feed = {x: _values(s, case.domain, rng) for x, s in zip(xs, case.shapes)}
    got = gc.Session(graph, backend="cuda").run(y, feed)
    want = gc.Session(graph, backend="numpy").run(y, feed)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
