"""`backend="llvm"`: the compiled backend whose code generator is LLVM."""
from __future__ import annotations

from ..base.backend import CompiledBackend
from .executable import LLVMExecutable


class LLVMBackend(CompiledBackend):
    name = "llvm"

    def make_executable(self, program):
        return LLVMExecutable(program, check_numerics=self.check_numerics)
