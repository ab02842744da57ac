"""How loop IR touches memory: every statement and expression of a body (`walk`), the
buffers it uses, the indices it loads and stores, and how far an index moves per step
of a loop variable."""
from __future__ import annotations

from .loopir import (Assign, Binary, Cast, Compare, Const, Declare, Load, Loop, Select, Store,
                     Unary, Var, add, idx, mul)
from .routines import Routine


def walk(items):
    """Every statement and expression in `items` (statements or expressions), nested
    loop bodies, loop extents, a routine's expression fields and epilogue included."""
    stack = list(items)
    while stack:
        item = stack.pop()
        yield item
        children = _CHILDREN.get(type(item))
        if children is not None:
            stack.extend(children(item))
        elif isinstance(item, Routine):
            stack.extend(item.expressions())
            stack.extend(item.nested())


_CHILDREN = {
    Load: lambda e: (e.index,),
    Store: lambda s: (s.index, s.value) if s.when is None else (s.index, s.value, s.when),
    Loop: lambda s: (*s.body, s.extent),
    Declare: lambda s: (s.init,),
    Assign: lambda s: (s.value,),
    Unary: lambda e: (e.x,),
    Cast: lambda e: (e.x,),
    Binary: lambda e: (e.a, e.b),
    Compare: lambda e: (e.a, e.b),
    Select: lambda e: (e.cond, e.a, e.b),
}
"""What `walk` visits under each kind of item (routines: their expressions and nested
statements); a table, not a chain of isinstance tests: lowering walks every kernel."""


def statements(items):
    """Every statement in `items`, loop bodies and routines' nested statements included,
    without descending into expressions (finding the routines a program calls)."""
    stack = list(items)
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, Loop):
            stack.extend(item.body)
        elif isinstance(item, Routine):
            stack.extend(item.nested())


def buffers_used(stmts) -> set[str]:
    """Names of every buffer a kernel body loads, stores or hands to a routine."""
    found: set[str] = set()
    for item in walk(stmts):
        if isinstance(item, Load | Store):
            found.add(item.buffer)
        elif isinstance(item, Routine):
            found.update(item.buffers())
    return found


def mentions(e, var: Var | None = None) -> bool:
    """Whether expression `e` depends on loop variable `var` (None: on any)."""
    return any(isinstance(x, Var) and (var is None or x == var) for x in walk([e]))


def stride_in(e, var: Var) -> int | None:
    """How far index `e` moves when `var` grows by one: an int when `e` is affine in var
    (0: invariant), None otherwise (a clamp, a product of indices, a loaded index; or an
    unknown index, None)."""
    if e is None:
        return None
    if isinstance(e, Var):
        return 1 if e == var else 0
    if isinstance(e, Binary) and e.op in ("add", "sub", "mul"):
        a, b = stride_in(e.a, var), stride_in(e.b, var)
        if a is None or b is None:
            return None
        if e.op == "add":
            return a + b
        if e.op == "sub":
            return a - b
        if a == 0 and b == 0:
            return 0
        if a and b:
            return None
        scale = e.a if b else e.b          # the invariant factor
        return (a or b) * scale.value if isinstance(scale, Const) else None
    return None if mentions(e, var) else 0


def accessed_indices(body):
    """Every load and store index in a loop body, nested loops included (None for a
    routine, whose accesses are its own)."""
    for item in walk(body):
        if isinstance(item, Routine):
            yield None
        elif isinstance(item, Load | Store):
            yield item.index


def loop_work(stmt):
    """Innermost-statement executions of a statement: an int, or a loop-IR expression
    when an extent is known only at run time (a batch-polymorphic program). What a
    target's task policy splits parallel loops by."""
    if isinstance(stmt, Loop):
        inner = 1
        for s in stmt.body:
            w = loop_work(s)
            inner = inner + w if isinstance(inner, int) and isinstance(w, int) else \
                add(_as_expr(inner), _as_expr(w))
        inner = inner if not isinstance(inner, int) else max(1, inner)
        extent = stmt.extent
        if mentions(extent):      # varies with an outer loop: count it once
            extent = Const(1, extent.dtype)
        if isinstance(extent, Const) and isinstance(inner, int):
            return extent.value * inner
        return mul(_as_expr(extent), _as_expr(inner))
    if isinstance(stmt, Routine):
        return ROUTINE_WORK
    return 1


ROUTINE_WORK = 1 << 20
"""A routine's work as loop_work counts it: always worth a task of its own."""


def _as_expr(value):
    return idx(value) if isinstance(value, int) else value
