"""The pass manager: an explicit, ordered list of passes; the program is verified after
each one, and can be printed after any of them (`GRAPHC_PRINT_AFTER=all` or
`print_after=("fuse",)`), with per-pass statistics and timings."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

from ..ir import GraphcError
from ..runtime.program import Program


class PassError(GraphcError, RuntimeError):
    """A pass produced an invalid program (a bug in graphc, reported with the pass name)."""


@dataclass
class PassRecord:
    name: str
    stats: dict
    seconds: float
    nodes: int


@dataclass
class PipelineResult:
    program: Program
    records: list[PassRecord] = field(default_factory=list)
    dumps: list[tuple[str, str]] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"{'pass':<12} {'nodes':>6} {'ms':>8}  stats"]
        for r in self.records:
            stats = ", ".join(f"{k}={v}" for k, v in r.stats.items())
            lines.append(f"{r.name:<12} {r.nodes:>6} {r.seconds * 1e3:8.2f}  {stats}")
        return "\n".join(lines)


def verify(program: Program, after: str) -> None:
    """Inputs precede their users in one graph, roots are present, outputs are typed."""
    position = {n: i for i, n in enumerate(program.nodes)}
    for i, node in enumerate(program.nodes):
        if node.graph is not program.graph:
            raise PassError(f"after {after}: node '{node.name}' is not in the program's graph")
        for x in node.inputs:
            if position.get(x, len(position)) >= i:
                raise PassError(f"after {after}: '{node.name}' reads '{x.name}', which is not "
                                "computed before it")
    for root in program.roots:
        if root not in position:
            raise PassError(f"after {after}: root '{root.name}' is missing")


def print_after_from_env() -> tuple[str, ...]:
    value = os.environ.get("GRAPHC_PRINT_AFTER", "")
    return tuple(v.strip() for v in value.split(",") if v.strip())


def run_pipeline(program: Program, passes, print_after=None, out=None) -> PipelineResult:
    print_after = print_after_from_env() if print_after is None else tuple(print_after)
    result = PipelineResult(program)
    for p in passes:
        start = time.perf_counter()
        program, stats = p.run(program)
        seconds = time.perf_counter() - start
        verify(program, p.name)
        result.records.append(PassRecord(p.name, stats, seconds, len(program.nodes)))
        if p.name in print_after or "all" in print_after:
            text = f"// after {p.name}: {stats}\n{describe(program)}"
            result.dumps.append((p.name, text))
            print(text, file=out or sys.stderr)
    result.program = program
    return result


def describe(program: Program) -> str:
    """The program's text, with kernels and the memory plan once passes have made them."""
    kernels = program.annotations.get("kernels")
    text = str(program) if kernels is None else kernels.format()
    plan = program.annotations.get("memory")
    if plan is not None:
        text += "\n" + plan.format()
    return text
