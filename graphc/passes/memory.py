"""Memory planning over the kernel order: one arena for every intermediate value.

Liveness: a value lives from the kernel that computes it to the last kernel that reads
it (fetched values to the end of the run). Walking the kernels in order, a value takes
the slot of an input that dies in the same kernel when the kernel is purely elementwise
over that input (in place), else a free slot of its size class (the next power of two,
at least 64 bytes), else a new slot. Variables and optimizer state keep persistent
buffers of their own; an update writes its variable's buffer; feeds and constants are
not in the arena. The plan reports the arena's size (peak) against the naive sum: every
intermediate of the unfused program in a buffer of its own.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Fusion, Node
from ..runtime.program import ASSIGN_OPS, Program
from .fuse import is_source


def nbytes(node: Node) -> int:
    return (node.type.num_elements or 0) * node.dtype.itemsize


def size_class(n: int) -> int:
    return max(64, 1 << (max(n, 1) - 1).bit_length())


@dataclass
class MemoryPlan:
    offsets: dict[Node, int]          # arena offset of each intermediate value
    slot_of: dict[Node, int]
    slot_sizes: list[int]
    in_place: list[tuple[Node, Node]]  # (value, input whose slot it took)
    persistent: dict[Node, int]        # variables and their bytes
    naive_bytes: int

    @property
    def peak_bytes(self) -> int:
        return sum(self.slot_sizes)

    @property
    def persistent_bytes(self) -> int:
        return sum(self.persistent.values())

    def format(self) -> str:
        lines = [f"// memory: arena {self.peak_bytes} B in {len(self.slot_sizes)} slots, "
                 f"naive {self.naive_bytes} B, persistent {self.persistent_bytes} B, "
                 f"{len(self.in_place)} in place"]
        for node, offset in self.offsets.items():
            lines.append(f"//   %{node.name}: slot {self.slot_of[node]} @ {offset} "
                         f"({nbytes(node)} B)")
        return "\n".join(lines)


def _elementwise_over(kernel, value: Node) -> bool:
    """True when the kernel reads `value` only at the index it writes (safe in place)."""
    if kernel.anchor is not None or kernel.root.shape != value.shape:
        return False
    return all(m.op.fusion == Fusion.ELEMWISE or (m.op.fusion == Fusion.BROADCAST
                                                  and m.shape == kernel.root.shape)
               for m in kernel.members if value in m.inputs)


class PlanMemory:
    name = "memory"

    def run(self, program: Program):
        kg = program.annotations["kernels"]
        kernels = kg.kernels
        last_use: dict[Node, int] = {}
        for i, k in enumerate(kernels):
            for x in k.inputs:
                last_use[x] = i
        end = len(kernels)
        for out in program.outputs:
            last_use[out] = end
        dying: dict[int, list[Node]] = {}
        for value, i in last_use.items():
            dying.setdefault(i, []).append(value)
        slot_sizes: list[int] = []
        free: dict[int, list[int]] = {}           # size class -> free slots
        slot_of: dict[Node, int] = {}
        in_place: list[tuple[Node, Node]] = []
        taken_over: set[Node] = set()
        for i, k in enumerate(kernels):
            value = k.root
            if value.op.name not in ASSIGN_OPS:      # updates write their variable
                donor = self._dying_input_to_reuse(k, i, last_use, slot_of, slot_sizes)
                if donor is not None:
                    slot = slot_of[donor]
                    in_place.append((value, donor))
                    taken_over.add(donor)
                elif free.get(size_class(nbytes(value))):
                    slot = free[size_class(nbytes(value))].pop()
                else:
                    slot_sizes.append(size_class(nbytes(value)))
                    slot = len(slot_sizes) - 1
                slot_of[value] = slot
            for dead in dying.get(i, []):           # freed after kernel i wrote its result
                if dead in slot_of and dead not in taken_over:
                    free.setdefault(slot_sizes[slot_of[dead]], []).append(slot_of[dead])
        starts = [sum(slot_sizes[:j]) for j in range(len(slot_sizes))]
        offsets = {node: starts[slot] for node, slot in slot_of.items()}
        persistent = {v: nbytes(v) for v in program.variables.values()}
        naive = program.annotations.get("naive_bytes", 0)
        plan = MemoryPlan(offsets, slot_of, slot_sizes, in_place, persistent, naive)
        program = program.with_changes(annotations={**program.annotations, "memory": plan})
        return program, {"peak bytes": plan.peak_bytes, "naive bytes": naive,
                         "slots": len(slot_sizes), "in place": len(in_place)}

    @staticmethod
    def _dying_input_to_reuse(kernel, i, last_use, slot_of, slot_sizes):
        for x in kernel.inputs:
            if x in slot_of and last_use.get(x) == i and \
                    slot_sizes[slot_of[x]] == size_class(nbytes(kernel.root)) and \
                    _elementwise_over(kernel, x):
                return x
        return None


def naive_bytes(program: Program) -> int:
    """Every non-source value of the program in a buffer of its own."""
    return sum(nbytes(n) for n in program.nodes if not is_source(n)
               and n.op.name not in ASSIGN_OPS)
