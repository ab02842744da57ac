"""The CUDA backend where no GPU is: the generated source of every op, gradient and train
step compiles to PTX with nvcc without a warning (many programs per nvcc run), and the
host build of the same source runs the test matrix (tests/backends.py: "cuda-host").
Tests that need a GPU are marked `gpu` and skip, saying why, where there is none."""
import functools
import shutil

import numpy as np
import pytest

import graphc as gc
from graphc import models, passes
from graphc.codegen.cuda.render import bundle_source
from graphc.codegen.cuda.toolchain import memory, ptx
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


def _program_args(fetches, feed_shapes) -> tuple:
    """program_source's arguments for a program, lowered for the CUDA target."""
    program = passes.compile_program(fetches, feed_shapes).program
    lowered = lower_program(program, target=CUDA)
    slots = {b.name: i for i, b in enumerate(lowered.buffers)}
    stop = slots["status"] if lowered.failures else None
    sizes = {i: n.type.num_elements for i, n in enumerate(lowered.prints or [])}
    return lowered.kernels, slots, stop, sizes


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
        from graphc.ir.symbolic import BATCH
        yield _program_args([step.loss, step.train_op],
                            {step.x: (BATCH,) + tuple(step.x.shape[1:]), step.y: (BATCH,)})


@needs_nvcc
def test_every_op_and_train_step_compiles_to_ptx_without_warnings():
    programs = list(_case_programs()) + list(_train_step_programs())
    for start in range(0, len(programs), 50):
        source = bundle_source(programs[start: start + 50])
        text, warnings = ptx(source)
        assert warnings == "", warnings[:3000]
        assert ".entry" in text and "sm_90" in text


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
    assert "GRAPHC_LAUNCH(kernel0_0, graphc_blocks(" in source and ", 256," in source


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
