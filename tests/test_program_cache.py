"""The on-disk cache of optimised and lowered programs (codegen/base/program_cache.py): a
second process skips the passes and lowering, binds the loaded program to its own
graph's nodes and computes what the interpreter does; anything that changes what the
passes would make is another key; a damaged entry is a miss."""
import os
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc
from graphc.codegen.base.cache import ObjectCache
from graphc.codegen.base.program_cache import ProgramCache, program_text
from graphc.passes import program_for

TRAIN = """
import sys, numpy as np, graphc as gc
from graphc import models
step = getattr(models, sys.argv[1])()
sess = gc.Session(step.graph, backend=sys.argv[2])
feed = step.batch(8)
losses = [float(sess.run([step.loss, step.train_op], feed)[0]) for _ in range(3)]
print(repr(losses))
print(sess.backend.compile_count, any(getattr(e, "program_from_cache", False)
                                      for _, e in sess.backend._compiled.values()))
ref = gc.Session(step.graph, backend="numpy")
print(repr([float(ref.run([step.loss, step.train_op], feed)[0]) for _ in range(3)]))
"""


def _train(tmp_path, model, backend):
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", TRAIN, model, backend], env=env,
                         capture_output=True, text=True, check=True).stdout.split("\n")
    return eval(out[0]), out[1].split()[1] == "True", eval(out[2])   # noqa: S307


@pytest.mark.parametrize("model,backend", [("lenet5", "llvm"), ("mlp", "c")])
def test_a_second_process_trains_from_the_cached_program(tmp_path, model, backend):
    first, first_cached, reference = _train(tmp_path, model, backend)
    second, second_cached, _ = _train(tmp_path, model, backend)
    assert not first_cached and second_cached
    assert list(tmp_path.rglob("*.program"))
    assert second == first                       # the same code, bit for bit
    np.testing.assert_allclose(second, reference, rtol=1e-4)


def _mlp_program(scale=2.0, name="out"):
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 3), name="x")
        w = gc.Variable(np.arange(6, dtype=np.float32).reshape(3, 2), name="w")
        y = gc.multiply(gc.matmul(x, w), gc.constant(np.float32(scale)), name=name)
    return g, x, w, y


def test_the_key_changes_with_constants_names_and_shapes():
    g, x, w, y = _mlp_program()
    text = program_text(program_for([y], [x], g), {x: (4, 3)})
    g1, x1, _, y1 = _mlp_program()       # the same program built again: the same text
    assert program_text(program_for([y1], [x1], g1), {x1: (4, 3)}) == text
    for other in (_mlp_program(scale=3.0), _mlp_program(name="renamed")):
        g2, x2, _, y2 = other
        assert program_text(program_for([y2], [x2], g2), {x2: (4, 3)}) != text
    assert program_text(program_for([y], [x], g), {x: (5, 3)}) != text


def _stored(tmp_path):
    """A cache holding the compiled _mlp_program: (cache, key, program, executable,
    the graph's x, w)."""
    cache = ProgramCache(ObjectCache(tmp_path, suffix=".program"))
    g, x, w, y = _mlp_program()
    sess = gc.Session(g, backend="llvm")
    sess.run(y, {x: np.ones((4, 3), np.float32)})
    ((_, exe),) = sess.backend._compiled.values()
    program = program_for([y], [x], g)
    key = cache.key(program, {x: (4, 3)}, "test")
    cache.store(key, program, exe.program, exe.lowered)
    return cache, key, program, exe, x, w


def test_a_loaded_program_is_bound_to_the_live_graph(tmp_path):
    cache, key, program, exe, x, w = _stored(tmp_path)
    optimized, lowered = cache.load(key, program)
    assert set(optimized.feeds) == {x} and set(optimized.variables) == {w}
    assert optimized.outputs[0] is not program.outputs[0] and lowered.program is optimized
    # the passes' copy of the variable shares the user's initial value; so does the
    # loaded one (an entry holds no weights, a loaded program no second copy of them)
    (copy,) = optimized.variables.values()
    assert copy is not w and copy.attrs["initial_value"] is w.attrs["initial_value"]
    # another graph of the same structure and names binds to its own nodes
    g2, x2, w2, y2 = _mlp_program()
    optimized2, _ = cache.load(key, program_for([y2], [x2], g2))
    assert set(optimized2.feeds) == {x2} and set(optimized2.variables) == {w2}


def test_a_damaged_entry_is_a_miss(tmp_path):
    cache, key, program, exe, _, _ = _stored(tmp_path)
    (entry,) = tmp_path.rglob("*.program")
    entry.write_bytes(entry.read_bytes()[:-20] + b"x" * 20)
    assert cache.load(key, program) is None
    # an entry whose user nodes are not this graph's (another name at an id) is a miss
    # too (the key guards against it; the check is a second line)
    cache.store(key, program, exe.program, exe.lowered)
    h = gc.Graph()
    with h.as_default():
        a = gc.placeholder(gc.float32, (None, 3), name="features")
        gc.Variable(np.zeros((3, 2), np.float32), name="w")
        b = gc.negative(a, name="out")
    assert cache.load(key, program_for([b], [a], h)) is None


def test_programs_with_undescribable_attrs_are_not_kept(tmp_path):
    cache = ProgramCache(ObjectCache(tmp_path, suffix=".program"))
    g, x, w, y = _mlp_program()
    y.attrs["hook"] = lambda: None       # what no text tells apart
    try:
        assert cache.key(program_for([y], [x], g), {x: (4, 3)}, "test") is None
    finally:
        del y.attrs["hook"]
