"""Loop IR → one CUDA translation unit per program: device kernels and the host code
that launches them.

A loop-IR kernel's top-level statements run one after another, each finished before
the next starts, so each becomes a launch of its own (units.py decides which):
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
from ...lower.access import walk
from ...lower.loopir import SIZES, Buffer, Kernel, Loop, Store, idx, mul
from ...lower.nests import Names
from ...lower.routines import ConvGemm, Gemm, Print, expand_routines
from ..cstyle import CStyleRenderer, c_type, literal
from .prelude import PRELUDE
from .units import FOLDS, INDEPENDENT, NATIVE, Unit, fold_nest, host_loop, perfect_nest, units

ENTRY = "graphc_program"
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
                _, folds = fold_nest(s)
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
        self.sizes = CStyleRenderer(Kernel("host", [Buffer(SIZES, int64, 1)], []))

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
        if isinstance(s, NATIVE) or host_loop(s) or isinstance(s, Print):
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


__all__ = ["ENTRY", "bundle_source", "program_parts", "program_source", "units"]
