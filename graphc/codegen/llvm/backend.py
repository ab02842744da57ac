"""`backend="llvm"`: the compiled backend whose code generator is LLVM."""
from __future__ import annotations

from ..base.backend import CompiledBackend
from .executable import LLVMExecutable


class LLVMBackend(CompiledBackend):
    name = "llvm"

    program_cache = True
    direct_runs = True

    def make_executable(self, program, lowered=None):
        return LLVMExecutable(program, check_numerics=self.check_numerics, lowered=lowered)
