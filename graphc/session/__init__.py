"""Sessions (TF1's define-and-run): a Session owns variable values and runs programs on
a backend — the numpy interpreter or a compiler (`backends.py`); `inspect` shows every
stage of a compiled run."""
from .session import Session
from .default import get_default_session
from .interactive import InteractiveSession

__all__ = ["InteractiveSession", "Session", "get_default_session"]
