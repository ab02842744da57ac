"""`graphc import MODEL.onnx`: load an ONNX model into graphc, print the graph it makes
and draw it; `--check` also runs it on random inputs against ONNX Runtime.

The onnx package is imported only when the command runs, so `graphc --help` works
without it.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path


def add_parser(sub) -> None:
    """Register the `import` subcommand on the `graphc` parser's subparsers."""
    p = sub.add_parser("import", help="load an ONNX model, print its graphc graph and draw it",
                       description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="picture to write (.svg .png .pdf .dot .html; default: MODEL.svg "
                        "in the current folder)")
    p.add_argument("--no-render", action="store_true", help="print only, draw nothing")
    p.add_argument("--quiet", action="store_true", help="print the summary, not every node")
    p.add_argument("--check", action="store_true",
                   help="run graphc and ONNX Runtime on the same random inputs and compare")
    p.add_argument("--backend", default="llvm", help="backend for --check (default llvm)")
    p.add_argument("--batch", type=int, default=2,
                   help="size of symbolic dimensions in --check's inputs (default 2)")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        from .onnx.loader import load
    except ImportError as err:
        print(f"graphc import: error: {err.msg}: install the ONNX support with "
              "pip install 'graphc[onnx]'", file=sys.stderr)
        return 1
    graph, inputs, outputs = load(args.model)
    print(summary(args.model, graph, inputs, outputs))
    if not args.quiet:
        print(graph)
    if not args.no_render:
        from ..viz.drawing import render
        out = args.out or f"{Path(args.model).stem}.svg"
        print(f"wrote {render(list(outputs.values()), out)}")
    if args.check:
        return check(args, graph, inputs, outputs)
    return 0


def summary(path, graph, inputs: dict, outputs: dict) -> str:
    ops = Counter(n.op.name for n in graph.nodes)
    lines = [f"{path}: {len(graph.nodes)} graphc nodes",
             *(f"  input  {name}: {_type(node)}" for name, node in inputs.items()),
             *(f"  output {name}: {_type(node)}" for name, node in outputs.items()),
             "  ops: " + ", ".join(f"{op} {count}" for op, count in ops.most_common())]
    return "\n".join(lines)


def _type(node) -> str:
    dims = ", ".join("?" if d is None else str(d) for d in node.shape)
    return f"{node.dtype.name}[{dims}]"


def check(args, graph, inputs: dict, outputs: dict) -> int:
    """Run both on the same random inputs; 0 when every output agrees (float32
    tolerance), 1 otherwise."""
    import numpy as np
    try:
        import onnxruntime
    except ImportError:
        print("graphc import: error: --check needs onnxruntime (pip install "
              "'graphc[onnx]')", file=sys.stderr)
        return 1
    from ..session import Session
    rng = np.random.default_rng(0)
    feeds = {}
    for name, node in inputs.items():
        shape = tuple(args.batch if d is None else d for d in node.shape)
        value = rng.standard_normal(shape) if node.dtype.is_floating else \
            rng.integers(0, 2, shape)
        feeds[name] = value.astype(node.dtype.np_type)
    with Session(graph, backend=args.backend) as sess:
        ours = sess.run(list(outputs.values()), {inputs[k]: v for k, v in feeds.items()})
    runtime = onnxruntime.InferenceSession(str(args.model),
                                           providers=["CPUExecutionProvider"])
    theirs = runtime.run(list(outputs), feeds)
    worst = 0
    for name, a, b in zip(outputs, ours, theirs):
        a, b = np.asarray(a), np.asarray(b)
        ok = a.shape == b.shape and np.allclose(a, b, rtol=1e-4, atol=1e-5)
        err = float(np.max(np.abs(a - b))) if a.shape == b.shape and a.size else 0.0
        print(f"  {name}: {'agrees' if ok else 'DIFFERS'} with ONNX Runtime "
              f"(max |difference| {err:.2e}, shape {a.shape})")
        worst = max(worst, 0 if ok else 1)
    return worst
