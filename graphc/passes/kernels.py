"""The kernel graph that fusion produces and both backends consume.

From the materialisation decisions of `fuse.py` it builds:
- kernels: each computes its members in one loop nest and writes its roots;
- aliases: a materialised reshape (reshape, expand_dims, squeeze) of a value that is
  already in a buffer is not a kernel but a view of that buffer (flatten costs nothing);
- merged updates: an update that reads another update's new value element for element
  (the parameter step of momentum, Adam, ... after its slot update) joins that update's
  kernel as a second root, so one pass over memory updates both;
- an order: producers before consumers, and every reader of a variable before the
  kernel that updates it in place.
"""
from __future__ import annotations

import heapq
from collections import defaultdict

from dataclasses import dataclass, field


from ..ir import Fusion, Node
from ..ir.printer import format_node
from ..runtime.program import ASSIGN_OPS, Program

def is_source(node: Node) -> bool:
    """A placeholder, variable, constant (or no_op): in a buffer from the start."""
    return node.op.source


@dataclass
class FusedKernel:
    roots: tuple[Node, ...]        # values it writes (updates write their variable)
    members: tuple[Node, ...]      # nodes computed inside, in run order
    inputs: tuple[Node, ...]       # buffers it reads: materialised values, views, sources
    anchor: Node | None

    @property
    def root(self) -> Node:
        return self.roots[0]

    @property
    def kind(self) -> str:
        if self.anchor is None:
            return "update" if self.root.op.name in ASSIGN_OPS else "elementwise"
        name = self.anchor.op.name
        if name == "matmul":
            return "gemm"
        if name.startswith("conv2d"):
            return "conv"
        if self.anchor.op.fusion == Fusion.REDUCTION:
            return "reduction"
        return name

    @property
    def fused_ops(self) -> list[str]:
        return [m.op.name for m in self.members]


@dataclass
class KernelGraph:
    kernels: list[FusedKernel]
    reasons: dict[Node, str]        # why each materialised value is materialised
    sources: list[Node]
    aliases: dict[Node, Node] = field(default_factory=dict)   # view -> value it views

    def base_of(self, node: Node) -> Node:
        while node in self.aliases:
            node = self.aliases[node]
        return node

    def format(self, locations: bool = True) -> str:
        lines = [format_node(s, locations) for s in self.sources]
        for view, base in self.aliases.items():
            lines.append(f"view %{view.name} = %{base.name} as {view.type}")
        for i, k in enumerate(self.kernels):
            reads = ", ".join(f"%{x.name}" for x in k.inputs)
            writes = ", ".join(f"%{r.name}" for r in k.roots)
            why = "; ".join(self.reasons.get(r, "") for r in k.roots)
            lines.append(f"kernel {i} {k.kind} -> {writes} ({why}) reads {reads}")
            lines.extend("    " + format_node(m, locations) for m in k.members)
        return "\n".join(lines)


TEMPLATE_KINDS = ("gemm", "conv")


def is_template(node: Node | None) -> bool:
    """Anchors computed by a routine into a buffer (GEMM, conv, pooling, scatters), as
    opposed to reductions, which live in registers."""
    return node is not None and node.op.fusion != Fusion.REDUCTION


@dataclass(frozen=True)
class GemmUpdate:
    """A kernel whose product the GEMM writes straight into a variable:
    var = alpha·(A·B) + beta·var. `root` is the update the call performs; `same_as_var`
    are the members whose value is var's new content afterwards (what the kernel's other
    roots read from var's buffer)."""

    var: Node
    alpha: float
    beta: float
    root: Node
    same_as_var: tuple[Node, ...]


def gemm_update(kernel: FusedKernel, base_of=lambda n: n) -> GemmUpdate | None:
    """The GEMM call that performs one of the kernel's updates, or None. Two forms:
    - `var ±= c·(A·B)` (plain gradient descent), the kernel's only root: beta 1,
      alpha ±c; no product buffer, no epilogue pass;
    - `v = ρ·v + A·B` (momentum's velocity): beta ρ, alpha 1, where nothing else in the
      kernel reads the product or v's old value; the other roots (the parameter step
      reading the new v) then run as a loop over v's buffer.
    Never when A or B is the variable, which the call would overwrite while reading."""
    anchor = kernel.anchor
    if anchor is None or anchor.op.name != "matmul" or anchor.rank != 2 or \
            not anchor.dtype.is_floating:
        return None
    found = _descent_step(kernel, anchor) if len(kernel.roots) == 1 else None
    found = found or _velocity_update(kernel, anchor)
    if found is None or found.var.shape != anchor.shape or \
            any(base_of(x) is found.var for x in anchor.inputs):
        return None
    return found


def _scalar_constant(node: Node) -> float | None:
    if node.op.name != "constant" or node.attrs["value"].size != 1:
        return None
    return float(node.attrs["value"].reshape(()))


def _descent_step(kernel: FusedKernel, anchor: Node) -> GemmUpdate | None:
    root = kernel.root
    if root.op.name not in ("assign_add", "assign_sub"):
        return None
    var, step = root.inputs
    sign = -1.0 if root.op.name == "assign_sub" else 1.0
    scale = 1.0
    if step is not anchor:
        others = [x for x in step.inputs if x is not anchor]
        if step.op.name != "mul" or len(others) != 1:
            return None
        scale = _scalar_constant(others[0])
        if scale is None:
            return None
    if set(kernel.members) - {anchor, step, root}:
        return None
    return GemmUpdate(var, sign * scale, 1.0, root, (root,))


def _velocity_update(kernel: FusedKernel, anchor: Node) -> GemmUpdate | None:
    readers: dict[Node, list[Node]] = {}
    for m in kernel.members:
        for x in m.inputs:
            readers.setdefault(x, []).append(m)
    for root in kernel.roots:
        if root.op.name != "assign" or root.inputs[1].op.name != "add":
            continue
        var, total = root.inputs
        decayed = [x for x in total.inputs if x is not anchor]
        if len(decayed) != 1 or decayed[0].op.name != "mul":
            continue
        (decayed,) = decayed
        factors = [x for x in decayed.inputs if x is not var]
        rho = _scalar_constant(factors[0]) if len(factors) == 1 else None
        if rho is None or readers.get(anchor) != [total] or \
                readers.get(decayed) != [total] or \
                [m for m in readers.get(var, []) if m is not root] != [decayed]:
            continue
        return GemmUpdate(var, 1.0, rho, root, (total, root))
    return None


def template_target(kernel: FusedKernel) -> Node | None:
    """The root whose buffer a template anchor writes (its epilogue then runs in place),
    or None when the anchor needs a scratch buffer: its kernel only updates variables,
    which the epilogue still reads."""
    if not is_template(kernel.anchor):
        return None
    for root in kernel.roots:
        if root.op.name not in ASSIGN_OPS and root.shape == kernel.anchor.shape \
                and root.dtype == kernel.anchor.dtype:
            return root
    return None


def build_kernel_graph(program: Program, closures: dict[Node, list[Node]],
                       reasons: dict[Node, str], merge_updates: bool = True) -> KernelGraph:
    aliases = {root: members[-1].data_inputs[0] for root, members in closures.items()
               if _is_view(root, members, reasons)}
    kernels = [_kernel((root,), members, reasons)
               for root, members in closures.items() if root not in aliases]
    if merge_updates:
        kernels = _merge_updates(kernels)
    sources = [n for n in program.nodes if is_source(n)]
    graph = KernelGraph(kernels, reasons, sources, aliases)
    graph.kernels = _order(program, graph)
    return graph


def _is_view(root, members, reasons) -> bool:
    if not root.op.row_major_view or len(members) != 1:
        return False
    base = root.data_inputs[0]
    return is_source(base) or base in reasons


def _kernel(roots, members, reasons) -> FusedKernel:
    member_set = set(members)
    reads = dict.fromkeys(x for m in members for x in m.data_inputs
                          if (is_source(x) or x in reasons) and x not in member_set)
    anchors = [m for m in members if not m.op.fusion <= Fusion.INJECTIVE
               and not is_source(m) and m.op.name not in ASSIGN_OPS]
    return FusedKernel(tuple(roots), tuple(members), tuple(reads), anchors[-1] if anchors else None)


def _merge_updates(kernels: list[FusedKernel]) -> list[FusedKernel]:
    """Fold an update kernel into the update kernel whose new value it reads."""
    by_root = {r: k for k in kernels for r in k.roots}
    joins = {id(k): host for k in kernels
             if (host := _update_to_join(k, by_root)) is not None}
    hosts = {id(h) for h in joins.values()}
    joins = {k: h for k, h in joins.items() if k not in hosts}   # no chains of joins
    guests: dict[int, list[FusedKernel]] = {}
    for k in kernels:
        if id(k) in joins:
            guests.setdefault(id(joins[id(k)]), []).append(k)
    out = []
    for k in kernels:
        if id(k) in joins:
            continue
        for guest in guests.get(id(k), []):
            inputs = k.inputs + tuple(x for x in guest.inputs if x not in k.roots)
            k = FusedKernel(k.roots + guest.roots, k.members + guest.members,
                       tuple(dict.fromkeys(inputs)), k.anchor)
        out.append(k)
    return out


def _update_to_join(k: FusedKernel, by_root) -> FusedKernel | None:
    if k.anchor is not None or k.root.op.name not in ASSIGN_OPS or len(k.roots) != 1:
        return None
    produced = [x for x in k.inputs if not is_source(x)]
    if len(produced) != 1 or produced[0].op.name not in ASSIGN_OPS:
        return None
    new_value = produced[0]
    aligned = all(m.op.fusion <= Fusion.BROADCAST and m.shape == new_value.shape
                  or m.op.name in ASSIGN_OPS
                  for m in k.members if new_value in m.data_inputs)
    host = by_root.get(new_value)
    if not aligned or host is None or host.root.shape != k.root.shape:
        return None
    return host


def _order(program: Program, graph: KernelGraph) -> list[FusedKernel]:
    """The kernels in an order that respects their data (and a variable's readers before
    its update), otherwise in program order: of the kernels ready to run, the one whose
    root comes first in the program (Kahn's algorithm with a heap)."""
    position = {n: i for i, n in enumerate(program.nodes)}
    producer = {r: i for i, k in enumerate(graph.kernels) for r in k.roots}
    readers: dict[Node, list[int]] = defaultdict(list)
    after: list[set[int]] = [set() for _ in graph.kernels]
    for i, k in enumerate(graph.kernels):
        for x in k.inputs:
            base = graph.base_of(x)
            readers[base].append(i)
            if base in producer and producer[base] != i:
                after[producer[base]].add(i)
    for i, k in enumerate(graph.kernels):     # readers of a variable before its update
        for root in k.roots:
            if root.op.name in ASSIGN_OPS:
                after_reads = (j for j in readers.get(root.inputs[0], ()) if j != i)
                for j in after_reads:
                    after[j].add(i)
    waiting = [0] * len(graph.kernels)
    for successors in after:
        for i in successors:
            waiting[i] += 1
    ready = [(position[k.root], i) for i, k in enumerate(graph.kernels) if not waiting[i]]
    heapq.heapify(ready)
    order = []
    while ready:
        _, i = heapq.heappop(ready)
        order.append(i)
        for j in after[i]:
            waiting[j] -= 1
            if not waiting[j]:
                heapq.heappush(ready, (position[graph.kernels[j].root], j))
    if len(order) < len(graph.kernels):
        raise ValueError("a fetched value depends on a variable's new value and on its "
                         "old value in one run; fetch them in separate runs")
    return [graph.kernels[i] for i in order]
