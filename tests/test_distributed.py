"""gc.distributed in one process: plain single-process behaviour without a launcher, a
clear error under one without mpi4py, and allreduce as the identity."""
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc

NO_MPI4PY = "import sys; sys.modules['mpi4py'] = None\n"


def _python(code: str, **env) -> subprocess.CompletedProcess:
    import os
    clean = {k: v for k, v in os.environ.items()
             if k not in gc.distributed.world.LAUNCHER_VARIABLES}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**clean, **env}, timeout=120)


def test_without_a_launcher_it_is_one_process_even_without_mpi4py():
    done = _python(NO_MPI4PY + "import graphc as gc\nprint(gc.distributed.init(), "
                   "gc.distributed.rank(), gc.distributed.size())")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(0, 1) 0 1"


def test_under_a_launcher_without_mpi4py_the_error_says_what_to_install():
    done = _python(NO_MPI4PY + "import graphc as gc\ngc.distributed.init()",
                   PMI_RANK="0", PMI_SIZE="2")
    assert done.returncode != 0
    assert "DistributedError" in done.stderr
    assert "PMI_RANK" in done.stderr and "graphc[mpi]" in done.stderr


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_allreduce_in_one_process_is_the_identity(backend):
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, [None, 3])
        y = gc.distributed.allreduce(x * 2.0)
    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    with gc.Session(graph=g, backend=backend) as sess:
        np.testing.assert_array_equal(sess.run(y, {x: value}), value * 2)
