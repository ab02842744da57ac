"""The on-disk object cache: a second compile of the same code loads it; damage is
detected and repaired; a fresh process gets the same answers from cached code."""
import ctypes
import os
import subprocess
import sys

from graphc.codegen.llvm.cache import ObjectCache
from graphc.codegen.llvm.jit import JIT

SOURCE = """
define double @twice_plus_one(double %x) {
  %y = fmul double %x, 2.0
  %z = fadd double %y, 1.0
  ret double %z
}
"""


def _compile(cache):
    jit = JIT(cache=cache)
    jit.add(SOURCE)
    fn = jit.function("twice_plus_one", ctypes.c_double, ctypes.c_double)
    return jit, fn


def test_second_compile_comes_from_the_cache(tmp_path):
    cache = ObjectCache(tmp_path)
    first, fn1 = _compile(cache)
    second, fn2 = _compile(cache)
    assert not first.last_from_cache and second.last_from_cache
    assert fn1(3.0) == fn2(3.0) == 7.0
    assert len(list(tmp_path.rglob("*.o"))) == 1


def test_damaged_entry_is_ignored_and_rewritten(tmp_path):
    cache = ObjectCache(tmp_path)
    _compile(cache)
    (entry,) = tmp_path.rglob("*.o")
    entry.write_bytes(entry.read_bytes()[:-10] + b"garbage!!!")
    jit, fn = _compile(cache)
    assert not jit.last_from_cache and fn(1.0) == 3.0
    again, _ = _compile(cache)
    assert again.last_from_cache


def test_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE", "0")
    jit, fn = _compile(ObjectCache())
    assert fn(0.5) == 2.0 and not jit.last_from_cache
    assert not list(tmp_path.rglob("*.o"))


def test_a_new_process_runs_a_train_step_from_the_cache(tmp_path):
    script = (
        "import graphc as gc, numpy as np\n"
        "from graphc import models\n"
        "step = models.mlp()\n"
        "sess = gc.Session(step.graph, backend='llvm')\n"
        "print(repr(float(sess.run([step.loss, step.train_op], step.batch(16))[0])))\n"
        "print(sess.backend.last_from_cache)\n")
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, check=True).stdout.split() for _ in range(2)]
    assert runs[0][0] == runs[1][0]
    assert runs[0][1] == "False" and runs[1][1] == "True"


CALLER = """
declare double @twice_plus_one(double)
define double @four_times_plus_three(double %x) {
  %y = call double @twice_plus_one(double %x)
  %z = call double @twice_plus_one(double %y)
  ret double %z
}
"""


def test_modules_compiled_side_by_side_link_and_run(tmp_path, monkeypatch):
    """precompile forks a worker for one module while this process compiles the other;
    add then only loads them (not counted as cache hits), and they call each other."""
    from graphc.codegen.llvm.jit import precompile
    monkeypatch.setenv("GRAPHC_COMPILE_WORKERS", "2")
    jit = JIT(cache=ObjectCache(tmp_path))
    precompile([(jit, "callee", SOURCE), (jit, "caller", CALLER)])
    assert len(jit._ready) == 2 and len(list(tmp_path.rglob("*.o"))) == 2
    assert all(jit.cache.has(key) for key in jit._ready) and not jit.cache.has("0" * 64)
    jit.add(SOURCE, key="callee")
    jit.add(CALLER, key="caller")
    assert not jit.last_from_cache and not jit._ready
    assert jit.function("four_times_plus_three", ctypes.c_double, ctypes.c_double)(1.0) == 7.0


def test_a_module_that_fails_to_compile_ahead_reports_when_added(tmp_path, monkeypatch):
    import pytest
    from graphc.codegen.llvm.jit import CodegenError, precompile
    monkeypatch.setenv("GRAPHC_COMPILE_WORKERS", "2")
    jit = JIT(cache=ObjectCache(tmp_path))
    broken = "define i32 @broken() {\n  ret i64 0\n}\n"
    precompile([(jit, "good", SOURCE), (jit, "broken", broken)])
    assert len(jit._ready) == 1
    with pytest.raises(CodegenError, match="does not verify"):
        jit.add(broken, key="broken")


def test_a_program_in_parts_gives_the_same_bits_as_in_one(tmp_path):
    script = (
        "import numpy as np, graphc as gc\n"
        "from graphc import models\n"
        "step = models.lenet5()\n"
        "sess = gc.Session(step.graph, backend='llvm')\n"
        "losses = [sess.run([step.loss, step.train_op], step.batch(8, seed=i))[0]\n"
        "          for i in range(2)]\n"
        "w = sess.variable_value(gc.trainable_variables(step.graph)[-1])\n"
        "exe = next(iter(sess.backend._compiled.values()))[1]\n"
        "print(exe.parts, np.asarray(losses, np.float32).tobytes().hex(), w.tobytes().hex())\n")
    outputs = []
    for workers in ("1", "3"):
        env = dict(os.environ, GRAPHC_COMPILE_WORKERS=workers,
                   GRAPHC_CACHE_DIR=str(tmp_path / workers))
        outputs.append(subprocess.run([sys.executable, "-c", script], env=env, check=True,
                                      capture_output=True, text=True).stdout.split())
    assert outputs[0][0] == "1" and outputs[1][0] == "3"
    assert outputs[0][1:] == outputs[1][1:]


def test_workers_share_the_jobs_whatever_their_number(tmp_path, monkeypatch):
    """Workers take jobs from one queue until it is empty: five modules on two workers
    all come back, each exactly once, and link."""
    from graphc.codegen.llvm.jit import precompile
    monkeypatch.setenv("GRAPHC_COMPILE_WORKERS", "2")
    jit = JIT(cache=ObjectCache(tmp_path))
    sources = {f"plus{i}": f"define double @plus{i}(double %x) {{\n"
                           f"  %y = fadd double %x, {i}.0\n  ret double %y\n}}\n"
               for i in range(3)}
    sources.update(callee=SOURCE, caller=CALLER)
    precompile([(jit, key, text) for key, text in sources.items()])
    assert len(jit._ready) == 5 and len(list(tmp_path.rglob("*.o"))) == 5
    for key, text in sources.items():
        jit.add(text, key=key)
    assert not jit._ready
    assert jit.function("plus2", ctypes.c_double, ctypes.c_double)(1.0) == 3.0
    assert jit.function("four_times_plus_three", ctypes.c_double, ctypes.c_double)(1.0) == 7.0
