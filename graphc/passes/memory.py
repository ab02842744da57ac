"""Memory planning over the kernel order: one arena for every intermediate value.

Liveness: a value lives from the kernel that computes it to the last kernel that reads
it (fetched values to the end of the run). Walking the kernels in order, a value takes
the slot of an input that dies in the same kernel when the kernel is purely elementwise
over that input and their elements are as wide (in place), else the smallest free slot
that fits it without wasting more than a third of the slot (best fit), else a new slot
of its size rounded up to 64 bytes. Variables and optimizer state keep persistent
buffers of their own; an update writes its variable's buffer; feeds and constants are
not in the arena. The plan reports the arena's size (peak) against the naive sum: every
intermediate of the unfused program in a buffer of its own.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Fusion, Node
from ..ir.symbolic import SymbolicShapeError, make, per_row
from ..runtime.program import ASSIGN_OPS, Program
from .kernels import gemm_update, is_source, is_template, template_target


def nbytes(node: Node) -> int:
    return (node.type.num_elements or 0) * node.dtype.itemsize


ALIGN = 64
MAX_WASTE = 1 / 3


def aligned_size(n: int) -> int:
    return max(ALIGN, -(-n // ALIGN) * ALIGN)


def fits(slot_size: int, need: int) -> bool:
    return need <= slot_size and slot_size - need <= MAX_WASTE * slot_size


@dataclass
class MemoryPlan:
    offsets: dict[Node, int]          # arena offset of each intermediate value
    slot_of: dict[Node, int]
    slot_sizes: list[int]
    in_place: list[tuple[Node, Node]]  # (value, input whose slot it took)
    persistent: dict[Node, int]        # variables and their bytes
    naive_bytes: int
    slot_per_row: list[bool] | None = None   # slot sizes in bytes per batch row

    @property
    def peak_bytes(self):
        """Arena bytes: an int, or k·N + c for a batch-polymorphic program."""
        rows = self.slot_per_row or [False] * len(self.slot_sizes)
        fixed = sum(s for s, r in zip(self.slot_sizes, rows) if not r)
        return make(sum(s for s, r in zip(self.slot_sizes, rows) if r), fixed)

    @property
    def persistent_bytes(self) -> int:
        return sum(self.persistent.values())

    def format(self) -> str:
        lines = [f"// memory: arena {self.peak_bytes} B in {len(self.slot_sizes)} slots, "
                 f"naive {self.naive_bytes} B, persistent {self.persistent_bytes} B, "
                 f"{len(self.in_place)} in place"]
        for node, offset in self.offsets.items():
            where = f"slot {self.slot_of[node]}" if node in self.slot_of else "a view"
            lines.append(f"//   %{node.name}: {where} @ {offset} ({nbytes(node)} B)")
        return "\n".join(lines)


def _elementwise_over(kernel, out: Node, value: Node) -> bool:
    """True when the kernel reads `value` only at the index where it writes `out`, so
    `out` may overwrite `value` in place: every member computed from `value`, directly
    or through other members, is elementwise over out's shape (a transpose of
    1 − value², say, would read an element another index has overwritten already), and
    both have elements of one size (a float64 element written over a bool row covers
    eight elements not read yet; a narrower one, elements another task still reads)."""
    if kernel.anchor is not None or out.shape != value.shape or len(kernel.roots) != 1 \
            or out.dtype.itemsize != value.dtype.itemsize:
        return False
    derived = {value}
    for m in kernel.members:                       # in run order
        if any(x in derived for x in m.data_inputs):
            if m.op.fusion > Fusion.BROADCAST or m.shape != out.shape:
                return False
            derived.add(m)
    return True


class PlanMemory:
    name = "memory"

    def run(self, program: Program):
        kg = program.annotations["kernels"]
        kernels = kg.kernels
        last_use: dict[Node, int] = {}      # views extend the life of what they view
        for i, k in enumerate(kernels):
            for x in k.inputs:
                last_use[kg.base_of(x)] = i
        for out in program.outputs:
            last_use[kg.base_of(out)] = len(kernels)
        dying: dict[int, list[Node]] = {}
        for value, i in last_use.items():
            dying.setdefault(i, []).append(value)
        slots = _Slots()
        slot_of: dict[Node, int] = {}
        in_place: list[tuple[Node, Node]] = []
        taken_over: set[Node] = set()
        for i, k in enumerate(kernels):
            scratch = k.anchor if is_template(k.anchor) and template_target(k) is None \
                and k.anchor not in k.roots and gemm_update(k, kg.base_of) is None else None
            for value in k.roots + ((scratch,) if scratch is not None else ()):
                if value.op.name in ASSIGN_OPS:      # updates write their variable
                    continue
                donor = self._dying_input_to_reuse(k, value, i, last_use, slot_of, slots,
                                                   taken_over)
                if donor is not None:
                    slot = slot_of[donor]
                    in_place.append((value, donor))
                    taken_over.add(donor)
                else:
                    slot = slots.take(*_need(value))
                slot_of[value] = slot
            if scratch is not None:                 # the template's result dies with its kernel
                dying.setdefault(i, []).append(scratch)
            for dead in dying.get(i, []):           # freed after kernel i wrote its result
                if dead in slot_of and dead not in taken_over:
                    slots.release(slot_of[dead])
        offsets = {node: slots.offset(slot) for node, slot in slot_of.items()}
        for view in kg.aliases:
            if kg.base_of(view) in offsets:
                offsets[view] = offsets[kg.base_of(view)]
        persistent = {v: nbytes(v) for v in program.variables.values()}
        naive = program.annotations.get("naive_bytes", 0)
        plan = MemoryPlan(offsets, slot_of, slots.sizes, in_place, persistent, naive,
                          slots.per_row)
        program = program.with_changes(annotations={**program.annotations, "memory": plan})
        return program, {"peak bytes": plan.peak_bytes, "naive bytes": naive,
                         "slots": len(slots.sizes), "in place": len(in_place)}

    @staticmethod
    def _dying_input_to_reuse(kernel, value, i, last_use, slot_of, slots, taken_over):
        for x in kernel.inputs:
            if x in slot_of and x not in taken_over and last_use.get(x) == i and \
                    slots.fits(slot_of[x], *_need(value)) and \
                    _elementwise_over(kernel, value, x):
                return x
        return None


def _need(value: Node) -> tuple[int, bool]:
    """(aligned bytes, per batch row?) of a value: a batch-polymorphic value (k·N
    elements) is planned on its bytes per row, in an arena region that grows with N."""
    fixed, row = per_row(nbytes(value))
    if row and fixed:
        raise SymbolicShapeError(f"'{value.name}' has {value.type.num_elements} elements: "
                                 "only sizes proportional to N are planned")
    return aligned_size(row or fixed), bool(row)


class _Slots:
    """Arena slots of two kinds: fixed bytes, and bytes per batch row. Slots of one kind
    are planned together (best fit, reuse after death); the per-row region follows the
    fixed one, so every offset is `fixed_peak + row_offset·N`."""

    def __init__(self):
        self.sizes: list[int] = []
        self.per_row: list[bool] = []
        self.free: list[int] = []

    def fits(self, slot: int, need: int, rows: bool) -> bool:
        return self.per_row[slot] == rows and fits(self.sizes[slot], need)

    def take(self, need: int, rows: bool) -> int:
        fitting = [s for s in self.free if self.fits(s, need, rows)]
        if fitting:
            slot = min(fitting, key=self.sizes.__getitem__)
            self.free.remove(slot)
            return slot
        self.sizes.append(need)
        self.per_row.append(rows)
        return len(self.sizes) - 1

    def release(self, slot: int) -> None:
        self.free.append(slot)

    def offset(self, slot: int):
        rows = self.per_row[slot]
        before = sum(size for size, r in zip(self.sizes[:slot], self.per_row) if r == rows)
        if not rows:
            return before
        return make(before, sum(s for s, r in zip(self.sizes, self.per_row) if not r))


def naive_bytes(program: Program) -> int:
    """Every non-source value of the program in a buffer of its own."""
    return sum(nbytes(n) for n in program.nodes if not is_source(n)
               and n.op.name not in ASSIGN_OPS)
