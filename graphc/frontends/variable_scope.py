"""TF1's variable sharing: `variable_scope` and `get_variable`.

A graph keeps a store of the variables made by `get_variable`, keyed by their full name
(`layer1/weights`). Inside `variable_scope(name, reuse=...)` a `get_variable` call makes a
variable under the scope's name (reuse False: it must not exist yet), or returns the one
already there (reuse True: it must exist; AUTO_REUSE: either). Reuse is inherited by
nested scopes. Variable scopes name variables; each also opens a name scope for the ops
made inside (`layer1_1/` on re-entry, as TF1), which never changes variable names.
"""
from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass

import numpy as np

from ..ir import Node, as_dtype, float32, get_default_graph
from ..ir.types import normalize_shape
from ..ops.state import Variable
from ..ops.weighted_losses import REGULARIZATION_LOSSES
from .initializers import glorot_uniform

AUTO_REUSE = "auto_reuse"


@dataclass
class VariableScope:
    """A scope's full name and whether get_variable reuses (True / AUTO_REUSE / False)."""

    name: str
    reuse: bool | str = False

    def reuse_variables(self) -> None:
        """From now on, get_variable in this scope returns existing variables (TF1)."""
        self.reuse = True


class _Store:
    """One graph's variables by full name, and its stack of variable scopes."""

    def __init__(self):
        self.variables: dict[str, Node] = {}
        self.scopes: list[VariableScope] = [VariableScope("")]
        self.default_name_counts: dict[str, int] = {}


_STORES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _store(graph=None) -> _Store:
    graph = graph or get_default_graph()
    if graph not in _STORES:
        _STORES[graph] = _Store()
    return _STORES[graph]


def get_variable_scope() -> VariableScope:
    return _store().scopes[-1]


@contextlib.contextmanager
def variable_scope(name_or_scope, default_name=None, reuse=None):
    """Name variables made by get_variable under `name_or_scope` (a str or a
    VariableScope); reuse=True or AUTO_REUSE shares them; None inherits the outer one."""
    graph = get_default_graph()
    store = _store(graph)
    outer = store.scopes[-1]
    if isinstance(name_or_scope, VariableScope):
        full = name_or_scope.name
        inherited = name_or_scope.reuse
    else:
        if name_or_scope is None:
            if default_name is None:
                raise ValueError("variable_scope needs a name or a default_name")
            name_or_scope = _unique_default(store, outer.name, default_name)
        full = f"{outer.name}/{name_or_scope}" if outer.name else str(name_or_scope)
        inherited = outer.reuse
    if reuse not in (None, True, False, AUTO_REUSE):
        raise ValueError(f"reuse must be True, False, None or AUTO_REUSE, got {reuse!r}")
    # as TF1: None (or False) inherits the outer flag; True and AUTO_REUSE set it
    scope = VariableScope(full, inherited if reuse in (None, False) else reuse)
    store.scopes.append(scope)
    try:
        with graph.name_scope(full.rpartition("/")[2]):
            yield scope
    finally:
        store.scopes.pop()


def _unique_default(store: _Store, outer: str, base: str) -> str:
    key = f"{outer}/{base}"
    count = store.default_name_counts.get(key, 0)
    store.default_name_counts[key] = count + 1
    return base if count == 0 else f"{base}_{count}"


def get_variable(name, shape=None, dtype=float32, initializer=None, regularizer=None,
                 trainable=True) -> Node:
    """The variable `scope/name`: made (from `initializer`, by default Glorot-uniform
    for floats and zeros otherwise) or, in a reusing scope, the existing one."""
    store = _store()
    scope = store.scopes[-1]
    full = f"{scope.name}/{name}" if scope.name else name
    dtype = as_dtype(dtype)
    shape = None if shape is None else normalize_shape(shape)
    existing = store.variables.get(full)
    if existing is not None:
        if scope.reuse is False:
            raise ValueError(f"Variable {full} already exists, disallowed. Did you mean to "
                             "set reuse=True or reuse=AUTO_REUSE in variable_scope?")
        if shape is not None and tuple(shape) != tuple(existing.shape):
            raise ValueError(f"Trying to share variable {full}, but specified shape "
                             f"{shape} and found shape {existing.shape}")
        if existing.dtype != dtype:
            raise ValueError(f"Trying to share variable {full}, but specified dtype "
                             f"{dtype.name} and found dtype {existing.dtype.name}")
        return existing
    if scope.reuse is True:
        raise ValueError(f"Variable {full} does not exist, or was not created with "
                         "get_variable(). Did you mean to set reuse=None or AUTO_REUSE?")
    graph = get_default_graph()
    initial = _initial_value(full, shape, dtype, initializer)
    with graph.within_scope(""):
        var = Variable(initial, name=full, trainable=trainable, dtype=dtype)
    store.variables[full] = var
    if regularizer is not None:
        with graph.within_scope(full):
            loss = regularizer(var)
        if loss is not None:
            graph.add_to_collection(REGULARIZATION_LOSSES, loss)
    return var


def _initial_value(full, shape, dtype, initializer):
    """A numpy array or a tensor to initialise `full` with."""
    if isinstance(initializer, Node):
        if shape is not None and tuple(shape) != tuple(initializer.shape):
            raise ValueError(f"get_variable {full}: shape {shape} given with an initializer "
                             f"tensor of shape {initializer.shape}")
        return initializer
    if callable(initializer) or initializer is None:
        if shape is None or None in shape:
            raise ValueError(f"get_variable {full}: the shape must be fully known to use an "
                             f"initializer, got {shape}")
        if initializer is None:
            if dtype.is_floating:
                return glorot_uniform(shape, dtype=dtype)
            return np.zeros(shape, dtype.np_type)
        return np.asarray(initializer(shape, dtype=dtype), dtype=dtype.np_type)
    value = np.asarray(initializer, dtype=dtype.np_type)
    if shape is None:
        return value
    if value.size == 1:
        return np.full(shape, value.reshape(()), dtype=dtype.np_type)
    return value.reshape(shape)
