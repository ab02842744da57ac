"""The `graphc` command: `python -m graphc` runs it, and an error is one line on stderr
(the traceback only with --debug)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import graphc as gc
from graphc import cli

ROOT = Path(__file__).resolve().parent.parent


def graphc_command(*args, **env):
    """`python -m graphc ARGS` from a scratch folder, importing this working tree."""
    environment = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "graphc", *args], capture_output=True,
                          text=True, env=environment, cwd=ROOT / "tests", timeout=120)


def test_python_dash_m_graphc_is_the_graphc_command():
    done = graphc_command("--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: graphc ")
    assert all(command in done.stdout for command in ("demo", "render", "export"))


def test_a_backend_without_its_gpu_is_one_line_on_stderr():
    done = graphc_command("demo", "--backend", "cuda", "--out", "unused",
                          CUDA_VISIBLE_DEVICES="")
    assert done.returncode == 1
    assert done.stderr.startswith("graphc demo: error: backend 'cuda' found no usable "
                                  "NVIDIA GPU")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_debug_shows_the_traceback():
    done = graphc_command("demo", "--backend", "nosuch", "--debug")
    assert done.returncode != 0
    assert "Traceback" in done.stderr
    assert "GraphcError: unknown backend 'nosuch'" in done.stderr


@pytest.mark.parametrize("argv, message", [
    (["demo", "--epochs", "abc"], "graphc demo: error: argument --epochs: invalid int "
                                  "value: 'abc' (see graphc demo --help)"),
    ([], "graphc: error: the following arguments are required: command "
         "(see graphc --help)"),
])
def test_a_bad_command_line_is_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    assert done.value.code == 2
    assert capsys.readouterr().err == message + "\n"


@pytest.mark.parametrize("error, line", [
    (gc.GraphcError("unknown backend 'x'"), "graphc demo: error: unknown backend 'x'"),
    (FileNotFoundError(2, "No such file or directory", "out/x"),
     "graphc demo: error: FileNotFoundError: [Errno 2] No such file or directory: 'out/x' "
     "(--debug shows the traceback)"),
    (RuntimeError("two\nlines"),
     "graphc demo: error: RuntimeError: two lines (--debug shows the traceback)"),
])
def test_an_error_while_running_is_one_line(error, line, monkeypatch, capsys):
    from graphc import examples_support

    def failing_demo(**options):
        raise error

    monkeypatch.setattr(examples_support, "lenet_demo", failing_demo)
    assert cli.main(["demo"]) == 1
    assert capsys.readouterr().err == line + "\n"
    with pytest.raises(type(error)):
        cli.main(["demo", "--debug"])
    with pytest.raises(type(error)):
        cli.main(["--debug", "demo"])


def test_a_missing_script_is_one_line():
    done = graphc_command("render", "no_such_model.py", "--out", "unused.svg")
    assert done.returncode == 1
    assert done.stderr == "graphc render: error: no such script: no_such_model.py\n"
