"""Loop IR → one CUDA translation unit per program: device kernels and the host code
that launches them.

A loop-IR kernel's top-level statements run one after another, each finished before
the next starts, so each becomes a launch of its own:
- a loop whose iterations are declared independent (parallel or vector), with the
  independent loops nested directly inside it, is one grid. Its iterations are dealt
  to the grid's threads (a grid-stride loop), or — when each iteration folds a long
  range into accumulators (a row of a softmax, a column sum, a full reduction) — to
  whole blocks: the block's threads fold strided parts of the range, combine them with
  warp shuffles and shared memory (`graphc_block_fold`), and share the iteration's
  other work (`Cooperative`);
- the other statements between two such loops run as one block the same way, or as
  one thread when they cannot be shared out (a serial loop that carries a value);
- a GEMM, or a convolution's implicit GEMM, calls the kernel library's tiled GEMM with
  the statement's fused epilogue as a functor; a serial loop around such calls (a
  batched matmul) runs on the host, one call per iteration;
- a print copies its value to the host and calls the runtime's print function there.
The host function launches them in order on the program's stream; kernels after the
first run-time check return at once once the status word says a check failed, so a
run needs no synchronisation until its end, and a step can be one CUDA graph
(runtime.cuh).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...ir import float32, int64
from ...lower.access import mentions, walk
from ...lower.loopir import (SIZES, Assign, Binary, Buffer, Const, Declare, Kernel, Local, Loop,
                             Store, idx, mul)
from ...lower.nests import Names
from ...lower.routines import ConvGemm, Gemm, Print, Routine, expand_routines
from ..base.scope import ExpressionCache
from ..cstyle import HELPERS, CStyleRenderer, c_type, literal
from .prelude import PRELUDE

ENTRY = "graphc_program"
INDEPENDENT = ("parallel", "vector")
NATIVE = (Gemm, ConvGemm)
LONG_FOLD = 128
"""A fold over at least this many elements (or over a run-time count) is shared by a
block's threads."""

FOLDS = {"add": "graphc_fold_add", "max": "graphc_fold_max", "min": "graphc_fold_min"}


# -- which statements can a block share --------------------------------------------------------
def _identity(op: str, dtype) -> float | int:
    if op == "add":
        return 0
    if dtype.is_floating:
        return float("-inf") if op == "max" else float("inf")
    bits = dtype.itemsize * 8
    return -(1 << (bits - 1)) if op == "max" else (1 << (bits - 1)) - 1


def _fold_nest(loop: Loop) -> tuple[list[Loop], list[Assign]] | None:
    """(the nest's loops, the folds at its bottom) when `loop` only folds values into
    accumulators: acc = acc ⊕ e with ⊕ add, max or min, e reading no accumulator of
    the nest."""
    loops = [loop]
    while len(loops[-1].body) == 1 and isinstance(loops[-1].body[0], Loop):
        loops.append(loops[-1].body[0])
    folds = loops[-1].body
    if not folds or not all(isinstance(s, Assign) for s in folds):
        return None
    names = {s.name for s in folds}
    if len(names) != len(folds):
        return None
    for s in folds:
        v = s.value
        if not (isinstance(v, Binary) and v.op in FOLDS and v.a == Local(s.name, v.a.dtype)):
            return None
        if any(isinstance(x, Local) and x.name in names for x in walk([v.b])):
            return None
    return loops, folds


def _assigned(stmts) -> set[str]:
    return {s.name for s in walk(stmts) if isinstance(s, Assign)}


def _declared(stmts) -> set[str]:
    return {s.name for s in walk(stmts) if isinstance(s, Declare)}


def _is_long(loops: list[Loop]) -> bool:
    count = 1
    for lp in loops:
        if not isinstance(lp.extent, Const):
            return True
        count *= lp.extent.value
    return count >= LONG_FOLD


def share_plan(stmts) -> list[tuple[str, object]] | None:
    """How a block runs `stmts` together: a list of ("all", s) — every thread (a scalar
    each thread holds alike), ("fold", s) — strided over the threads, then combined,
    ("spread", s) — an independent loop strided over the threads, ("one", [s...]) — the
    first thread alone; None when the statements cannot be shared (a thread-alone part
    would change a value the others hold, or a fold's accumulator does not start from
    its fold's identity)."""
    plan: list = []
    fresh: dict[str, object] = {}         # accumulators declared here, not yet changed
    for s in stmts:
        if isinstance(s, Declare | Assign):
            if isinstance(s, Declare):
                fresh[s.name] = s.init
            else:
                fresh.pop(s.name, None)
            plan.append(("all", s))
            continue
        found = _fold_nest(s) if isinstance(s, Loop) else None
        if found is not None:
            _, folds = found
            if all(isinstance(fresh.get(f.name), Const) and
                   fresh[f.name].value == _identity(f.value.op, f.value.dtype) for f in folds):
                for f in folds:
                    fresh.pop(f.name)
                plan.append(("fold", s))
                continue
        if _assigned([s]) - _declared([s]):
            return None                    # it changes a value every thread holds
        if isinstance(s, Loop) and s.kind in INDEPENDENT:
            plan.append(("spread", s))
        elif plan and plan[-1][0] == "one":
            plan[-1][1].append(s)
        else:
            plan.append(("one", [s]))
    return plan


def _has_long_fold(plan) -> bool:
    return any(kind == "fold" and _is_long(_fold_nest(s)[0]) for kind, s in plan)


def perfect_nest(loop: Loop, kinds=INDEPENDENT) -> list[Loop]:
    """The loop and the loops of `kinds` nested directly inside it whose extents do not
    depend on the nest's own variables: one iteration space."""
    nest = [loop]
    while len(nest[-1].body) == 1 and isinstance(nest[-1].body[0], Loop):
        inner = nest[-1].body[0]
        if inner.kind not in kinds or any(mentions(inner.extent, n.var) for n in nest):
            break
        nest.append(inner)
    return nest


# -- units: what one launch (or host step) does -------------------------------------------------
@dataclass
class Unit:
    kind: str        # grid | rows | block | thread | native | host
    stmts: list = field(default_factory=list)
    plan: list | None = None


def _host_loop(s) -> bool:
    """A serial loop holding only loops and native routines: the host runs it."""
    return isinstance(s, Loop) and s.kind == "serial" and _only_native(s)


def _only_native(loop: Loop) -> bool:
    return all(isinstance(x, NATIVE) or isinstance(x, Loop) and _only_native(x)
               for x in loop.body)


def units(kernel: Kernel) -> list[Unit]:
    """The kernel's launches and host steps, in order."""
    out: list[Unit] = []
    declared: set[str] = set()
    for s in kernel.body:
        if isinstance(s, Print):
            out.append(Unit("host", [s]))
            continue
        if isinstance(s, NATIVE) or _host_loop(s):
            out.append(Unit("native", [s]))
            continue
        reads_locals = any(isinstance(x, Local) and x.name in declared for x in walk([s]))
        if isinstance(s, Declare):
            declared.add(s.name)
        if isinstance(s, Loop) and s.kind in INDEPENDENT and not reads_locals:
            nest = perfect_nest(s)
            plan = share_plan(nest[-1].body)
            if plan is not None and _has_long_fold(plan):
                out.append(Unit("rows", [s], plan))
            else:
                out.append(Unit("grid", [s]))
        elif out and out[-1].kind == "block":
            out[-1].stmts.append(s)
        else:
            out.append(Unit("block", [s]))
    for u in out:
        if u.kind == "block":
            u.plan = share_plan(u.stmts)
            if u.plan is None:
                u.kind = "thread"
    return out


# -- device code ---------------------------------------------------------------------------------
class DeviceRenderer(CStyleRenderer):
    kernel_qualifier = "__global__ void"
    restrict = "__restrict__"

    def __init__(self, kernel: Kernel, stop: bool = False, cooperative: bool = False):
        super().__init__(kernel)
        self.stop = stop
        self.cooperative = cooperative

    def parameters(self) -> list[str]:
        guard = ["const int64_t *__restrict__ graphc_stop"] if self.stop else []
        return super().parameters() + guard

    def text(self) -> str:
        """The function; with `stop`, it returns at once after a failed check. A block
        that shares barriers decides once, for all its threads: the kernel's own checks
        may write the status word while its threads start."""
        head = f"{self.kernel_qualifier} {self.kernel.name}({', '.join(self.parameters())})"
        guard = ["    if (*graphc_stop) return;"] if self.stop else []
        if self.stop and self.cooperative:
            guard = ["    __shared__ int graphc_stopped;",
                     "    if (threadIdx.x == 0) graphc_stopped = *graphc_stop != 0;",
                     "    __syncthreads();",
                     "    if (graphc_stopped) return;"]
        return "\n".join([head + " {"] + guard + self.lines + ["}"])

    def scoped(self, emit) -> None:
        """Run `emit` one block deeper, with values it builds kept inside."""
        self.depth += 1
        self.block = ExpressionCache(self.block)
        emit()
        self.block = self.block.parent
        self.depth -= 1

    def forget_stores(self, stmts) -> None:
        for s in walk(stmts):
            if isinstance(s, Store):
                self.block.forget_loads(s.buffer)

    def strided(self, nest: list[Loop], start: str, step: str, body) -> None:
        """for every iteration of `nest`, from `start` by `step`: body()."""
        total = idx(1)
        for n in nest:
            total = mul(total, n.extent)
        count = self.expr(total)
        flat = f"graphc_i{len(self.lines)}"
        self.line(f"for (int64_t {flat} = {start}; {flat} < {count}; {flat} += {step}) {{")

        def inside():
            rest = flat
            extents = [self.expr(n.extent) for n in nest]
            for n, extent in reversed(list(zip(nest, extents))):
                if n is nest[0]:
                    self.line(f"const int64_t {n.var.name} = {rest};")
                else:
                    self.line(f"const int64_t {n.var.name} = {rest} % {extent};")
                    self.line(f"const int64_t {n.var.name}_rest = {rest} / {extent};")
                    rest = f"{n.var.name}_rest"
            body()
        self.scoped(inside)
        self.line("}")

    # a block's threads sharing statements
    def shared(self, plan) -> None:
        for kind, s in plan:
            if kind == "all":
                self.emit([s])
            elif kind == "one":
                self.line("if (threadIdx.x == 0) {")
                self.scoped(lambda s=s: self.emit(s))
                self.line("}")
                self.line("__syncthreads();")
                self.forget_stores(s)
            elif kind == "spread":
                nest = perfect_nest(s)
                self.strided(nest, "threadIdx.x", "blockDim.x",
                             lambda nest=nest: self.emit(nest[-1].body))
                self.line("__syncthreads();")
                self.forget_stores([s])
            else:
                _, folds = _fold_nest(s)
                nest = perfect_nest(s, kinds=("serial",) + INDEPENDENT)
                self.strided(nest, "threadIdx.x", "blockDim.x",
                             lambda nest=nest: self.emit(nest[-1].body))
                for f in folds:
                    self.line(f"{f.name} = graphc_block_fold({f.name}, {FOLDS[f.value.op]}());")


def _grid_function(kernel: Kernel, name: str, unit: Unit, stop: bool) -> tuple[str, object]:
    """A __global__ function running the unit's nest over the grid (a thread or a block
    per iteration), and the nest's iteration count (an expression) for the host."""
    nest = perfect_nest(unit.stmts[0])
    r = DeviceRenderer(Kernel(name, kernel.params, []), stop, unit.kind == "rows")
    total = idx(1)
    for n in nest:
        total = mul(total, n.extent)
    if unit.kind == "grid":
        r.strided(nest, "blockIdx.x * (int64_t) blockDim.x + threadIdx.x",
                  "(int64_t) gridDim.x * blockDim.x", lambda: r.emit(nest[-1].body))
    else:
        r.strided(nest, "blockIdx.x", "gridDim.x", lambda: r.shared(unit.plan))
    return r.text(), total


def _block_function(kernel: Kernel, name: str, unit: Unit, stop: bool) -> str:
    r = DeviceRenderer(Kernel(name, kernel.params, []), stop, unit.kind == "block")
    if unit.kind == "block":
        r.shared(unit.plan)
    else:
        r.line("if (blockIdx.x != 0 || threadIdx.x != 0) return;")
        r.emit(unit.stmts)
    return r.text()


def _epilogue_functor(kernel: Kernel, name: str, epilogue: Loop | None) -> str | None:
    """A struct whose operator()(r, c) runs a GEMM's epilogue on element (r, c)."""
    if epilogue is None:
        return None
    (inner,) = epilogue.body
    r = DeviceRenderer(Kernel(name, kernel.params, []))
    r.emit(inner.body)
    fields = [f"    {c_type(p.dtype)} *{p.name};" for p in kernel.params]
    return "\n".join([f"struct {name} {{", *fields,
                      f"    GRAPHC_DEVICE void operator()(int64_t {epilogue.var.name}, "
                      f"int64_t {inner.var.name}) const {{", *["    " + x for x in r.lines],
                      "    }", "};"])


# -- host code ----------------------------------------------------------------------------------
class _HostCode:
    """The launches' host function: expressions of sizes read from the host's copy of the
    sizes buffer, loops of a batched GEMM."""

    def __init__(self):
        self.sizes = DeviceRenderer(Kernel("host", [Buffer(SIZES, int64, 1)], []))

    def expr(self, e) -> str:
        return self.sizes.expr(e)

    def line(self, text: str) -> None:
        self.sizes.line(text)

    @property
    def lines(self) -> list[str]:
        return self.sizes.lines


@dataclass
class _Program:
    """What rendering one program collects: device code and the host function's body."""
    kernels: list
    table_slots: dict
    stop_slot: int | None
    print_sizes: dict
    device: list = field(default_factory=list)
    host: _HostCode = field(default_factory=_HostCode)
    tf32: bool = False                 # float32 products on TF32 tensor cores
    checked: bool = False              # a kernel with a run-time check has been launched

    def pointer(self, name: str, dtype) -> str:
        return f"({c_type(dtype)} *) table[{self.table_slots[name]}]"

    def stop_pointer(self) -> str:
        return f"(const int64_t *) table[{self.stop_slot}]" if self.checked else "nullptr"


def _launch(p: _Program, k: Kernel, name: str, grid: str, threads: str, cooperative: bool,
            stop: bool) -> None:
    h = p.host
    h.line("{")
    args = []
    for i, param in enumerate(k.params):
        h.line(f"    {c_type(param.dtype)} *graphc_p{i} = {p.pointer(param.name, param.dtype)};")
        args.append(f"graphc_p{i}")
    if stop:
        h.line(f"    const int64_t *graphc_stop = {p.stop_pointer()};")
        args.append("graphc_stop")
    h.line(f"    GRAPHC_LAUNCH(state, {name}, {grid}, {threads}, "
           f"{'true' if cooperative else 'false'}{''.join(', ' + a for a in args)});")
    h.line(f'    if (GRAPHC_CHECK_LAUNCH("{name}")) return 1;')
    h.line("}")


def _native(p: _Program, k: Kernel, name: str, s, dtypes: dict) -> None:
    """A GEMM or implicit-GEMM call on the host (inside the host loops around it)."""
    h = p.host
    if isinstance(s, Loop):
        h.line(f"for (int64_t {s.var.name} = 0; {s.var.name} < {h.expr(s.extent)}; "
               f"{s.var.name}++) {{")
        def body():
            for i, inner in enumerate(s.body):
                _native(p, k, f"{name}_{i}", inner, dtypes)
        h.sizes.scoped(body)
        h.line("}")
        return
    dtype = dtypes[s.out if isinstance(s, ConvGemm) else s.c]
    t = c_type(dtype)
    epilogue = "graphc_no_epilogue{}"
    if isinstance(s, Gemm) and s.epilogue is not None:
        functor = _epilogue_functor(k, f"{name}_epilogue", s.epilogue)
        p.device.append(functor)
        epilogue = f"{name}_epilogue{{{', '.join(p.pointer(q.name, q.dtype) for q in k.params)}}}"
    if isinstance(s, Gemm):
        a = (f"graphc_matrix<{t}>{{{p.pointer(s.a, dtype)} + {h.expr(s.a_offset)}, "
             f"{s.lda}, {int(s.trans_a)}}}")
        b = (f"graphc_matrix<{t}>{{{p.pointer(s.b, dtype)} + {h.expr(s.b_offset)}, "
             f"{s.ldb}, {int(s.trans_b)}}}")
        c = f"{p.pointer(s.c, dtype)} + {h.expr(s.c_offset)}"
        m, n, kk, ldc = h.expr(s.m), h.expr(s.n), h.expr(s.k), str(s.ldc)
        alpha, beta = literal(s.alpha, dtype), literal(s.beta, dtype)
    else:
        g = s.shape
        geometry = ", ".join(str(v) for v in (g.h, g.w, g.c_in, g.oh, g.ow, g.c_out, g.kh, g.kw,
                                              g.pad_h, g.pad_w, g.stride_h, g.stride_w,
                                              g.dilation_h, g.dilation_w))
        x, y = p.pointer(s.a, dtype), p.pointer(s.b, dtype)
        conv = f"graphc_conv{{{geometry}}}"
        a, b = {"forward": (f"graphc_window<{t}>{{{x}, {conv}, 0}}",
                            f"graphc_matrix<{t}>{{{y}, {g.c_out}, 0}}"),
                "input_gradient": (f"graphc_window_gradient<{t}>{{{x}, {conv}}}",
                                   f"graphc_flipped_filter<{t}>{{{y}, {conv}}}"),
                "filter_gradient": (f"graphc_window<{t}>{{{x}, {conv}, 1}}",
                                    f"graphc_matrix<{t}>{{{y}, {g.c_out}, 0}}")}[s.kind]
        c = p.pointer(s.out, dtype)
        m, n, kk = (h.expr(e) for e in s.gemm_sizes())
        ldc = n
        alpha, beta = literal(1, dtype), literal(0, dtype)
    tf32 = ", true" if p.tf32 and dtype == float32 else ""
    h.line(f"if (graphc_gemm<{t}{tf32}>(state, {a}, {b}, {c}, {ldc}, {m}, {n}, {kk}, {alpha}, "
           f"{beta}, {p.stop_pointer()}, {epilogue}, \"{name}\", error, error_size)) "
           "return 1;")


def _legal(kernel: Kernel) -> Kernel:
    """The kernel with native routines the host cannot launch (inside device code)
    expanded into loops."""
    dtypes = {q.name: q.dtype for q in kernel.params}
    names = Names(prefix="h_")
    body = []
    for s in kernel.body:
        if isinstance(s, NATIVE) or _host_loop(s) or isinstance(s, Print):
            body.append(s)
        else:
            body.extend(expand_routines([s], lambda r: isinstance(r, Print), dtypes.__getitem__,
                                        names))
    return Kernel(kernel.name, kernel.params, body)


def _render(p: _Program) -> None:
    for k in p.kernels:
        k = _legal(k)
        dtypes = {q.name: q.dtype for q in k.params}
        guard = p.checked
        for u, unit in enumerate(units(k)):
            name = f"{k.name}_{u}"
            if unit.kind == "host":
                _print(p, k, unit.stmts[0])
            elif unit.kind == "native":
                _native(p, k, name, unit.stmts[0], dtypes)
            elif unit.kind in ("grid", "rows"):
                text, total = _grid_function(k, name, unit, guard)
                p.device.append(text)
                blocks = (f"graphc_blocks({p.host.expr(total)})" if unit.kind == "grid" else
                          f"graphc_row_blocks({p.host.expr(total)})")
                _launch(p, k, name, blocks, "GRAPHC_THREADS", unit.kind == "rows", guard)
            else:
                p.device.append(_block_function(k, name, unit, guard))
                threads = "GRAPHC_THREADS" if unit.kind == "block" else "1"
                _launch(p, k, name, "1", threads, unit.kind == "block", guard)
        if p.stop_slot is not None and any(p.table_slots[q.name] == p.stop_slot
                                           for q in k.params):
            p.checked = True


def _print(p: _Program, k: Kernel, s: Print) -> None:
    h = p.host
    if p.checked:                      # no print after a failed check
        h.line("{")
        h.line("    int64_t graphc_code = 0;")
        h.line(f"    if (graphc_read_status(state, (const int64_t *) table[{p.stop_slot}], "
               "&graphc_code, error, error_size)) return 1;")
        h.line("    if (graphc_code) return 0;")
        h.line("}")
    count = h.expr(idx(p.print_sizes.get(s.index, 0)))
    item = next(q.dtype.itemsize for q in k.params if q.name == s.target)
    h.line(f"if (graphc_print_value(state, print, {s.index}, table[{p.table_slots[s.target]}], "
           f"{count} * {item}, error, error_size)) return 1;")


def program_parts(kernels: list[Kernel], table_slots: dict[str, int],
                  stop_slot: int | None = None, print_sizes: dict | None = None,
                  tf32: bool = False, entry: str = ENTRY) -> tuple[list[str], str]:
    """(the device code: kernels and epilogue functors; the host code: the launches and
    the entry point `int entry(void **table, const int64_t *sizes, graphc_state *state,
    graphc_print_fn print, char *error, int error_size)`, 0 on success). tf32: float32
    GEMMs and convolutions on TF32 tensor cores."""
    p = _Program(kernels, table_slots, stop_slot, print_sizes or {}, tf32=tf32)
    _render(p)
    uses_sizes = any("sizes[" in line for line in p.host.lines)
    launches = "\n".join([
        "static int graphc_launches(void **table, const int64_t *host_sizes, "
        "graphc_state *state, graphc_print_fn print, char *error, int error_size) {",
        *(["    const int64_t *sizes = host_sizes;"] if uses_sizes else
          ["    (void) host_sizes;"]),
        "    (void) print; (void) table;",
        *p.host.lines, "    return 0;", "}"])
    prints = any(isinstance(s, Print) for k in kernels for s in k.body)
    slots = len(table_slots)
    body = ["    int failed = graphc_launches(table, host_sizes, state, print, error, "
            "error_size);",
            "    return graphc_graph_end(state, failed, error, error_size);"]
    if not prints:                     # a print runs on the host: no graph of such a run
        body = [f"    int replayed = graphc_graph_begin(state, table, {slots}, host_sizes, "
                "error, error_size);",
                "    if (replayed) return replayed < 0;"] + body
    entry_text = "\n".join([
        f'extern "C" int {entry}(void **table, const int64_t *host_sizes, '
        "graphc_state *state, graphc_print_fn print, char *error, int error_size) {",
        *body, "}"])
    return p.device, launches + "\n\n" + entry_text


def program_source(kernels: list[Kernel], table_slots: dict[str, int],
                   stop_slot: int | None = None, print_sizes: dict | None = None,
                   tf32: bool = False) -> str:
    """The program's CUDA source: prelude, device kernels, host entry point.
    print_sizes: print index → the element count of its value (an int or a symbolic
    size), for the copy to the host."""
    device, entry = program_parts(kernels, table_slots, stop_slot, print_sizes, tf32)
    return "\n\n".join([PRELUDE] + device + [entry]) + "\n"


def bundle_source(programs: list[tuple]) -> str:
    """Several programs in one translation unit, each in a namespace of its own with its
    entry point numbered (`graphc_program_3`): one nvcc run checks them all.
    programs: the arguments of `program_source`, per program."""
    parts = [PRELUDE]
    for i, args in enumerate(programs):
        device, entry = program_parts(*args, entry=f"{ENTRY}_{i}")
        parts.append(f"namespace graphc_program_{i} {{\n\n" + "\n\n".join(device + [entry])
                     + f"\n\n}}  // namespace graphc_program_{i}")
    return "\n\n".join(parts) + "\n"


__all__ = ["ENTRY", "HELPERS", "bundle_source", "program_parts", "program_source", "units"]
