"""MPI in the LLVM backend: a program's allreduce is a direct call of `MPI_Allreduce`
from the generated code, inside the run's one native call. mpi4py has loaded the MPI
library privately; `link_mpi` publishes its symbol to the JIT's linker."""
from __future__ import annotations

import ctypes
import functools

import llvmlite.binding as llvm
import llvmlite.ir as ir

from ...lower.routines import Allreduce

SYMBOL = "MPI_Allreduce"
I8P, I32 = ir.IntType(8).as_pointer(), ir.IntType(32)


@functools.lru_cache(maxsize=1)
def link_mpi() -> None:
    """Make `MPI_Allreduce` of the MPI library this process uses resolvable by the JIT
    (a program loaded from the disk cache needs it as much as a fresh one)."""
    from mpi4py import MPI  # noqa: F401 - loads the MPI library
    for path in _loaded_libraries():
        library = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        if hasattr(library, SYMBOL):
            llvm.add_symbol(SYMBOL, ctypes.cast(getattr(library, SYMBOL), ctypes.c_void_p).value)
            return
    raise RuntimeError(f"graphc: no loaded library defines {SYMBOL} (is mpi4py built "
                       "against a shared MPI library?)")


def _loaded_libraries() -> list[str]:
    """Paths of the shared libraries mapped into this process whose name says MPI."""
    with open("/proc/self/maps") as maps:
        paths = [line.split()[-1] for line in maps if "/" in line]
    return list(dict.fromkeys(p for p in paths if "libmpi" in p.rsplit("/", 1)[-1]))


def allreduce_native(em, r: Allreduce) -> None:
    """MPI_Allreduce(MPI_IN_PLACE, buffer, count, datatype, MPI_SUM, comm), the handles
    as constants of the width the library uses (ints in MPICH, pointers in Open MPI)."""
    handle = ir.IntType(8 * r.mpi.handle_bytes)
    fnty = ir.FunctionType(I32, [I8P, I8P, I32, handle, handle, handle])
    fn = em.module.globals.get(SYMBOL) or ir.Function(em.module, fnty, SYMBOL)
    b = em.builder
    in_place = b.inttoptr(ir.Constant(ir.IntType(64), r.mpi.in_place), I8P)
    b.call(fn, [in_place, b.bitcast(em.buffers[r.target], I8P), b.trunc(em.expr(r.count), I32),
                ir.Constant(handle, r.mpi.datatype), ir.Constant(handle, r.mpi.op),
                ir.Constant(handle, r.mpi.comm)])
