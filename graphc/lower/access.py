"""How a loop body touches memory, as a renderer needs to know it: which indices it
loads and stores, and how far an index moves per step of a loop variable."""
from __future__ import annotations

from .loopir import Binary, Call, Cast, Compare, Const, Declare, Load, Loop, Select, Store, \
    Unary, Var

_EXPRESSIONS = Unary | Binary | Compare | Select | Cast | Load | Var


def mentions(e, var: Var | None = None) -> bool:
    """Whether expression `e` depends on loop variable `var` (None: on any)."""
    if isinstance(e, Var):
        return var is None or e == var
    return any(mentions(v, var) for v in vars(e).values() if isinstance(v, _EXPRESSIONS))


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
    template call, whose accesses are unknown)."""
    for s in body:
        if isinstance(s, Loop):
            yield from accessed_indices(s.body)
        elif isinstance(s, Call):
            yield None
        else:
            if isinstance(s, Store):
                yield s.index
            yield from _load_indices(s.init if isinstance(s, Declare) else s.value)


def _load_indices(e):
    if isinstance(e, Load):
        yield e.index
    if isinstance(e, _EXPRESSIONS):
        for v in vars(e).values():
            if isinstance(v, _EXPRESSIONS):
                yield from _load_indices(v)
