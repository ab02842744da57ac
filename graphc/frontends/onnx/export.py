"""graphc graph → ONNX model (opset 18). Variables become initializers holding their
values (a Session's current values, or their initial values); NHWC convolutions and
poolings become ONNX's NCHW ones between two Transposes, with HWIO filters stored as
OIHW. Each graphc op is one row of EMITTERS; an op without a row is refused by name."""
from __future__ import annotations

from os import PathLike
from typing import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ...ir import Graph, Node
from ...runtime.program import Program
from ...session import Session
from .dtypes import TO_ONNX
from .errors import OnnxError

OPSET = 18
TO_NCHW, TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)


class Emitter:
    """The ONNX nodes and initializers made so far, and each graphc node's value name."""

    def __init__(self, session: Session):
        self.session = session
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.names: dict[Node, str] = {}
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}__{self._count}"

    def add(self, op_type: str, inputs: list[str], hint: str, **attrs) -> str:
        out = self.fresh(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def const(self, array, hint: str) -> str:
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def ints(self, values, hint: str) -> str:
        return self.const(np.asarray(values, np.int64), hint)

    def input(self, node: Node, i: int) -> str:
        return self.names[node.inputs[i]]

    def value(self, node: Node) -> np.ndarray | None:
        """A variable's or constant's value (known now), else None."""
        if node.op.name == "constant":
            return node.attrs["value"]
        if node.op.name == "variable":
            return self.session.variable_value(node)
        return None


# -- emitters: fn(em, node) -> the ONNX value name of the node's result ------------------
def _unary(op_type: str) -> Callable:
    return lambda em, n: em.add(op_type, [em.input(n, 0)], n.name)


def _binary(op_type: str) -> Callable:
    return lambda em, n: em.add(op_type, [em.input(n, 0), em.input(n, 1)], n.name)


def _with_attrs(op_type: str, **names) -> Callable:
    """An op whose ONNX attributes are graphc attrs under other names."""
    return lambda em, n: em.add(op_type, [em.input(n, 0)], n.name,
                                **{k: n.attrs[v] for k, v in names.items()})


def _source(em, n):
    value = em.value(n)
    name = n.name
    em.initializers.append(numpy_helper.from_array(np.asarray(value), name))
    return name


def _matmul(em, n):
    def operand(i, flag):
        name = em.input(n, i)
        if not n.attrs[flag]:
            return name
        perm = list(range(n.inputs[i].rank))
        perm[-2:] = perm[-1], perm[-2]
        return em.add("Transpose", [name], n.name, perm=perm)
    return em.add("MatMul", [operand(0, "transpose_a"), operand(1, "transpose_b")], n.name)


def _square(em, n):
    x = em.input(n, 0)
    return em.add("Mul", [x, x], n.name)


def _rsqrt(em, n):
    return em.add("Reciprocal", [em.add("Sqrt", [em.input(n, 0)], n.name)], n.name)


def _reshape(em, n):
    return em.add("Reshape", [em.input(n, 0), em.ints(n.attrs["shape"], "shape")], n.name)


def _reduce(op_type: str) -> Callable:
    def emit(em, n):
        axes = n.attrs["axes"]
        axes = list(range(n.inputs[0].rank)) if axes is None else \
            ([axes] if isinstance(axes, int) else list(axes))
        return em.add(op_type, [em.input(n, 0), em.ints(axes, "axes")], n.name,
                      keepdims=int(n.attrs["keepdims"]))
    return emit


def _arg(op_type: str) -> Callable:
    def emit(em, n):
        y = em.add(op_type, [em.input(n, 0)], n.name, axis=n.attrs["axis"], keepdims=0)
        return em.add("Cast", [y], n.name, to=TO_ONNX[n.dtype]) if n.dtype.name != "int64" \
            else y
    return emit


def _cast(em, n):
    return em.add("Cast", [em.input(n, 0)], n.name, to=TO_ONNX[n.dtype])


def _expand_dims(em, n):
    return em.add("Unsqueeze", [em.input(n, 0), em.ints(n.attrs["axes"], "axes")], n.name)


def _squeeze(em, n):
    axes = n.attrs["axes"]
    inputs = [em.input(n, 0)] + ([] if axes is None else [em.ints(axes, "axes")])
    return em.add("Squeeze", inputs, n.name)


def _concat(em, n):
    return em.add("Concat", [em.names[x] for x in n.inputs], n.name, axis=n.attrs["axis"])


def _pads(padding) -> dict:
    """graphc's padding as ONNX attributes."""
    if padding == "SAME":
        return {"auto_pad": "SAME_UPPER"}
    if padding == "VALID":
        return {"pads": [0, 0, 0, 0]}
    (top, bottom), (left, right) = padding
    return {"pads": [top, left, bottom, right]}


def _nchw(em, n, op_type, inputs, **attrs):
    """An NCHW ONNX op on NHWC input 0, transposed in and out."""
    x = em.add("Transpose", [inputs[0]], n.name, perm=list(TO_NCHW))
    y = em.add(op_type, [x] + inputs[1:], n.name, **attrs)
    return em.add("Transpose", [y], n.name, perm=list(TO_NHWC))


def _conv2d(em, n):
    w_node = n.inputs[1]
    w_value = em.value(w_node)
    if w_value is not None:           # HWIO → OIHW once, in the initializer
        w = em.const(np.ascontiguousarray(w_value.transpose(3, 2, 0, 1)), w_node.name)
    else:
        w = em.add("Transpose", [em.input(n, 1)], n.name, perm=[3, 2, 0, 1])
    return _nchw(em, n, "Conv", [em.input(n, 0), w], kernel_shape=list(w_node.shape[:2]),
                 strides=list(n.attrs["strides"]), dilations=list(n.attrs["dilations"]),
                 **_pads(n.attrs["padding"]))


def _pool(op_type: str) -> Callable:
    def emit(em, n):
        dilations = list(n.attrs.get("dilations", (1, 1)))
        if dilations != [1, 1] and op_type == "AveragePool":
            raise OnnxError(f"{n.describe()}: a dilated average pooling has no opset-18 "
                            "ONNX AveragePool (dilations came in opset 19)")
        extra = {"dilations": dilations} if dilations != [1, 1] else {}
        return _nchw(em, n, op_type, [em.input(n, 0)], kernel_shape=list(n.attrs["ksize"]),
                     strides=list(n.attrs["strides"]), **_pads(n.attrs["padding"]), **extra)
    return emit


def _bias_add(em, n):
    return em.add("Add", [em.input(n, 0), em.input(n, 1)], n.name)


EMITTERS: dict[str, Callable] = {
    "variable": _source, "constant": _source,
    "identity": _unary("Identity"), "stop_gradient": _unary("Identity"),
    "neg": _unary("Neg"), "abs": _unary("Abs"), "sign": _unary("Sign"), "exp": _unary("Exp"),
    "log": _unary("Log"), "sqrt": _unary("Sqrt"), "reciprocal": _unary("Reciprocal"),
    "sigmoid": _unary("Sigmoid"), "tanh": _unary("Tanh"), "relu": _unary("Relu"),
    "softplus": _unary("Softplus"), "floor": _unary("Floor"), "ceil": _unary("Ceil"),
    "round": _unary("Round"), "sin": _unary("Sin"), "cos": _unary("Cos"),
    "logical_not": _unary("Not"), "square": _square, "rsqrt": _rsqrt,
    "leaky_relu": _with_attrs("LeakyRelu", alpha="alpha"),
    "elu": _with_attrs("Elu", alpha="alpha"),
    "softmax": _with_attrs("Softmax", axis="axis"),
    "log_softmax": _with_attrs("LogSoftmax", axis="axis"),
    "add": _binary("Add"), "sub": _binary("Sub"), "mul": _binary("Mul"), "div": _binary("Div"),
    "pow": _binary("Pow"), "maximum": _binary("Max"), "minimum": _binary("Min"),
    "equal": _binary("Equal"), "less": _binary("Less"), "less_equal": _binary("LessOrEqual"),
    "greater": _binary("Greater"), "greater_equal": _binary("GreaterOrEqual"),
    "logical_and": _binary("And"), "logical_or": _binary("Or"), "bias_add": _bias_add,
    "where": lambda em, n: em.add("Where", [em.names[x] for x in n.inputs], n.name),
    "matmul": _matmul, "reshape": _reshape,
    "transpose": _with_attrs("Transpose", perm="perm"),
    "expand_dims": _expand_dims, "squeeze": _squeeze, "concat": _concat, "cast": _cast,
    "reduce_sum": _reduce("ReduceSum"), "reduce_mean": _reduce("ReduceMean"),
    "reduce_max": _reduce("ReduceMax"), "reduce_min": _reduce("ReduceMin"),
    "argmax": _arg("ArgMax"), "argmin": _arg("ArgMin"),
    "conv2d": _conv2d, "max_pool2d": _pool("MaxPool"), "avg_pool2d": _pool("AveragePool"),
}


def _value_info(name: str, node: Node) -> onnx.ValueInfoProto:
    if node.dtype not in TO_ONNX:
        raise OnnxError(f"{node.describe()}: dtype {node.dtype.name} has no ONNX type")
    dims = [f"{name}_dim{i}" if d is None else d for i, d in enumerate(node.shape)]
    return helper.make_tensor_value_info(name, TO_ONNX[node.dtype], dims)


def _named(values) -> dict[str, Node]:
    return dict(values) if isinstance(values, dict) else {v.name: v for v in values}


def export(graph_or_session, inputs, outputs, path: str | PathLike | None = None,
           name: str = "graphc") -> onnx.ModelProto:
    """Write the forward computation from `inputs` (placeholders) to `outputs` as an
    ONNX model; each is a list of nodes or a dict from ONNX names to nodes. A Session
    contributes its variables' current values; a Graph their initial values. Returns
    the model (checked with onnx.checker) and saves it to `path` if given."""
    owned = not isinstance(graph_or_session, Session)
    session = Session(graph_or_session, backend="numpy") if owned else graph_or_session
    graph: Graph = session.graph
    inputs, outputs = _named(inputs), _named(outputs)
    try:
        em = Emitter(session)
        program = Program.build(graph, list(outputs.values()), list(inputs.values()))
        for onnx_name, node in inputs.items():
            em.names[node] = onnx_name
        for node in program.nodes:
            if node in em.names:
                continue
            emit = EMITTERS.get(node.op.name)
            if emit is None:
                raise OnnxError(f"{node.describe()}: graphc cannot export op "
                                f"'{node.op.name}' to ONNX yet")
            em.names[node] = emit(em, node)
        for onnx_name, node in outputs.items():
            em.nodes.append(helper.make_node("Identity", [em.names[node]], [onnx_name]))
    finally:
        if owned:
            session.close()
    used = {name for node in em.nodes for name in node.input}   # filters stored as OIHW
    onnx_graph = helper.make_graph(
        em.nodes, name, [_value_info(k, v) for k, v in inputs.items()],
        [_value_info(k, v) for k, v in outputs.items()],
        [init for init in em.initializers if init.name in used])
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="graphc")
    onnx.checker.check_model(model, full_check=True)
    if path is not None:
        onnx.save(model, path)
    return model
