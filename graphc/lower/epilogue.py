"""Pointwise epilogues of a GEMM: the loop nest right after a `gemm` call that finishes
each element of the product (a bias and activation, an optimizer's update of a weight
from its new velocity).

A backend may run such a nest piece by piece, on each block of C as soon as the GEMM has
finished it and while it is still in cache (the LLVM backend's GEMM calls it per row
slab), instead of making one more pass over all of C. The result is the same when
- the nest is `for r in 0..M: for c in 0..N: <straight-line body>` over the call's M, N;
- C is read and written only at its own element, C[c_off + r·ldc + c];
- every other buffer the body writes is written and read at one index only, which moves
  by 1 with c and by at least N with r (each iteration owns its element), is not an
  operand of the GEMM, and shares its memory with no other buffer of the kernel (so the
  GEMM cannot be reading it).
Buffers the body only reads may be read anywhere: the GEMM writes nothing but C.
"""
from __future__ import annotations

from dataclasses import dataclass

from .access import mentions, stride_in, walk
from .loopir import Binary, Call, Const, Kernel, Load, Loop, Store, Var, add, idx, mul


@dataclass(frozen=True)
class Epilogue:
    """The nest at `kernel.body[index + 1]`, fusable into the gemm call before it."""
    rows: Loop                  # for r in 0..M (its body: the columns loop)
    columns: Loop               # for c in 0..N: the pointwise body


def gemm_epilogue(kernel: Kernel, index: int) -> Epilogue | None:
    """The pointwise epilogue of the gemm call `kernel.body[index]`, if the statement
    after it is one (None otherwise, and for a call that is not a float gemm)."""
    body = kernel.body
    if index + 1 >= len(body):
        return None
    call, nest = body[index], body[index + 1]
    if not (isinstance(call, Call) and call.function == "gemm" and isinstance(nest, Loop)
            and len(nest.body) == 1 and isinstance(nest.body[0], Loop)):
        return None
    a, _, b, _, c, c_off, m, n, _, _, _, ldc, *_ = call.args
    inner = nest.body[0]
    params = {p.name: p for p in kernel.params}
    if not params[c].dtype.is_floating or not isinstance(n, int) or not isinstance(ldc, int):
        return None
    if nest.extent != _index(m) or inner.extent != _index(n):
        return None
    rows, columns = nest.var, inner.var
    if any(isinstance(item, Loop | Call) or isinstance(item, Var) and item not in (rows, columns)
           for item in walk(inner.body)):
        return None
    indices: dict[str, dict] = {}      # buffer -> its distinct indices, by printed form
    written = set()
    for item in walk(inner.body):
        if isinstance(item, Load | Store):
            indices.setdefault(item.buffer, {})[repr(item.index)] = item.index
            if isinstance(item, Store):
                written.add(item.buffer)
    own_element = add(add(_index(c_off), mul(rows, idx(ldc))), columns)
    if not all(_same_element(index, own_element, rows, columns)
               for index in indices.get(c, {}).values()):
        return None
    for name in written - {c}:
        if name in (a, b) or not params[name].distinct or len(indices[name]) != 1:
            return None
        (index,) = indices[name].values()
        row_step = stride_in(index, rows)
        if stride_in(index, columns) != 1 or row_step is None or row_step < n:
            return None
    return Epilogue(nest, inner)


def _index(value):
    return value if not isinstance(value, int) else Const(value, idx(0).dtype)


def _same_element(e, own, rows: Var, columns: Var) -> bool:
    """Whether index e is C's own element: the same steps in r and c, and the same value
    at r = c = 0."""
    return stride_in(e, rows) == stride_in(own, rows) and \
        stride_in(e, columns) == stride_in(own, columns) and \
        _at_origin(e, (rows, columns)) == _at_origin(own, (rows, columns))


def _at_origin(e, variables):
    """e with the given loop variables set to 0, constants folded."""
    if isinstance(e, Var):
        return idx(0) if e in variables else e
    if isinstance(e, Binary) and e.op in ("add", "mul") and mentions(e):
        a, b = _at_origin(e.a, variables), _at_origin(e.b, variables)
        return add(a, b) if e.op == "add" else mul(a, b)
    return e
