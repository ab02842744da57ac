"""Bad input gets a graphc error naming the op, the node, the shapes and the user's line."""
import numpy as np
import pytest

import graphc as gc

from backends import ALL


def _line_of(marker):
    with open(__file__) as f:
        for i, line in enumerate(f, 1):
            if marker in line and "_line_of" not in line:
                return i
    raise AssertionError(marker)


def test_matmul_inner_dimensions(graph):
    a = gc.placeholder(gc.float32, (None, 784), name="x")
    b = gc.Variable(np.zeros((100, 10), np.float32), name="W1")
    with pytest.raises(gc.ShapeError) as err:
        gc.matmul(a, b, name="logits")  # MARK-matmul
    msg = str(err.value)
    assert "matmul 'logits'" in msg
    assert "f32[?,784]" in msg and "f32[100,10]" in msg and "784 != 100" in msg
    assert f"test_errors.py:{_line_of('MARK-matmul')}" in msg


def test_incompatible_broadcast(graph):
    a = gc.placeholder(gc.float32, (2, 3), name="a")
    b = gc.placeholder(gc.float32, (4,), name="b")
    with pytest.raises(gc.ShapeError, match=r"add 'add'.*\(2, 3\) and \(4\).*cannot be broadcast"):
        a + b


def test_reshape_size(graph):
    a = gc.placeholder(gc.float32, (2, 3), name="a")
    with pytest.raises(gc.ShapeError, match=r"reshape .*cannot reshape f32\[2,3\] \(6 elements\)"):
        gc.reshape(a, (4, -1))
    with pytest.raises(gc.ShapeError, match="7 elements"):
        gc.reshape(a, (7,))


def test_reshape_of_unknown_batch_still_checks_known_part(graph):
    a = gc.placeholder(gc.float32, (None, 6), name="a")
    with pytest.raises(gc.ShapeError, match="not a multiple"):
        gc.reshape(a, (5, 5))
    assert gc.reshape(a, (-1, 3)).shape == (None, 3)


def test_concat_mismatch(graph):
    a = gc.placeholder(gc.float32, (2, 3), name="a")
    b = gc.placeholder(gc.float32, (2, 4), name="b")
    with pytest.raises(gc.ShapeError, match=r"concat 'concat'.*dimension 1 differs \(3 vs 4\)"):
        gc.concat([a, b], axis=0)
    assert gc.concat([a, b], axis=1).shape == (2, 7)


def test_bad_axis(graph):
    a = gc.placeholder(gc.float32, (2, 3), name="a")
    with pytest.raises(gc.ShapeError, match=r"reduce_sum 'reduce_sum'.*axis 5 is out of range "
                                            r"for rank 2.*f32\[2,3\]"):
        gc.reduce_sum(a, axis=5)
    with pytest.raises(gc.ShapeError, match="axis -3"):
        gc.nn.softmax(a, axis=-3)


def test_mixed_dtypes(graph):
    a = gc.placeholder(gc.float32, (2,), name="a")
    b = gc.placeholder(gc.float64, (2,), name="b")
    with pytest.raises(gc.DTypeError, match=r"f32\[2\] vs f64\[2\].*gc.cast"):
        a * b
    with pytest.raises(gc.DTypeError, match="needs a float32 or float64 input"):
        gc.exp(gc.placeholder(gc.int32, (2,)))


OPERATORS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
             "/": lambda a, b: a / b, "**": lambda a, b: a ** b, "<": lambda a, b: a < b,
             "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
             "maximum": gc.maximum, "where": lambda a, b: gc.where(True, a, b)}


@pytest.mark.parametrize("op", sorted(OPERATORS))
@pytest.mark.parametrize("left", [True, False])
def test_a_float_literal_never_truncates_into_an_integer_tensor(graph, op, left):
    i = gc.placeholder(gc.int32, (3,), name="counts")
    f = OPERATORS[op]
    with pytest.raises(TypeError, match=r"0\.5 cannot take the dtype int32 of tensor "
                                        r"'counts'.*gc\.cast\(counts, gc\.float32\)"):
        f(i, 0.5) if left else f(0.5, i)
    with pytest.raises(TypeError, match="int32 of tensor 'counts'"):
        f(i, [1.0, 2.5, 3.0]) if left else f([1.0, 2.5, 3.0], i)
    if op in ("/", "**"):                   # float ops: refused for int32 anyway
        return
    # exact literals still take the tensor's dtype
    result = f(i, 2) if left else f(2, i)
    operands = result.inputs[1:] if op == "where" else result.inputs
    assert {x.dtype for x in operands} == {gc.int32}


def test_literals_that_do_not_fit_an_integer_or_bool_tensor_are_refused(graph):
    i = gc.placeholder(gc.int32, (3,), name="i")
    m = gc.placeholder(gc.bool, (3,), name="m")
    with pytest.raises(TypeError, match="int32 of tensor 'i'"):
        i + 2 ** 40
    with pytest.raises(TypeError, match="bool of tensor 'm'"):
        gc.logical_and(m, 1)
    assert gc.logical_and(m, True).dtype == gc.bool


def test_feed_wrong_shape_names_the_placeholder(graph):
    x = gc.placeholder(gc.float32, (None, 784), name="images")
    y = x * 2.0
    sess = gc.Session(graph)
    with pytest.raises(gc.FeedError, match=r"placeholder 'images' .*shape \(\?,784\).*\(3, 783\)"):
        sess.run(y, {x: np.zeros((3, 783))})
    with pytest.raises(gc.FeedError, match="images"):
        sess.run(y, {x: np.zeros(784)})


def test_feed_wrong_dtype(graph):
    labels = gc.placeholder(gc.int32, (None,), name="labels")
    sess = gc.Session(graph)
    with pytest.raises(gc.FeedError, match=r"'labels'.*int32; cannot feed a float64"):
        sess.run(labels + 1, {labels: np.array([1.5])})
    with pytest.raises(gc.FeedError, match="range over"):
        sess.run(labels + 1, {labels: np.array([2**40])})


@pytest.mark.parametrize("backend", ALL)
def test_a_ragged_list_feed_is_a_feed_error(graph, backend):
    x = gc.placeholder(gc.float32, (None, 2), name="x")
    sess = gc.Session(graph, backend=backend)
    with pytest.raises(gc.FeedError, match=r"^placeholder 'x' .*not an array.*inhomogeneous"):
        sess.run(x * 2.0, {x: [[1.0, 2.0], [3.0]]})
    with pytest.raises(gc.FeedError, match="placeholder 'x'.*not an array"):
        sess.make_callable(x * 2.0, [x])([[1.0, 2.0], [3.0]])


def test_missing_feed_names_placeholder_and_fetch(graph):
    x = gc.placeholder(gc.float32, (None,), name="x")
    loss = gc.reduce_sum(x * x, name="loss")
    sess = gc.Session(graph)
    with pytest.raises(gc.FeedError, match=r"placeholder 'x' \(test_errors.py:\d+\) must be fed: "
                                           r"fetch 'loss'"):
        sess.run(loss)
    with pytest.raises(gc.FeedError, match="placeholder 'x'"):
        sess.run(x)


def test_feeding_an_op_that_computes_nothing(graph):
    v = gc.Variable(1.0, name="v")
    init = gc.group(v, name="init")
    with pytest.raises(gc.FeedError, match="cannot feed no_op 'init'"):
        gc.Session(graph).run(v * 2.0, {init: True})


def test_tensors_of_another_graph(graph):
    other = gc.Graph()
    with other.as_default():
        foreign = gc.constant(1.0, name="foreign")
        foreign_x = gc.placeholder(gc.float32, (), name="foreign_x")
    mine = gc.constant(2.0)
    sess = gc.Session(graph)
    with pytest.raises(gc.GraphMismatchError, match="'foreign' belongs to another graph"):
        sess.run(foreign)
    with pytest.raises(gc.GraphMismatchError):
        mine + foreign
    with pytest.raises(gc.GraphMismatchError, match="another graph"):
        sess.run(mine, {foreign_x: 1.0})


def test_run_time_errors_name_the_node(graph):
    logits = gc.placeholder(gc.float32, (None, 3), name="logits")
    labels = gc.placeholder(gc.int32, (None,), name="labels")
    xent = gc.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    sess = gc.Session(graph)
    with pytest.raises(gc.GraphcError, match=r"sparse_softmax_cross_entropy.*label out of range"):
        sess.run(xent, {logits: np.zeros((2, 3)), labels: [0, 3]})
    a = gc.placeholder(gc.float32, (None,), name="a")
    b = gc.placeholder(gc.float32, (None,), name="b")
    with pytest.raises(gc.ExecutionError, match=r"add 'add[^']*'.*test_errors.py:\d+.*broadcast"):
        sess.run(a + b, {a: [1, 2], b: [1, 2, 3]})


@pytest.mark.parametrize("backend", ALL)
def test_a_run_time_error_names_the_node_once(graph, backend):
    logits = gc.placeholder(gc.float32, (None, 3), name="logits")
    labels = gc.placeholder(gc.int32, (None,), name="labels")
    xent = gc.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits,
                                                          name="xent")
    with pytest.raises(gc.ExecutionError, match=r"^sparse_softmax_cross_entropy 'xent' "
                                                r"\(test_errors.py:\d+\).*label out of range "
                                                r"\[0, 3\)") as err:
        gc.Session(graph, backend=backend).run(xent, {logits: np.zeros((2, 3)), labels: [0, 3]})
    assert str(err.value).count("xent") == 1


def test_a_constant_that_fails_is_left_for_the_run_to_name(graph):
    xent = gc.nn.sparse_softmax_cross_entropy_with_logits(
        labels=gc.constant([0, 3]), logits=gc.constant(np.zeros((2, 3), np.float32)),
        name="xent")
    with pytest.raises(gc.ExecutionError, match=r"^sparse_softmax_cross_entropy 'xent' .*"
                                                r"label out of range"):
        gc.Session(graph, backend="llvm").run(xent)


def test_an_assignment_of_the_wrong_run_time_shape_names_the_update(graph):
    w = gc.Variable(np.zeros(2, np.float32), name="w")
    x = gc.placeholder(gc.float32, (None,), name="x")
    update = gc.assign(w, x, name="set_w")
    with pytest.raises(gc.ExecutionError, match=r"^assign 'set_w' \(test_errors.py:\d+\) "
                                                r"failed: value shape \(3,\) does not match "
                                                r"variable shape \(2,\)"):
        gc.Session(graph, backend="numpy").run(update, {x: np.zeros(3)})


def test_descriptions_do_not_repeat_the_op(graph):
    from graphc.passes import compile_program
    from graphc.runtime.interpreter import RunContext
    x = gc.placeholder(gc.float32, (None, 4), name="x")
    with pytest.raises(gc.FeedError, match=r"^placeholder 'x' \(test_errors.py:\d+\) of type "
                                           r"f32\[\?,4\] cannot be specialised"):
        compile_program([x * 2.0], {x: (3, 5)})
    w = gc.Variable(np.zeros(2, np.float32), name="w")
    with pytest.raises(gc.ExecutionError, match=r"^variable 'w' \(test_errors.py:\d+\) is "
                                                "not initialized"):
        RunContext({}, {}, {}).read_variable(w)


def test_a_tensor_has_no_truth_value(graph):
    with pytest.raises(TypeError, match="no truth value"):
        if gc.constant(1.0) > 0:
            pass
