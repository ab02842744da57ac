"""Finding a Graphviz layout program and writing pictures without leaving half a file.

Two renderers are known, tried in this order:
- `dot` from Graphviz itself (apt-get install graphviz, brew install graphviz): every
  format, PDF included;
- `graphviz-pure` (a pip dependency of graphc, so every install has it): the same
  layout, clusters and styles, SVG and PNG but no PDF.

DOT text needs neither: `to_dot(...).source` and `.dot`/`.gv` output always work.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..ir import GraphcError

PURE_FORMATS = frozenset({"svg", "png"})
DOT_FORMATS = frozenset({"svg", "png", "pdf"})
TEXT_FORMATS = frozenset({"dot", "gv"})
RENDER_TIMEOUT_S = 120

INSTALL_HINT = ("install a Graphviz renderer: `pip install graphviz-pure` (SVG and PNG) or "
                "`apt-get install graphviz` / `brew install graphviz` (every format, PDF "
                "included); the DOT text works without one: to_dot(...).source")


class RenderError(GraphcError, RuntimeError):
    """No renderer for the asked format, or the renderer failed."""


@dataclass(frozen=True)
class Renderer:
    name: str                       # "dot" or "graphviz-pure"
    command: str                    # path of the program
    formats: frozenset[str]

    def __str__(self) -> str:
        return f"{self.name} ({self.command})"


def find_renderer() -> Renderer | None:
    """Graphviz's `dot` when on PATH, else `graphviz-pure`, else None."""
    dot = shutil.which("dot")
    if dot:
        return Renderer("dot", dot, DOT_FORMATS)
    pure = shutil.which("graphviz-pure") or _beside_python("graphviz-pure")
    if pure:
        return Renderer("graphviz-pure", pure, PURE_FORMATS)
    return None


def _beside_python(program: str) -> str | None:
    """A console script installed into this Python's environment but not on PATH (a
    virtual environment used without activating it)."""
    candidate = Path(sys.executable).parent / program
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def use_renderer_for_graphviz_package(renderer: Renderer | None = None) -> None:
    """Point the `graphviz` package at graphviz-pure when there is no `dot`, so that
    Digraph.render/pipe and notebook display work too. Leaves a setting made by the
    user (anything but the default 'dot') alone."""
    from graphviz.backend import dot_command
    renderer = renderer or find_renderer()
    if renderer is None or renderer.name == "dot":
        return
    if str(dot_command.DOT_BINARY) == "dot":
        dot_command.DOT_BINARY = Path(renderer.command)


def format_for(path: Path) -> str:
    """The output format a file name asks for: its extension."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in DOT_FORMATS | TEXT_FORMATS:
        known = ", ".join(sorted(DOT_FORMATS | TEXT_FORMATS))
        raise ValueError(f"cannot tell the picture format of '{path}': use one of the "
                         f"extensions {known}")
    return fmt


def render_source(source: str, fmt: str, renderer: Renderer | None = None) -> bytes:
    """Lay out DOT text and return the picture's bytes."""
    if fmt in TEXT_FORMATS:
        return source.encode("utf-8")
    renderer = renderer or find_renderer()
    if renderer is None:
        raise RenderError(f"no Graphviz renderer found for {fmt.upper()}: {INSTALL_HINT}")
    if fmt not in renderer.formats:
        raise RenderError(
            f"{fmt.upper()} needs Graphviz's `dot` program (apt-get install graphviz, or "
            f"brew install graphviz); the renderer found, {renderer}, writes only "
            f"{', '.join(sorted(renderer.formats)).upper()}")
    try:
        done = subprocess.run([renderer.command, "-Kdot", f"-T{fmt}"],
                              input=source.encode("utf-8"), capture_output=True,
                              timeout=RENDER_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RenderError(f"{renderer} could not render {fmt.upper()}: {err}") from None
    if done.returncode != 0 or not done.stdout:
        message = _errors_only(done.stderr.decode("utf-8", "replace"))
        raise RenderError(f"{renderer} failed (exit {done.returncode}) rendering "
                          f"{fmt.upper()}: {message or 'no output'}")
    return done.stdout


def _errors_only(stderr: str) -> str:
    """Drop graphviz-pure's font-width warnings so the real error is readable."""
    lines = [ln for ln in stderr.splitlines() if "no value for width" not in ln]
    return "\n".join(lines).strip()


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file whole or not at all: a temporary file beside it, renamed over it."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write '{path}': directory '{directory}' does not "
                                "exist")
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
