"""ONNX import of the recurrent ops (RNN, GRU, LSTM) with the attributes the wheel's node
tests leave out (clip, input_forget, activations with alpha / beta, sequence_lens,
initial states, peepholes, layout, directions), against a numpy reference written from
the ONNX operator spec; and of the control flow (If, Loop, Scan) against
onnx.reference's evaluator, on the numpy and llvm backends."""
import dataclasses
import re

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="ONNX import needs `pip install 'graphc[onnx]'`")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from graphc.frontends.onnx import OnnxError  # noqa: E402
from graphc.frontends.onnx.backend import make_backend  # noqa: E402
from graphc.frontends.onnx.node_report import run_case  # noqa: E402

RNG = np.random.default_rng(11)
BACKENDS = ("numpy", "llvm")
OPSET = [helper.make_opsetid("", 22)]


def _sig(x):
    return 1 / (1 + np.exp(-x))


NP_ACT = {"Sigmoid": lambda a, b: _sig, "Tanh": lambda a, b: np.tanh,
          "Relu": lambda a, b: lambda x: np.maximum(x, 0),
          "LeakyRelu": lambda a, b: lambda x: np.where(x > 0, x, a * x),
          "HardSigmoid": lambda a, b: lambda x: np.clip(a * x + b, 0, 1),
          "ScaledTanh": lambda a, b: lambda x: a * np.tanh(b * x),
          "Affine": lambda a, b: lambda x: a * x + b}


def np_recurrence(op, x, w, r, b, lens, h0, c0, p, attrs):
    """Y, Y_h(, Y_c) by the ONNX spec's equations, one batch entry and step at a time."""
    layout, hidden = attrs.get("layout", 0), r.shape[-1]
    if layout:
        x, h0 = x.swapaxes(0, 1), h0.swapaxes(0, 1)
        c0 = None if c0 is None else c0.swapaxes(0, 1)
    steps, batch = x.shape[:2]
    dirs = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}[
        attrs.get("direction", "forward")]
    names = attrs["activations"]
    alphas, betas = list(attrs.get("activation_alpha", [])), list(attrs.get("activation_beta",
                                                                            []))
    fns = [NP_ACT[n](alphas.pop(0) if n in ("LeakyRelu", "HardSigmoid", "ScaledTanh",
                                            "Affine") else None,
                     betas.pop(0) if n in ("HardSigmoid", "ScaledTanh", "Affine") else None)
           for n in names]
    clip = attrs.get("clip")

    def cl(v):
        return v if clip is None else np.clip(v, -clip, clip)

    y = np.zeros((steps, len(dirs), batch, hidden))
    yh, yc = np.zeros((len(dirs), batch, hidden)), np.zeros((len(dirs), batch, hidden))
    n_act = len(names) // len(dirs)
    for d, backward in enumerate(dirs):
        f = fns[d * n_act:(d + 1) * n_act]
        wb, rb = np.split(b[d], 2)
        for n in range(batch):
            h, c = h0[d, n], None if c0 is None else c0[d, n]
            order = range(lens[n])
            for t in (reversed(order) if backward else order):
                xw, hr = x[t, n] @ w[d].T + wb, h @ r[d].T + rb
                if op == "RNN":
                    h = f[0](cl(xw + hr))
                elif op == "GRU":
                    (xz, xr, xh), (hz, hr_, hh) = np.split(xw, 3), np.split(hr, 3)
                    z, rr = f[0](cl(xz + hz)), f[0](cl(xr + hr_))
                    if attrs.get("linear_before_reset"):
                        cand = f[1](cl(xh + rr * hh))
                    else:
                        rh = np.split(r[d], 3)[2]
                        cand = f[1](cl(xh + (rr * h) @ rh.T + np.split(rb, 3)[2]))
                    h = (1 - z) * cand + z * h
                else:
                    pi, po, pf = np.split(p[d], 3)
                    gi, go, gf, gc_ = np.split(xw + hr, 4)
                    i = f[0](cl(gi + pi * c))
                    ff = 1 - i if attrs.get("input_forget") else f[0](cl(gf + pf * c))
                    c = ff * c + i * f[1](cl(gc_))
                    o = f[0](cl(go + po * c))
                    h = o * f[2](c)
                y[t, d, n] = h
            yh[d, n] = h
            if c is not None:
                yc[d, n] = c
    if layout:
        return y.transpose(2, 0, 1, 3), yh.swapaxes(0, 1), yc.swapaxes(0, 1)
    return y, yh, yc


RECURRENT_CASES = {
    "lstm_clip_input_forget_peepholes_seq_lens": (
        "LSTM", {"clip": 0.7, "input_forget": 1, "direction": "bidirectional"}, True),
    "lstm_activations_layout1": (
        "LSTM", {"activations": ["HardSigmoid", "LeakyRelu", "ScaledTanh"] * 2,
                 "activation_alpha": [0.3, 0.05, 0.9, 0.3, 0.05, 0.9],
                 "activation_beta": [0.4, 1.1, 0.4, 1.1],
                 "direction": "bidirectional", "layout": 1}, False),
    "gru_linear_before_reset_reverse_seq_lens": (
        "GRU", {"linear_before_reset": 1, "direction": "reverse"}, True),
    "gru_relu_affine_clip": (
        "GRU", {"activations": ["Sigmoid", "Affine"], "activation_alpha": [0.5],
                "activation_beta": [0.1], "clip": 1.5}, False),
    "rnn_relu_bidirectional_seq_lens_layout1": (
        "RNN", {"activations": ["Relu", "Tanh"], "direction": "bidirectional",
                "layout": 1}, True),
}
DEFAULT_ACTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}


def _recurrent_model(op, attrs, with_lens, steps=4, batch=3, size=2, hidden=3):
    dirs = 2 if attrs.get("direction") == "bidirectional" else 1
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[op]
    layout = attrs.get("layout", 0)
    x_shape = (batch, steps, size) if layout else (steps, batch, size)
    state_shape = (batch, dirs, hidden) if layout else (dirs, batch, hidden)
    values = {"X": RNG.standard_normal(x_shape),
              "W": RNG.standard_normal((dirs, gates * hidden, size)) * 0.7,
              "R": RNG.standard_normal((dirs, gates * hidden, hidden)) * 0.7,
              "B": RNG.standard_normal((dirs, 2 * gates * hidden)) * 0.3,
              "sequence_lens": np.array([4, 2, 1][:batch], np.int32) if with_lens
              else np.full(batch, steps, np.int32),
              "initial_h": RNG.standard_normal(state_shape) * 0.5}
    names = ["X", "W", "R", "B", "sequence_lens", "initial_h"]
    if op == "LSTM":
        values["initial_c"] = RNG.standard_normal(state_shape) * 0.5
        values["P"] = RNG.standard_normal((dirs, 3 * hidden)) * 0.5
        names += ["initial_c", "P"]
    values = {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in values.items()}
    outputs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    node = helper.make_node(op, names, outputs, hidden_size=hidden, **attrs)
    dtype = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int32): TensorProto.INT32}
    graph = helper.make_graph(
        [node], op.lower(),
        [helper.make_tensor_value_info(n, dtype[values[n].dtype], values[n].shape)
         for n in names],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None] * (4 if n == "Y" else 3))
         for n in outputs])
    return helper.make_model(graph, opset_imports=OPSET), values, names


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(RECURRENT_CASES))
def test_recurrent_ops_match_the_spec(case, backend):
    op, attrs, with_lens = RECURRENT_CASES[case]
    model, values, names = _recurrent_model(op, attrs, with_lens)
    rep = make_backend(backend).prepare(model)
    got = rep.run([values[n] for n in names])
    ref_attrs = dict(attrs)
    dirs = 2 if attrs.get("direction") == "bidirectional" else 1
    ref_attrs.setdefault("activations", DEFAULT_ACTS[op] * dirs)
    v64 = {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in values.items()}
    want = np_recurrence(op, v64["X"], v64["W"], v64["R"], v64["B"], v64["sequence_lens"],
                         v64["initial_h"], v64.get("initial_c"), v64.get("P"), ref_attrs)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_recurrent_op_refuses_an_unknown_activation():
    model, values, names = _recurrent_model("RNN", {"activations": ["Gelu"]}, False)
    with pytest.raises(OnnxError, match="activation 'Gelu' is not supported"):
        make_backend("numpy").prepare(model).run([values[n] for n in names])


# -- control flow, against onnx.reference ----------------------------------------------
def _vi(name, elem=TensorProto.FLOAT, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def _branch(name, value_expr):
    """A branch graph whose output is `value_expr` (nodes) → out."""
    nodes, out = value_expr
    return helper.make_graph(nodes, name, [], [_vi(out, shape=[2, 3])])


def _if_model():
    then = _branch("then", ([helper.make_node("Mul", ["x", "x"], ["t"])], "t"))
    other = _branch("else", ([helper.make_node("Neg", ["x"], ["e"])], "e"))
    node = helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other)
    graph = helper.make_graph([node], "if", [_vi("cond", TensorProto.BOOL, []),
                                             _vi("x", shape=[2, 3])], [_vi("y", shape=[2, 3])])
    return helper.make_model(graph, opset_imports=OPSET)


def _loop_model(with_scan=True):
    """Loop: s = s + x·i for M iterations; with a scan output (s at each iteration) the
    condition stays the input's, else the loop also stops once Σs ≥ 6 (data-dependent)."""
    body_nodes = [
        helper.make_node("Cast", ["i"], ["fi"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["x", "fi"], ["xi"]),
        helper.make_node("Add", ["s_in", "xi"], ["s_out"]),
        helper.make_node("ReduceSum", ["s_out"], ["total"], keepdims=0),
        helper.make_node("Less", ["total", "limit"], ["cond_out"]) if not with_scan else
        helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        helper.make_node("Identity", ["s_out"], ["scan"]),
    ]
    outputs = [_vi("cond_out", TensorProto.BOOL, []), _vi("s_out", shape=[3])] + \
        ([_vi("scan", shape=[3])] if with_scan else [])
    body = helper.make_graph(body_nodes, "body",
                             [_vi("i", TensorProto.INT64, []),
                              _vi("cond_in", TensorProto.BOOL, []), _vi("s_in", shape=[3])],
                             outputs)
    node = helper.make_node("Loop", ["M", "cond", "s0"],
                            ["s_final"] + (["scans"] if with_scan else []), body=body)
    limit = helper.make_tensor("limit", TensorProto.FLOAT, [], [6.0])
    graph = helper.make_graph(
        [node], "loop", [_vi("M", TensorProto.INT64, []), _vi("cond", TensorProto.BOOL, []),
                         _vi("s0", shape=[3]), _vi("x", shape=[3])],
        [_vi("s_final", shape=[3])] + ([_vi("scans", shape=[None, 3])] if with_scan else []),
        initializer=[limit])
    return helper.make_model(graph, opset_imports=OPSET)


def _scan_model():
    """Scan over x [2, 5, 3] along axis 1, reversed; state s [2, 3] accumulates; scan
    output s·2 stacked along axis 1, reversed."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "x_t"], ["s_out"]),
         helper.make_node("Add", ["s_out", "s_out"], ["y_t"])],
        "body", [_vi("s_in", shape=[2, 3]), _vi("x_t", shape=[2, 3])],
        [_vi("s_out", shape=[2, 3]), _vi("y_t", shape=[2, 3])])
    node = helper.make_node("Scan", ["s0", "x"], ["s", "y"], body=body, num_scan_inputs=1,
                            scan_input_axes=[1], scan_input_directions=[1],
                            scan_output_axes=[1], scan_output_directions=[1])
    graph = helper.make_graph([node], "scan", [_vi("s0", shape=[2, 3]),
                                               _vi("x", shape=[2, 5, 3])],
                              [_vi("s", shape=[2, 3]), _vi("y", shape=[2, 5, 3])])
    return helper.make_model(graph, opset_imports=OPSET)


X23 = RNG.standard_normal((2, 3)).astype(np.float32)
X3 = np.array([0.5, 1.0, -0.25], np.float32)
CONTROL_CASES = {
    "if_true": (_if_model, {"cond": np.array(True), "x": X23}),
    "if_false": (_if_model, {"cond": np.array(False), "x": X23}),
    "loop_trip_count_and_scan_outputs": (
        lambda: _loop_model(), {"M": np.array(3, np.int64), "cond": np.array(True),
                                "s0": np.zeros(3, np.float32), "x": X3}),
    "loop_stops_on_condition": (
        lambda: _loop_model(with_scan=False),
        {"M": np.array(9, np.int64), "cond": np.array(True),
         "s0": np.zeros(3, np.float32), "x": X3}),
    "scan_reversed_axes": (_scan_model, {"s0": X23, "x": RNG.standard_normal(
        (2, 5, 3)).astype(np.float32)}),
}


def _np_scan(s0, x):
    """_scan_model by the spec (onnx.reference's Scan has no reversed directions): steps
    taken from the last along axis 1; the reversed scan output puts step t's value back
    at position t."""
    s, y = s0.astype(np.float64), np.zeros(x.shape)
    for t in reversed(range(x.shape[1])):
        s = s + x[:, t]
        y[:, t] = 2 * s
    return [s, y]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(CONTROL_CASES))
def test_control_flow_matches_onnx_reference(case, backend):
    make, feeds = CONTROL_CASES[case]
    model = make()
    want = _np_scan(**feeds) if make is _scan_model else \
        ReferenceEvaluator(model).run(None, feeds)
    rep = make_backend(backend).prepare(model)
    got = rep.run([feeds[vi.name] for vi in model.graph.input
                   if vi.name not in {i.name for i in model.graph.initializer}])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_if_on_a_run_time_condition_selects_between_both_branches():
    """The condition stays a placeholder: one graph serves both values."""
    from graphc.frontends.onnx import load
    from graphc import Session
    graph, inputs, outputs = load(_if_model())
    with Session(graph, backend="llvm") as sess:
        for cond in (True, False):
            got = sess.run(outputs["y"], {inputs["cond"]: np.array(cond), inputs["x"]: X23})
            np.testing.assert_allclose(got, X23 * X23 if cond else -X23)


def test_loop_on_a_run_time_condition_masks_the_iterations():
    """No scan output: the loop unrolls to its trip count, keeping the carried value
    only while the condition (computed from data) holds."""
    from graphc.frontends.onnx import load
    from graphc import Session
    model = _loop_model(with_scan=False)
    graph, inputs, outputs = load(model, constant_inputs={"M": np.array(9, np.int64)})
    with Session(graph, backend="llvm") as sess:
        for x in (X3, X3 * 3, -X3):
            feeds = {"cond": np.array(True), "s0": np.zeros(3, np.float32), "x": x}
            want = ReferenceEvaluator(model).run(None, dict(feeds, M=np.array(9, np.int64)))
            got = sess.run(outputs["s_final"], {inputs[k]: v for k, v in feeds.items()})
            np.testing.assert_allclose(got, want[0], rtol=1e-6)


def test_if_with_run_time_condition_and_different_shapes_is_refused():
    then = helper.make_graph([helper.make_node("Identity", ["x"], ["t"])], "then", [],
                             [_vi("t", shape=[2, 3])])
    other = helper.make_graph([helper.make_node("ReduceSum", ["x"], ["e"], keepdims=0)],
                              "else", [], [_vi("e", shape=[])])
    node = helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other)
    graph = helper.make_graph([node], "if", [_vi("cond", TensorProto.BOOL, []),
                                             _vi("x", shape=[2, 3])], [_vi("y", shape=None)])
    from graphc.frontends.onnx import load
    with pytest.raises(OnnxError, match="differs between the branches"):
        load(helper.make_model(graph, opset_imports=OPSET))


def test_loop_without_trip_count_or_known_condition_is_refused():
    model = _loop_model(with_scan=False)
    from graphc.frontends.onnx import load
    with pytest.raises(OnnxError, match="cannot unroll"):
        load(_without_trip_count(model))


def _without_trip_count(model):
    model = onnx.ModelProto.FromString(model.SerializeToString())
    model.graph.node[0].input[0] = ""
    del model.graph.input[0]
    return model


@pytest.mark.parametrize("backend", BACKENDS)
def test_older_opset_control_flow_node_tests_after_upgrading(backend):
    """The wheel's If, Loop and Scan node tests are opset 9–11, which the loader refuses;
    upgraded with onnx.version_converter (as the loader's message advises) they pass."""
    from onnx import version_converter
    from onnx.backend.test.loader import load_model_tests
    cases = [c for c in load_model_tests(kind="node")
             if re.fullmatch(r"test_(if|loop11|scan9_\w+)", c.name)]
    assert len(cases) == 5
    for case in cases:
        upgraded = dataclasses.replace(
            case, model=version_converter.convert_version(case.model, 13))
        assert run_case(make_backend(backend), upgraded) is None, case.name
