"""Graph IR: dtypes, types, names and scopes, source locations, the printer."""
import numpy as np
import pytest

import graphc as gc
from graphc.ir import TensorType, as_dtype


def test_dtypes_and_types():
    assert as_dtype("float32") is gc.float32 and as_dtype(np.int64) is gc.int64
    assert as_dtype(np.dtype("bool")) is gc.bool
    with pytest.raises(TypeError, match="no dtype"):
        as_dtype(np.complex64)
    t = TensorType(gc.float32, (None, 256))
    assert str(t) == "f32[?,256]" and t.rank == 2 and not t.is_fully_defined
    assert TensorType(gc.int32, [2, 3]).num_elements == 6


def test_tensor_attributes(graph):
    x = gc.placeholder(gc.float32, shape=(None, 784), name="x")
    assert x.name == "x" and x.shape == (None, 784) and x.dtype is gc.float32
    assert x.graph is graph and x.op.name == "placeholder"
    assert isinstance(x, gc.Tensor)


def test_unique_names_and_scopes(graph):
    a = gc.constant(1.0, name="c")
    b = gc.constant(2.0, name="c")
    assert (a.name, b.name) == ("c", "c_1")
    with gc.name_scope("layer"):
        w = gc.Variable(np.zeros(2, np.float32), name="w")
        with gc.name_scope("inner"):
            v = gc.exp(w)
    with gc.name_scope("layer"):
        u = gc.Variable(np.zeros(2, np.float32), name="w")
    assert w.name == "layer/w" and v.name == "layer/inner/exp" and u.name == "layer_1/w"
    assert graph.get_tensor_by_name("layer/w:0") is w
    assert gc.trainable_variables(graph, scope="layer") == [w]
    with pytest.raises(KeyError):
        graph.get_tensor_by_name("layer")


def test_source_location_points_at_user_code(graph):
    import inspect
    line = inspect.currentframe().f_lineno + 1
    y = gc.exp(gc.constant(1.0))
    assert y.location.lineno == line and y.location.filename.endswith("test_ir.py")


def test_printer_one_line_per_node(graph):
    x = gc.placeholder(gc.float32, (None, 784), name="x")
    w = gc.Variable(np.zeros((784, 256), np.float32), name="W1")
    h = gc.matmul(x, w, name="h")
    text = str(graph)
    lines = text.splitlines()
    assert len(lines) == 3
    assert lines[2].startswith("%h = matmul(%x, %W1) : f32[?,256]  # test_ir.py:")
    gc.gradients(gc.reduce_sum(h), [w])
    assert "grad of %h[1]" in str(graph)


def test_networkx_view_and_ancestors(graph):
    x = gc.placeholder(gc.float32, (2,), name="x")
    y = gc.exp(x, name="y")
    z = gc.log(y, name="z")
    unrelated = gc.constant(1.0, name="unrelated")
    with gc.control_dependencies([unrelated]):
        w = gc.identity(z, name="w")
    nxg = graph.to_networkx()
    assert set(nxg.successors("y")) == {"z"}
    assert nxg.edges["unrelated", "w"]["control"] is True
    assert [n.name for n in graph.ancestors([w])] == ["x", "y", "z", "unrelated", "w"]
    assert [n.name for n in graph.ancestors([w], control=False)] == ["x", "y", "z", "w"]


def test_operators_build_nodes(graph):
    x = gc.placeholder(gc.float32, (3,), name="x")
    ops = [x + 1, 1 - x, x * x, 2 / x, x ** 2, -x, abs(x), x[1:], x < 0, x >= 1]
    assert [o.op.name for o in ops] == ["add", "sub", "mul", "div", "pow", "neg", "abs",
                                        "strided_slice", "less", "greater_equal"]
    assert ops[0].dtype is gc.float32    # Python scalars take the tensor's dtype
    with pytest.raises(TypeError, match="not iterable"):
        list(x)
