"""Fusion: decide which values are materialised in buffers; everything else is computed
inside the kernel of the value that needs it.

A kernel is one materialised value (its *root*) plus the non-materialised nodes it is
computed from (its *members*), reading materialised values and sources (placeholders,
variables, constants). Ops are classified by their fusion kind (TVM's scale):
elementwise / broadcast / injective ops are *light*; reductions, GEMM/conv (out-
elementwise-fusable) and opaque ops are *anchors*. A kernel holds at most one anchor:

- light chains fuse vertically into one loop nest;
- light producers of a reduction fuse in as its prologue (sum of squares, softmax);
- light consumers of a GEMM, conv or reduction that keep its result's shape fuse in as
  its epilogue (bias add, activation, and in backward the activation-gradient mask);
- GEMM/conv and opaque ops read their operands from buffers, so operands are
  materialised; so is every root (fetched value, variable update).

Small values broadcast into large loops. A light value of at most SMALL_VALUE elements
that takes more than one op to compute and feeds a loop SMALL_RATIO times its size or
more (batch norm's per-channel scale, an optimizer's bias-corrected step size) is
materialised: computed once, not again at every element of the loop that broadcasts
it (an rsqrt per element made batch norm's passes 3-4x slower).

Several consumers. A light value used by several kernels is *recomputed* in each when
it is cheap — its kernel-local expression has no anchor and at most RECOMPUTE_LIMIT
ops — and materialised otherwise. Each materialised value records why (printed with
the kernels), so a surprising split can be read off the IR.

Variable updates are kernel roots that write the variable's buffer in place. How the
kernels are then ordered, aliased and merged is `kernels.py`'s job.
"""
from __future__ import annotations

from collections import defaultdict
from operator import attrgetter

from ..ir import Fusion, Node
from ..runtime.program import ASSIGN_OPS, Program
from .kernels import build_kernel_graph, is_source

RECOMPUTE_LIMIT = 8
SMALL_VALUE = 4096
SMALL_RATIO = 16


def is_light(node: Node) -> bool:
    return node.op.fusion <= Fusion.INJECTIVE and not is_source(node)


def is_anchor(node: Node) -> bool:
    return not is_light(node) and not is_source(node) and node.op.name not in ASSIGN_OPS


def reads_operands_from_buffers(node: Node) -> bool:
    return node.op.fusion >= Fusion.OUT_ELEMWISE_FUSABLE and node.op.name not in ASSIGN_OPS


def _closure(root: Node, materialised) -> list[Node]:
    """Nodes computed inside root's kernel: root and its non-materialised producers."""
    seen, stack, out = set(), [root], []
    while stack:
        n = stack.pop()
        if n.id in seen:
            continue
        seen.add(n.id)
        out.append(n)
        for x in n.data_inputs:
            if not is_source(x) and x not in materialised:
                stack.append(x)
    return sorted(out, key=attrgetter("id"))


def _aligned(node: Node, value: Node) -> bool:
    """`node` reads `value` element for element (same shape, no reindexing)."""
    return node.op.fusion <= Fusion.BROADCAST and node.shape == value.shape


def _epilogue_op(node: Node, anchor: Node) -> bool:
    """May run on an anchor's result inside its kernel: elementwise, same shape (a
    variable update counts: it writes each element where it reads it)."""
    return (node.op.fusion <= Fusion.BROADCAST or node.op.name in ASSIGN_OPS) \
        and node.shape == anchor.shape


def _depends_on(nodes: list[Node], anchor: Node) -> set[int]:
    """Ids of members downstream of `anchor` within one kernel."""
    downstream = {anchor.id}
    for n in nodes:
        if any(x.id in downstream for x in n.data_inputs):
            downstream.add(n.id)
    return downstream


class Fuse:
    name = "fuse"

    def __init__(self, one_op_per_kernel: bool = False):
        self.one_op_per_kernel = one_op_per_kernel

    def run(self, program: Program):
        nodes = program.nodes
        consumers: dict[Node, list[Node]] = defaultdict(list)
        for n in nodes:
            for x in dict.fromkeys(n.data_inputs):
                consumers[x].append(n)
        reasons = self._initial(program, consumers)
        small_left = True       # materialising splits kernels: no new small value appears
        while True:
            kernels = {r: _closure(r, reasons) for r in nodes if r in reasons}
            small = self._small_values(kernels, reasons) if small_left else {}
            small_left = bool(small)
            added = small or self._violations(kernels, reasons, consumers)
            if not added:
                break
            reasons.update(added)
        graph = build_kernel_graph(program, kernels, reasons,
                                   merge_updates=not self.one_op_per_kernel)
        stats = {"kernels": len(graph.kernels),
                 "fused ops": sum(len(k.members) for k in graph.kernels)}
        program = program.with_changes(annotations={**program.annotations, "kernels": graph})
        return program, stats

    def _initial(self, program, consumers) -> dict[Node, str]:
        reasons: dict[Node, str] = {}
        for n in program.nodes:
            if is_source(n):
                continue
            if self.one_op_per_kernel:
                reasons[n] = "one op per kernel (check_numerics)"
            elif n in program.updates:
                reasons[n] = "variable update"
            elif n in program.outputs:
                reasons[n] = "fetched"
            elif n.op.fusion == Fusion.OPAQUE:
                reasons[n] = "opaque op"
            elif is_anchor(n) and len(consumers[n]) != 1:
                reasons[n] = f"{n.op.name} result used by {len(consumers[n])} ops"
            if reads_operands_from_buffers(n):
                for x in n.data_inputs:
                    if not is_source(x):
                        reasons.setdefault(x, f"operand of {n.op.name} '{n.name}'")
        return reasons

    def _violations(self, kernels, reasons, consumers) -> dict[Node, str]:
        """Values to materialise next, after the small broadcast values (`run`): shared
        values first, since materialising a value that several kernels need often
        resolves their anchor conflicts too."""
        shared = self._shared_values(kernels, reasons)
        if shared:
            return shared
        added: dict[Node, str] = {}
        for root, members in kernels.items():
            anchors = [m for m in members if is_anchor(m)]
            for extra in anchors[:-1]:      # keep the last anchor, materialise earlier ones
                added.setdefault(extra, f"second anchor in the kernel of '{root.name}'")
            if anchors and anchors[-1] is not root:
                anchor = anchors[-1]
                downstream = _depends_on(members, anchor)
                for m in members:
                    if m.id in downstream and m is not anchor and not _epilogue_op(m, anchor):
                        added.setdefault(anchor, f"{anchor.op.name} result is reshaped or "
                                                 f"broadcast by '{m.name}'")
                        break
            if root.op.name in ASSIGN_OPS:
                var = root.inputs[0]
                for m in members:
                    if m is not root and var in m.data_inputs and not _aligned(m, var):
                        added.setdefault(root.inputs[1], f"computed from '{var.name}' out of "
                                                         "place before its update")
        return {n: r for n, r in added.items() if n not in reasons}

    def _small_values(self, kernels, reasons) -> dict[Node, str]:
        """Small broadcast values of every kernel, materialised before anything else:
        what is left of a shared value may then be cheap to recompute."""
        small = {}
        for root, members in kernels.items():
            small.update(self._small_broadcast_values(root, members, reasons))
        return {n: r for n, r in small.items() if n not in reasons}

    @staticmethod
    def _small_broadcast_values(root, members, reasons) -> dict[Node, str]:
        """Members worth computing once: small, more than one op, broadcast into a loop
        at least SMALL_RATIO times larger (the root's)."""
        loop = root.type.num_elements if root.type.is_static else None
        out = {}
        for m in members:
            size = m.type.num_elements if m.type.is_static else None
            if m is root or not is_light(m) or size is None or size > SMALL_VALUE or \
                    (loop is not None and loop < SMALL_RATIO * max(size, 1)):
                continue
            if len(_closure(m, reasons)) > 1:
                out[m] = (f"{size}-element value broadcast into the loop of "
                          f"'{root.name}': computed once")
        # the outermost such values suffice: those inside them are computed with them
        inner = {x.id for m in out for x in _closure(m, reasons) if x is not m}
        return {m: why for m, why in out.items() if m.id not in inner}

    @staticmethod
    def _shared_values(kernels, reasons) -> dict[Node, str]:
        users: dict[Node, list[Node]] = defaultdict(list)   # member -> kernel roots using it
        for root, members in kernels.items():
            for m in members:
                if m is not root:
                    users[m].append(root)
        candidates = {}
        for m, roots in users.items():
            if len(roots) > 1:
                local = _closure(m, reasons)
                if any(is_anchor(x) for x in local) or len(local) > RECOMPUTE_LIMIT:
                    candidates[m] = (local, f"used by {len(roots)} kernels, too costly to "
                                            "recompute")
        # materialise the shared values nearest their users; those they are computed
        # from may then have a single user again
        inner = {x for m, (local, _) in candidates.items() for x in local if x is not m}
        return {m: why for m, (_, why) in candidates.items() if m not in inner}
