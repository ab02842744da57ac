"""`graphc render SCRIPT_OR_MODULE[:GRAPH] --out FILE`: draw a graph a user's code builds.

SCRIPT_OR_MODULE is a Python file (run as a script, with its `__main__` block skipped)
or an importable module. GRAPH names something in it, a dotted path allowed:
- a gc.Graph (every node), a tensor, or a list/tuple/dict of tensors (them and what
  they depend on);
- a function taking no arguments that returns one of those, or a tuple whose first
  Graph is drawn (`return graph, tensors`);
- left out: the default graph the script built its nodes in.
"""
from __future__ import annotations

import argparse
import importlib
import os
import runpy
import sys
from pathlib import Path

from ..ir import Graph, GraphcError, Node

RUN_NAME = "__graphc_render__"


def add_parser(sub) -> None:
    """Register the `render` subcommand on the `graphc` parser's subparsers."""
    p = sub.add_parser("render", help="draw a graph that a script or module builds",
                       description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("target", metavar="SCRIPT_OR_MODULE[:GRAPH]",
                   help="e.g. model.py:train_graph or mypkg.models:build")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="picture to write; the extension picks the format "
                        "(.svg .png .pdf, .dot/.gv for DOT text, .html for an "
                        "interactive page)")
    p.add_argument("--collapse-depth", default="auto", type=_depth, metavar="N",
                   help="draw name scopes deeper than N as one box (auto, none, or N >= 0)")
    p.add_argument("--no-backward", action="store_true",
                   help="draw the backward graph as one box")
    p.add_argument("--rankdir", default="TB", choices=["TB", "LR", "BT", "RL"])
    p.add_argument("--legend", action="store_true", help="add a legend of the styles")
    p.add_argument("--title", default=None)
    p.set_defaults(func=run)


def _depth(text: str):
    if text in ("auto", "none"):
        return None if text == "none" else "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto, none or an int >= 0, got {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {value}")
    return value


def run(args) -> int:
    from .drawing import render
    try:
        target = load_target(args.target)
        options = dict(show_backward=not args.no_backward, rankdir=args.rankdir,
                       legend=args.legend, title=args.title)
        if not args.out.lower().endswith(".html"):      # a page holds every level
            options["collapse_depth"] = args.collapse_depth
        path = render(target, args.out, **options)
    except (GraphcError, ValueError, TypeError, ImportError, OSError) as err:
        print(f"graphc render: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


def load_target(spec: str):
    """What SCRIPT_OR_MODULE[:GRAPH] names, as something `to_dot` draws."""
    source, attr = _split(spec)
    graph = Graph()
    with graph.as_default():                  # nodes the code makes in the default graph
        namespace = _load(source)
    if attr is None:
        if not graph.nodes:
            raise ValueError(f"{source} built nothing in the default graph; name what to "
                             f"draw: {source}:NAME")
        return graph
    obj = namespace
    for part in attr.split("."):
        try:
            obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
        except (KeyError, AttributeError):
            raise ValueError(f"{source} has no '{attr}'") from None
    if callable(obj) and not isinstance(obj, Graph | Node):
        with graph.as_default():
            obj = obj()
    return _drawable(obj, f"{source}:{attr}")


def _split(spec: str) -> tuple[str, str | None]:
    """'path/to/model.py:graph' -> ('path/to/model.py', 'graph'); a drive letter or a
    path with no ':NAME' keeps its colon."""
    head, sep, tail = spec.rpartition(":")
    if not sep or not head or os.sep in tail or tail.endswith(".py"):
        return spec, None
    return head, tail


def _load(source: str) -> dict:
    if source.endswith(".py") or os.path.isfile(source):
        if not os.path.isfile(source):
            raise FileNotFoundError(f"no such script: {source}")
        script_dir = str(Path(source).resolve().parent)
        sys.path.insert(0, script_dir)        # the script's own imports, as `python` does
        try:
            return runpy.run_path(source, run_name=RUN_NAME)
        finally:
            sys.path.remove(script_dir)
    return vars(importlib.import_module(source))


def _drawable(obj, what: str):
    if isinstance(obj, Graph | Node):
        return obj
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, list | tuple):
        if obj and all(isinstance(x, Node) or x is None for x in obj):
            return [x for x in obj if x is not None]
        for x in obj:
            if isinstance(x, Graph):
                return x
    raise TypeError(f"{what} is a {type(obj).__name__}; expected a gc.Graph, a tensor, a "
                    "list of tensors, or a function returning one")
