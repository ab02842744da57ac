"""The C text of an export, for every target: the model's header (`NAME.h`), the tables
its runtime reads (pointer-table slots, inputs, outputs, variables, constants, random
draws, prints, failure messages), the runtime itself (c/gx_runtime.c) and the typed API
functions around it. The target adds its compiled programs and three hooks
(targets.py)."""
from __future__ import annotations

import json
import os
import re

import numpy as np

from ..ir import bool_, float32, float64, int32, int64
from ..ir.symbolic import evaluate
from .model import ABI_VERSION, ExportedProgram, Model, random_draw

HERE = os.path.join(os.path.dirname(__file__), "c")
CODES = {float32: "GX_F32", float64: "GX_F64", int32: "GX_I32", int64: "GX_I64",
         bool_: "GX_BOOL"}
C_TYPES = {float32: "float", float64: "double", int32: "int32_t", int64: "int64_t",
           bool_: "uint8_t"}
KINDS = {"feed": "GX_FEED", "variable": "GX_VARIABLE", "constant": "GX_CONSTANT",
         "arena": "GX_ARENA", "rng": "GX_RNG", "status": "GX_STATUS",
         "workspace": "GX_WORKSPACE", "callback": "GX_CALLBACK", "sizes": "GX_SIZES"}
RESERVED = set("""auto break case char const continue default do double else enum extern
float for goto if inline int long register restrict return short signed sizeof static
struct switch typedef union unsigned void volatile while ctx batch inputs outputs loss
class new delete template this namespace operator private public protected""".split())
STATUSES = [("OK", "success"),
            ("ERROR_ARGUMENT", "a NULL pointer, or a batch size the model cannot take"),
            ("ERROR_IO", "the weights file cannot be read or written"),
            ("ERROR_WEIGHTS", "the weights file is damaged or not in the expected layout"),
            ("ERROR_MODEL", "the weights belong to another model or ABI version"),
            ("ERROR_MEMORY", "out of memory"),
            ("ERROR_RUN", "a run-time check failed (an index out of range, ...); the "
                          "variables are as they were before the call"),
            ("ERROR_DEVICE", "the GPU or its driver failed"),
            ("ERROR_STATE", "the context did not load (its create failed), or this "
                            "machine cannot run the library (big-endian, or a CPU without "
                            "the instructions it was built for)")]


def runtime_text(name: str) -> str:
    with open(os.path.join(HERE, name)) as f:
        return f.read()


def c_string(text: str) -> str:
    """A C string literal of `text`'s UTF-8 bytes (octal escapes: never a trigraph)."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\?' or not 0x20 <= byte < 0x7F:
            out.append(f"\\{byte:03o}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def json_inner(text: str) -> str:
    """`text` as the contents of a JSON string, escaped as Python's json writes it."""
    return json.dumps(text)[1:-1]


def affine(value) -> tuple[int, int]:
    """(k, c) of a size k·N + c (an int, or symbolic in N)."""
    c = int(evaluate(value, 0))
    return int(evaluate(value, 1)) - c, c


def identifiers(names: list[str], taken: set | None = None) -> list[str]:
    """C parameter names for tensor names: distinct, never a keyword."""
    taken = set(taken or ())
    out = []
    for name in names:
        ident = re.sub(r"[^A-Za-z0-9_]", "_", name) or "x"
        if ident[0].isdigit():
            ident = "_" + ident
        if ident in RESERVED:
            ident += "_"
        base, i = ident, 2
        while ident in taken:
            ident, i = f"{base}_{i}", i + 1
        taken.add(ident)
        out.append(ident)
    return out


def shape_text(t) -> str:
    return "[" + ", ".join("N" if d is None else str(d) for d in t.shape) + "]"


# -- the header ------------------------------------------------------------------------------

def signature(model: Model, p: ExportedProgram) -> tuple[str, list[str]]:
    """The C prototype of a program's API function and its documentation lines."""
    n = model.name
    params = [f"{n}_context *ctx"]
    doc = []
    if p.batched:
        params.append("int64_t batch")
        doc.append("batch: N, the batch size" + (f" (this export takes {p.fixed_batch} only)"
                                                 if p.fixed_batch is not None else ""))
    names = identifiers([t.name for t in p.inputs + p.outputs])
    for t, ident in zip(p.inputs, names):
        params.append(f"const {C_TYPES[t.dtype]} *{ident}")
        doc.append(f"{ident}: input '{t.name}', {t.dtype.name}{shape_text(t)}")
    for t, ident in zip(p.outputs, names[len(p.inputs):]):
        params.append(f"{C_TYPES[t.dtype]} *{ident}")
        doc.append(f"{ident}: output '{t.name}', {t.dtype.name}{shape_text(t)}, written")
    function = f"{n}_run" if p.name == "run" else f"{n}_train_step"
    return f"int {function}({', '.join(params)})", doc


def header(model: Model, graphc_version: str) -> str:
    n, N = model.name, model.name.upper()
    lines = [f"/* {n}.h: the C API of the graphc model '{n}' (target {model.target}).",
             f"   Generated by graphc {graphc_version}; model hash {model.hash}.",
             "",
             f"   {n}_create loads the weights ({n}.safetensors) into a new context; every",
             "   other call takes that context. Contexts are independent: threads may each",
             "   use their own, one call at a time on each. Arrays are C-contiguous, in the",
             "   dtypes and shapes below; N is the batch size given to the call. Every call",
             f"   returns {N}_OK (0) or an error status; {n}_last_error(ctx) says why. */",
             f"#ifndef {N}_H", f"#define {N}_H", "", "#include <stdint.h>", "",
             "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
             f"#define {N}_ABI_VERSION {ABI_VERSION}", ""]
    for i, (status, why) in enumerate(STATUSES):
        lines.append(f"#define {N}_{status} {i}  /* {why} */")
    lines += ["", f"typedef struct {n}_context {n}_context;", "",
              "typedef struct {", "    const char *name;", "    const char *dtype;    "
              "/* \"float32\", \"float64\", \"int32\", \"int64\" or \"bool\" (uint8_t) */",
              "    int rank;", "    const int64_t *shape; /* -1: the batch size N */",
              f"}} {n}_tensor_info;", "",
              "typedef struct {", "    int abi_version;", "    const char *name;",
              "    const char *model_hash;   /* its weights files carry the same */",
              "    const char *target;", "    const char *graphc_version;",
              "    int n_inputs;", f"    const {n}_tensor_info *inputs;",
              "    int n_outputs;", f"    const {n}_tensor_info *outputs;",
              "    int has_train_step;", "    int n_train_inputs;",
              f"    const {n}_tensor_info *train_inputs;",
              "    const char *loss;          /* the train step's loss (NULL: none) */",
              "    int n_variables;", f"    const {n}_tensor_info *variables;",
              f"}} {n}_model_info;", "",
              "/* Load the weights at weights_path into a new context (*ctx). On failure *ctx",
              f"   still holds the reason for {n}_last_error, and must be destroyed. */",
              f"int {n}_create(const char *weights_path, {n}_context **ctx);", ""]
    for p in model.programs:
        proto, doc = signature(model, p)
        what = ("Compute the outputs from the inputs." if p.name == "run" else
                "One train step on a batch: forward, gradients and the optimizer's update "
                "of the context's variables; writes the loss before the update.")
        lines.append(f"/* {what}")
        lines += [f"     {d}" for d in doc]
        lines.append("*/")
        lines += [proto + ";", ""]
    if model.program("train_step") is not None:
        lines += ["/* Write the context's variables to a weights file (a temporary file renamed",
                  "   into place), readable by _create and by Python's safetensors. */",
                  f"int {n}_save({n}_context *ctx, const char *path);", ""]
    lines += ["/* Why the last call on ctx failed (\"\" after a success). */",
              f"const char *{n}_last_error(const {n}_context *ctx);", "",
              "/* Free the context (NULL is fine). */",
              f"void {n}_destroy({n}_context *ctx);", "",
              "/* The model's inputs, outputs, variables and versions. */",
              f"const {n}_model_info *{n}_info(void);", "",
              "#ifdef __cplusplus", "}", "#endif", f"#endif /* {N}_H */", ""]
    return "\n".join(lines)


# -- the tables ------------------------------------------------------------------------------

class Tables:
    """C definitions of the runtime's tables, named uniquely."""

    def __init__(self):
        self.lines: list[str] = []

    def shape(self, name: str, shape) -> str:
        if not shape:
            return "NULL"
        dims = ", ".join("-1" if d is None else str(int(d)) for d in shape)
        self.lines.append(f"static const int64_t {name}[] = {{{dims}}};")
        return name

    def tensors(self, name: str, tensors) -> str:
        if not tensors:
            return "NULL"
        rows = []
        for i, t in enumerate(tensors):
            k, c = t.count()
            rows.append(f"    {{{c_string(t.name)}, {c_string(json_inner(t.name))}, "
                        f"{CODES[t.dtype]}, {len(t.shape)}, {self.shape(f'{name}_shape{i}', t.shape)},"
                        f" {k}, {c}}}")
        self.lines.append(f"static const gx_tensor {name}[] = {{\n" + ",\n".join(rows) + "\n};")
        return name

    def ints(self, name: str, values) -> str:
        if not values:
            return "NULL"
        self.lines.append(f"static const int {name}[] = {{{', '.join(map(str, values))}}};")
        return name

    def strings(self, name: str, values) -> str:
        if not values:
            return "NULL"
        body = ",\n".join(f"    {c_string(v)}" for v in values)
        self.lines.append(f"static const char *const {name}[] = {{\n{body}\n}};")
        return name


def constant_literal(values: np.ndarray, dtype) -> str:
    """A constant's elements as C initialisers of exactly their values."""
    flat = np.asarray(values).reshape(-1)
    if dtype.is_floating:
        suffix = "f" if dtype == float32 else ""
        out = []
        for v in flat.astype(np.float64):
            if np.isnan(v):
                out.append("NAN")
            elif np.isinf(v):
                out.append("INFINITY" if v > 0 else "-INFINITY")
            else:
                out.append(float(v).hex() + suffix)
        return ", ".join(out)
    if dtype == int64:
        return ", ".join(f"INT64_C({int(v)})" for v in flat)
    return ", ".join(str(int(v)) for v in flat)


def tables(model: Model) -> str:
    """Every table the runtime reads, for this model."""
    t = Tables()
    index = model.variable_index()
    t.lines.append(f"#define GX_N_PROGRAMS {len(model.programs)}")
    t.lines.append(f"#define GX_N_VARIABLES {len(model.variables)}")
    t.lines.append(f"#define GX_N_STREAMS {len(model.streams)}")
    t.lines.append(f"#define GX_ABI_VERSION {ABI_VERSION}")
    t.lines.append(f"static const char gx_model_hash[] = {c_string(model.hash)};")
    if model.variables:
        t.tensors("gx_variables", model.variables)
    else:
        t.lines.append("static const gx_tensor gx_variables[1] = {{NULL, NULL, 0, 0, NULL, 0, 0}};")
    streams = [s.name for s in model.streams] or [""]
    t.lines.append("static const char *const gx_streams[] = {"
                   + ", ".join(c_string(s) for s in streams) + "};")
    t.lines.append("static const char *const gx_stream_json[] = {"
                   + ", ".join(c_string(json_inner(s)) for s in streams) + "};")
    t.lines.append("static const uint64_t gx_stream_counts[] = {"
                   + ", ".join(f"UINT64_C({s.count})" for s in model.streams or [_Zero()]) + "};")
    constants = []                    # (program, slot) -> constant index
    programs = []
    for pi, p in enumerate(model.programs):
        slots, randoms = [], []
        user_of = {node: user for user, node in p.optimized.variables.items()}
        feeds = {node: user for user, node in p.optimized.feeds.items()}
        input_index = {t.node: i for i, t in enumerate(p.inputs)}
        for b in p.lowered.buffers:
            k, c, number = 0, 0, 0
            if b.kind == "feed":
                number = input_index[feeds[b.node]]
            elif b.kind == "variable":
                number = index[user_of[b.node]]
            elif b.kind == "constant":
                number = len(constants)
                name = f"gx_constant{number}"
                ctype = C_TYPES[b.dtype]
                values = constant_literal(b.value, b.dtype) if b.value.size else "0"
                t.lines.append(f"static const {ctype} {name}[] GX_ALIGNED = {{{values}}};")
                constants.append((name, b.value.size * b.dtype.itemsize))
            elif b.kind == "arena":
                k, c = affine(b.offset)
            elif b.kind == "workspace":
                k, c = affine(b.size)
                k, c = k * b.dtype.itemsize, c * b.dtype.itemsize
            elif b.kind == "rng":
                number = len(randoms)
                randoms.append(random_draw(b.node, model.streams))
            slots.append(f"    {{{KINDS[b.kind]}, {number}, INT64_C({k}), INT64_C({c})}}")
        slot_of = p.slots
        t.lines.append(f"static const gx_slot gx_slots{pi}[] = {{\n" + ",\n".join(slots) + "\n};")
        inputs = t.tensors(f"gx_inputs{pi}", p.inputs)
        input_slots = []
        for tensor in p.inputs:
            node = p.optimized.feeds.get(tensor.node)     # None: the program never reads it
            name = p.lowered.value_buffer.get(node)
            input_slots.append(slot_of[name] if name is not None and
                               p.lowered.buffer(name).kind == "feed" else -1)
        outputs = t.tensors(f"gx_outputs{pi}", p.outputs)
        output_slots = [slot_of[p.lowered.value_buffer[node]] for node in p.output_nodes]
        failures = [message if message.startswith(node.describe()) else
                    f"{node.describe()}: {message}" for node, message in p.lowered.failures]
        restore = [index[user_of[v]] for v in p.lowered.variables_updated_before_a_check()]
        if randoms:
            rows = ", ".join(f"{{{s}, UINT64_C({base}), UINT64_C({key})}}"
                             for s, base, key in randoms)
            t.lines.append(f"static const gx_random gx_randoms{pi}[] = {{{rows}}};")
        prints = []
        for i, node in enumerate(p.lowered.prints or []):
            k, c = affine(node.type.num_elements)
            shape = t.shape(f"gx_print{pi}_shape{i}", tuple(
                None if not isinstance(d, int) else d for d in node.shape))
            prints.append(f"{{{c_string(node.attrs['message'])}, {CODES[node.dtype]}, "
                          f"{len(node.shape)}, {shape}, {k}, {c}, {int(node.attrs['summarize'])}}}")
        if prints:
            t.lines.append(f"static const gx_print gx_prints{pi}[] = {{{', '.join(prints)}}};")
        ak, ac = affine(p.lowered.arena_bytes)
        programs.append(
            f"    {{{c_string(p.name)}, {len(slots)}, gx_slots{pi}, {len(p.inputs)}, {inputs}, "
            f"{t.ints(f'gx_input_slots{pi}', input_slots)}, {len(p.outputs)}, {outputs}, "
            f"{t.ints(f'gx_output_slots{pi}', output_slots)}, INT64_C({ak}), INT64_C({ac}), "
            f"{-1 if p.fixed_batch is None else p.fixed_batch}, {len(failures)}, "
            f"{t.strings(f'gx_failures{pi}', failures)}, {len(restore)}, "
            f"{t.ints(f'gx_restore{pi}', restore)}, {len(randoms)}, "
            f"{f'gx_randoms{pi}' if randoms else 'NULL'}, {len(prints)}, "
            f"{f'gx_prints{pi}' if prints else 'NULL'}}}")
    rows = ",\n".join(f"    {{{name}, {size}}}" for name, size in constants) or "    {NULL, 0}"
    t.lines.append(f"static const gx_constant gx_constants[] = {{\n{rows}\n}};")
    t.lines.append("static const gx_program gx_programs[] = {\n" + ",\n".join(programs) + "\n};")
    return "\n".join(t.lines)


class _Zero:
    count = 0


# -- the API -----------------------------------------------------------------------------------

def info_table(model: Model, graphc_version: str) -> str:
    n = model.name
    lines = []

    def infos(name, tensors):
        if not tensors:
            return "NULL"
        rows = []
        for i, t in enumerate(tensors):
            shape = "NULL"
            if t.shape:
                shape = f"{name}_shape{i}"
                dims = ", ".join("-1" if d is None else str(d) for d in t.shape)
                lines.append(f"static const int64_t {shape}[] = {{{dims}}};")
            rows.append(f"{{{c_string(t.name)}, {c_string(t.dtype.name)}, {len(t.shape)}, {shape}}}")
        lines.append(f"static const {n}_tensor_info {name}[] = {{{', '.join(rows)}}};")
        return name
    run = model.program("run")
    train = model.program("train_step")
    inputs, outputs = infos("gx_info_inputs", run.inputs), infos("gx_info_outputs", run.outputs)
    train_inputs = infos("gx_info_train_inputs", train.inputs) if train else "NULL"
    variables = infos("gx_info_variables", model.variables)
    lines.append(
        f"static const {n}_model_info gx_info = {{{ABI_VERSION}, {c_string(n)}, "
        f"{c_string(model.hash)}, {c_string(model.target)}, {c_string(graphc_version)}, "
        f"{len(run.inputs)}, {inputs}, {len(run.outputs)}, {outputs}, {int(train is not None)}, "
        f"{len(train.inputs) if train else 0}, {train_inputs}, "
        f"{c_string(model.loss) if model.loss else 'NULL'}, {len(model.variables)}, {variables}}};")
    return "\n".join(lines)


def api(model: Model, graphc_version: str) -> str:
    n = model.name
    parts = [info_table(model, graphc_version), ""]
    parts.append(f"GX_API int {n}_create(const char *weights_path, {n}_context **ctx) {{\n"
                 f"    return gx_create(weights_path, ctx);\n}}\n")
    for i, p in enumerate(model.programs):
        proto, _ = signature(model, p)
        names = identifiers([t.name for t in p.inputs + p.outputs])
        ins, outs = names[: len(p.inputs)], names[len(p.inputs):]
        body = [f"GX_API {proto} {{",
                f"    const void *inputs[{max(len(ins), 1)}];",
                f"    void *outputs[{max(len(outs), 1)}];"]
        body += [f"    inputs[{j}] = {name};" for j, name in enumerate(ins)]
        body += [f"    outputs[{j}] = {name};" for j, name in enumerate(outs)]
        if not ins:
            body.append("    inputs[0] = NULL;")
        batch = "batch" if p.batched else str(p.fixed_batch or 0)
        body += [f"    return gx_execute(ctx, {i}, {batch}, inputs, outputs);", "}", ""]
        parts.append("\n".join(body))
    if model.program("train_step") is not None:
        parts.append(f"GX_API int {n}_save({n}_context *ctx, const char *path) {{\n"
                     f"    return gx_save(ctx, path);\n}}\n")
    parts.append(f"GX_API const char *{n}_last_error(const {n}_context *ctx) {{\n"
                 f"    return gx_last_error(ctx);\n}}\n")
    parts.append(f"GX_API void {n}_destroy({n}_context *ctx) {{\n    gx_destroy(ctx);\n}}\n")
    parts.append(f"GX_API const {n}_model_info *{n}_info(void) {{\n    return &gx_info;\n}}\n")
    return "\n".join(parts)


PROLOGUE = """#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
"""

DEFINITIONS = """#if defined(__GNUC__)
#define GX_API __attribute__((visibility("default")))
#define GX_ALIGNED __attribute__((aligned(64)))
#else
#define GX_API
#define GX_ALIGNED
#endif
"""


def model_source(model: Model, graphc_version: str, device: bool, programs: str,
                 target_part: str, top: str = "") -> str:
    """The library's source: `top` (the target's prelude), the programs' code, the
    model's tables, the runtime, the target's hooks and the API."""
    n = model.name
    return "\n".join([
        f"/* {n}: the graphc model's library (target {model.target}); generated by graphc "
        f"{graphc_version}. */",
        PROLOGUE, top, f'#include "{n}.h"', DEFINITIONS,
        f"#define GX_DEVICE {int(device)}", f"#define gx_context_s {n}_context", "",
        "/* ---- the programs ---- */", programs, "",
        "/* ---- the runtime's types ---- */", runtime_text("gx_types.h"),
        "/* ---- the model ---- */", tables(model), "",
        "/* ---- the runtime ---- */", runtime_text("gx_runtime.c"),
        "/* ---- the target ---- */", target_part, "",
        "/* ---- the API ---- */", api(model, graphc_version)])
