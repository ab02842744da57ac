"""Sources, sinks and state: constants, placeholders, variables, assignments, identity,
stop_gradient and no_op (for `group` and control dependencies)."""
from __future__ import annotations

import numpy as np

from ..ir import (Fusion, Node, OpDef, TensorType, as_dtype, bool_, get_default_graph,
                  register_op)
from ..ir.errors import FeedError, dtype_error, shape_error
from ..ir.types import normalize_shape, shape_compatible
from .base import apply, as_tensor

VARIABLES = "variables"
TRAINABLE_VARIABLES = "trainable_variables"


def _to_array(value, dtype=None) -> np.ndarray:
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        return array.astype(as_dtype(dtype).np_type) if dtype is not None else array
    array = np.asarray(value)
    if dtype is None:
        if array.dtype.kind == "f":
            dtype = np.float32
        elif array.dtype.kind in "iu":
            dtype = np.int32
        elif array.dtype.kind == "b":
            dtype = np.bool_
        else:
            raise TypeError(f"cannot make a graphc constant from {value!r}")
    return array.astype(as_dtype(dtype).np_type)


@register_op
class Constant(OpDef):
    name = "constant"
    source = True
    num_inputs = 0

    def infer(self, inputs, attrs):
        v = attrs["value"]
        return TensorType(as_dtype(v.dtype), v.shape)

    def reference(self, node):
        return node.attrs["value"]


def constant(value, dtype=None, shape=None, name=None, graph=None) -> Node:
    array = _to_array(value, dtype)
    if shape is not None:
        shape = normalize_shape(shape)
        if array.size == 1:
            array = np.broadcast_to(array.reshape(()), shape)
        else:
            array = array.reshape(shape)
    graph = graph or get_default_graph()
    return graph.create_node("constant", (), {"value": np.array(array, order="C")},
                             name=name or "Const")


@register_op
class Placeholder(OpDef):
    name = "placeholder"
    source = True
    num_inputs = 0

    def printed_attrs(self, attrs):
        return {}

    def infer(self, inputs, attrs):
        return TensorType(attrs["dtype"], attrs["shape"])

    def evaluate(self, node, values, ctx):
        try:
            return ctx.feeds[node]
        except KeyError:
            raise FeedError(f"{node.describe()} was not fed") from None


def placeholder(dtype, shape=None, name=None) -> Node:
    """A value fed at run time; `None` dims take any size (one compile serves all)."""
    if shape is None:
        raise ValueError("placeholder needs a shape; use None for unknown dimensions, "
                         "e.g. shape=(None, 784)")
    return get_default_graph().create_node(
        "placeholder", (), {"dtype": as_dtype(dtype), "shape": normalize_shape(shape)},
        name=name or "Placeholder")


@register_op
class Variable_(OpDef):
    name = "variable"
    source = True
    num_inputs = 0
    stateful = True

    def printed_attrs(self, attrs):
        return {} if attrs["trainable"] else {"trainable": False}

    def infer(self, inputs, attrs):
        return TensorType(attrs["dtype"], attrs["shape"])

    def evaluate(self, node, values, ctx):
        return ctx.read_variable(node)


def Variable(initial_value, name=None, trainable=True, dtype=None) -> Node:
    """A persistent tensor owned by each Session; its value is read at the start of a run.

    `initial_value` is an array-like (or a graphc tensor computed without feeds); the
    session assigns it when created and on `sess.initialize()`.
    """
    graph = get_default_graph()
    if isinstance(initial_value, Node):
        init = initial_value
        vtype = init.type
        if dtype is not None and as_dtype(dtype) != vtype.dtype:
            raise TypeError(f"Variable {name!r}: initializer is {vtype.dtype.name}, "
                            f"dtype={as_dtype(dtype).name} asked")
        if not vtype.is_fully_defined:
            raise ValueError(f"Variable {name!r}: initial value shape {vtype} is not fully "
                             "known")
        attrs = {"dtype": vtype.dtype, "shape": vtype.shape, "initializer": init,
                 "trainable": bool(trainable)}
    else:
        array = np.array(_to_array(initial_value, dtype), order="C")
        attrs = {"dtype": as_dtype(array.dtype), "shape": array.shape, "initial_value": array,
                 "trainable": bool(trainable)}
    with graph.control_dependencies(None):
        var = graph.create_node("variable", (), attrs, name=name or "Variable")
    graph.add_to_collection(VARIABLES, var)
    if trainable:
        graph.add_to_collection(TRAINABLE_VARIABLES, var)
    return var


def initial_value_of(var: Node):
    """The numpy initial value, or the tensor that computes it."""
    return var.attrs.get("initial_value", var.attrs.get("initializer"))


def global_variables(graph=None) -> list[Node]:
    return (graph or get_default_graph()).get_collection(VARIABLES)


def trainable_variables(graph=None, scope: str | None = None) -> list[Node]:
    return (graph or get_default_graph()).get_collection(TRAINABLE_VARIABLES, scope)


class _AssignBase(OpDef):
    fusion = Fusion.OPAQUE
    stateful = True
    num_inputs = 2

    def infer(self, inputs, attrs):
        ref, value = inputs
        if ref.dtype != value.dtype:
            raise dtype_error(f"cannot assign {value} to a variable of type {ref}")
        if not shape_compatible(value.shape, ref.shape) and value.shape != ref.shape:
            raise shape_error(f"cannot assign {value} to a variable of type {ref}")
        return ref

    def evaluate(self, node, values, ctx):
        new = np.asarray(self.combine(values[0], values[1]), dtype=node.dtype.np_type)
        if new.shape != values[0].shape:
            raise ValueError(f"value shape {new.shape} does not match variable shape "
                             f"{values[0].shape}")
        ctx.write_variable(node.inputs[0], node, new)
        return new

    def grad(self, node, gy):
        return [None, None]


@register_op
class Assign(_AssignBase):
    name = "assign"

    def scalar(self, b, node, old, value):
        return value

    @staticmethod
    def combine(old, value):
        return value


@register_op
class AssignAdd(_AssignBase):
    name = "assign_add"

    def scalar(self, b, node, old, value):
        return b.binary("add", old, value)

    @staticmethod
    def combine(old, value):
        return old + value


@register_op
class AssignSub(_AssignBase):
    name = "assign_sub"

    def scalar(self, b, node, old, value):
        return b.binary("sub", old, value)

    @staticmethod
    def combine(old, value):
        return old - value


def _assign(op_name: str, ref: Node, value, name=None) -> Node:
    if not isinstance(ref, Node) or ref.op.name != "variable":
        raise TypeError(f"{op_name}: the first argument must be a Variable, got {ref!r}")
    value = as_tensor(value, dtype=ref.dtype, graph=ref.graph) \
        if not isinstance(value, Node) else value
    return apply(op_name, [ref, value], name=name)


def assign(ref, value, name=None) -> Node:
    """Set a variable; the result is the new value. Reads in the same run see the old one."""
    return _assign("assign", ref, value, name)


def assign_add(ref, value, name=None) -> Node:
    return _assign("assign_add", ref, value, name)


def assign_sub(ref, value, name=None) -> Node:
    return _assign("assign_sub", ref, value, name)


@register_op
class Identity(OpDef):
    name = "identity"
    fusion = Fusion.ELEMWISE
    num_inputs = 1

    def infer(self, inputs, attrs):
        return inputs[0]

    def scalar(self, b, node, x):
        return x

    def reference(self, node, x):
        return x

    def grad(self, node, gy):
        return [gy]


@register_op
class StopGradient(Identity):
    name = "stop_gradient"

    def grad(self, node, gy):
        return [None]


@register_op
class PlaceholderWithDefault(Identity):
    """Its input's value unless fed; the declared shape may leave dimensions unknown so
    that values of other sizes can be fed. A run never computes one: the program is cut
    at it (runtime/cut.py), to a placeholder when fed and to its input when not."""

    name = "placeholder_with_default"

    def infer(self, inputs, attrs):
        (x,) = inputs
        if not shape_compatible(x.shape, attrs["shape"]):
            raise shape_error(f"the default {x} does not fit the shape "
                              f"{attrs['shape']}")
        return TensorType(x.dtype, attrs["shape"])


def placeholder_with_default(input, shape, name=None) -> Node:  # noqa: A002 - TF1 name
    """A placeholder that takes `input`'s value when the run does not feed it (TF1)."""
    return apply("placeholder_with_default", [as_tensor(input)],
                 name=name or "PlaceholderWithDefault", shape=normalize_shape(shape))


def global_variables_initializer(name="init") -> Node:
    """TF1 programs run this first. A Session gives every variable its initial value
    when it is made (or first uses it), so this op does nothing when run; call
    `sess.initialize()` to reset the variables."""
    return no_op(name=name)


def variables_initializer(var_list, name="init") -> Node:
    """As global_variables_initializer (the listed variables are initialized anyway)."""
    return no_op(name=name)


local_variables_initializer = initialize_all_variables = global_variables_initializer


def identity(x, name=None) -> Node:
    return apply("identity", [as_tensor(x)], name=name)


def stop_gradient(x, name=None) -> Node:
    """Identity in the forward pass; blocks gradients (they see a constant)."""
    return apply("stop_gradient", [as_tensor(x)], name=name)


@register_op
class NoOp(OpDef):
    name = "no_op"
    source = True
    num_inputs = 0

    def infer(self, inputs, attrs):
        return TensorType(bool_, ())

    def reference(self, node):
        return np.asarray(True)


def group(*inputs, name=None) -> Node:
    """An op that runs all `inputs` (fetching it returns None), like tf.group."""
    flat = []
    for x in inputs:
        flat.extend(x if isinstance(x, list | tuple) else [x])
    if not flat:
        return get_default_graph().create_node("no_op", (), {}, name=name or "group")
    graph = flat[0].graph
    with graph.control_dependencies(flat):
        return graph.create_node("no_op", (), {}, name=name or "group")


def no_op(name=None) -> Node:
    return get_default_graph().create_node("no_op", (), {}, name=name or "NoOp")


def control_dependencies(nodes):
    """`with gc.control_dependencies([a, b]):` nodes made inside run after a and b."""
    nodes = list(nodes) if nodes is not None else None
    graph = nodes[0].graph if nodes else get_default_graph()
    return graph.control_dependencies(nodes)


def name_scope(name: str):
    return get_default_graph().name_scope(name)
