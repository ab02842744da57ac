"""The `graphc` command."""
from __future__ import annotations

import argparse
import sys

from .viz.cli import add_parser as add_render_parser


def demo(args) -> int:
    """Train the lecture's two-layer sigmoid net (the seed-2layer workload) and report."""
    from .examples_support import two_layer_demo
    return two_layer_demo(steps=args.steps, backend=args.backend)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="graphc", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="train a small network and print what it learned")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--backend", default=None, help="numpy (default while it is the only one)")
    p.set_defaults(func=demo)
    add_render_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
