"""`graphc export`: export a model from the command line — one a Python function builds,
or the LeNet-5 `graphc demo` trained (restored from its checkpoint)."""
from __future__ import annotations

import importlib.util
import os
import sys
import traceback

DEMO = "demo"


def add_parser(sub) -> None:
    from .targets import TARGETS
    p = sub.add_parser(
        "export", help="export a model as a C library (header, libraries, weights)",
        description="SPEC is FILE.py:FUNCTION, a function returning the keyword arguments "
                    "of gc.export as a dict (session, inputs, outputs, and optionally "
                    "train_step, loss, train_inputs, name, batch_size), or 'demo': the "
                    "LeNet-5 of `graphc demo`, with --checkpoint its trained weights.")
    p.add_argument("spec", help="FILE.py:FUNCTION, or demo")
    p.add_argument("--out", required=True, help="the export's folder (replaced if it holds "
                                                "an earlier export)")
    p.add_argument("--target", default=None, choices=sorted(TARGETS),
                   help="c (portable C99, the default), cpu (this CPU), cpu-portable "
                        "(x86-64-v3), cuda (nvcc); cuda-host: CUDA on the CPU, for tests")
    p.add_argument("--name", default=None, help="the C API's prefix (default: the spec's, "
                                                "else 'model'; 'lenet' for the demo)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="export for this batch size only (default: any)")
    p.add_argument("--checkpoint", default=None,
                   help="demo: the checkpoint `graphc demo` wrote (graphc-demo/lenet.ckpt)")
    p.set_defaults(func=run)


def run(args) -> int:
    import graphc as gc
    try:
        options = _demo(args.checkpoint) if args.spec == DEMO else _from_script(args.spec)
    except ScriptError as err:
        print(f"graphc export: {err}", file=sys.stderr)
        return 1
    except (OSError, ValueError, AttributeError, TypeError, gc.GraphcError) as err:
        print(f"graphc export: {err}", file=sys.stderr)
        return 2
    for key, value in (("target", args.target), ("name", args.name),
                       ("batch_size", args.batch_size)):
        if value is not None:
            options[key] = value
    options.setdefault("target", "c")
    try:
        folder = gc.export(path=args.out, **options)
    except gc.GraphcError as err:
        print(f"graphc export: {err}", file=sys.stderr)
        return 1
    print(f"exported '{options.get('name', 'model')}' (target {options['target']}) to {folder}")
    return 0


class ScriptError(Exception):
    """The user's script raised `error`: one line naming the file, its line and the error,
    in place of a traceback through graphc."""

    def __init__(self, path: str, error: Exception):
        line = getattr(error, "lineno", None) if isinstance(error, SyntaxError) else None
        for frame in traceback.extract_tb(error.__traceback__):
            if os.path.abspath(frame.filename) == os.path.abspath(path):
                line = frame.lineno
        where = path if line is None else f"{path}, line {line}"
        text = str(error).splitlines()[0] if str(error) else ""
        super().__init__(f"{where}: {type(error).__name__}" + (f": {text}" if text else ""))


def _from_script(spec: str) -> dict:
    path, sep, function = spec.rpartition(":")
    if not sep or not path.endswith(".py") or not function:
        raise ValueError(f"SPEC must be FILE.py:FUNCTION or {DEMO}, got {spec!r}")
    module_spec = importlib.util.spec_from_file_location("graphc_export_spec", path)
    if module_spec is None or not os.path.isfile(path):
        raise ValueError(f"no Python file {path}")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:
        raise ScriptError(path, err) from None
    build = getattr(module, function)
    try:
        options = build()
    except Exception as err:
        raise ScriptError(path, err) from None
    if not isinstance(options, dict) or "session" not in options:
        raise TypeError(f"{spec} must return a dict of gc.export's arguments (session, "
                        "inputs, outputs, ...)")
    return dict(options)


def _demo(checkpoint: str | None) -> dict:
    """The demo's LeNet-5 on 28x28 digits, restored from `checkpoint` when given."""
    import graphc as gc
    from ..examples_support import demo_model
    graph = gc.Graph()
    model, train_op = demo_model(graph, (28, 28, 1))
    with graph.as_default():
        probs = gc.nn.softmax(model["logits"], name="probs")
    sess = gc.Session(graph)
    if checkpoint is not None:
        gc.train.Saver().restore(sess, checkpoint)
    return {"session": sess, "inputs": [model["images"]], "outputs": {"probs": probs},
            "train_step": train_op, "loss": model["loss"],
            "train_inputs": [model["images"], model["labels"]], "name": "lenet"}
