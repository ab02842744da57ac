"""What the LLVM renderer tells LLVM about loops and buffers: `noalias` only on buffers no
other parameter overlaps, and loop options that keep vector loops whole for the loop
vectoriser. The values themselves are checked against the interpreter."""
import re

import numpy as np
import pytest

import graphc as gc
from graphc import passes
from graphc.codegen.llvm.executable import LLVMExecutable
from graphc.codegen.llvm.loop_hints import loop_hints
from graphc.lower.access import stride_in
from graphc.ir import float32, int64
from graphc.lower.loopir import Binary, Const, Load, Loop, Store, Var, add, idx, mul


def _executable(fetches, shapes):
    program = passes.compile_program(fetches, shapes).program
    return program, LLVMExecutable(program)


def test_a_value_written_in_place_is_not_noalias_and_matches_the_interpreter(graph):
    x = gc.placeholder(gc.float32, (None, 16), name="x")
    w = gc.Variable(np.eye(16, dtype=np.float32) * 0.5, name="w")
    m = gc.matmul(x, w, name="m")
    total = gc.reduce_sum(m, name="total")
    z = gc.exp(m, name="z")                  # written over m's slot: m dies here
    program, exe = _executable([total, z], {x: (16, 16)})
    assert [(a.name, b.name) for a, b in program.annotations["memory"].in_place] == \
        [("z", "m")]
    (kernel,) = [k for k in exe.lowered.kernels
                 if any(p.name.endswith("_z") for p in k.params)]
    flags = {p.name.split("_", 1)[1]: p.distinct for p in kernel.params}
    assert flags["m"] is False and flags["z"] is False
    assert "shared" in str(kernel)
    # LLVM hears the same: the kernel's two overlapping pointers carry no noalias
    define = next(line for line in exe.llvm_ir.splitlines()
                  if line.startswith("define") and f'@"{kernel.name}"' in line)
    args = re.findall(r"(float\*|double\*|i64\*)([^,)]*)", define)
    assert sum("noalias" in attrs for _, attrs in args) == \
        sum(p.distinct for p in kernel.params) < len(kernel.params)
    feed = {x: np.random.default_rng(3).standard_normal((16, 16)).astype(np.float32)}
    want = gc.Session(graph, backend="numpy").run([total, z], feed)
    got = gc.Session(graph, backend="llvm").run([total, z], feed)
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, rtol=1e-5)


def test_buffers_of_their_own_are_noalias(graph):
    x = gc.placeholder(gc.float32, (None, 8), name="x")
    w = gc.Variable(np.ones((8, 8), np.float32), name="w")
    y = gc.tanh(gc.matmul(x, w)) + 1.0
    _, exe = _executable([y], {x: (4, 8)})
    params = [p for k in exe.lowered.kernels for p in k.params]
    assert params and all(p.distinct for p in params)
    assert "noalias" in exe.llvm_ir


i, j = Var("i"), Var("j")


def _vector(extent, index, kind="vector", var=j):
    return Loop(var, idx(extent), [Store("out", index, Load("x", index, float32))], kind)


def test_stride_of_an_index_in_a_loop_variable():
    assert stride_in(add(mul(i, idx(3)), j), i) == 3
    assert stride_in(add(mul(i, idx(3)), j), j) == 1
    assert stride_in(mul(idx(5), idx(2)), j) == 0
    assert stride_in(Binary("sub", j, i), i) == -1
    assert stride_in(Binary("max", j, idx(0)), j) is None          # clamped: not affine
    assert stride_in(mul(j, j), j) is None
    assert stride_in(Load("y", j, int64), j) is None               # data-dependent


def test_long_contiguous_vector_loops_are_kept_whole_and_their_outer_loops_rolled():
    inner = _vector(64, add(mul(i, idx(64)), j))
    assert loop_hints(inner) == ("llvm.loop.unroll.disable",)
    assert loop_hints(Loop(i, idx(5), [inner])) == ("llvm.loop.unroll.disable",)


@pytest.mark.parametrize("loop", [
    _vector(6, j),                                            # too short: LLVM's unroller
    _vector(64, Binary("max", Binary("min", j, idx(27)), idx(0))),     # clamped: gathers
    _vector(64, mul(j, idx(3))),                              # strided: gathers
    _vector(64, j, kind="serial"),                            # not a vector loop
])
def test_other_loops_are_left_to_llvm(loop):
    assert loop_hints(loop) == ()


def test_a_loop_around_fixed_serial_loops_is_not_vectorised_across():
    reduction = Loop(j, idx(10), [Store("out", i, Load("x", add(mul(i, idx(10)), j),
                                                            float32))])
    assert loop_hints(Loop(i, Load("sizes", Const(0, int64), int64), [reduction])) == \
        (("llvm.loop.vectorize.enable", False),)
    by_n = Loop(j, Load("sizes", Const(0, int64), int64), reduction.body)
    assert loop_hints(Loop(i, idx(84), [by_n])) == ()        # the inner loop stays a loop


def test_loop_options_reach_llvm_as_distinct_self_referencing_nodes(graph):
    x = gc.placeholder(gc.float32, (None, 4, 4, 32), name="x")
    y = gc.nn.max_pool2d(gc.nn.relu(x), 2, 2)
    _, exe = _executable([y], {x: (2, 4, 4, 32)})
    text = exe.llvm_ir
    loops = re.findall(r"!llvm.loop (!\d+)", text)
    assert loops
    for ref in set(loops):
        node = re.search(rf"^{ref} = distinct !{{ {ref}, (.*) }}$", text, re.M)
        assert node, ref
    assert '!"llvm.loop.unroll.disable"' in text
