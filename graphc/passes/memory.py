"""Memory planning over the kernel order: one arena for every intermediate value.

Liveness: a value lives from the kernel that computes it to the last kernel that reads
it (fetched values to the end of the run). Walking the kernels in order, a value takes
the slot of an input that dies in the same kernel when the kernel is purely elementwise
over that input and their elements are as wide (in place), else a slot of its own, its
size rounded up to 64 bytes. Variables and optimizer state keep persistent buffers of
their own; an update writes its variable's buffer; feeds and constants are not in the
arena.

The slots are then placed in the arena by size, largest first, each at the lowest
offset that no slot busy at an overlapping time takes (a slot is busy from its first
value's kernel to its last value's last reader, both included): slots never live
together share memory, so the arena is near the most bytes live at once (the VGG-style
step's arena: 739 KB per image when freed slots were reused by best fit and laid end to
end, 715 KB placed). The plan
reports the arena's size (peak) against the naive sum: every intermediate of the
unfused program in a buffer of its own.
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
    fixed_peak: int = 0                      # the arena's fixed bytes, then
    row_peak: int = 0                        # its bytes per batch row

    @property
    def peak_bytes(self):
        """Arena bytes: an int, or k·N + c for a batch-polymorphic program."""
        return make(self.row_peak, self.fixed_peak)

    @property
    def persistent_bytes(self) -> int:
        return sum(self.persistent.values())

    def format(self) -> str:
        lines = [f"// memory: arena {self.peak_bytes} B for {len(self.slot_sizes)} slots, "
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
        slots = _Slots()
        slot_of: dict[Node, int] = {}
        in_place: list[tuple[Node, Node]] = []
        taken_over: set[Node] = set()
        busy: dict[int, list[int]] = {}          # slot -> [first kernel, last kernel]
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
                span = busy.setdefault(slot, [i, i])
                span[1] = max(span[1], i if value is scratch else last_use.get(value, i))
        placed = slots.place(busy)
        offsets = {node: placed[slot] for node, slot in slot_of.items()}
        for view in kg.aliases:
            if kg.base_of(view) in offsets:
                offsets[view] = offsets[kg.base_of(view)]
        persistent = {v: nbytes(v) for v in program.variables.values()}
        naive = program.annotations.get("naive_bytes", 0)
        plan = MemoryPlan(offsets, slot_of, slots.sizes, in_place, persistent, naive,
                          slots.per_row, slots.fixed_peak, slots.row_peak)
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
    are planned together (best fit, reuse after death, then `place`); the per-row region
    follows the fixed one, so every offset is `fixed_peak + row_offset·N`."""

    def __init__(self):
        self.sizes: list[int] = []
        self.per_row: list[bool] = []
        self.fixed_peak = self.row_peak = 0

    def fits(self, slot: int, need: int, rows: bool) -> bool:
        return self.per_row[slot] == rows and fits(self.sizes[slot], need)

    def take(self, need: int, rows: bool) -> int:
        """A new slot: `place` lets slots never busy together share memory."""
        self.sizes.append(need)
        self.per_row.append(rows)
        return len(self.sizes) - 1

    def place(self, busy: dict[int, list[int]]) -> dict[int, object]:
        """Each slot's arena offset (`fixed_peak + row_offset·N` for a per-row slot):
        largest first, at the lowest offset where it overlaps no placed slot of its kind
        busy at an overlapping time (kernel indices, inclusive)."""
        offsets: dict[int, int] = {}
        peaks = {False: 0, True: 0}
        order = sorted(busy, key=lambda s: (-self.sizes[s], busy[s][0]))
        for slot in order:
            rows, (start, end) = self.per_row[slot], busy[slot]
            taken = sorted((offsets[o], offsets[o] + self.sizes[o]) for o in offsets
                           if self.per_row[o] == rows and busy[o][0] <= end and
                           start <= busy[o][1])
            at = 0
            for lo, hi in taken:
                if at + self.sizes[slot] <= lo:
                    break
                at = max(at, hi)
            offsets[slot] = at
            peaks[rows] = max(peaks[rows], at + self.sizes[slot])
        self.fixed_peak, self.row_peak = peaks[False], peaks[True]
        return {slot: make(at, self.fixed_peak) if self.per_row[slot] else at
                for slot, at in offsets.items()}


def naive_bytes(program: Program) -> int:
    """Every non-source value of the program in a buffer of its own."""
    return sum(nbytes(n) for n in program.nodes if not is_source(n)
               and n.op.name not in ASSIGN_OPS)
