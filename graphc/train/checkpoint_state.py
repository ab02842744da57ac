"""TF1's checkpoint state file: "checkpoint" in a folder names its latest checkpoint.

`Saver.save` rewrites it after each save (atomically), so `latest_checkpoint(folder)`
finds the newest file to restore after a restart, as in TF1. The format is TF1's text
form, one `key: "path"` per line; paths inside the folder are stored relative to it:

    model_checkpoint_path: "model.ckpt-200"
    all_model_checkpoint_paths: "model.ckpt-100"
    all_model_checkpoint_paths: "model.ckpt-200"
"""
from __future__ import annotations

import json
import os
import re
from typing import NamedTuple

from .checkpoint import CheckpointError, atomic_write

STATE_FILE = "checkpoint"
_LINE = re.compile(r'^(model_checkpoint_path|all_model_checkpoint_paths):\s*(".*")\s*$')


class CheckpointState(NamedTuple):
    model_checkpoint_path: str
    all_model_checkpoint_paths: list[str]


def update_checkpoint_state(folder, latest: str, all_paths=(), latest_filename=None) -> str:
    """Record `latest` (and the checkpoints still kept) in the folder's state file."""
    folder = os.fspath(folder)

    def stored(path):
        path = os.fspath(path)
        inside = os.path.dirname(os.path.abspath(path)) == os.path.abspath(folder)
        return os.path.basename(path) if inside else path
    lines = [f"model_checkpoint_path: {json.dumps(stored(latest))}"]
    lines += [f"all_model_checkpoint_paths: {json.dumps(stored(p))}" for p in all_paths]
    state = os.path.join(folder, latest_filename or STATE_FILE)
    return atomic_write(state, ["\n".join(lines).encode() + b"\n"])


def get_checkpoint_state(checkpoint_dir, latest_filename=None) -> CheckpointState | None:
    """The folder's state (paths joined to the folder), or None without a state file."""
    folder = os.fspath(checkpoint_dir)
    state = os.path.join(folder, latest_filename or STATE_FILE)
    if not os.path.isfile(state):
        return None
    latest, every = None, []
    with open(state, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            match = _LINE.match(line.strip())
            if not line.strip():
                continue
            if match is None:
                raise CheckpointError(f"checkpoint state file '{state}', line {number}: "
                                      f"cannot read {line.strip()!r}")
            path = os.path.join(folder, json.loads(match.group(2)))
            if match.group(1) == "model_checkpoint_path":
                latest = path
            else:
                every.append(path)
    if latest is None:
        raise CheckpointError(f"checkpoint state file '{state}' names no "
                              "model_checkpoint_path")
    return CheckpointState(latest, every)


def latest_checkpoint(checkpoint_dir, latest_filename=None) -> str | None:
    """The path of the newest checkpoint saved in the folder, or None when there is none
    (no state file, or the file it names is gone), as TF1's tf.train.latest_checkpoint."""
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state is None or not os.path.isfile(state.model_checkpoint_path):
        return None
    return state.model_checkpoint_path
