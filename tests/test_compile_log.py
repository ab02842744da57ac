"""The compile log says what was compiled, why, how long it took and where the object
came from; programs are compiled once per fetches, feeds and feed shapes."""
import numpy as np
import pytest

import graphc as gc


@pytest.fixture
def compile_log():
    gc.set_log("compile")
    yield
    gc.set_log()


def test_one_line_per_compile_with_its_reason(graph, compile_log, capsys):
    x = gc.placeholder(gc.float32, (None, None), name="x")
    total = gc.reduce_sum(x * x, name="total")
    sess = gc.Session(graph, backend="llvm")
    for shape in ((4, 3), (4, 3), (7, 3), (4, 5)):     # a new batch size is no new program
        sess.run(total, {x: np.ones(shape)})
    lines = [line for line in capsys.readouterr().err.splitlines()
             if line.startswith("graphc[compile]")]
    assert len(lines) == 2 and sess.backend.compile_count == 2
    assert "compiled [total] (new fetches/feeds)" in lines[0]
    assert "one program for every batch size N" in lines[0]
    assert "new static shape: x dim 1: 3 -> 5" in lines[1]
    for line in lines:
        assert "passes" in line and "lower+codegen" in line and "object from" in line


def test_nothing_is_printed_when_the_log_is_off(graph, capsys):
    x = gc.placeholder(gc.float32, (None, 3), name="x")
    gc.Session(graph, backend="llvm").run(x * 2.0, {x: np.ones((2, 3))})
    assert "graphc[compile]" not in capsys.readouterr().err
