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
