"""Loop IR → one C99 translation unit per program.

Each kernel becomes a static function of its buffers (`restrict` where no other
parameter overlaps it); a top-level parallel loop that the target's task policy would
split becomes an OpenMP loop (an `if` clause decides at run time when its work depends
on N; compiled without OpenMP, the pragmas are ignored and the loops run serially); the
entry point `void graphc_program(void **table)` calls the kernels in order with
pointers from the table and returns after a kernel whose run-time check failed.
"""
from __future__ import annotations

from dataclasses import replace

from ...lower.access import loop_work
from ...lower.loopir import Kernel, Loop
from ...lower.routines import Print
from ..cstyle import PRELUDE, CStyleRenderer, c_type

ENTRY = "graphc_program"


class CRenderer(CStyleRenderer):
    def __init__(self, kernel: Kernel, tasks):
        super().__init__(kernel)
        self.tasks = tasks

    def loop_header(self, s: Loop) -> None:
        if self.tasks is None or self.depth != 1 or s.kind != "parallel":
            return
        work = loop_work(s)
        if isinstance(work, int):
            if self.tasks.task_count(s):
                self.line("#pragma omp parallel for schedule(static)")
            return
        condition = f"{self.expr(work)} >= {self.tasks.min_work}"
        self.line(f"#pragma omp parallel for schedule(static) if({condition})")

    def routine(self, r) -> None:
        if not isinstance(r, Print):
            super().routine(r)
            return
        self.line(f"((void (*)(int64_t, void *)) (void *) {r.callback})"
                  f"(INT64_C({r.index}), (void *) {r.target});")


def program_source(kernels: list[Kernel], table_slots: dict[str, int], tasks=None,
                   stop_slot: int | None = None) -> str:
    """The program's C source: the prelude, every kernel, the entry point."""
    return "\n\n".join([PRELUDE, program_body(kernels, table_slots, tasks, stop_slot)]) + "\n"


def program_body(kernels: list[Kernel], table_slots: dict[str, int], tasks=None,
                 stop_slot: int | None = None, prefix: str = "", entry: str = ENTRY,
                 qualifier: str = "void") -> str:
    """Every kernel (named with `prefix`, so several programs share a translation unit)
    and the entry point `qualifier entry(void **table)`, without the prelude."""
    kernels = [replace(k, name=prefix + k.name) for k in kernels]
    parts = [CRenderer(k, tasks).function() for k in kernels]
    body = []
    for k in kernels:
        args = ", ".join(f"({c_type(p.dtype)} *) table[{table_slots[p.name]}]" for p in k.params)
        body.append(f"    {k.name}({args});")
        if stop_slot is not None and any(table_slots[p.name] == stop_slot for p in k.params):
            body.append(f"    if (*(int64_t *) table[{stop_slot}] != 0) return;")
    parts.append("\n".join([f"{qualifier} {entry}(void **table) {{"] + body + ["}"]))
    return "\n\n".join(parts)
