"""Pointwise epilogues of a GEMM: the loop nest right after a `gemm` call that finishes
each element of the product (a bias and activation, an optimizer's update of a weight
from its new velocity).

Lowering moves such a nest into the Gemm statement (`attach_epilogues`); a backend may
then run it piece by piece, on each block of C as soon as the GEMM has finished it and
while it is still in cache (the LLVM backend's GEMM calls it per row slab), instead of
making one more pass over all of C. The result is the same when
- the nest is `for r in 0..M: for c in 0..N: <straight-line body>` over the call's M, N;
- C is read and written only at its own element, C[c_off + r·ldc + c];
- every other buffer the body writes is written and read at one index only, which moves
  by 1 with c and by at least N with r (each iteration owns its element), is not an
  operand of the GEMM, and shares its memory with no other buffer of the kernel (so the
  GEMM cannot be reading it).
Buffers the body only reads may be read anywhere: the GEMM writes nothing but C.
"""
from __future__ import annotations

from .access import mentions, stride_in, walk
from .loopir import Binary, Const, Kernel, Load, Loop, Store, Var, add, idx, mul
from .routines import Gemm, Routine


def attach_epilogues(kernel: Kernel) -> None:
    """Move each pointwise epilogue into the Gemm statement before it (in place)."""
    body, index = kernel.body, 0
    while index < len(body):
        epilogue = gemm_epilogue(kernel, index)
        if epilogue is not None:
            body[index].epilogue = body.pop(index + 1)
        index += 1


def gemm_epilogue(kernel: Kernel, index: int) -> Loop | None:
    """The pointwise epilogue of the gemm `kernel.body[index]`, if the statement after it
    is one (None otherwise, and for a statement that is not a float gemm)."""
    body = kernel.body
    if index + 1 >= len(body):
        return None
    gemm, nest = body[index], body[index + 1]
    if not (isinstance(gemm, Gemm) and gemm.epilogue is None and isinstance(nest, Loop)
            and len(nest.body) == 1 and isinstance(nest.body[0], Loop)):
        return None
    params = {p.name: p for p in kernel.params}
    n = gemm.n
    if not params[gemm.c].dtype.is_floating or not isinstance(n, Const):
        return None
    inner = nest.body[0]
    if nest.extent != gemm.m or inner.extent != n:
        return None
    rows, columns = nest.var, inner.var
    if any(isinstance(item, Loop | Routine) or isinstance(item, Var) and
           item not in (rows, columns) for item in walk(inner.body)):
        return None
    indices: dict[str, dict] = {}      # buffer -> its distinct indices, by printed form
    written = set()
    for item in walk(inner.body):
        if isinstance(item, Load | Store):
            indices.setdefault(item.buffer, {})[repr(item.index)] = item.index
            if isinstance(item, Store):
                written.add(item.buffer)
    own_element = add(add(gemm.c_offset, mul(rows, idx(gemm.ldc))), columns)
    if not all(_same_element(index, own_element, rows, columns)
               for index in indices.get(gemm.c, {}).values()):
        return None
    for name in written - {gemm.c}:
        if name in (gemm.a, gemm.b) or not params[name].distinct or len(indices[name]) != 1:
            return None
        (index,) = indices[name].values()
        row_step = stride_in(index, rows)
        if stride_in(index, columns) != 1 or row_step is None or row_step < n.value:
            return None
    return nest


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
