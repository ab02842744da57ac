"""ONNX's transformer ops through graphc (beyond the wheel's node tests, whose shapes are
all known): a block of RMSNormalization → RotaryEmbedding → grouped-query causal
Attention → SwiGLU with an unknown batch size matches onnx's reference evaluator and
trains (gradients reach its weights); unsupported attributes name the node."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="ONNX import needs `pip install 'graphc[onnx]'`")

import graphc as gc  # noqa: E402
from graphc.frontends.onnx import OnnxError, load  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

RNG = np.random.default_rng(23)
S, HQ, HK, D = 5, 4, 2, 6


def _block():
    f = TensorProto.FLOAT
    inits = {"scale": RNG.uniform(0.5, 1.5, HQ * D), "w_k": RNG.standard_normal((HQ * D, HK * D)),
             "w_v": RNG.standard_normal((HQ * D, HK * D)) * 0.3,
             "cos": np.cos(np.arange(S)[:, None] * np.arange(1, D // 2 + 1)),
             "sin": np.sin(np.arange(S)[:, None] * np.arange(1, D // 2 + 1))}
    nodes = [
        helper.make_node("RMSNormalization", ["x", "scale"], ["n"], axis=-1, epsilon=1e-5),
        helper.make_node("MatMul", ["n", "w_k"], ["k"]),
        helper.make_node("MatMul", ["n", "w_v"], ["v"]),
        helper.make_node("RotaryEmbedding", ["n", "cos", "sin", "pos"], ["q"],
                         num_heads=HQ),
        helper.make_node("Attention", ["q", "k", "v"], ["a"], q_num_heads=HQ,
                         kv_num_heads=HK, is_causal=1, softcap=3.0),
        helper.make_node("Split", ["x"], ["g0", "g1"], axis=-1, num_outputs=2),
        helper.make_node("Split", ["a"], ["a0", "a1"], axis=-1, num_outputs=2),
        helper.make_node("SwiGLU", ["a0", "g1"], ["y"], alpha=1.5),
    ]
    graph = helper.make_graph(
        nodes, "block",
        [helper.make_tensor_value_info("x", f, [None, S, HQ * D]),
         helper.make_tensor_value_info("pos", TensorProto.INT64, [None, S])],
        [helper.make_tensor_value_info("y", f, [None, S, HQ * D // 2])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 24)])


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_block_matches_the_reference_and_trains(backend):
    model = _block()
    x = RNG.standard_normal((3, S, HQ * D)).astype(np.float32)
    pos = np.array([[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [1, 1, 2, 2, 3]], np.int64)
    want = ReferenceEvaluator(model).run(None, {"x": x, "pos": pos})[0]
    graph, inputs, outputs = load(model)
    with graph.as_default():
        loss = gc.reduce_sum(gc.square(outputs["y"]))
        weights = [v for v in gc.trainable_variables() if v.name in ("scale", "w_k", "w_v")]
        grads = gc.gradients(loss, weights)
    with gc.Session(graph, backend=backend) as sess:
        got, *grad_values = sess.run([outputs["y"]] + grads,
                                     {inputs["x"]: x, inputs["pos"]: pos})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert len(grad_values) == 3
    assert all(np.all(np.isfinite(g)) and np.abs(g).max() > 0 for g in grad_values)


def _single(node, inputs, outputs, opset=24):
    graph = helper.make_graph([node], "g", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_unsupported_attributes_name_the_node():
    f = TensorProto.FLOAT
    q = helper.make_tensor_value_info("q", f, [1, 2, 8])
    y = helper.make_tensor_value_info("y", f, [1, 2, 8])
    model = _single(helper.make_node("Attention", ["q", "q", "q"], ["y"], name="att"),
                    [q], [y])
    with pytest.raises(OnnxError, match=r"'att' \(Attention\): 3-D inputs need the "
                                        r"attribute 'q_num_heads'"):
        load(model)
    model = _single(helper.make_node("LpNormalization", ["q"], ["y"], name="lp", p=3),
                    [q], [y])
    with pytest.raises(OnnxError, match=r"'lp' \(LpNormalization\): attribute p=3"):
        load(model)
