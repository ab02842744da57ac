"""An exported model's weights in the safetensors layout: an 8-byte little-endian header
length, a JSON header, the tensors' raw little-endian bytes. Python's `safetensors` and
other tools read the file; graphc's C loader needs no library. graphc puts its own
facts in the header's `__metadata__` (strings, as the format wants):

    graphc_model   the hash of the exported model (a file of another model is refused)
    graphc_abi     the ABI version of the exported library
    crc32:NAME     the CRC-32 of tensor NAME's bytes (a damaged file is refused)
    graphc_rng:S   how many draws random stream S has made (dropout masks continue
                   where training left off)

The exported library's C writer makes the same bytes (c/gx_runtime.c, gx_save_weights).

Written to a temporary file renamed into place.
"""
from __future__ import annotations

import json
import os
import secrets
import stat
import struct
import zlib

import numpy as np

from ..ir import GraphcError

DTYPES = {"float32": "F32", "float64": "F64", "int32": "I32", "int64": "I64", "bool": "BOOL"}
NUMPY = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64,
         "BOOL": np.bool_}


class WeightsError(GraphcError, ValueError):
    """A weights file that is missing, damaged, or of another model or ABI."""


def encode(arrays: dict[str, np.ndarray], model: str, abi: int,
           streams: dict[str, int] | None = None) -> bytes:
    header: dict = {}
    meta = {"graphc_model": model, "graphc_abi": str(abi)}
    chunks, offset = [], 0
    for name, array in arrays.items():
        array = np.asarray(array, order="C")          # (ascontiguousarray makes 0-d 1-d)
        raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[array.dtype.name], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        meta[f"crc32:{name}"] = f"{zlib.crc32(raw):08x}"
        chunks.append(raw)
        offset += len(raw)
    for stream, count in (streams or {}).items():
        meta[f"graphc_rng:{stream}"] = str(int(count))
    header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)             # the data starts 8-byte aligned
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def write(path, arrays: dict[str, np.ndarray], model: str, abi: int,
          streams: dict[str, int] | None = None) -> None:
    path = os.fspath(path)
    data = encode(arrays, model, abi, streams)
    fd, tmp = _create_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _create_beside(path: str) -> tuple[int, str]:
    """A new temporary file in `path`'s folder, created as any file is (mode 0666 less the
    umask, where mkstemp's is 0600), as the C runtime's NAME_save creates it."""
    folder, base = os.path.split(os.path.abspath(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def read(path, model: str | None = None, abi: int | None = None) -> dict[str, np.ndarray]:
    """The tensors of a weights file, every checksum verified; with `model` / `abi`, the
    file must carry them."""
    path = os.fspath(path)
    blob = _read_file(path)

    def refuse(why):
        return WeightsError(f"weights '{path}' {why}")
    if len(blob) < 8:
        raise refuse(f"are truncated: {len(blob)} bytes")
    (size,) = struct.unpack_from("<Q", blob)
    if size > len(blob) - 8:
        raise refuse(f"are truncated or not safetensors: the header length {size} is larger "
                     f"than the file ({len(blob)} bytes)")
    try:
        header = json.loads(blob[8: 8 + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise refuse("have a header that is not UTF-8 JSON") from None
    end = _data_end(header)
    if end > len(blob) - 8 - size:
        raise refuse(f"are truncated: expected {8 + size + end} bytes, the file has "
                     f"{len(blob)}")
    if not isinstance(header, dict) or not isinstance(header.get("__metadata__"), dict):
        raise refuse("are not graphc weights (no __metadata__)")
    meta = header.pop("__metadata__")
    if model is not None and meta.get("graphc_model") != model:
        raise refuse(f"belong to another model ({meta.get('graphc_model')!r}, "
                     f"this one is {model!r})")
    if abi is not None and meta.get("graphc_abi") != str(abi):
        raise refuse(f"have ABI version {meta.get('graphc_abi')!r}; this reads {abi}")
    data = blob[8 + size:]
    out = {}
    for name, entry in header.items():
        try:
            dtype = NUMPY[entry["dtype"]]
            shape = tuple(int(d) for d in entry["shape"])
            begin, end = (int(v) for v in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise refuse(f"have a malformed entry for '{name}'") from None
        count = int(np.prod(shape, dtype=np.int64))
        if not 0 <= begin <= end <= len(data) or end - begin != count * np.dtype(dtype).itemsize:
            raise refuse(f"have '{name}' outside the file or of the wrong size")
        raw = data[begin:end]
        if meta.get(f"crc32:{name}") != f"{zlib.crc32(raw):08x}":
            raise refuse(f"are damaged: '{name}' fails its checksum")
        out[name] = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(
            dtype).reshape(shape)
    return out


def _read_file(path: str) -> bytes:
    """The file's bytes; a directory or other non-file is refused saying so (checked
    before opening: opening a FIFO would wait for a writer)."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise WeightsError(f"weights '{path}' is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise WeightsError(f"weights '{path}' is not a regular file")
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise WeightsError(f"cannot open weights '{path}': {err.strerror}") from None


def _data_end(header) -> int:
    """The end of the tensor data the header describes (the largest end offset)."""
    ends = [0]
    for entry in header.values() if isinstance(header, dict) else ():
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if isinstance(offsets, list) and len(offsets) == 2 and isinstance(offsets[1], int):
            ends.append(offsets[1])
    return max(ends)
