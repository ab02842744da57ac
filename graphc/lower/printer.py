"""Loop IR as readable pseudo-code (what `sess.inspect(...)` and the tests show)."""
from __future__ import annotations

from dataclasses import fields

from .loopir import (Assign, Binary, Cast, Compare, Const, Declare, Kernel, Load, Local, Loop,
                     Select, Store, Unary, Var)
from .routines import ConvShape, MpiHandles, Routine

_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "floordiv": "//", "mod": "%",
            "eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
            "and": "&&", "or": "||"}


def format_expr(e) -> str:
    if isinstance(e, Const):
        return repr(e.value)
    if isinstance(e, Var | Local):
        return e.name
    if isinstance(e, Load):
        return f"{e.buffer}[{format_expr(e.index)}]"
    if isinstance(e, Unary):
        return f"{e.op}({format_expr(e.x)})"
    if isinstance(e, Binary | Compare):
        if e.op in _SYMBOLS:
            return f"({format_expr(e.a)} {_SYMBOLS[e.op]} {format_expr(e.b)})"
        return f"{e.op}({format_expr(e.a)}, {format_expr(e.b)})"
    if isinstance(e, Select):
        return f"({format_expr(e.cond)} ? {format_expr(e.a)} : {format_expr(e.b)})"
    if isinstance(e, Cast):
        return f"{'bits_' if e.bits else ''}{e.dtype.short}({format_expr(e.x)})"
    raise TypeError(f"not a loop IR expression: {e!r}")


def format_stmts(stmts, depth: int = 1) -> list[str]:
    pad = "  " * depth
    lines = []
    for s in stmts:
        if isinstance(s, Loop):
            kind = "" if s.kind == "serial" else f" {s.kind}"
            lines.append(f"{pad}for{kind} {s.var.name} in 0..{format_expr(s.extent)}:")
            lines.extend(format_stmts(s.body, depth + 1))
        elif isinstance(s, Store):
            when = f"if {format_expr(s.when)}: " if s.when is not None else ""
            lines.append(f"{pad}{when}{s.buffer}[{format_expr(s.index)}] = "
                         f"{format_expr(s.value)}")
        elif isinstance(s, Declare):
            lines.append(f"{pad}{s.dtype.short} {s.name} = {format_expr(s.init)}")
        elif isinstance(s, Assign):
            lines.append(f"{pad}{s.name} = {format_expr(s.value)}")
        elif isinstance(s, Routine):
            lines.append(f"{pad}{format_routine(s)}")
            for inner in s.nested():
                lines.append(f"{pad}  then on each block of C:")
                lines.extend(format_stmts([inner], depth + 2))
        else:
            raise TypeError(f"not a loop IR statement: {s!r}")
    return lines


def format_routine(r: Routine) -> str:
    """`gemm(a=b3_x, a_offset=0, ...)`: every field but a nested epilogue."""
    parts = []
    for f in fields(r):
        v = getattr(r, f.name)
        if v is None or isinstance(v, Loop):
            continue
        text = v if isinstance(v, str) else str(v) if isinstance(v, int | float | bool) else \
            v.describe() if isinstance(v, ConvShape | MpiHandles) else format_expr(v)
        parts.append(f"{f.name}={text}")
    return f"{r.name}({', '.join(parts)})"


def format_kernel(kernel: Kernel) -> str:
    params = ", ".join(f"{b.dtype.short}* {b.name}[{b.size}]{'' if b.distinct else ' shared'}"
                       for b in kernel.params)
    return "\n".join([f"kernel {kernel.name}({params}):"] + format_stmts(kernel.body))
