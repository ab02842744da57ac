"""The on-disk cache of compiled object code, so a second process skips LLVM.

Keyed by a hash of the LLVM IR, the optimisation level, llvmlite's and LLVM's versions and
the host CPU and its features. Entries carry a checksum; a damaged one is ignored and
removed. Writes go to a temporary file renamed into place, so a crash never leaves a
half-written entry. Location: $GRAPHC_CACHE_DIR, else ~/.cache/graphc; GRAPHC_CACHE=0
turns it off.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

MAGIC = b"graphc-obj-1\n"


def cache_dir() -> Path | None:
    if os.environ.get("GRAPHC_CACHE", "1") == "0":
        return None
    root = os.environ.get("GRAPHC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "graphc")
    return Path(root)


def cache_key(ir_text: str, optimize_level: int, host: str) -> str:
    h = hashlib.sha256()
    for part in (ir_text, str(optimize_level), llvmlite.__version__,
                 ".".join(map(str, llvm.llvm_version_info)), host):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


class ObjectCache:
    def __init__(self, directory: Path | None = None):
        self.directory = directory if directory is not None else cache_dir()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.o"

    def has(self, key: str) -> bool:
        """Whether an entry exists (not checked: `load` still verifies it)."""
        return self.directory is not None and self._path(key).exists()

    def load(self, key: str) -> bytes | None:
        if self.directory is None:
            return None
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        digest, data = raw[len(MAGIC): len(MAGIC) + 32], raw[len(MAGIC) + 32:]
        if not raw.startswith(MAGIC) or hashlib.sha256(data).digest() != digest:
            path.unlink(missing_ok=True)          # damaged: recompile and rewrite
            return None
        return data

    def store(self, key: str, data: bytes) -> None:
        if self.directory is None:
            return
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC + hashlib.sha256(data).digest() + data)
            os.replace(tmp, path)
        except OSError:
            pass                                  # a read-only cache only costs speed


def source_version(*modules) -> str:
    """A hash of the source files of `modules`: part of keys that skip building IR, so
    a change to the code generator never loads stale objects."""
    h = hashlib.sha256()
    for m in modules:
        h.update(Path(m.__file__).read_bytes())
    return h.hexdigest()[:16]
