"""A compiled program behind one native entry point, whatever compiled it.

Every compiled backend calls its program the same way: `entry(void **table, ...)`, the
table holding a pointer per buffer of the lowered program (lower/program.py lists them
and their kinds). This class builds that table once and fills it each run — feeds and
the session's variable arrays (updated in place by the program), the arena placed for
the run's batch size, constants, workspaces, random keys, the status word and the print
callback — crosses into native code once (`_call`, the backend's), and copies the
fetched values out. It takes feeds and variables keyed by the user's nodes, as the
session holds them, so a run builds no dictionaries. The export's header generator
reads the same table layout (`slots`).
"""
from __future__ import annotations

import ctypes
import math

import numpy as np

from ...ir import ExecutionError, NumericsError
from ...ir.symbolic import evaluate
from ...lower.program import LoweredProgram
from ...ops.debug import format_print
from ...ops.random_bits import as_signed
from ...runtime.program import ASSIGN_OPS


def aligned_zeros(nbytes: int, align: int = 64) -> np.ndarray:
    raw = np.zeros(nbytes + align, np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start: start + nbytes]


class CompiledProgram:
    """The pointer table and the per-run work around a backend's native call.

    Subclasses compile `lowered` into a callable, then call this constructor, and
    implement `_call()` (which calls it with `self.table_address`) and `stages()` (what
    `Session.inspect` shows).
    """

    from_cache = False            # whether the native code came from a disk cache
    program_from_cache = False    # whether the optimised, lowered program did

    def __init__(self, program, lowered: LoweredProgram, extra_slots: int = 0):
        """extra_slots: table entries after the buffers, for the backend's own use."""
        self.program = program
        self.lowered = lowered
        self.slots = {b.name: i for i, b in enumerate(lowered.buffers)}
        self.arena = None
        self.batch = None                  # N the table's arena pointers are set for
        self._sizes = np.zeros(1, np.int64)
        self.table = (ctypes.c_void_p * (len(lowered.buffers) + max(extra_slots, 1)))()
        self.table_address = ctypes.addressof(self.table)
        # the user's graph nodes behind this program's feeds and variables
        self.user_feeds = list(program.feeds.items())
        self.user_variables = list(program.variables.items())
        self._user_of = {node: user for user, node in self.user_feeds + self.user_variables}
        self._bind_buffers()
        self.random_nodes = [node for node, _ in self._rng_slots]
        self._outputs = [self._output_buffer(n) for n in program.outputs]
        self._views = []          # each output's array at the current batch (arena: a view)
        self._shapes = []         # and its shape
        self._bound = [None] * len(lowered.buffers)     # array of each feed/variable slot
        self._batch_feed = lowered.batch_feeds[0] if lowered.batch_feeds else None
        updated = {u.inputs[0] for u in program.updates}
        # a fetched variable (or a view of one) that this run updates must show its old
        # value: read it before the native call
        self._read_before = {i for i, (b, node) in enumerate(zip(self._outputs, program.outputs))
                             if b is not None and b.kind == "variable" and b.node in updated
                             and node.op.name not in ASSIGN_OPS}
        # variables a failed run-time check must find as they were: copied before a run
        # and put back when it fails (none in a train step whose checks all run before
        # its first update)
        self._restore = [(self._user_of[v], np.empty(v.shape, v.dtype.np_type))
                         for v in lowered.variables_updated_before_a_check()]
        self._set_batch(0)

    # -- what a backend provides ----------------------------------------------------------
    def _call(self) -> None:
        """Run the native entry point on `self.table_address`."""
        raise NotImplementedError

    def stages(self) -> dict[str, str]:
        """The backend's stages as text, in order ("loop IR", then its own)."""
        return {"loop IR": str(self.lowered)}

    def _batch_changed(self) -> None:
        """Called when a run's batch size differs from the last one's."""

    # -- the table --------------------------------------------------------------------------
    def _bind_buffers(self) -> None:
        """Fill the slots that stay the same from run to run; note the others."""
        batched = {b.name for b in self.lowered.batch_feeds}
        self._feed_slots, self._var_slots, self._rng_slots = [], [], []
        self._keep = []                    # arrays the table points into
        self._arena_slots = []
        for i, b in enumerate(self.lowered.buffers):
            if b.kind == "arena":
                self._arena_slots.append((i, b))
            elif b.kind == "sizes":
                self.table[i] = self._sizes.ctypes.data
            elif b.kind == "constant":
                self._point(i, np.ascontiguousarray(b.value, dtype=b.dtype.np_type))
            elif b.kind == "feed":     # (slot, buffer, user's node, a batch feed)
                self._feed_slots.append((i, b, self._user_of[b.node], b.name in batched))
            elif b.kind == "workspace":
                self._point(i, aligned_zeros(b.size * b.dtype.itemsize).view(b.dtype.np_type))
            elif b.kind == "callback":
                self._print_callback = print_callback(self.lowered.prints, self)
                self.table[i] = ctypes.cast(self._print_callback, ctypes.c_void_p).value
            elif b.kind == "status":
                self._status = np.zeros(1, np.int64)
                self._point(i, self._status)
            elif b.kind == "rng":
                key = np.zeros(1, np.int64)
                self._point(i, key)
                self._rng_slots.append((b.node, key))
            else:
                self._var_slots.append((i, b, self._user_of[b.node]))

    def _point(self, slot: int, array: np.ndarray) -> None:
        self._keep.append(array)
        self.table[slot] = array.ctypes.data

    def _output_buffer(self, node):
        name = self.lowered.value_buffer.get(node)
        return None if name is None else self.lowered.buffer(name)

    def _set_batch(self, n: int) -> None:
        """Point the arena buffers at their places for batch size n (the arena grows to
        the largest batch seen; a static program sets them once)."""
        if n == self.batch:
            return
        need = max(evaluate(self.lowered.arena_bytes, n), 64)
        if self.arena is None or self.arena.nbytes < need:
            self.arena = aligned_zeros(need)
        for i, b in self._arena_slots:
            self.table[i] = self.arena.ctypes.data + evaluate(b.offset, n)
        self._sizes[0] = n
        self.batch = n
        self._batch_changed()
        self._shapes = [evaluate(node.shape, n) if self._batch_feed is not None else
                        node.shape for node in self.program.outputs]
        self._views = [self._arena_view(b, shape) for b, shape in
                       zip(self._outputs, self._shapes)]

    def _arena_view(self, b, shape):
        """An output held in the arena, as an array viewing it (None for other outputs)."""
        if b is None or b.kind != "arena":
            return None
        return b.in_arena(self.arena, self.batch)[: math.prod(shape)].reshape(shape)

    # -- a run ------------------------------------------------------------------------------
    def run(self, feeds: dict, variables: dict, rng_keys: dict | None = None) -> list:
        """feeds / variables keyed by the user's placeholder / variable nodes (the
        variables' arrays are updated in place); rng_keys: this run's key of each random
        node (`random_nodes`)."""
        for node, key in self._rng_slots:
            key[0] = as_signed(rng_keys[node])
        table = self.table
        keep = []
        sizes = []
        for i, b, user, batched in self._feed_slots:
            array = feeds[user]
            if type(array) is not np.ndarray or array.dtype != b.dtype.np_type or \
                    not array.flags.c_contiguous:
                array = np.ascontiguousarray(array, dtype=b.dtype.np_type)
            if batched:
                sizes.append(array.shape[0])
            keep.append(array)
            if self._bound[i] is not array:    # the same array fed again: same address
                table[i] = array.__array_interface__["data"][0]
                self._bound[i] = array
        if self._batch_feed is not None:
            self._set_batch(self.lowered.agreed_batch(sizes))
        for i, b, user in self._var_slots:
            array = variables.get(user)
            if array is None:
                raise ExecutionError(f"{user.describe()} is not initialized")
            if self._bound[i] is not array:       # the session's arrays rarely change
                self._bind_variable(i, b, array)
        early = {i: self._read(self._outputs[i], self.program.outputs[i], self._shapes[i],
                               feeds, variables)
                 for i in self._read_before} if self._read_before else ()
        for user, saved in self._restore:
            np.copyto(saved, variables[user])
        self._status[0] = 0
        self._call()
        if self._status[0]:
            for user, saved in self._restore:
                np.copyto(variables[user], saved)
            self._raise_failure(*self.lowered.failures[self._status[0] - 1])
        return [early[i] if i in early else None if b is None else
                view.copy() if view is not None else
                self._read(b, node, self._shapes[i], feeds, variables)
                for i, (b, node, view) in enumerate(zip(self._outputs, self.program.outputs,
                                                        self._views))]

    def direct_runner(self, users: list, variables: dict):
        """`run` for a caller that passes arrays in `users` order (the fed placeholders),
        each already of its feed's dtype, C-contiguous and of the shapes this runner was
        made for (Session.make_callable checks that before each call): no dictionaries
        are built and nothing is converted, so a small model's run costs little more
        than its native call. None when the program needs the full run: random keys to
        draw, variables read before the call or restored after a failed check, outputs
        outside the arena."""
        if self.random_nodes or self._read_before or self._restore or \
                any(b is not None and b.kind != "arena" for b in self._outputs):
            return None
        position = {user: k for k, user in enumerate(users)}
        feeds = [(i, position[user]) for i, _, user, _ in self._feed_slots]
        batch_feed = next((position[user] for _, _, user, batched in self._feed_slots
                           if batched), None)
        table, bound, status, var_slots = self.table, self._bound, self._status, self._var_slots

        def run(arrays) -> list:
            for i, k in feeds:
                array = arrays[k]
                if bound[i] is not array:
                    table[i] = array.__array_interface__["data"][0]
                    bound[i] = array
            if batch_feed is not None and arrays[batch_feed].shape[0] != self.batch:
                self._set_batch(arrays[batch_feed].shape[0])
            for i, b, user in var_slots:
                array = variables[user]
                if bound[i] is not array:
                    self._bind_variable(i, b, array)
            status[0] = 0
            self._call()
            if status[0]:
                self._raise_failure(*self.lowered.failures[status[0] - 1])
            return [None if view is None else view.copy() for view in self._views]
        return run

    def _bind_variable(self, slot: int, b, array: np.ndarray) -> None:
        if not array.flags.c_contiguous or array.dtype != b.dtype.np_type:
            raise ValueError(f"variable {b.node.name} needs a C-contiguous "
                             f"{b.dtype.name} array")
        self.table[slot] = array.__array_interface__["data"][0]
        self._bound[slot] = array

    @staticmethod
    def _raise_failure(node, message: str):
        """The error of a failed run-time check: NumericsError for check_numerics."""
        if message.startswith(node.describe()):
            raise NumericsError(message)
        raise ExecutionError(f"{node.describe()}: {message}")

    def _read(self, b, node, shape, feeds, variables) -> np.ndarray:
        """An output not held in the arena (those are copied from `_views`)."""
        if b.kind == "variable":
            flat = variables[self._user_of[b.node]].reshape(-1)
        elif b.kind == "feed":
            flat = np.asarray(feeds[self._user_of[b.node]]).reshape(-1)
        else:
            flat = b.value
        return flat[: math.prod(shape)].reshape(shape).copy()


PRINT_FUNCTION = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p)
"""`void print(int64_t index, void *data)`: what compiled code calls for `gc.print`."""


def print_callback(prints, executable):
    """The function compiled code calls for `gc.print` (ctypes takes the GIL for it)."""
    def print_value(index, address):
        node = prints[index]
        shape = evaluate(node.shape, executable.batch)
        count = int(np.prod(shape))
        raw = (ctypes.c_char * (count * node.dtype.itemsize)).from_address(address)
        value = np.frombuffer(raw, dtype=node.dtype.np_type, count=count).reshape(shape)
        print(format_print(node, value), flush=True)
    return PRINT_FUNCTION(print_value)
