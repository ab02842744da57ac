"""The on-disk cache of compiled code (LLVM objects, C shared libraries), so a second
process skips the compiler.

Keyed by a hash of the source (or of what it is made from) and of everything else that
shapes the code: for LLVM the optimisation level, llvmlite's and LLVM's versions and the
host CPU and its features; for C the compiler and its flags. An entry holds a
checksum, its own key and the symbols it defines: a damaged entry, or one that is not
what its file name says (two files swapped, an object of another module), is ignored
and removed. Writes go to a temporary file renamed into place, so a crash never leaves
a half-written entry.

Native code from the cache runs in this process, so only what this user alone can
write is trusted: the folder is created 0700, and a folder or entry owned by another
user, or writable by group or others, is ignored with a one-line warning. A folder that
cannot be read is a miss. Location: $GRAPHC_CACHE_DIR, else $XDG_CACHE_HOME/graphc or
~/.cache/graphc; GRAPHC_CACHE=0 turns it off.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
import tempfile
import warnings
from pathlib import Path

MAGIC = b"graphc-obj-2\n"
HEADER_LENGTH_BYTES = 4


def cache_dir() -> Path | None:
    if os.environ.get("GRAPHC_CACHE", "1") == "0":
        return None
    root = os.environ.get("GRAPHC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "graphc")
    return Path(root)


def cache_key(*parts: str) -> str:
    """The key of an entry made from `parts` (its source, its toolchain, the host)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def untrusted_reason(st: os.stat_result) -> str | None:
    """Why a file or folder with this status could hold another user's bytes, or None."""
    if not hasattr(os, "geteuid"):
        return None
    if st.st_uid != os.geteuid():
        return f"it belongs to user id {st.st_uid}"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"others may write to it (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _warn(path: Path, reason: str) -> None:
    warnings.warn(f"graphc: not using the compile cache at {path}: {reason}",
                  RuntimeWarning, stacklevel=3)


class ObjectCache:
    def __init__(self, directory: Path | None = None, suffix: str = ".o"):
        """suffix: the entries' file names' (".o" for LLVM objects, ".so" for C)."""
        self.directory = directory if directory is not None else cache_dir()
        self.suffix = suffix
        self._checked: Path | None | bool = False     # the trusted folder, once checked

    def root(self) -> Path | None:
        """The cache folder, created 0700 when missing; None when there is none, or
        when another user could write to it (warned once)."""
        if self._checked is not False:
            return self._checked
        root = None
        if self.directory is not None:
            path = Path(self.directory)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.mkdir(mode=0o700, exist_ok=True)
                reason = untrusted_reason(os.lstat(path)) or untrusted_reason(os.stat(path))
            except OSError as err:
                reason = f"it cannot be made or read ({err.strerror})"
            if reason is None:
                root = path
            else:
                _warn(path, reason)
        self._checked = root
        return root

    def _path(self, key: str) -> Path | None:
        root = self.root()
        return None if root is None else root / key[:2] / f"{key}{self.suffix}"

    def has(self, key: str) -> bool:
        """Whether an entry exists (not checked: `load` still verifies it)."""
        path = self._path(key)
        try:
            return path is not None and path.exists()
        except OSError:                           # a folder we cannot traverse: a miss
            return False

    def load(self, key: str) -> bytes | None:
        """The object stored under `key`, or None when it is missing, damaged, not the
        object of `key`, or could have been written by another user."""
        path = self._path(key)
        if path is None:
            return None
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        with os.fdopen(fd, "rb") as f:
            reason = untrusted_reason(os.fstat(f.fileno()))
            if reason is not None:
                _warn(path, reason)
                return None
            raw = f.read()
        data = _unpack(raw, key)
        if data is None:
            path.unlink(missing_ok=True)          # damaged or foreign: recompile, rewrite
        return data

    def store(self, key: str, data: bytes, symbols=()) -> None:
        """Keep `data`, the object code of `key` defining `symbols` (function names)."""
        path = self._path(key)
        if path is None or not symbols:           # an object defining nothing: not kept
            return
        try:
            path.parent.mkdir(mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(_pack(key, data, symbols))
            os.replace(tmp, path)
        except OSError:
            pass                                  # a read-only cache only costs speed


def _pack(key: str, data: bytes, symbols) -> bytes:
    header = json.dumps({"key": key, "symbols": sorted(symbols)}).encode()
    body = len(header).to_bytes(HEADER_LENGTH_BYTES, "little") + header + data
    return MAGIC + hashlib.sha256(body).digest() + body


def _unpack(raw: bytes, key: str) -> bytes | None:
    """The object in an entry's bytes, if they are intact and hold the object of `key`
    (every symbol it must define named in its symbol table)."""
    view = memoryview(raw)          # slices of a view copy nothing (entries are MBs)
    digest, body = view[len(MAGIC): len(MAGIC) + 32], view[len(MAGIC) + 32:]
    if not raw.startswith(MAGIC) or hashlib.sha256(body).digest() != digest:
        return None
    size = int.from_bytes(body[:HEADER_LENGTH_BYTES], "little")
    try:
        header = json.loads(bytes(body[HEADER_LENGTH_BYTES: HEADER_LENGTH_BYTES + size]))
        symbols = [str(name).encode() for name in header["symbols"]]
        own_key = header["key"]
    except (ValueError, KeyError, TypeError):
        return None
    data = bytes(body[HEADER_LENGTH_BYTES + size:])
    if own_key != key or not symbols or not all(name in data for name in symbols):
        return None
    return data


GENERATOR_PACKAGES = ("codegen", "lower", "ir")
"""The packages of graphc whose source shapes generated code once a program is lowered
(the loop IR itself is part of every program key)."""


@functools.lru_cache(maxsize=1)
def generator_version() -> str:
    """A hash of every source file (names and bytes) in GENERATOR_PACKAGES: part of keys
    that skip building IR, so a change to any file of the code generator, or a file
    added to it, never loads stale objects."""
    return tree_version(Path(__file__).resolve().parents[2])      # the graphc package


def tree_version(root: Path, packages=GENERATOR_PACKAGES) -> str:
    """A hash of the source of `packages` of the graphc package at `root`."""
    h = hashlib.sha256()
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]
