"""`gc.export`: a session's model as a folder a C program builds against — the header,
the libraries, the weights and a manifest — written into a temporary folder and renamed
into place, so a failed export leaves nothing half-written."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

from . import weights
from .model import ABI_VERSION, ExportError, Model, describe
from .source import header
from .targets import get_target

MANIFEST = "manifest.json"


def export(session, inputs, outputs, path, name: str = "model", target: str = "c",
           train_step=None, loss=None, train_inputs=None, batch_size: int | None = None):
    """Export `outputs` computed from `inputs` (placeholders), and with `train_step` (a
    train op; `loss` the value it minimises) the train step, as a native library.

    target: "c" (portable C99), "cpu" (LLVM objects for this CPU), "cpu-portable"
    (x86-64-v3) or "cuda". The batch size stays a run-time argument unless the graph
    needs a fixed one (then pass `batch_size`). Returns the folder's path.
    """
    from .. import __version__
    kind = get_target(target)
    model = describe(session, inputs, outputs, kind.lowering, name, train_step, loss,
                     train_inputs, batch_size)
    model.target = target
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    _check_replaceable(path)
    folder = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", dir=parent)
    try:
        os.chmod(folder, 0o755)
        n = model.name
        with open(os.path.join(folder, f"{n}.h"), "w") as f:
            f.write(header(model, __version__))
        files = [f"{n}.h"] + kind.write(model, folder, __version__)
        weights.write(os.path.join(folder, f"{n}.safetensors"), model.values, model.hash,
                      ABI_VERSION, {s.name: s.count for s in model.streams})
        files.append(f"{n}.safetensors")
        manifest = _manifest(model, __version__, folder, files)
        manifest["link_flags"] = list(kind.link_flags)
        with open(os.path.join(folder, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        _replace(folder, path)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return path


def _manifest(model: Model, version: str, folder: str, files: list[str]) -> dict:
    run, train = model.program("run"), model.program("train_step")
    hashes = {}
    for name in files:
        with open(os.path.join(folder, name), "rb") as f:
            hashes[name] = hashlib.sha256(f.read()).hexdigest()
    return {
        "graphc_version": version, "abi_version": ABI_VERSION, "name": model.name,
        "target": model.target, "model_hash": model.hash,
        "batch_size": run.fixed_batch,
        "inputs": [t.describe() for t in run.inputs],
        "outputs": [t.describe() for t in run.outputs],
        "train_step": None if train is None else {
            "inputs": [t.describe() for t in train.inputs], "loss": model.loss,
            "loss_dtype": train.outputs[0].dtype.name},
        "variables": [t.describe() for t in model.variables],
        "streams": {s.name: s.count for s in model.streams},
        "library": f"lib{model.name}.so", "weights": f"{model.name}.safetensors",
        "header": f"{model.name}.h",
        "files": hashes,
    }


def _check_replaceable(path: str) -> None:
    """An existing `path` may be replaced only when it is empty or an earlier export:
    a manifest.json of graphc's, and no file but those the manifest lists."""
    if not os.path.lexists(path):
        return
    if not os.path.isdir(path) or os.path.islink(path):
        raise ExportError(f"export: {path} exists and is not a folder")
    names = os.listdir(path)
    why = _not_an_export(path, names) if names else None
    if why:
        raise ExportError(f"export: {path} exists and is not a graphc export ({why}); "
                          "choose another path or remove it")


def _not_an_export(path: str, names: list[str]) -> str | None:
    """Why the folder `path` holding `names` is not an earlier export (None: it is)."""
    if MANIFEST not in names:
        return f"it holds no {MANIFEST}"
    try:
        with open(os.path.join(path, MANIFEST)) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as err:
        return f"its {MANIFEST} cannot be read as JSON: {err}"
    keys = ("graphc_version", "abi_version", "model_hash", "files")
    missing = [k for k in keys if not isinstance(manifest, dict) or k not in manifest]
    if missing or not isinstance(manifest["files"], dict):
        return f"its {MANIFEST} is not graphc's: no {', '.join(missing or ['files list'])}"
    others = sorted(n for n in names if n != MANIFEST and (
        n not in manifest["files"] or not os.path.isfile(os.path.join(path, n))
        or os.path.islink(os.path.join(path, n))))
    if others:
        return f"it holds what no export writes: {', '.join(others[:5])}" + \
            (", ..." if len(others) > 5 else "")
    return None


def _replace(folder: str, path: str) -> None:
    """Rename the finished folder into place (an earlier export moves aside first)."""
    old = None
    if os.path.lexists(path):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old.",
                               dir=os.path.dirname(path))
        os.rmdir(old)
        os.rename(path, old)
    try:
        os.rename(folder, path)
    except BaseException:
        if old is not None:
            os.rename(old, path)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
