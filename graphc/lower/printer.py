"""Loop IR as readable pseudo-code (what `sess.inspect(...)` and the tests show)."""
from __future__ import annotations

from .loopir import (Assign, Binary, Call, Cast, Compare, Const, Declare, Kernel, Load, Local,
                     Loop, Select, Store, Unary, Var)

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
        return f"{e.dtype.short}({format_expr(e.x)})"
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
            lines.append(f"{pad}{s.buffer}[{format_expr(s.index)}] = {format_expr(s.value)}")
        elif isinstance(s, Declare):
            lines.append(f"{pad}{s.dtype.short} {s.name} = {format_expr(s.init)}")
        elif isinstance(s, Assign):
            lines.append(f"{pad}{s.name} = {format_expr(s.value)}")
        elif isinstance(s, Call):
            args = ", ".join(a if isinstance(a, str) else
                             format_expr(a) if not isinstance(a, int | float | bool) else str(a)
                             for a in s.args)
            lines.append(f"{pad}{s.function}({args})")
        else:
            raise TypeError(f"not a loop IR statement: {s!r}")
    return lines


def format_kernel(kernel: Kernel) -> str:
    params = ", ".join(f"{b.dtype.short}* {b.name}[{b.size}]{'' if b.distinct else ' shared'}"
                       for b in kernel.params)
    return "\n".join([f"kernel {kernel.name}({params}):"] + format_stmts(kernel.body))
