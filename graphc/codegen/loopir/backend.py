"""`backend="loopir"`: a program lowered exactly as for the CPU, run by the loop-IR
interpreter (lower/interpret.py) element by element in Python, over the same pointer
table as the native backends. Slow — for tests of lowering on small shapes, with no
code generator involved."""
from __future__ import annotations

import ctypes

import numpy as np

from ...ir.symbolic import evaluate
from ...lower.interpret import run_kernel
from ...lower.loopir import SIZES
from ...lower.program import PRINT_CALLBACK, lower_program
from ...lower.target import CPU
from ...lower.values import Checks
from ..base.backend import CompiledBackend
from ..base.executable import CompiledProgram


class LoopIRProgram(CompiledProgram):
    def __init__(self, program, check_numerics: bool = False):
        super().__init__(program, lower_program(program, check_numerics, CPU))

    def _call(self) -> None:
        buffers = {PRINT_CALLBACK: self.lowered.prints}
        for b in self.lowered.buffers:
            if b.kind == "callback":
                continue
            count = evaluate(b.size, self.batch) if b.name != SIZES else 1
            address = self.table[self.slots[b.name]]
            raw = (ctypes.c_char * (count * b.dtype.itemsize)).from_address(address or 0) \
                if count else b""
            buffers[b.name] = np.frombuffer(raw, b.dtype.np_type, count) if count else \
                np.zeros(0, b.dtype.np_type)
        for kernel in self.lowered.kernels:
            run_kernel(kernel, buffers)
            if buffers[Checks.BUFFER][0] and any(p.name == Checks.BUFFER for p in kernel.params):
                return                     # a run-time check failed: stop, as compiled code does


class LoopIRBackend(CompiledBackend):
    name = "loopir"

    def make_executable(self, program, lowered=None):
        return LoopIRProgram(program, check_numerics=self.check_numerics)
