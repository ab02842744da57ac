"""What a run is, below every backend: the program a run computes, its feeds and fetch
structures, and the numpy interpreter that is the oracle."""
from ..ir import ExecutionError, NumericsError
from .interpreter import RunContext, execute
from .program import Program

__all__ = ["ExecutionError", "NumericsError", "Program", "RunContext", "execute"]
