"""The CUDA backend's compiled program: the program's buffers on the device, its CUDA
library called once per run.

The pointer table (codegen/base) holds device pointers here: the arena (grown for the
largest batch), constants, workspaces, random keys, the sizes and status words are
allocated once; each run copies the feeds in, points the table at the session's
variables on the device (`DeviceVariables`: uploaded when the session's value changed,
left there between runs), launches the program, and copies the fetched values out.
"""
from __future__ import annotations

import ctypes
import math

import numpy as np

from ...ir import ExecutionError, GraphcError
from ...ir.symbolic import evaluate
from ...lower.program import lower_program
from ...lower.target import CUDA
from ...ops.random_bits import as_signed
from ..base.executable import CompiledProgram, print_callback
from .render import ENTRY, program_source
from .toolchain import Library, memory, ptx

TARGET = CUDA
HOST_TO_DEVICE, DEVICE_TO_HOST, DEVICE_TO_DEVICE = 0, 1, 2


class DeviceVariables:
    """The session's variables on the device, shared by every program of the backend.
    A variable is uploaded when the session holds a new array for it (set, initialize,
    restore), and after a run that updated it the device copy is the newer one until
    `sync_to_host` copies it back into the session's array."""

    def __init__(self, mem):
        self.mem = mem
        self._entries: dict = {}          # user variable -> [host array, device ptr, newer]

    def pointer(self, user, array: np.ndarray) -> int:
        entry = self._entries.get(user)
        if entry is None or entry[0] is not array:
            if entry is not None and entry[0].nbytes != array.nbytes:
                self.mem.free(entry[1])
                entry = None
            ptr = entry[1] if entry is not None else self.mem.alloc(array.nbytes)
            self.mem.copy(ptr, array.ctypes.data, array.nbytes, HOST_TO_DEVICE)
            entry = self._entries[user] = [array, ptr, False]
        return entry[1]

    def updated(self, user) -> None:
        self._entries[user][2] = True

    def read(self, user) -> np.ndarray:
        """The variable's current value (a copy), from the device when that is newer."""
        array, ptr, newer = self._entries[user]
        out = np.empty_like(array)
        if newer:
            self.mem.copy(out.ctypes.data, ptr, out.nbytes, DEVICE_TO_HOST)
        else:
            out[...] = array
        return out

    def sync_to_host(self, variables: dict) -> None:
        for user, entry in self._entries.items():
            array, ptr, newer = entry
            if newer and variables.get(user) is array:
                self.mem.copy(array.ctypes.data, ptr, array.nbytes, DEVICE_TO_HOST)
            entry[2] = False


class CUDAExecutable(CompiledProgram):
    def __init__(self, program, variables: DeviceVariables, check_numerics: bool = False,
                 host_build: bool = False, tf32: bool = False):
        lowered = lower_program(program, check_numerics, TARGET)
        self.host_build = host_build
        self.mem = memory(host_build)
        self.device_variables = variables
        slots = {b.name: i for i, b in enumerate(lowered.buffers)}
        stop_slot = slots["status"] if lowered.failures else None
        print_sizes = {i: node.type.num_elements for i, node in enumerate(lowered.prints or [])}
        self.source = program_source(lowered.kernels, slots, stop_slot, print_sizes, tf32)
        self.library = Library(self.source, host_build, symbols=(ENTRY,))
        self.from_cache = self.library.from_cache
        entry = self.library.handle[ENTRY]
        entry.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                          ctypes.c_char_p, ctypes.c_int]
        entry.restype = ctypes.c_int
        self._entry = entry
        self._error = ctypes.create_string_buffer(1024)
        self._state = self.library.new_state()
        self._owned: list[int] = []            # device memory this program allocated
        self._device_arena, self._arena_bytes = None, 0
        self._feed_buffers: dict[int, tuple[int, int]] = {}    # slot -> (ptr, bytes)
        self._ptx = None
        super().__init__(program, lowered)
        self._print_address = ctypes.cast(self._print_callback, ctypes.c_void_p).value \
            if lowered.prints else None
        self._updated = [self._user_of[u.inputs[0]] for u in program.updates
                         if u.inputs[0] in self._user_of]

    # -- device memory ----------------------------------------------------------------------
    def _device_copy_of(self, array: np.ndarray) -> int:
        ptr = self.mem.alloc(array.nbytes)
        self._owned.append(ptr)
        self.mem.copy(ptr, array.ctypes.data, array.nbytes, HOST_TO_DEVICE)
        return ptr

    def _bind_buffers(self) -> None:
        """Constants, workspaces, keys, sizes and status on the device; the host arrays
        the base class makes stay the host side of the small ones."""
        super()._bind_buffers()
        self._device_of = {}                    # host array address -> device pointer
        for i, b in enumerate(self.lowered.buffers):
            if b.kind in ("constant", "workspace", "status", "rng", "sizes"):
                host = self._host_array(i, b)
                ptr = self._device_copy_of(host)
                self._device_of[i] = (host, ptr)
                self.table[i] = ptr

    def _host_array(self, slot: int, b) -> np.ndarray:
        if b.kind == "sizes":
            return self._sizes
        if b.kind == "status":
            return self._status
        for array in self._keep:
            if array.ctypes.data == self.table[slot]:
                return array
        raise GraphcError(f"no host array behind buffer {b.name}")

    def _set_batch(self, n: int) -> None:
        if n == self.batch:
            return
        need = max(evaluate(self.lowered.arena_bytes, n), 64)
        if self._device_arena is None or self._arena_bytes < need:
            if self._device_arena is not None:
                self.mem.free(self._device_arena)
            self._device_arena, self._arena_bytes = self.mem.alloc(need), need
        for i, b in self._arena_slots:
            self.table[i] = self._device_arena + evaluate(b.offset, n)
        self._sizes[0] = n
        if "sizes" in self.slots:
            self.mem.copy(self.table[self.slots["sizes"]], self._sizes.ctypes.data, 8,
                          HOST_TO_DEVICE)
        self.batch = n
        self._shapes = [evaluate(node.shape, n) if self._batch_feed is not None else
                        node.shape for node in self.program.outputs]
        self._views = [None] * len(self._outputs)

    def close(self) -> None:
        for ptr in self._owned + [p for p, _ in self._feed_buffers.values()]:
            self.mem.free(ptr)
        if self._device_arena is not None:
            self.mem.free(self._device_arena)
        self._owned, self._feed_buffers, self._device_arena = [], {}, None
        if self._state is not None:
            self.library.free_state(self._state)
            self._state = None

    def __del__(self):
        try:
            self.close()
        except Exception:           # interpreter shutdown: the process frees the device
            pass

    # -- a run --------------------------------------------------------------------------------
    def run(self, feeds: dict, variables: dict, rng_keys: dict | None = None) -> list:
        for node, key in self._rng_slots:
            key[0] = as_signed(rng_keys[node])
        for i, b in enumerate(self.lowered.buffers):
            if b.kind == "rng":
                host, ptr = self._device_of[i]
                self.mem.copy(ptr, host.ctypes.data, host.nbytes, HOST_TO_DEVICE)
        sizes = []
        for i, b, user, batched in self._feed_slots:
            array = np.ascontiguousarray(feeds[user], dtype=b.dtype.np_type)
            if batched:
                sizes.append(array.shape[0])
            self.table[i] = self._feed_on_device(i, array)
        if self._batch_feed is not None:
            self._set_batch(self.lowered.agreed_batch(sizes))
        for i, b, user in self._var_slots:
            array = variables.get(user)
            if array is None:
                raise ExecutionError(f"{user.describe()} is not initialized")
            self.table[i] = self.device_variables.pointer(user, array)
        early = {i: self._output(i, feeds) for i in self._read_before}
        backups = [(self.table[self._slot_of_user(user)], self._backup(user))
                   for user, _ in self._restore]
        self._status[0] = 0
        self.mem.copy(self.table[self.slots["status"]], self._status.ctypes.data, 8,
                      HOST_TO_DEVICE)
        self._call()
        self.mem.copy(self._status.ctypes.data, self.table[self.slots["status"]], 8,
                      DEVICE_TO_HOST)
        if self._status[0]:
            for ptr, (backup, nbytes) in backups:
                self.mem.copy(ptr, backup, nbytes, DEVICE_TO_DEVICE)
            self._free_backups(backups)
            node, message = self.lowered.failures[self._status[0] - 1]
            self._raise_failure(node, message)
        self._free_backups(backups)
        for user in self._updated:
            self.device_variables.updated(user)
        return [early[i] if i in early else self._output(i, feeds)
                for i in range(len(self._outputs))]

    def _call(self) -> None:
        sizes = self._sizes.ctypes.data
        if self._entry(self.table_address, sizes, self._state, self._print_address,
                       self._error, len(self._error)):
            raise ExecutionError(f"CUDA: {self._error.value.decode(errors='replace')}")

    def _feed_on_device(self, slot: int, array: np.ndarray) -> int:
        ptr, capacity = self._feed_buffers.get(slot, (None, 0))
        if ptr is None or capacity < array.nbytes:
            if ptr is not None:
                self.mem.free(ptr)
            capacity = max(array.nbytes, 64)
            ptr = self.mem.alloc(capacity)
            self._feed_buffers[slot] = (ptr, capacity)
        self.mem.copy(ptr, array.ctypes.data, array.nbytes, HOST_TO_DEVICE)
        return ptr

    def _slot_of_user(self, user) -> int:
        return next(i for i, _, u in self._var_slots if u is user)

    def _backup(self, user) -> tuple[int, int]:
        slot = self._slot_of_user(user)
        nbytes = self.lowered.buffers[slot].node.type.num_elements * \
            self.lowered.buffers[slot].dtype.itemsize
        backup = self.mem.alloc(nbytes)
        self.mem.copy(backup, self.table[slot], nbytes, DEVICE_TO_DEVICE)
        return backup, nbytes

    def _free_backups(self, backups) -> None:
        for _, (backup, _) in backups:
            self.mem.free(backup)

    def _output(self, i: int, feeds) -> np.ndarray | None:
        b, shape = self._outputs[i], self._shapes[i]
        if b is None:
            return None
        if b.kind == "feed":
            return np.asarray(feeds[self._user_of[b.node]]).reshape(-1)[
                : math.prod(shape)].reshape(shape).copy()
        if b.kind == "constant":
            return b.value[: math.prod(shape)].reshape(shape).copy()
        out = np.empty(shape, b.dtype.np_type)
        source = self.table[self.slots[b.name]]
        self.mem.copy(out.ctypes.data, source, out.nbytes, DEVICE_TO_HOST)
        return out

    @property
    def graph_replays(self) -> int:
        """Runs of this program that were one launch of its captured CUDA graph."""
        return self.library.replays(self._state)

    def stages(self) -> dict[str, str]:
        stages = {"loop IR": str(self.lowered), "CUDA source": self.source,
                  "nvcc command": self.library.command}
        try:
            stages["PTX"] = self.ptx
        except GraphcError as err:        # no nvcc here: the host build still runs
            stages["PTX"] = f"(not available: {err})"
        return stages

    @property
    def ptx(self) -> str:
        if self._ptx is None:
            self._ptx = ptx(self.source)[0]
        return self._ptx


__all__ = ["CUDAExecutable", "DeviceVariables", "print_callback"]
