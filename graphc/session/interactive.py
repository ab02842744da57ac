"""InteractiveSession: TF1's session for shells and notebooks."""
from __future__ import annotations

from . import default
from .session import Session


class InteractiveSession(Session):
    """A Session that is the default from when it is made until it is closed, so that
    `t.eval()` and `op.run()` need no session argument."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        default.push(self)

    def close(self) -> None:
        default.remove(self)
        super().close()
