"""Lowering a compiled program (kernel graph + memory plan) to loop IR kernels and the
table of buffers its single entry point receives."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..ir import DType, ExecutionError, Node, bool_, format_shape, int64, numerics_message
from ..ir.symbolic import SymbolicShapeError, evaluate, is_symbolic
from ..passes.kernels import KernelGraph, gemm_update, is_template, template_target
from ..runtime.program import ASSIGN_OPS, Program
from .access import buffers_used
from .epilogue import attach_epilogues
from .loopir import (SIZES, Binary, Buffer, Cast, Compare, Declare, Kernel, Load, Local,
                     Store, idx, linear_index, row_major_strides)
from .nests import Names, nest
from .reductions import (column_reduce_applies, column_reduce_workspace, column_sum_period,
                         inner_column_reduce_applies, lower_arg_reduce, lower_column_reduce,
                         lower_column_sum, lower_inner_column_reduce, lower_reduce,
                         lower_softmax_family, lower_tile_grad)
from .conv_gemm import (CONV_GEMM, conv_workspace_elements, lower_conv, lower_conv_implicit,
                        workspace_name)
from .matmul import lower_matmul
from .collective import lower_allreduce
from .routines import ConvGemm, Print, expand_routines
from .target import CPU, Target
from .values import Checks, LoweringError, ValueBuilder
from .windows import WINDOW_TEMPLATES, lower_max_pool_grad, tiles_cover

PRINT_CALLBACK = "print_callback"   # the runtime's print function, a slot of the table
SOFTMAX_LOWERINGS = ("softmax", "cross_entropy")
REDUCTIONS = {"reduce": lower_reduce, "arg_reduce": lower_arg_reduce,
              "tile_grad": lower_tile_grad}
"""Anchors computed in registers, by the OpDef's `lowering` (templates: `_lower_template`)."""


@dataclass
class BufferInfo:
    """One entry of the entry point's pointer table."""

    name: str
    kind: str    # feed | variable | constant | arena | rng | status | workspace | callback
    #              | sizes
    node: Node                 # the program node whose value it holds
    dtype: DType
    size: int                  # elements (k·N + c in a batch-polymorphic program)
    offset: int | None = None  # bytes into the arena (likewise)
    value: np.ndarray | None = None

    def in_arena(self, arena: np.ndarray, n: int) -> np.ndarray:
        """This arena buffer's elements at batch size n, as a view of the arena bytes."""
        start = evaluate(self.offset, n)
        stop = start + evaluate(self.size, n) * self.dtype.itemsize
        return arena[start: stop].view(self.dtype.np_type)


@dataclass
class LoweredProgram:
    program: Program
    kernels: list[Kernel]
    buffers: list[BufferInfo]
    arena_bytes: int                   # k·N + c in a batch-polymorphic program
    value_buffer: dict[Node, str]      # every buffered value (views: their base's buffer)
    failures: list = None              # (node, message) of each run-time check's code
    prints: list = None                # print nodes, by the index their Print passes

    def buffer(self, name: str) -> BufferInfo:
        return self._by_name[name]

    def kernels_digest(self) -> str:
        """A hash of the kernels' loop IR, for native-code cache keys (computed once, and
        kept with the program in the program cache, so a warm start never prints it)."""
        digest = self.__dict__.get("_kernels_digest")
        if digest is None:
            text = "\n".join(str(k) for k in self.kernels)
            digest = self._kernels_digest = hashlib.sha256(text.encode()).hexdigest()
        return digest

    def batch_size(self, feeds: dict) -> int:
        """N for this run, from the feeds (keyed by program nodes); 0 when the program
        is not batch-polymorphic. Every batch feed must agree."""
        return self.agreed_batch([np.shape(feeds[b.node])[0] for b in self.batch_feeds])

    def agreed_batch(self, sizes: list) -> int:
        """N from the leading sizes of the batch feeds (in `batch_feeds` order), which
        must agree."""
        if sizes.count(sizes[0] if sizes else 0) != len(sizes):
            raise ExecutionError("feeds with a batch dimension disagree on the batch size: "
                                 + ", ".join(f"{b.node.name}: {n}"
                                             for b, n in zip(self.batch_feeds, sizes)))
        return sizes[0] if sizes else 0

    def variables_updated_before_a_check(self) -> list[Node]:
        """The variables some kernel updates at or before the last kernel with a run-time
        check: what a run that fails a check must put back (a run stops at the first
        kernel whose check failed, so later updates never happen)."""
        checked = [i for i, k in enumerate(self.kernels)
                   if any(p.name == Checks.BUFFER for p in k.params)]
        if not checked:
            return []
        graph = self.program.annotations["kernels"]
        return list(dict.fromkeys(root.inputs[0] for k in graph.kernels[: checked[-1] + 1]
                                  for root in k.roots if root.op.name in ASSIGN_OPS))

    def __post_init__(self):
        self._by_name = {b.name: b for b in self.buffers}
        # feeds whose leading dimension is the symbolic batch size N
        self.batch_feeds = [b for b in self.buffers if b.kind == "feed" and b.node.shape
                            and is_symbolic(b.node.shape[0])]

    def __str__(self) -> str:
        return "\n\n".join(str(k) for k in self.kernels)


def lower_program(program: Program, check_numerics: bool = False,
                  target: Target = CPU) -> LoweredProgram:
    """The program's kernels as loop IR for `target`, and the buffer table of its entry
    point. Routines the target does not implement are expanded into loops."""
    _check_batch_leading(program)
    graph: KernelGraph = program.annotations["kernels"]
    plan = program.annotations["memory"]
    buffers: list[BufferInfo] = []
    value_buffer: dict[Node, str] = {}

    def add(node: Node, kind: str, **extra) -> None:
        name = f"b{len(buffers)}_{_safe(node.name)}"
        buffers.append(BufferInfo(name, kind, node, node.dtype,
                                  node.type.num_elements or 0, **extra))
        value_buffer[node] = name

    for node in graph.sources:
        if node.op.name == "placeholder":
            add(node, "feed")
        elif node.op.name == "variable":
            add(node, "variable")
        elif node.op.name == "constant":
            add(node, "constant", value=np.ascontiguousarray(node.attrs["value"]).reshape(-1))
    for node, offset in plan.offsets.items():
        if node not in graph.aliases:
            add(node, "arena", offset=offset)
    for k in graph.kernels:
        for root in k.roots:
            if root.op.name in ASSIGN_OPS:
                value_buffer[root] = value_buffer[root.inputs[0]]
    for view in graph.aliases:
        base = graph.base_of(view)
        if base in value_buffer:
            value_buffer[view] = value_buffer[base]
    rng_keys = {}
    for k in graph.kernels:
        for m in k.members:
            if m.op.random and m not in rng_keys:
                name = f"b{len(buffers)}_rng_{_safe(m.name)}"
                buffers.append(BufferInfo(name, "rng", m, int64, 1))
                rng_keys[m] = name
    checks = Checks()
    status = BufferInfo(Checks.BUFFER, "status", program.outputs[0] if program.outputs else
                        program.nodes[0], int64, 1)
    buffers.append(status)
    workspaces: dict = {}
    prints: list = []
    kernels = []
    for i, k in enumerate(graph.kernels):
        try:
            kernels.append(lower_kernel(f"kernel{i}", k, graph, value_buffer, buffers,
                                        rng_keys, checks, workspaces, prints, target))
        except SymbolicShapeError as err:
            node = k.anchor if k.anchor is not None else k.roots[0]
            raise SymbolicShapeError(f"{node.describe()}: {err}") from None
    if check_numerics:
        for kernel, k in zip(kernels, graph.kernels):
            kernel.body += _finite_checks(k, value_buffer, checks)
    if prints:
        buffers.append(BufferInfo(PRINT_CALLBACK, "callback", status.node, bool_, 1))
    for dtype, size in workspaces.items():
        buffers.append(BufferInfo(workspace_name(dtype), "workspace", status.node, dtype, size))
    if any(SIZES in buffers_used(k.body) for k in kernels):
        buffers.append(BufferInfo(SIZES, "sizes", status.node, int64, 1))
    for kernel in kernels:       # kernels list their parameters now that every buffer exists
        used = buffers_used(kernel.body)
        params = [b for b in buffers if b.name in used]
        shared = _shared_slots(params, plan.slot_of)
        kernel.params = [Buffer(b.name, b.dtype, b.size, distinct=b.name not in shared)
                         for b in params]
        attach_epilogues(kernel)     # pointwise nests after a GEMM go into its statement
        kernel.body = _legalize(kernel, target)
    lowered = LoweredProgram(program, kernels, buffers, plan.peak_bytes, value_buffer)
    lowered.failures = checks.failures
    lowered.prints = prints
    return lowered


def _shared_slots(params: list[BufferInfo], slot_of: dict) -> set[str]:
    """The parameters whose memory another parameter overlaps: arena values in one slot
    (an output written in place over a dying input). Every other buffer is memory of its
    own: arena slots do not overlap, and variables, constants and workspaces are
    separate arrays; two feeds may be one array, but feeds are only read."""
    by_slot: dict[int, list[str]] = {}
    for b in params:
        if b.kind == "arena":
            by_slot.setdefault(slot_of[b.node], []).append(b.name)
    return {name for names in by_slot.values() if len(names) > 1 for name in names}


def _check_batch_leading(program: Program) -> None:
    """Lowering keeps N out of every stride: a symbolic size may only be a leading
    dimension, and only k·N (else the program is compiled for a concrete batch)."""
    for node in program.nodes:
        for axis, d in enumerate(node.shape):
            if is_symbolic(d) and (axis > 0 or d.offset):
                raise SymbolicShapeError(
                    f"{node.describe()} has shape ({format_shape(node.shape)}): a batch "
                    "size only compiles symbolically as a leading dimension k·N")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)[:40]


def _legalize(kernel: Kernel, target: Target) -> list:
    """The kernel's body with every routine `target` lacks expanded into loops."""
    dtypes = {p.name: p.dtype for p in kernel.params}

    def native(routine) -> bool:
        written = routine.written()
        return target.implements(routine, dtypes[written[0]] if written else bool_)
    return expand_routines(kernel.body, native, dtypes.__getitem__, Names(prefix="r_"))


def lower_kernel(name: str, k, graph: KernelGraph, value_buffer, buffers, rng_keys,
                 checks, workspaces, prints, target: Target) -> Kernel:
    names = Names()
    members = set(k.members)

    def buffer_of(node: Node) -> str | None:
        if node in members:
            return None
        base = graph.base_of(node)
        if base not in value_buffer and node not in value_buffer:
            raise LoweringError(f"'{node.name}' is read by {name} but has no buffer")
        return value_buffer.get(node, value_buffer.get(base))

    vb = ValueBuilder(buffer_of, rng_keys, checks)

    def store_roots(index, roots=None) -> list:
        """Evaluate every root (or those given) first, then store: an update may read a
        value another root of this kernel overwrites."""
        temps, stores = [], []
        for root in k.roots if roots is None else roots:
            t = names.scalar("v")
            temps.append(Declare(t, root.dtype, vb.value(root, index)))
            stores.append(Store(value_buffer[root], linear_index(index,
                                                                 row_major_strides(root.shape)),
                                Local(t, root.dtype)))
        return temps + stores

    anchor = k.anchor
    shape = k.roots[0].shape
    if any(r.shape != shape for r in k.roots):
        raise LoweringError(f"{name}: roots of different shapes")
    if anchor is None:
        body = nest(names, shape, store_roots, outer_kind="parallel", middle_kind="parallel")
    elif anchor.op.lowering in SOFTMAX_LOWERINGS:
        axis = anchor.attrs.get("axis", anchor.rank)
        outer = anchor.shape if anchor.op.lowering == "cross_entropy" else \
            tuple(d for i, d in enumerate(anchor.shape) if i != axis)
        body = nest(names, outer, lambda o: lower_softmax_family(anchor, vb, names, o,
                                                                  store_roots),
                    inner_kind="parallel", outer_kind="parallel", middle_kind="parallel")
    elif anchor.op.lowering == "reduce" and \
            (period := column_sum_period(anchor, buffer_of, target.column_lanes,
                                         target.column_sum_period)):
        workspaces[anchor.dtype] = max(workspaces.get(anchor.dtype, 0), period)
        body = lower_column_sum(anchor, vb, names, period, workspace_name(anchor.dtype),
                                store_roots)
    elif anchor.op.lowering == "reduce" and column_reduce_applies(anchor):
        need = column_reduce_workspace(anchor)
        workspaces[anchor.dtype] = max(workspaces.get(anchor.dtype, 0), need)
        body = lower_column_reduce(anchor, vb, names, workspace_name(anchor.dtype),
                                   store_roots)
    elif anchor.op.lowering == "reduce" and inner_column_reduce_applies(anchor, k.roots):
        body = lower_inner_column_reduce(anchor, vb, names, value_buffer[anchor])
    elif anchor.op.lowering in REDUCTIONS:
        reduce = REDUCTIONS[anchor.op.lowering]
        # every kept element independent; the rows' own loops are serial, so a row is
        # never vectorised across its neighbours
        body = nest(names, anchor.shape, lambda o: reduce(anchor, vb, names, o, store_roots),
                    inner_kind="parallel", outer_kind="parallel", middle_kind="parallel")
    elif is_template(anchor):
        body = _lower_template(k, anchor, vb, names, buffer_of, value_buffer, store_roots,
                               workspaces, prints, graph, target)
    else:
        raise LoweringError(f"{name}: no lowering for anchor op '{anchor.op.name}'")
    return Kernel(name, [], _index_checks(k, vb, names) + body)


def _index_checks(k, vb, names) -> list:
    """Gathers read with clamped indices (every load stays in its buffer); this pass over
    the indices first makes an out-of-range one fail the run as the interpreter does."""
    stmts = []
    for m in k.members:
        if m.op.index_checks is None:
            continue
        which, params = m.op.index_checks
        indices = m.inputs[which]
        n = m.inputs[params].shape[m.attrs["axis"]]

        def check(index, m=m, indices=indices, n=n):
            k = Cast(vb.value(indices, index), int64)
            inside = Binary("and", Compare("ge", k, idx(-n)), Compare("lt", k, idx(n)))
            return [vb.checks.require(inside, m, f"gather index out of range [{-n}, {n})")]
        stmts += nest(names, indices.shape, check, inner_kind="serial")
    return stmts


def _lower_print(node, vb, names, target, prints) -> list:
    """Copy the value into the print's buffer, then hand that buffer to the runtime."""
    strides = row_major_strides(node.shape)
    copy = nest(names, node.shape, lambda i: [
        Store(target, linear_index(i, strides), vb.value(node.inputs[0], i))],
        outer_kind="parallel")
    prints.append(node)
    return copy + [Print(target, PRINT_CALLBACK, len(prints) - 1)]


def _lower_template(k, anchor, vb, names, buffer_of, value_buffer, store_roots,
                    workspaces, prints, graph, target: Target) -> list:
    update = gemm_update(k, graph.base_of)
    if update is not None:           # var = alpha·(A·B) + beta·var in the GEMM call
        var_buffer = value_buffer[update.var]
        body = lower_matmul(anchor, buffer_of, var_buffer, names, beta=update.beta,
                            alpha=update.alpha)
        rest = [r for r in k.roots if r is not update.root]
        if not rest:
            return body
        return body + _epilogue_reading(var_buffer, update.same_as_var, anchor, vb, names,
                                        lambda i: store_roots(i, rest))
    target_root = template_target(k)
    out = value_buffer[target_root] if target_root is not None else value_buffer[anchor]
    lowering = anchor.op.lowering
    if lowering == "matmul":
        body = lower_matmul(anchor, buffer_of, out, names)
    elif lowering in CONV_GEMM and target.implements(ConvGemm, anchor.dtype):
        body = lower_conv_implicit(anchor, buffer_of, out)
    elif lowering in CONV_GEMM and anchor.dtype.is_floating:
        need = conv_workspace_elements(anchor, target)
        workspaces[anchor.dtype] = max(workspaces.get(anchor.dtype, 0), need)
        body = lower_conv(anchor, vb, names, out, buffer_of, target)
    elif lowering == "max_pool2d_grad" and k.roots != (anchor,) and tiles_cover(anchor):
        # the epilogue (a ReLU mask) runs as each element is stored: one pass, no buffer
        return lower_max_pool_grad(anchor, vb, names, out, epilogue=store_roots)
    elif lowering in WINDOW_TEMPLATES:
        body = WINDOW_TEMPLATES[lowering](anchor, vb, names, out)
    elif lowering == "print":
        body = _lower_print(anchor, vb, names, out, prints)
    elif lowering == "allreduce":
        body = lower_allreduce(anchor, vb, names, out, target)
    else:
        raise LoweringError(f"op '{anchor.op.name}' ({anchor.name}) has no compiled "
                            "implementation yet")
    if k.roots == (anchor,):
        return body
    return body + _epilogue_reading(out, (anchor,), anchor, vb, names, store_roots)


def _epilogue_reading(buffer, nodes, anchor, vb, names, store) -> list:
    """The pass after a template call that stores the kernel's roots (`store`), with the
    values of `nodes` read from `buffer`, where the call left them (anchor's shape)."""
    strides = row_major_strides(anchor.shape)

    def from_buffer(index):
        return Load(buffer, linear_index(index, strides), anchor.dtype)
    for node in nodes:
        vb.overrides[node] = from_buffer
    return nest(names, anchor.shape, store, outer_kind="parallel", middle_kind="parallel")


def _finite_checks(k, value_buffer, checks) -> list:
    """After a kernel: every element of each float root must be finite (|x| < inf is
    false for NaN and ±inf)."""
    from .loopir import Compare, Unary, const
    stmts = []
    for root in k.roots:
        if not root.dtype.is_floating:
            continue
        names = Names()
        strides = row_major_strides(root.shape)

        def check(index, root=root, strides=strides):
            v = Load(value_buffer[root], linear_index(index, strides), root.dtype)
            ok = Compare("lt", Unary("abs", v), const(float("inf"), root.dtype))
            return [checks.require(ok, root, numerics_message(root))]
        stmts += nest(names, root.shape, check, inner_kind="serial")
    return stmts
