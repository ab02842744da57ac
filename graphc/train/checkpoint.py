"""Checkpoints: variables (optimizer slots and global_step included) saved by name, and
the session's random streams' draw counts (dropout, random ops) in the header's meta.

File format, version 1 (all integers little-endian):

    offset 0       8 bytes   magic b"GRAPHCKP"
           8       u32       format version (1)
           12      u32       header length H
           16      H bytes   header, UTF-8 JSON: {"tensors": [{"name", "dtype", "shape",
                             "offset", "nbytes", "crc32"}, ...], "data_nbytes": N,
                             "meta": {...}}
           16+H    u32       CRC-32 of the header bytes
           20+H    N bytes   the tensors' raw C-order data, at their offsets

Reading checks the magic, the version, the exact file length (a truncated file is named
as such), the header's CRC and each tensor's CRC, and refuses the file with the reason.

Reading checks the header's schema too (a dtype it knows, a shape that matches the
bytes, every field present and of its type): a crafted file with valid CRCs is refused
with a CheckpointError like a damaged one.

Writing is atomic: the bytes go to a temporary file in the same folder, are flushed to
disk, and `os.replace` puts the file in place in one step. A save that is interrupted,
even by SIGKILL, leaves the previous checkpoint as it was, and at worst a temporary
".<name>.<pid>.<random>.tmp" beside it, which readers never look at and the next save in
that folder removes once its writer is gone.
"""
from __future__ import annotations

import json
import math
import os
import re
import struct
import time
import tempfile
import zlib
from typing import Iterable

import numpy as np

from ..ir import GraphcError, Node, as_dtype
from ..ops.state import VARIABLES

MAGIC = b"GRAPHCKP"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sII")      # magic, version, header length


class CheckpointError(GraphcError, ValueError):
    """A checkpoint that cannot be read or does not fit the variables it restores."""


# -- the file format ------------------------------------------------------------------------
def _encode(arrays: dict[str, np.ndarray], meta: dict) -> list[bytes]:
    """The checkpoint as a list of byte chunks: prefix, header, header CRC, tensor data."""
    entries, data, offset = [], [], 0
    for name, array in arrays.items():
        array = np.asarray(array, order="C")     # (ascontiguousarray makes 0-d arrays 1-d)
        raw = array.tobytes()
        entries.append({"name": name, "dtype": as_dtype(array.dtype).name,
                        "shape": list(array.shape), "offset": offset, "nbytes": len(raw),
                        "crc32": zlib.crc32(raw)})
        data.append(raw)
        offset += len(raw)
    header = json.dumps({"tensors": entries, "data_nbytes": offset, "meta": meta},
                        sort_keys=True).encode("utf-8")
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(header))
    return [prefix, header, struct.pack("<I", zlib.crc32(header))] + data


def _write_chunks(file, chunks: Iterable[bytes]) -> None:
    """Write every chunk (a separate function so tests can interrupt a save midway)."""
    for chunk in chunks:
        file.write(chunk)


def write_checkpoint(path, arrays: dict[str, np.ndarray], meta: dict | None = None) -> str:
    """Write `arrays` (name → array) to `path` atomically; returns the path."""
    return atomic_write(path, _encode(arrays, meta or {}))


def atomic_write(path, chunks: Iterable[bytes]) -> str:
    """Write the bytes to a temporary beside `path`, fsync, and rename it into place."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale_temporaries(folder)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.{os.getpid()}.",
                               suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())      # mkstemp's 0600 would hide it from others
        with os.fdopen(fd, "wb") as file:
            _write_chunks(file, chunks)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)
    return path


TEMPORARY = re.compile(r"\..+?\.(?:(?P<pid>\d+)\.)?[a-z0-9_]{8}\.tmp")
STALE_AFTER_S = 60.0
"""A temporary whose writer is gone is removed once it is this old (a writer on another
machine sharing the folder has another pid space: its file is still being written to)."""
STALE_WITHOUT_PID_S = 3600.0
"""Temporaries named without a pid (graphc before 0.1) are removed at this age."""


def remove_stale_temporaries(folder: str) -> list[str]:
    """Delete this user's checkpoint temporaries in `folder` left by saves that died
    (SIGKILL, power loss); returns the names removed."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        match = TEMPORARY.fullmatch(name)
        if match is None:
            continue
        path = os.path.join(folder, name)
        try:
            st = os.lstat(path)
            if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
                continue
            age = now - st.st_mtime
            pid = match.group("pid")
            if (age > STALE_AFTER_S and not _alive(int(pid))) if pid else \
                    age > STALE_WITHOUT_PID_S:
                os.unlink(path)
                removed.append(name)
        except OSError:
            continue
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_checkpoint(path) -> tuple[dict[str, np.ndarray], dict]:
    """(name → array, meta) from a checkpoint file, every checksum verified."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as file:
            blob = file.read()
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at '{path}'") from None
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint '{path}': {err.strerror}") from None
    header = _read_header(path, blob)
    start = _PREFIX.size + len(header["raw"]) + 4
    arrays = {}
    for entry in header["tensors"]:
        raw = blob[start + entry["offset"]: start + entry["offset"] + entry["nbytes"]]
        if zlib.crc32(raw) != entry["crc32"]:
            raise CheckpointError(f"checkpoint '{path}' is corrupt: the data of "
                                  f"'{entry['name']}' fails its checksum")
        dtype = as_dtype(entry["dtype"]).np_type
        shape = tuple(entry["shape"])
        arrays[entry["name"]] = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    return arrays, header["meta"]


def _read_header(path: str, blob: bytes) -> dict:
    if len(blob) < _PREFIX.size:
        raise CheckpointError(f"'{path}' is not a graphc checkpoint: only {len(blob)} bytes "
                              "(truncated or empty)")
    magic, version, header_len = _PREFIX.unpack_from(blob)
    if magic != MAGIC:
        raise CheckpointError(f"'{path}' is not a graphc checkpoint (it does not start with "
                              f"{MAGIC!r})")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint '{path}' has format version {version}; this graphc "
                              f"reads version {FORMAT_VERSION}")
    end = _PREFIX.size + header_len + 4
    if len(blob) < end:
        raise CheckpointError(f"checkpoint '{path}' is truncated: {len(blob)} bytes, the "
                              f"header alone needs {end}")
    raw = blob[_PREFIX.size:_PREFIX.size + header_len]
    (crc,) = struct.unpack_from("<I", blob, _PREFIX.size + header_len)
    if zlib.crc32(raw) != crc:
        raise CheckpointError(f"checkpoint '{path}' is corrupt: its header fails its checksum")
    header = _parse_header(path, raw)
    expected = end + header["data_nbytes"]
    if len(blob) != expected:
        what = "truncated" if len(blob) < expected else "corrupt (trailing bytes)"
        raise CheckpointError(f"checkpoint '{path}' is {what}: {len(blob)} bytes, the header "
                              f"describes {expected}")
    header["raw"] = raw
    return header


def _parse_header(path: str, raw: bytes) -> dict:
    """The header's JSON, checked field by field: nothing read from the file reaches
    numpy unchecked."""
    def refuse(why: str):
        return CheckpointError(f"checkpoint '{path}' has a malformed header: {why}")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise refuse(f"not UTF-8 JSON ({err})") from None
    if not isinstance(header, dict):
        raise refuse(f"a JSON {type(header).__name__}, not an object")
    tensors, data_nbytes = header.get("tensors"), header.get("data_nbytes")
    if not isinstance(tensors, list):
        raise refuse("'tensors' is not a list")
    if not _count(data_nbytes):
        raise refuse("'data_nbytes' is not a byte count")
    if not isinstance(header.setdefault("meta", {}), dict):
        raise refuse("'meta' is not an object")
    names = set()
    for i, entry in enumerate(tensors):
        if not isinstance(entry, dict):
            raise refuse(f"tensor {i} is not an object")
        name = entry.get("name")
        if not isinstance(name, str) or name in names:
            raise refuse(f"tensor {i} has {'a repeated' if name in names else 'no'} name")
        names.add(name)
        missing = [k for k in ("dtype", "shape", "offset", "nbytes", "crc32")
                   if k not in entry]
        if missing:
            raise refuse(f"tensor '{name}' lacks {', '.join(missing)}")
        dtype = _known_dtype(entry["dtype"])
        if dtype is None:
            raise refuse(f"tensor '{name}' has an unknown dtype {entry['dtype']!r}")
        shape = entry["shape"]
        if not isinstance(shape, list) or not all(_count(d) for d in shape):
            raise refuse(f"tensor '{name}' has a bad shape {shape!r}")
        offset, nbytes = entry["offset"], entry["nbytes"]
        if not (_count(offset) and _count(nbytes) and _count(entry["crc32"])):
            raise refuse(f"tensor '{name}' has a bad offset, size or crc32")
        if nbytes != math.prod(shape) * dtype.itemsize:
            raise refuse(f"tensor '{name}' is {dtype.name}{shape}, which is "
                         f"{math.prod(shape) * dtype.itemsize} bytes, not {nbytes}")
        if offset + nbytes > data_nbytes:
            raise refuse(f"tensor '{name}' lies past the end of the data")
    return header


def _known_dtype(name):
    """The graphc dtype called exactly `name`, else None."""
    if not isinstance(name, str):
        return None
    try:
        dtype = as_dtype(name)
    except (TypeError, ValueError, KeyError):
        return None
    return dtype if dtype.name == name else None


def _count(value) -> bool:
    """A non-negative JSON integer (JSON's true and false are not counts)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def load_checkpoint(path) -> dict[str, np.ndarray]:
    """Every saved tensor by name (like tf.train.load_checkpoint(...).get_tensor)."""
    return read_checkpoint(path)[0]


def list_variables(path) -> list[tuple[str, tuple]]:
    """(name, shape) of every tensor in a checkpoint, in saved order."""
    return [(name, a.shape) for name, a in read_checkpoint(path)[0].items()]


# -- Saver -------------------------------------------------------------------------------
class Saver:
    """Saves and restores variables by name (TF1's tf.train.Saver).

    `var_list`: None for every variable of the session's graph at save/restore time
    (optimizer slots and global_step included), a list of variables, or a dict
    {name in the checkpoint: variable} to map names. Restoring a subset is how transfer
    learning starts: restore the feature layers into a new graph, then train only the
    rest with `minimize(loss, var_list=...)`.

    Each save records itself in the folder's "checkpoint" state file (read by
    `latest_checkpoint`); as in TF1 a Saver keeps its `max_to_keep` newest saves
    (5; None or 0 keeps all) and deletes its older ones (never files it did not write).

    A Saver of every variable (var_list=None) also saves how many draws each random
    stream of the session has made (dropout masks, random ops) and restores those
    counts, so a restored run draws the numbers an uninterrupted one would. A Saver of
    a subset leaves the streams alone: restoring part of one model into another must
    not move the other's streams.
    """

    def __init__(self, var_list=None, max_to_keep=5):
        self.max_to_keep = max_to_keep
        self._kept: list[str] = []
        if var_list is None:
            self._var_list = None
        elif isinstance(var_list, dict):
            self._var_list = dict(var_list)
        else:
            self._var_list = {_check_variable(v).name: v for v in var_list}
        for var in (self._var_list or {}).values():
            _check_variable(var)

    def _resolve(self, sess) -> dict[str, Node]:
        if self._var_list is not None:
            for var in self._var_list.values():
                if var.graph is not sess.graph:
                    raise CheckpointError(f"variable '{var.name}' belongs to another graph "
                                          "than the session's")
            return self._var_list
        return {v.name: v for v in sess.graph.get_collection(VARIABLES)}

    def save(self, sess, path, global_step=None, latest_filename=None,
             write_state=True) -> str:
        """Write the variables' current values; with `global_step` (an int or the step
        variable) the file name gets "-<step>". Returns the path written."""
        path = os.fspath(path)
        if global_step is not None:
            step = sess.run(global_step) if isinstance(global_step, Node) else global_step
            path = f"{path}-{int(step)}"
        arrays = {name: _value(sess, var) for name, var in self._resolve(sess).items()}
        meta = {"graphc_checkpoint": FORMAT_VERSION}
        if self._var_list is None:
            meta[RANDOM_STREAMS] = sess.random_streams()
        write_checkpoint(path, arrays, meta)
        if write_state:
            self._record(path, latest_filename)
        return path

    def _record(self, path: str, latest_filename) -> None:
        """Keep the newest max_to_keep saves, then name them in the state file."""
        from .checkpoint_state import update_checkpoint_state   # it imports this module
        self._kept = [p for p in self._kept if p != path] + [path]
        if self.max_to_keep:
            for old in self._kept[:-self.max_to_keep]:
                if os.path.exists(old):
                    os.unlink(old)
            self._kept = self._kept[-self.max_to_keep:]
        update_checkpoint_state(os.path.dirname(os.path.abspath(path)), path, self._kept,
                                latest_filename)

    def restore(self, sess, path) -> list[str]:
        """Set each variable to its saved value, matched by name; every variable must be
        in the file with the same shape and dtype. Returns the names restored."""
        arrays, meta = read_checkpoint(path)
        targets = self._resolve(sess)
        missing = [name for name in targets if name not in arrays]
        if missing:
            raise CheckpointError(
                f"checkpoint '{path}' has no value for {', '.join(missing)} (it holds "
                f"{', '.join(arrays) or 'nothing'}); restore a subset with "
                "Saver(var_list=[...])")
        for name, var in targets.items():
            value = arrays[name]
            if value.shape != tuple(var.shape) or value.dtype != var.dtype.np_type:
                raise CheckpointError(
                    f"checkpoint '{path}': '{name}' is {value.dtype}{list(value.shape)} but "
                    f"variable '{var.name}' is {var.dtype.name}{list(var.shape)}")
        streams = _random_streams(path, meta) if self._var_list is None else None
        for name, var in targets.items():
            sess.set_variable_value(var, arrays[name])
        if streams is not None:
            sess.set_random_streams(streams)
        return list(targets)


RANDOM_STREAMS = "random_streams"


def _random_streams(path: str, meta: dict) -> dict[str, int] | None:
    """The saved draw count of each random stream (None in a file saved without them)."""
    streams = meta.get(RANDOM_STREAMS)
    if streams is None:
        return None
    if not isinstance(streams, dict) or not all(_count(v) for v in streams.values()):
        raise CheckpointError(f"checkpoint '{path}' has a malformed header: "
                              f"'{RANDOM_STREAMS}' is not a map of names to draw counts")
    return streams


def _check_variable(var) -> Node:
    if not isinstance(var, Node) or var.op.name != "variable":
        raise TypeError(f"Saver: {var!r} is not a Variable")
    return var


def _value(sess, var: Node) -> np.ndarray:
    try:
        return sess.variable_value(var)
    except KeyError:                     # made after the session: not initialized yet
        sess.initialize([var])
        return sess.variable_value(var)
