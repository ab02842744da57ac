"""Running graphs: Session, programs, feeds/fetches, the numpy interpreter."""
from .interpreter import ExecutionError, NumericsError, RunContext, execute
from .program import Program
from .session import Session
