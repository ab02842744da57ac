"""ONNX import (issue 23): an MLP written with onnx.helper and LeNet-5 / a VGG-style
net exported by PyTorch load into graphc, match ONNX Runtime (and PyTorch) on the
numpy and llvm backends, fine-tune with gc.train like PyTorch does, and unsupported
models fail naming the node."""
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="ONNX import needs `pip install 'graphc[onnx]'`")
ort = pytest.importorskip("onnxruntime", reason="the comparisons need onnxruntime")

import graphc as gc  # noqa: E402
import onnx_models  # noqa: E402
from graphc.frontends.onnx import OnnxError, load  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

BACKENDS = ["numpy", "llvm"]


def _torch():
    return pytest.importorskip("torch", reason="the PyTorch-exported models need torch")


def _run_ort(model, x):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def _run_graphc(model, x, backend):
    graph, inputs, outputs = load(model)
    with gc.Session(graph, backend=backend) as sess:
        return sess.run(outputs["logits"], {inputs["x"]: x})


def _models():
    yield "mlp", onnx_models.mlp, (3, 784)
    yield "lenet5", lambda: _export(onnx_models.torch_lenet5(), (1, 1, 28, 28)), (3, 1, 28, 28)
    yield "vgg_bn", lambda: _export(onnx_models.torch_vgg(), (1, 3, 32, 32), fold=False), \
        (3, 3, 32, 32)


def _export(net, shape, fold=True):
    _torch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return onnx_models.export_torch(net, shape, fold=fold)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,make,shape", list(_models()), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_loaded_model_matches_onnxruntime(name, make, shape, backend):
    model = make()
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(_run_graphc(model, x, backend), _run_ort(model, x),
                               rtol=1e-4, atol=1e-5)


def test_vgg_layout_transposes_cancel():
    """Inside the net no layout transpose is left: only the input's, the one before
    the global pool and the OIHW → HWIO filter transposes (variables, so per run)."""
    model = _export(onnx_models.torch_vgg(), (1, 3, 32, 32), fold=False)
    graph, inputs, outputs = load(model)
    x = np.zeros((2, 3, 32, 32), np.float32)
    with gc.Session(graph, backend="llvm") as sess:
        program = sess.inspect(outputs["logits"], {inputs["x"]: x}).program
    kept = [line for line in program.splitlines() if "= transpose(" in line]
    filters = [line for line in kept if "(2, 3, 1, 0)" in line]
    assert len(filters) == 4 and len(kept) == 6, "\n".join(kept)


FINE_TUNES = {
    # model, input shape, graphc's optimizer, PyTorch's
    "lenet5": (onnx_models.torch_lenet5, (8, 1, 28, 28), True,
               lambda: gc.train.GradientDescentOptimizer(0.05),
               lambda torch, params: torch.optim.SGD(params, lr=0.05)),
    "vgg_bn": (onnx_models.torch_vgg, (4, 3, 32, 32), False,
               lambda: gc.train.AdamOptimizer(1e-3, convention="torch"),
               lambda torch, params: torch.optim.Adam(params, lr=1e-3)),
}


@pytest.mark.parametrize("name", FINE_TUNES)
def test_a_loaded_model_fine_tunes_like_pytorch(name):
    """Three steps in graphc on the loaded model give PyTorch's losses: plain SGD on
    LeNet-5; Adam on the VGG-style net, whose batch norms stay in inference mode (their
    running statistics load as variables no optimizer trains, as PyTorch's buffers)."""
    torch = _torch()
    make, shape, fold, ours_opt, theirs_opt = FINE_TUNES[name]
    net = make()
    model = _export(net, (1,) + shape[1:], fold=fold)
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, 10, shape[0])

    graph, inputs, outputs = load(model)
    with graph.as_default():
        labels = gc.placeholder(gc.int64, (None,), name="labels")
        loss = gc.reduce_mean(gc.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=outputs["logits"]))
        step = ours_opt().minimize(loss)
    trained = gc.trainable_variables(graph)
    assert len(trained) == len(list(net.parameters()))
    with gc.Session(graph, backend="llvm") as sess:
        ours = [sess.run([loss, step], {inputs["x"]: x, labels: y})[0] for _ in range(3)]
        final = sess.run(loss, {inputs["x"]: x, labels: y})

    opt = theirs_opt(torch, net.parameters())
    theirs = []
    for _ in range(4):
        opt.zero_grad()
        out = torch.nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y))
        theirs.append(out.item())
        out.backward()
        opt.step()
    np.testing.assert_allclose(ours + [final], theirs, rtol=2e-4)
    assert final < ours[0]


def _single_node_model(node, inputs, outputs):
    graph = helper.make_graph([node], "g", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_old_opset_is_upgraded_or_refused_clearly():
    """An opset-7 model is upgraded by onnx.version_converter at load; one the converter
    cannot upgrade is refused naming the opset and the converter's reason."""
    x = np.array([[True, False], [True, True]])
    y = np.array([[True, True], [False, True]])
    model = _single_node_model(
        helper.make_node("And", ["x", "y"], ["z"]),
        [helper.make_tensor_value_info(n, TensorProto.BOOL, [2, 2]) for n in "xy"],
        [helper.make_tensor_value_info("z", TensorProto.BOOL, [2, 2])])
    model.opset_import[0].version = 7
    graph, inputs, outputs = load(model)
    with gc.Session(graph) as sess:
        np.testing.assert_array_equal(
            sess.run(outputs["z"], {inputs["x"]: x, inputs["y"]: y}), x & y)
    model.graph.node[0].op_type = "NoSuchOp"
    with pytest.raises(OnnxError, match=r"ONNX opset 7 model: onnx.version_converter could "
                                        r"not upgrade it to opset 13.*NoSuchOp"):
        load(model)


def test_integer_div_and_fmod_truncate_at_run_time():
    """Integer Div and Mod(fmod=1) of run-time values round toward zero, as C (and
    numpy's trunc / fmod), on the numpy and llvm backends."""
    a = np.array([7, -7, 7, -7, 0, 9], np.int64)
    b = np.array([2, 2, -2, -2, 3, 4], np.int64)
    for op, attrs, want in (("Div", {}, np.trunc(a / b).astype(np.int64)),
                            ("Mod", {"fmod": 1}, np.fmod(a, b))):
        model = _single_node_model(
            helper.make_node(op, ["a", "b"], ["y"], **attrs),
            [helper.make_tensor_value_info(n, TensorProto.INT64, [6]) for n in "ab"],
            [helper.make_tensor_value_info("y", TensorProto.INT64, [6])])
        graph, inputs, outputs = load(model)
        for backend in BACKENDS:
            with gc.Session(graph, backend=backend) as sess:
                got = sess.run(outputs["y"], {inputs["a"]: a, inputs["b"]: b})
            np.testing.assert_array_equal(got, want)


def test_needs_static_value_names_the_graph_input_a_shape_is_computed_from():
    """Range's limit computed from a graph input (n + 1): the error names the graph
    input, which constant_inputs then binds."""
    one = helper.make_tensor("one", TensorProto.INT64, [], [1])
    zero = helper.make_tensor("zero", TensorProto.INT64, [], [0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["n", "one"], ["limit"]),
         helper.make_node("Range", ["zero", "limit", "one"], ["y"])], "g",
        [helper.make_tensor_value_info("n", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [None])], [one, zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(gc.frontends.onnx.NeedsStaticValue, match="from graph input 'n'") \
            as err:
        load(model)
    assert err.value.input_name == "n"
    graph, _, outputs = load(model, constant_inputs={"n": np.int64(3)})
    with gc.Session(graph) as sess:
        np.testing.assert_array_equal(sess.run(outputs["y"]), [0, 1, 2, 3])


def test_unsupported_op_names_the_node():
    model = _single_node_model(
        helper.make_node("Shrink", ["x"], ["y"], name="shrink1"),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    with pytest.raises(OnnxError, match=r"ONNX node 'shrink1' \(Shrink\): graphc has no "
                                        r"converter for this op type"):
        load(model)


def test_unsupported_attribute_and_dtype_are_named():
    model = _single_node_model(
        helper.make_node("Pad", ["x", "p"], ["y"], name="pad1", mode="mirror"),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2]),
         helper.make_tensor_value_info("p", TensorProto.INT64, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 4])])
    with pytest.raises(OnnxError, match=r"'pad1' \(Pad\): attribute mode='mirror'"):
        load(model, constant_inputs={"p": np.array([1, 1, 1, 1])})
    model = _single_node_model(
        helper.make_node("Relu", ["x"], ["y"]),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [2])])
    with pytest.raises(OnnxError, match="FLOAT16, which graphc lacks"):
        load(model)


@pytest.mark.parametrize("backend", BACKENDS)
def test_loaded_mlp_fine_tunes(backend):
    """The MLP's initializers are variables: gc.train lowers the loss (no torch needed)."""
    graph, inputs, outputs = load(onnx_models.mlp())
    rng = np.random.default_rng(3)
    feeds_x = rng.standard_normal((32, 784)).astype(np.float32)
    with graph.as_default():
        labels = gc.placeholder(gc.int32, (None,), name="labels")
        loss = gc.reduce_mean(gc.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=outputs["logits"]))
        step = gc.train.MomentumOptimizer(0.05, momentum=0.9).minimize(loss)
    assert len(gc.trainable_variables(graph)) == 6
    feeds = {inputs["x"]: feeds_x, labels: rng.integers(0, 10, 32).astype(np.int32)}
    with gc.Session(graph, backend=backend) as sess:
        losses = [sess.run([loss, step], feeds)[0] for _ in range(5)]
    assert losses[-1] < 0.8 * losses[0]


def test_import_command_prints_draws_and_checks(tmp_path, capsys):
    """`graphc import MODEL.onnx --check` prints the graph's summary and nodes, draws
    it, and agrees with ONNX Runtime on random inputs; a model it cannot load is one
    line naming the node."""
    from graphc import cli
    path = tmp_path / "vgg.onnx"
    onnx.save(_export(onnx_models.torch_vgg(), (1, 3, 32, 32), fold=False), path)
    out = tmp_path / "vgg.dot"
    assert cli.main(["import", str(path), "--out", str(out), "--check"]) == 0
    printed = capsys.readouterr().out
    assert "input  x: float32[?, 3, 32, 32]" in printed and "conv2d" in printed
    assert "logits: agrees with ONNX Runtime" in printed
    assert "digraph" in out.read_text()
    bad = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(helper.make_graph(
        [helper.make_node("Frobnicate", ["x"], ["y"], name="f1", domain="com.example")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]),
        bad)
    assert cli.main(["import", str(bad), "--no-render"]) == 1
    assert "ONNX node 'f1' (Frobnicate)" in capsys.readouterr().err
