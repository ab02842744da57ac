"""How a loop-IR kernel's statements become CUDA launches (`units`), and which
statements a block's threads can share (`share_plan`).

A kernel's top-level statements run one after another, each finished before the next
starts, so each is a launch of its own: an independent nest dealt to threads ("grid") or,
when each iteration folds a long range, to whole blocks ("rows"); the statements between
such nests on one block ("block") or, where they cannot be shared, one thread
("thread"); a native GEMM or implicit-GEMM call, or a serial host loop around such calls
("native"); a print on the host ("host").
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...lower.access import mentions, walk
from ...lower.loopir import Assign, Binary, Const, Declare, Kernel, Local, Loop
from ...lower.routines import ConvGemm, Gemm, Print

INDEPENDENT = ("parallel", "vector")
NATIVE = (Gemm, ConvGemm)
LONG_FOLD = 128
"""A fold over at least this many elements (or over a run-time count) is shared by a
block's threads."""

FOLDS = {"add": "graphc_fold_add", "max": "graphc_fold_max", "min": "graphc_fold_min"}


# -- which statements can a block share --------------------------------------------------------
def _identity(op: str, dtype) -> float | int:
    if op == "add":
        return 0
    if dtype.is_floating:
        return float("-inf") if op == "max" else float("inf")
    bits = dtype.itemsize * 8
    return -(1 << (bits - 1)) if op == "max" else (1 << (bits - 1)) - 1


def fold_nest(loop: Loop) -> tuple[list[Loop], list[Assign]] | None:
    """(the nest's loops, the folds at its bottom) when `loop` only folds values into
    accumulators: acc = acc ⊕ e with ⊕ add, max or min, e reading no accumulator of
    the nest."""
    loops = [loop]
    while len(loops[-1].body) == 1 and isinstance(loops[-1].body[0], Loop):
        loops.append(loops[-1].body[0])
    folds = loops[-1].body
    if not folds or not all(isinstance(s, Assign) for s in folds):
        return None
    names = {s.name for s in folds}
    if len(names) != len(folds):
        return None
    for s in folds:
        v = s.value
        if not (isinstance(v, Binary) and v.op in FOLDS and v.a == Local(s.name, v.a.dtype)):
            return None
        if any(isinstance(x, Local) and x.name in names for x in walk([v.b])):
            return None
    return loops, folds


def _assigned(stmts) -> set[str]:
    return {s.name for s in walk(stmts) if isinstance(s, Assign)}


def _declared(stmts) -> set[str]:
    return {s.name for s in walk(stmts) if isinstance(s, Declare)}


def _is_long(loops: list[Loop]) -> bool:
    count = 1
    for lp in loops:
        if not isinstance(lp.extent, Const):
            return True
        count *= lp.extent.value
    return count >= LONG_FOLD


def share_plan(stmts) -> list[tuple[str, object]] | None:
    """How a block runs `stmts` together: a list of ("all", s) — every thread (a scalar
    each thread holds alike), ("fold", s) — strided over the threads, then combined,
    ("spread", s) — an independent loop strided over the threads, ("one", [s...]) — the
    first thread alone; None when the statements cannot be shared (a thread-alone part
    would change a value the others hold, or a fold's accumulator does not start from
    its fold's identity)."""
    plan: list = []
    fresh: dict[str, object] = {}         # accumulators declared here, not yet changed
    for s in stmts:
        if isinstance(s, Declare | Assign):
            if isinstance(s, Declare):
                fresh[s.name] = s.init
            else:
                fresh.pop(s.name, None)
            plan.append(("all", s))
            continue
        found = fold_nest(s) if isinstance(s, Loop) else None
        if found is not None:
            _, folds = found
            if all(isinstance(fresh.get(f.name), Const) and
                   fresh[f.name].value == _identity(f.value.op, f.value.dtype) for f in folds):
                for f in folds:
                    fresh.pop(f.name)
                plan.append(("fold", s))
                continue
        if _assigned([s]) - _declared([s]):
            return None                    # it changes a value every thread holds
        if isinstance(s, Loop) and s.kind in INDEPENDENT:
            plan.append(("spread", s))
        elif plan and plan[-1][0] == "one":
            plan[-1][1].append(s)
        else:
            plan.append(("one", [s]))
    return plan


def _has_long_fold(plan) -> bool:
    return any(kind == "fold" and _is_long(fold_nest(s)[0]) for kind, s in plan)


def perfect_nest(loop: Loop, kinds=INDEPENDENT) -> list[Loop]:
    """The loop and the loops of `kinds` nested directly inside it whose extents do not
    depend on the nest's own variables: one iteration space."""
    nest = [loop]
    while len(nest[-1].body) == 1 and isinstance(nest[-1].body[0], Loop):
        inner = nest[-1].body[0]
        if inner.kind not in kinds or any(mentions(inner.extent, n.var) for n in nest):
            break
        nest.append(inner)
    return nest


# -- units: what one launch (or host step) does -------------------------------------------------
@dataclass
class Unit:
    kind: str        # grid | rows | block | thread | native | host
    stmts: list = field(default_factory=list)
    plan: list | None = None


def host_loop(s) -> bool:
    """A serial loop holding only loops and native routines: the host runs it."""
    return isinstance(s, Loop) and s.kind == "serial" and _only_native(s)


def _only_native(loop: Loop) -> bool:
    return all(isinstance(x, NATIVE) or isinstance(x, Loop) and _only_native(x)
               for x in loop.body)


def units(kernel: Kernel) -> list[Unit]:
    """The kernel's launches and host steps, in order."""
    out: list[Unit] = []
    declared: set[str] = set()
    for s in kernel.body:
        if isinstance(s, Print):
            out.append(Unit("host", [s]))
            continue
        if isinstance(s, NATIVE) or host_loop(s):
            out.append(Unit("native", [s]))
            continue
        reads_locals = any(isinstance(x, Local) and x.name in declared for x in walk([s]))
        if isinstance(s, Declare):
            declared.add(s.name)
        if isinstance(s, Loop) and s.kind in INDEPENDENT and not reads_locals:
            nest = perfect_nest(s)
            plan = share_plan(nest[-1].body)
            if plan is not None and _has_long_fold(plan):
                out.append(Unit("rows", [s], plan))
            else:
                out.append(Unit("grid", [s]))
        elif out and out[-1].kind == "block":
            out[-1].stmts.append(s)
        else:
            out.append(Unit("block", [s]))
    for u in out:
        if u.kind == "block":
            u.plan = share_plan(u.stmts)
            if u.plan is None:
                u.kind = "thread"
    return out
