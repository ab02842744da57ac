"""Loop IR → one CUDA translation unit per program: device kernels and the host code
that launches them.

A loop-IR kernel's top-level statements run one after another, each finished before
the next starts, so each becomes a launch of its own:
- a loop whose iterations are declared independent (parallel or vector; a serial one
  may carry a dependence), with the independent loops nested directly inside it, is one
  grid:
  the nest's iterations are numbered and dealt to the grid's threads (a grid-stride
  loop, so any number of blocks covers any extent);
- the other statements between two parallel loops run as one thread (a full reduction
  to a scalar, a serial loop), until the routines the CUDA target implements natively
  take their place;
- a print copies its value to the host and calls the runtime's print function there.
The host function `graphc_program` launches them in order and, after a kernel with a
run-time check, reads the status word and returns when it failed; every launch and
copy is checked, and a failure names the kernel.
"""
from __future__ import annotations

from ...ir import int64
from ...lower.access import mentions, walk
from ...lower.loopir import SIZES, Buffer, Declare, Kernel, Local, Loop, idx, mul
from ...lower.routines import Print
from ..cstyle import HELPERS, CStyleRenderer, c_type
from .prelude import PRELUDE

ENTRY = "graphc_program"
THREADS = 256                 # threads per block
MAX_BLOCKS = 4096             # a grid-stride loop covers any extent with at most these
INDEPENDENT = ("parallel", "vector")


class DeviceRenderer(CStyleRenderer):
    kernel_qualifier = "__global__ void"
    restrict = "__restrict__"


def units(kernel: Kernel) -> list[tuple[str, list]]:
    """The kernel's launches in order: ("grid", [loop]), ("thread", statements), or
    ("host", [a print]) for what the host does between launches."""
    out: list[tuple[str, list]] = []
    declared: set[str] = set()
    for s in kernel.body:
        if isinstance(s, Print):
            out.append(("host", [s]))
            continue
        if isinstance(s, Declare):
            declared.add(s.name)
        reads_locals = any(isinstance(x, Local) and x.name in declared for x in walk([s]))
        if isinstance(s, Loop) and s.kind in INDEPENDENT and not reads_locals:
            out.append(("grid", [s]))
        elif out and out[-1][0] == "thread":
            out[-1][1].append(s)
        else:
            out.append(("thread", [s]))
    return out


def perfect_nest(loop: Loop) -> list[Loop]:
    """The loop and the independent loops nested directly inside it whose extents do not
    depend on the nest's own variables: one iteration space for the grid."""
    nest = [loop]
    while len(nest[-1].body) == 1 and isinstance(nest[-1].body[0], Loop):
        inner = nest[-1].body[0]
        if inner.kind not in INDEPENDENT or any(mentions(inner.extent, n.var) for n in nest):
            break
        nest.append(inner)
    return nest


def _grid_function(kernel: Kernel, name: str, loop: Loop) -> tuple[str, object]:
    """A __global__ function running `loop`'s nest over the grid, and the nest's
    iteration count (an expression) for the host to size the grid by."""
    nest = perfect_nest(loop)
    r = DeviceRenderer(Kernel(name, kernel.params, []))
    extents = [r.expr(n.extent) for n in nest]
    total = idx(1)
    for n in nest:
        total = mul(total, n.extent)
    count = r.expr(total)
    r.line("for (int64_t graphc_t = blockIdx.x * (int64_t) blockDim.x + threadIdx.x; "
           f"graphc_t < {count}; graphc_t += (int64_t) gridDim.x * blockDim.x) {{")
    r.depth += 1
    rest = "graphc_t"
    for n, extent in reversed(list(zip(nest, extents))):
        if n is nest[0]:
            r.line(f"const int64_t {n.var.name} = {rest};")
        else:
            r.line(f"const int64_t {n.var.name} = {rest} % {extent};")
            r.line(f"const int64_t {n.var.name}_rest = {rest} / {extent};")
            rest = f"{n.var.name}_rest"
    r.nested(nest[-1].body)
    r.depth -= 1
    r.line("}")
    return _function_text(r), total


def _thread_function(kernel: Kernel, name: str, stmts: list) -> str:
    r = DeviceRenderer(Kernel(name, kernel.params, []))
    r.line("if (blockIdx.x != 0 || threadIdx.x != 0) return;")
    r.emit(stmts)
    return _function_text(r)


def _function_text(r: DeviceRenderer) -> str:
    head = f"{r.kernel_qualifier} {r.kernel.name}({', '.join(r.parameters())})"
    return "\n".join([head + " {"] + r.lines + ["}"])


class _HostCode:
    """The host function's body: launches, prints and status checks, with the sizes of
    a batch-polymorphic program read from the host's copy of the sizes buffer."""

    def __init__(self):
        self.sizes = CStyleRenderer(Kernel("host", [Buffer(SIZES, int64, 1)], []))

    def expr(self, e) -> str:
        return self.sizes.expr(e)

    def line(self, text: str) -> None:
        self.sizes.line(text)


def program_source(kernels: list[Kernel], table_slots: dict[str, int],
                   stop_slot: int | None = None, print_sizes: dict | None = None) -> str:
    """The program's CUDA source: prelude, device kernels, host entry point.
    print_sizes: print index → the element count of its value (an int or a symbolic
    size), for the copy to the host."""
    device, entry = program_parts(kernels, table_slots, stop_slot, print_sizes)
    return "\n\n".join([PRELUDE, HELPERS] + device + [HOST_HELPERS, entry]) + "\n"


def bundle_source(programs: list[tuple]) -> str:
    """Several programs in one translation unit, each in a namespace of its own with its
    entry point numbered (`graphc_program_3`): one nvcc run checks them all.
    programs: the arguments of `program_source`, per program."""
    parts = [PRELUDE, HELPERS, HOST_HELPERS]
    for i, args in enumerate(programs):
        device, entry = program_parts(*args, entry=f"{ENTRY}_{i}")
        parts.append(f"namespace graphc_program_{i} {{\n\n" + "\n\n".join(device + [entry])
                     + f"\n\n}}  // namespace graphc_program_{i}")
    return "\n\n".join(parts) + "\n"


def program_parts(kernels: list[Kernel], table_slots: dict[str, int],
                  stop_slot: int | None = None, print_sizes: dict | None = None,
                  entry: str = ENTRY) -> tuple[list[str], str]:
    """(the device kernels' source, the host entry point's source)."""
    device = []
    host = _HostCode()
    for k in kernels:
        args = ", ".join(f"({c_type(p.dtype)} *) table[{table_slots[p.name]}]" for p in k.params)
        for u, (kind, stmts) in enumerate(units(k)):
            name = f"{k.name}_{u}"
            if kind == "host":               # a print: copy to the host, call it there
                (p,) = stmts
                count = host.expr(idx((print_sizes or {}).get(p.index, 0)))
                item = next(q.dtype.itemsize for q in k.params if q.name == p.target)
                host.line(f"if (graphc_print_value(print, {p.index}, "
                          f"table[{table_slots[p.target]}], {count} * {item}, error, "
                          "error_size)) return 1;")
                continue
            if kind == "grid":
                text, total = _grid_function(k, name, stmts[0])
                blocks = f"graphc_blocks({host.expr(total)})"
            else:
                text, blocks = _thread_function(k, name, stmts), "1"
            device.append(text)
            threads = "1" if kind == "thread" else str(THREADS)
            host.line(f"GRAPHC_LAUNCH({name}, {blocks}, {threads}, {args});")
            host.line(f'if (GRAPHC_CHECK_LAUNCH("{name}")) return 1;')
        if stop_slot is not None and any(table_slots[p.name] == stop_slot for p in k.params):
            host.line(f"if (int failed = graphc_check_status(table[{stop_slot}], error, "
                      "error_size)) return failed == 2 ? 0 : 1;")
    uses_sizes = any("sizes[" in line for line in host.sizes.lines)
    lines = [f'extern "C" int {entry}(void **table, const int64_t *host_sizes, '
             "graphc_print_fn print, char *error, int error_size) {",
             *(["    const int64_t *sizes = host_sizes;"] if uses_sizes else
               ["    (void) host_sizes;"]),
             *host.sizes.lines, "    return graphc_finish(error, error_size);", "}"]
    return device, "\n".join(lines)


HOST_HELPERS = f"""inline unsigned graphc_blocks(int64_t iterations) {{
    int64_t blocks = (iterations + {THREADS - 1}) / {THREADS};
    return (unsigned) (blocks < 1 ? 1 : blocks > {MAX_BLOCKS} ? {MAX_BLOCKS} : blocks);
}}

inline int graphc_print_value(graphc_print_fn print, int64_t index, const void *value,
                              int64_t bytes, char *error, int error_size) {{
    void *copy = malloc(bytes ? (size_t) bytes : 1);
    if (!copy) {{ snprintf(error, error_size, "out of host memory for gc.print"); return 1; }}
    if (graphc_copy(copy, value, (size_t) bytes, 1, error, error_size)) {{ free(copy); return 1; }}
    print(index, copy);
    free(copy);
    return 0;
}}

/* 0: the checks passed; 2: one failed (the run stops, the status says which); 1: the
   status could not be read */
inline int graphc_check_status(const void *status, char *error, int error_size) {{
    int64_t code = 0;
    if (graphc_copy(&code, status, sizeof code, 1, error, error_size)) return 1;
    return code != 0 ? 2 : 0;
}}

inline int graphc_finish(char *error, int error_size) {{
#ifdef GRAPHC_HOST_BUILD
    (void) error; (void) error_size;
    return 0;
#else
    return graphc_failed(cudaDeviceSynchronize(), "the program's kernels", error, error_size);
#endif
}}"""
