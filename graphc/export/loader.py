"""`gc.load_exported`: an exported model's library in this process, through ctypes —
a callable taking and returning numpy arrays, checked against the manifest's dtypes and
shapes before anything reaches native code."""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import tempfile
import threading

import numpy as np

from ..codegen.base.cache import untrusted_reason
from .model import ABI_VERSION, ExportError
from .weights import WeightsError

STATUS_ERRORS = {2: WeightsError, 3: WeightsError, 4: WeightsError}


class _Info(ctypes.Structure):
    """The leading fields of NAME_model_info (source.py's header)."""
    _fields_ = [("abi_version", ctypes.c_int), ("name", ctypes.c_char_p),
                ("model_hash", ctypes.c_char_p), ("target", ctypes.c_char_p),
                ("graphc_version", ctypes.c_char_p)]


class ExportedModel:
    """A loaded export. `model(*inputs)` runs it (one output: its array; several: a
    tuple); with a train step, `model.train_step(*batch)` trains the library's own
    copy of the variables and returns the loss, and `model.save(path)` writes them."""

    def __init__(self, folder, weights=None):
        folder = os.path.abspath(os.fspath(folder))
        self.folder = folder
        self.manifest = _read_manifest(folder)
        m = self.manifest
        name = m["name"]
        library = os.path.join(folder, m["library"])
        for path in (folder, library):
            _check_trusted(path)
        self._lib = _open_library(library)
        info = getattr(self._lib, f"{name}_info")
        info.restype = ctypes.POINTER(_Info)
        facts = info().contents
        if facts.abi_version != ABI_VERSION:
            raise ExportError(f"{library} has ABI version {facts.abi_version}; this graphc "
                              f"loads version {ABI_VERSION}")
        if facts.model_hash.decode() != m["model_hash"]:
            raise ExportError(f"{library} is not the model its manifest describes")
        self._error = getattr(self._lib, f"{name}_last_error")
        self._error.argtypes, self._error.restype = [ctypes.c_void_p], ctypes.c_char_p
        self._destroy = getattr(self._lib, f"{name}_destroy")
        self._destroy.argtypes, self._destroy.restype = [ctypes.c_void_p], None
        self._ctx = ctypes.c_void_p()
        create = getattr(self._lib, f"{name}_create")
        create.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
        create.restype = ctypes.c_int
        path = os.fspath(weights) if weights is not None else os.path.join(folder, m["weights"])
        status = create(os.fsencode(path), ctypes.byref(self._ctx))
        if status != 0:
            message = self._last_error()
            self.close()
            raise STATUS_ERRORS.get(status, ExportError)(message)
        self._run = self._function(f"{name}_run", m["inputs"], m["outputs"],
                                   m["batch_size"])
        train = m["train_step"]
        self._train = None if train is None else self._function(
            f"{name}_train_step", train["inputs"],
            [{"name": "loss", "dtype": train["loss_dtype"], "shape": []}], m["batch_size"])

    def _function(self, symbol, inputs, outputs, fixed_batch):
        fn = getattr(self._lib, symbol)
        batched = any(t["shape"] and t["shape"][0] is None for t in inputs)
        fn.argtypes = [ctypes.c_void_p] + ([ctypes.c_int64] if batched else []) + \
            [ctypes.c_void_p] * (len(inputs) + len(outputs))
        fn.restype = ctypes.c_int
        return fn, inputs, outputs, batched

    def _last_error(self) -> str:
        return (self._error(self._ctx) or b"").decode("utf-8", "replace")

    def _call(self, entry, values, what: str):
        if self._ctx is None or not self._ctx.value:
            raise ExportError("this exported model is closed")
        fn, inputs, outputs, batched = entry
        if len(values) != len(inputs):
            raise TypeError(f"{what} takes {len(inputs)} inputs "
                            f"({', '.join(t['name'] for t in inputs)}), got {len(values)}")
        arrays, batch = [], None
        for value, spec in zip(values, inputs):
            array = _convert(value, spec, what)
            if spec["shape"] and spec["shape"][0] is None:
                if batch is not None and array.shape[0] != batch:
                    raise ValueError(f"{what}: inputs disagree on the batch size: "
                                     f"{batch} and {array.shape[0]} ('{spec['name']}')")
                batch = array.shape[0]
            arrays.append(array)
        results = [np.empty([batch if d is None else d for d in spec["shape"]],
                            dtype=np.dtype(spec["dtype"])) for spec in outputs]
        args = [self._ctx] + ([batch or 0] if batched else []) + \
            [a.ctypes.data for a in arrays] + [r.ctypes.data for r in results]
        status = fn(*args)
        if status != 0:
            raise ExportError(f"{what}: {self._last_error()}")
        return results

    def __call__(self, *inputs):
        results = self._call(self._run, inputs, "run")
        return results[0] if len(results) == 1 else tuple(results)

    run = __call__

    def train_step(self, *inputs) -> float:
        if self._train is None:
            raise ExportError("this model was exported without a train step "
                              "(export it with train_step= and loss=)")
        return float(self._call(self._train, inputs, "train_step")[0])

    def save(self, path) -> None:
        if self._train is None:
            raise ExportError("only a model exported with a train step can save")
        save = getattr(self._lib, f"{self.manifest['name']}_save")
        save.argtypes, save.restype = [ctypes.c_void_p, ctypes.c_char_p], ctypes.c_int
        status = save(self._ctx, os.fsencode(os.fspath(path)))
        if status != 0:
            raise STATUS_ERRORS.get(status, ExportError)(self._last_error())

    def close(self) -> None:
        if getattr(self, "_ctx", None) is not None and self._ctx.value:
            self._destroy(self._ctx)
        self._ctx = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def load_exported(folder, weights=None) -> ExportedModel:
    """The export in `folder` (gc.export's path), loaded; `weights`: another weights
    file of the same model (one its train step saved)."""
    return ExportedModel(folder, weights)


def _read_manifest(folder: str) -> dict:
    path = os.path.join(folder, "manifest.json")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except OSError as err:
        raise ExportError(f"{folder} is not a graphc export: cannot read its manifest.json "
                          f"({err.strerror})") from None
    except ValueError:
        raise ExportError(f"{path} is not valid JSON") from None
    if manifest.get("abi_version") != ABI_VERSION:
        raise ExportError(f"{folder} holds an export of ABI version "
                          f"{manifest.get('abi_version')}; this graphc loads {ABI_VERSION}")
    return manifest


_LIBRARIES: dict[str, ctypes.CDLL] = {}
"""The libraries loaded, by the SHA-256 of their bytes (ctypes never unloads one)."""
_LOADING = threading.Lock()


def _open_library(path: str) -> ctypes.CDLL:
    """The library at `path`, loaded from a private copy named by its content: dlopen
    hands back whatever it loaded from a path before, so a model exported to the same
    path again would otherwise run the earlier model's code. The copy is deleted once
    loaded (the loaded library stays mapped); the same bytes load once."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise ExportError(f"cannot load the exported library {path}: {err.strerror}") from None
    digest = hashlib.sha256(data).hexdigest()
    with _LOADING:
        if digest not in _LIBRARIES:
            folder = tempfile.mkdtemp(prefix="graphc-load-")
            copy = os.path.join(folder, f"{digest[:16]}-{os.path.basename(path)}")
            try:
                with open(copy, "wb") as f:
                    f.write(data)
                _LIBRARIES[digest] = ctypes.CDLL(copy, mode=getattr(os, "RTLD_LOCAL", 0))
            except OSError as err:
                raise ExportError(f"cannot load the exported library {path}: "
                                  f"{str(err).replace(copy, path)}") from None
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        return _LIBRARIES[digest]


def _check_trusted(path: str) -> None:
    """Native code runs in this process: refuse a library another user could write."""
    try:
        st = os.stat(path)
    except OSError as err:
        raise ExportError(f"cannot load {path}: {err.strerror}") from None
    reason = untrusted_reason(st)
    if reason:
        raise ExportError(f"refusing to load {path}: {reason}")


def _convert(value, spec: dict, what: str) -> np.ndarray:
    dtype = np.dtype(spec["dtype"])
    array = np.asarray(value)
    if array.dtype != dtype:
        if not np.can_cast(array.dtype, dtype, "same_kind"):
            raise TypeError(f"{what}: input '{spec['name']}' must be {dtype.name}, got "
                            f"{array.dtype.name}")
        array = array.astype(dtype)
    array = np.ascontiguousarray(array)
    shape = spec["shape"]
    if array.ndim != len(shape) or any(d is not None and d != s
                                       for d, s in zip(shape, array.shape)):
        expected = "[" + ", ".join("N" if d is None else str(d) for d in shape) + "]"
        raise ValueError(f"{what}: input '{spec['name']}' must have shape {expected}, got "
                         f"{list(array.shape)}")
    return array
