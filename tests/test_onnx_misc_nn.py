"""CausalConvWithState, FlexAttention (ai.onnx.preview) and the ai.onnx.preview.training
update rules through graphc, beyond the wheel's node tests: an unknown batch size,
modifier subgraphs with grouped-query heads, update steps after the first (T > 0, where
the node tests never go), all against onnx's reference evaluator; operator domains and
unsupported subgraph ops are refused by name."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="ONNX import needs `pip install 'graphc[onnx]'`")

import graphc as gc  # noqa: E402
from graphc.frontends.onnx import OnnxError, load  # noqa: E402
from graphc.frontends.onnx.backend import unsupported_reason  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

RNG = np.random.default_rng(31)
F = TensorProto.FLOAT
PREVIEW, TRAINING = "ai.onnx.preview", "ai.onnx.preview.training"


def _run(model, feeds, backend):
    graph, inputs, outputs = load(model)
    with gc.Session(graph, backend=backend) as sess:
        return sess.run(list(outputs.values()), {inputs[k]: v for k, v in feeds.items()})


def _check(model, feeds, backend, rtol=1e-5, atol=1e-6):
    want = ReferenceEvaluator(model).run(None, feeds)
    got = _run(model, feeds, backend)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def _info(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


def _model(nodes, inputs, outputs, opsets, inits=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v)
                                                   for d, v in opsets])


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_causal_conv_with_state_and_an_unknown_batch(backend):
    node = helper.make_node("CausalConvWithState", ["x", "w", "b", "s"], ["y", "state"],
                            activation="silu")
    model = _model([node], [_info("x", [None, 3, 5]), _info("s", [None, 3, 2])],
                   [_info("y", [None, 3, 5]), _info("state", [None, 3, 2])], [("", 27)],
                   [numpy_helper.from_array(RNG.standard_normal((3, 1, 3)).astype(np.float32),
                                            "w"),
                    numpy_helper.from_array(RNG.standard_normal(3).astype(np.float32), "b")])
    feeds = {"x": RNG.standard_normal((4, 3, 5)).astype(np.float32),
             "s": RNG.standard_normal((4, 3, 2)).astype(np.float32)}
    _check(model, feeds, backend)


def _score_mod():
    """scores → 3·tanh(scores / 3) + bias, bias an initializer of the body."""
    nodes = [helper.make_node("Div", ["scores", "cap"], ["a"]),
             helper.make_node("Tanh", ["a"], ["t"]),
             helper.make_node("Mul", ["t", "cap"], ["c"]),
             helper.make_node("Add", ["c", "bias"], ["out"])]
    return helper.make_graph(
        nodes, "soft_cap_bias", [_info("scores", ["B", "H", "L", "S"])],
        [_info("out", ["B", "H", "L", "S"])],
        [helper.make_tensor("cap", F, [], [3.0]),
         numpy_helper.from_array(RNG.standard_normal((4, 6)).astype(np.float32), "bias")])


def _prob_mod():
    return helper.make_graph(
        [helper.make_node("Mul", ["p", "p"], ["out"])], "square",
        [_info("p", ["B", "H", "L", "S"])], [_info("out", ["B", "H", "L", "S"])])


def _flex(domain=PREVIEW, score_mod=None, **attrs):
    node = helper.make_node("FlexAttention", ["q", "k", "v"], ["y"], domain=domain,
                            scale=0.3, **attrs)
    node.attribute.append(helper.make_attribute("score_mod", score_mod or _score_mod()))
    node.attribute.append(helper.make_attribute("prob_mod", _prob_mod()))
    return _model([node], [_info("q", [None, 4, 4, 5]), _info("k", [None, 2, 6, 5]),
                           _info("v", [None, 2, 6, 3])], [_info("y", [None, 4, 4, 3])],
                  [("", 26), (PREVIEW, 1)])


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_flex_attention_modifiers_with_grouped_heads(backend):
    feeds = {name: RNG.standard_normal(shape).astype(np.float32) for name, shape in
             [("q", (2, 4, 4, 5)), ("k", (2, 2, 6, 5)), ("v", (2, 2, 6, 3))]}
    _check(_flex(), feeds, backend)


def _update_model(op, n_inputs, n_outputs, **attrs):
    names = [f"in{i}" for i in range(n_inputs)]
    node = helper.make_node(op, ["r", "t"] + names, [f"out{i}" for i in range(n_outputs)],
                            domain=TRAINING, **attrs)
    sizes = [(2,), (3, 2)] * (n_inputs // 2)
    return _model([node], [_info("r", []), _info("t", [], TensorProto.INT64)]
                  + [_info(n, list(s)) for n, s in zip(names, sizes)],
                  [_info(f"out{i}", list(sizes[i])) for i in range(n_outputs)],
                  [(TRAINING, 1)]), sizes


UPDATES = {
    "momentum": ("Momentum", 6, dict(alpha=0.9, beta=0.3, mode="standard",
                                     norm_coefficient=0.01)),
    "nesterov": ("Momentum", 6, dict(alpha=0.8, beta=0.5, mode="nesterov",
                                     norm_coefficient=0.0)),
    "adam": ("Adam", 8, dict(alpha=0.85, beta=0.95, epsilon=1e-3, norm_coefficient=0.02,
                             norm_coefficient_post=0.1)),
    "adagrad": ("Adagrad", 6, dict(decay_factor=0.2, epsilon=1e-4, norm_coefficient=0.05)),
}


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("step", [0, 3])
@pytest.mark.parametrize("rule", sorted(UPDATES))
def test_update_rules_on_the_first_and_a_later_step(rule, step, backend):
    op, n_inputs, attrs = UPDATES[rule]
    n_outputs = n_inputs - 2 if op != "Adam" else n_inputs * 3 // 4
    model, sizes = _update_model(op, n_inputs, n_outputs, **attrs)
    feeds = {f"in{i}": np.abs(RNG.standard_normal(s)).astype(np.float32)
             for i, s in enumerate(sizes)}
    feeds.update(r=np.array(0.1, np.float32), t=np.array(step, np.int64))
    _check(model, feeds, backend)


def test_operator_domains_are_checked_per_op():
    with pytest.raises(OnnxError, match=r"FlexAttention\): operator domain '' is not "
                                        r"supported \(graphc converts FlexAttention "
                                        r"from 'ai.onnx.preview'\)"):
        load(_flex(domain=""))
    node = helper.make_node("Relu", ["x"], ["y"], domain=PREVIEW)
    model = _model([node], [_info("x", [2])], [_info("y", [2])], [("", 26), (PREVIEW, 1)])
    assert unsupported_reason(model) == "no converter for Relu"
    with pytest.raises(OnnxError, match=r"\(Relu\): operator domain 'ai.onnx.preview'"):
        load(model)


def test_ops_inside_a_modifier_need_converters_too():
    body = helper.make_graph([helper.make_node("Shrink", ["s"], ["out"])], "shrink",
                             [_info("s", ["B", "H", "L", "S"])],
                             [_info("out", ["B", "H", "L", "S"])])
    assert unsupported_reason(_flex(score_mod=body)) == "no converter for Shrink"


def test_unsupported_attribute_values_name_the_node():
    with pytest.raises(OnnxError, match=r"\(CausalConvWithState\): attribute "
                                        r"activation='relu' is not supported"):
        load(_model([helper.make_node("CausalConvWithState", ["x", "w"], ["y", "s"],
                                      activation="relu")],
                    [_info("x", [1, 2, 3]), _info("w", [2, 1, 2])],
                    [_info("y", [1, 2, 3]), _info("s", [1, 2, 1])], [("", 27)]))
    model, _ = _update_model("Momentum", 6, 4, alpha=0.9, beta=0.1, mode="heavy",
                             norm_coefficient=0.0)
    with pytest.raises(OnnxError, match=r"\(Momentum\): attribute mode='heavy' is not"):
        load(model)
