"""The on-disk object cache: a second compile of the same code loads it; damage is
detected and repaired; a fresh process gets the same answers from cached code."""
import ctypes
import os
import subprocess
import sys

import pytest

from graphc.codegen.base.cache import ObjectCache
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


def test_every_code_generator_file_is_in_the_program_key(tmp_path):
    """The version in program and routine keys changes with any file of the code
    generator, those a hand-kept list once missed included, and with a file added."""
    import shutil
    from pathlib import Path
    import graphc
    from graphc.codegen.base.cache import generator_version, tree_version
    root = tmp_path / "graphc"
    shutil.copytree(Path(graphc.__file__).parent, root,
                    ignore=shutil.ignore_patterns("__pycache__"))
    assert tree_version(root) == generator_version()
    seen = {tree_version(root)}
    for name in ("codegen/llvm/conv_direct.py", "codegen/llvm/gemm_kernel.py",
                 "lower/conv_gemm.py", "ir/dtypes.py"):
        with open(root / name, "a") as f:
            f.write("# changed\n")
        seen.add(tree_version(root))
    (root / "codegen" / "llvm" / "new_routine.py").write_text("# a new file\n")
    seen.add(tree_version(root))
    assert len(seen) == 6


def test_a_new_engine_stores_each_module_once_and_only_its_own_object(tmp_path, monkeypatch):
    """The engine's empty backing module was once compiled by the first add and stored
    under that module's key: a process dying before the real object overwrote it left
    an entry that broke every later process."""
    stored = []
    original = ObjectCache.store
    monkeypatch.setattr(ObjectCache, "store", lambda self, key, data, symbols=():
                        stored.append((key, data, list(symbols))) or
                        original(self, key, data, symbols))
    jit, fn = _compile(ObjectCache(tmp_path))
    assert fn(2.0) == 5.0
    (key, data, symbols), = stored
    assert symbols == ["twice_plus_one"] and b"twice_plus_one" in data
    # and the engine asks the cache only about the module being added
    asked = []
    monkeypatch.setattr(ObjectCache, "load", lambda self, key: asked.append(key))
    _compile(ObjectCache(tmp_path))
    assert asked == [key]


def test_swapped_or_foreign_entries_are_refused_and_rewritten(tmp_path):
    cache = ObjectCache(tmp_path)
    jit = JIT(cache=cache)
    jit.add(SOURCE)
    jit.add(CALLER)
    first, second = sorted(tmp_path.rglob("*.o"))
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)                     # valid checksums, each under the other's name
    second.write_bytes(a)
    again = JIT(cache=ObjectCache(tmp_path))
    again.add(SOURCE)
    again.add(CALLER)
    assert not again.last_from_cache
    assert again.function("four_times_plus_three", ctypes.c_double, ctypes.c_double)(1.0) == 7.0
    # an object that does not define the symbols its entry names (the engine's empty
    # module, stored under a real key) is refused and removed
    from graphc.codegen.base.cache import _pack
    key = JIT.full_key(SOURCE)
    entry = tmp_path / key[:2] / f"{key}.o"
    entry.write_bytes(_pack(key, b"\x7fELF no functions here", ["twice_plus_one"]))
    assert cache.load(key) is None and not entry.exists()
    entry.write_bytes(_pack("another key", b"\x7fELF twice_plus_one", ["twice_plus_one"]))
    assert cache.load(key) is None and not entry.exists()


def test_a_cache_folder_that_cannot_be_read_is_a_miss(tmp_path, monkeypatch):
    from pathlib import Path
    from graphc.codegen.llvm.jit import precompile

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))
    cache = ObjectCache(tmp_path)
    cache.root()
    monkeypatch.setattr(Path, "exists", refuse)
    monkeypatch.setenv("GRAPHC_COMPILE_WORKERS", "2")
    jit = JIT(cache=cache)
    assert not cache.has("0" * 64)
    precompile([(jit, "callee", SOURCE), (jit, "caller", CALLER)])
    monkeypatch.undo()
    jit.add(SOURCE, key="callee")
    jit.add(CALLER, key="caller")
    assert jit.function("four_times_plus_three", ctypes.c_double, ctypes.c_double)(1.0) == 7.0


def test_a_folder_whose_parent_is_a_file_is_no_cache(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.warns(RuntimeWarning, match="not using the compile cache"):
        jit, fn = _compile(ObjectCache(tmp_path / "file" / "cache"))
    assert fn(1.0) == 3.0 and not jit.last_from_cache


def test_the_cache_folder_is_private_and_others_writable_folders_are_refused(tmp_path):
    import stat
    cache = ObjectCache(tmp_path / "new")
    _compile(cache)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    (entry,) = (tmp_path / "new").rglob("*.o")
    assert stat.S_IMODE(entry.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(entry.stat().st_mode) & 0o077 == 0

    shared = tmp_path / "shared"          # a folder anyone may write: a planted object
    shared.mkdir()                        # there would run in this process
    _compile(ObjectCache(shared))
    shared.chmod(0o777)
    with pytest.warns(RuntimeWarning, match=r"others may write to it \(mode 777\)"):
        jit, fn = _compile(ObjectCache(shared))
    assert not jit.last_from_cache and fn(1.0) == 3.0

    _compile(ObjectCache(tmp_path / "own"))
    (planted,) = (tmp_path / "own").rglob("*.o")
    planted.chmod(0o666)                  # an entry others may write
    with pytest.warns(RuntimeWarning, match="others may write"):
        jit, _ = _compile(ObjectCache(tmp_path / "own"))
    assert not jit.last_from_cache


def test_a_cache_folder_of_another_user_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("making a folder another user owns needs root (chown)")
    folder = tmp_path / "theirs"
    _compile(ObjectCache(folder))
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, 12345, 12345)
    with pytest.warns(RuntimeWarning, match="belongs to user id 12345"):
        jit, fn = _compile(ObjectCache(folder))
    assert not jit.last_from_cache and fn(1.0) == 3.0


def test_processes_compiling_one_program_into_an_empty_cache_all_succeed(tmp_path):
    script = (
        "import graphc as gc\n"
        "from graphc import models\n"
        "step = models.mlp()\n"
        "sess = gc.Session(step.graph)\n"
        "print(repr(float(sess.run([step.loss, step.train_op], step.batch(16))[0])))\n")
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path), GRAPHC_COMPILE_WORKERS="1")
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(3)]
    outputs = [p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outputs]
    assert len({out for out, _ in outputs}) == 1
    again = subprocess.run([sys.executable, "-c", script], env=env, text=True,
                           capture_output=True, check=True)
    assert again.stdout == outputs[0][0]


def _compile_interrupted(tmp_path, monkeypatch, where):
    """precompile interrupted (Ctrl-C) `where`: 'meanwhile' (this process's own compile)
    or 'waiting' (for the workers); returns the workers' pids."""
    import tempfile
    import time
    from graphc.codegen.llvm import jit as jit_module
    monkeypatch.setenv("GRAPHC_COMPILE_WORKERS", "2")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    started = []
    fork = jit_module._fork_compiler
    monkeypatch.setattr(jit_module, "_fork_compiler",
                        lambda *args: started.append(fork(*args)) or started[-1])

    def interrupt(*args):
        raise KeyboardInterrupt
    if where == "waiting":
        monkeypatch.setattr(time, "sleep", interrupt)
    slow = "".join(f"define double @f{i}(double %x) {{\n  %y = fadd double %x, {i}.0\n"
                   f"  ret double %y\n}}\n" for i in range(2000))
    jit = JIT(cache=ObjectCache(tmp_path / "cache"))
    with pytest.raises(KeyboardInterrupt):
        jit_module.precompile([(jit, "a", slow), (jit, "b", slow + "\n")],
                              meanwhile=interrupt if where == "meanwhile" else None)
    return [child.pid for child in started]


@pytest.mark.parametrize("where", ["meanwhile", "waiting"])
def test_an_interrupted_compile_leaves_no_worker_and_no_file(tmp_path, monkeypatch, where):
    pids = _compile_interrupted(tmp_path, monkeypatch, where)
    assert len(pids) == 2
    for pid in pids:                  # reaped: not even a zombie is left
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("graphc-obj-")]
