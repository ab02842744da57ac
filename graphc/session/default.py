"""The default session (TF1): inside `with sess.as_default():`, or while an
InteractiveSession is open, `t.eval()` and `op.run()` run in it."""
from __future__ import annotations

import contextlib
import threading

from ..ir import GraphcError
from ..ir.node import OPERATORS


class _Stack(threading.local):
    def __init__(self):
        self.sessions: list = []


_DEFAULT = _Stack()


def get_default_session():
    """The innermost default session of this thread, or None."""
    return _DEFAULT.sessions[-1] if _DEFAULT.sessions else None


def push(session) -> None:
    _DEFAULT.sessions.append(session)


def remove(session) -> None:
    if session in _DEFAULT.sessions:
        _DEFAULT.sessions.remove(session)


@contextlib.contextmanager
def entered(session):
    push(session)
    try:
        yield session
    finally:
        remove(session)


def _run(tensor, feed_dict=None, session=None):
    """Tensor.eval / Tensor.run."""
    session = session or get_default_session()
    if session is None:
        raise GraphcError(f"cannot evaluate '{tensor.name}': no default session; pass "
                          "session=, use `with sess.as_default():` or an InteractiveSession")
    if session.graph is not tensor.graph:
        raise GraphcError(f"'{tensor.name}' belongs to another graph than the session's")
    return session.run(tensor, feed_dict)


OPERATORS["run"] = _run
