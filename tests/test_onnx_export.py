"""ONNX export (issue 23): graphc's mlp and LeNet-5 forward passes written as ONNX
models that onnx.checker accepts, that ONNX Runtime runs to graphc's results, and that
load back into graphc with equal outputs; a trained Session exports its weights."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="ONNX export needs `pip install 'graphc[onnx]'`")
ort = pytest.importorskip("onnxruntime", reason="the comparisons need onnxruntime")

import graphc as gc  # noqa: E402
from graphc.frontends.onnx import OnnxError, export, load  # noqa: E402


def _ort(model, x):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


@pytest.mark.parametrize("make", [gc.models.mlp, gc.models.lenet5], ids=["mlp", "lenet5"])
def test_export_matches_onnxruntime_and_round_trips(make, tmp_path):
    step = make()
    x = step.batch(5)[step.x]
    with gc.Session(step.graph, backend="llvm") as sess:
        for _ in range(2):   # trained weights, not the initial ones, must be exported
            sess.run(step.train_op, step.batch(16, seed=3))
        want = sess.run(step.logits, {step.x: x})
        path = tmp_path / "model.onnx"
        model = export(sess, {"x": step.x}, {"logits": step.logits}, path)
    onnx.checker.check_model(onnx.load(path))
    np.testing.assert_allclose(_ort(model, x), want, rtol=1e-4, atol=1e-5)
    graph, inputs, outputs = load(path)
    with gc.Session(graph, backend="llvm") as sess:
        np.testing.assert_allclose(sess.run(outputs["logits"], {inputs["x"]: x}), want,
                                   rtol=1e-5, atol=1e-6)


def test_export_refuses_an_op_without_an_emitter():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 4), name="x")
        y = gc.nn.sparse_softmax_cross_entropy_with_logits(
            labels=gc.constant(np.zeros(2, np.int32)), logits=x)
    with pytest.raises(OnnxError, match="cannot export op 'sparse_softmax_cross_entropy'"):
        export(g, [x], {"y": y})


def test_dilated_max_pool_exports_and_dilated_average_pool_is_refused():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 7, 8, 2), name="x")
        y = gc.nn.max_pool2d(x, 2, 1, padding=((1, 0), (0, 1)), dilations=(2, 3))
        z = gc.nn.avg_pool2d(x, 2, 1, dilations=2)
    value = np.random.default_rng(0).standard_normal((3, 7, 8, 2)).astype(np.float32)
    with gc.Session(g) as sess:
        want = sess.run(y, {x: value})
    np.testing.assert_allclose(_ort(export(g, [x], {"y": y}), value), want, rtol=1e-6)
    with pytest.raises(OnnxError, match="dilated average pooling"):
        export(g, [x], {"z": z})
