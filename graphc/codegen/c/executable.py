"""The C backend's compiled program: the program's C source built into a shared library
(toolchain.py) whose entry point `graphc_program(table)` runs over the shared pointer
table (codegen/base)."""
from __future__ import annotations

from ...lower.program import lower_program
from ...lower.target import PORTABLE_C
from ..base.executable import CompiledProgram
from .render import program_source
from .toolchain import Library

TARGET = PORTABLE_C


class CExecutable(CompiledProgram):
    def __init__(self, program, check_numerics: bool = False, threads: bool = True,
                 lowered=None):
        """threads: OpenMP loops where the target's task policy splits (when the compiler
        has OpenMP); lowered: `program` lowered already (the program cache's)."""
        if lowered is None:
            lowered = lower_program(program, check_numerics, TARGET)
        slots = {b.name: i for i, b in enumerate(lowered.buffers)}
        stop_slot = slots["status"] if lowered.failures else None
        self.source = program_source(lowered.kernels, slots, TARGET.tasks if threads else None,
                                     stop_slot)
        self.library = Library(self.source)
        self.from_cache = self.library.from_cache
        super().__init__(program, lowered)

    def _call(self) -> None:
        self.library.entry(self.table_address)

    def stages(self) -> dict[str, str]:
        return {"loop IR": str(self.lowered), "C source": self.source,
                "compile command": self.library.command}
