"""`backend="c"`: the compiled backend whose code generator writes C99, built by the
system C compiler. Portable (any C compiler, ARM included) and the export's C target;
its speed is recorded, not tuned (every routine runs as plain loops)."""
from __future__ import annotations

from ..base.backend import CompiledBackend
from .executable import CExecutable


class CBackend(CompiledBackend):
    name = "c"

    program_cache = True
    direct_runs = True

    def make_executable(self, program, lowered=None):
        return CExecutable(program, check_numerics=self.check_numerics, lowered=lowered)
