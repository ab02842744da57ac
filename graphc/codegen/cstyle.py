"""Loop IR → C-family source: the renderer base the C backend (and, next, CUDA) extends.

Statements and expressions dispatch through tables keyed by loop-IR class. A shared
subexpression is rendered once per block, as a `const` temporary (the loop IR is a DAG:
printed as a tree, x·x·x·x… would double at every level); loads of a buffer are
forgotten when it is stored to, and nothing that reads an accumulator is reused.
Subclasses change the knobs: the kernel's qualifier, how a parallel loop is
introduced, how a routine the target implements natively is called.

Semantics match the loop IR (and the LLVM renderer): integer add, sub and mul wrap
(computed unsigned), `shr` is a logical shift, floor division and modulo follow Python,
float max/min propagate NaN, a compare with NaN is false except `ne`.
"""
from __future__ import annotations

import math

from ..ir import DType, bool_, float32, float64, int32, int64
from ..lower.loopir import (Assign, Binary, Cast, Compare, Const, Declare, Kernel, Load, Local,
                            Loop, Select, Store, Unary, Var)
from ..lower.access import walk
from .base.scope import ExpressionCache
from ..lower.routines import Routine

STORAGE = {float32: "float", float64: "double", int32: "int32_t", int64: "int64_t",
           bool_: "uint8_t"}
VALUE = {**STORAGE, bool_: "int"}
UNSIGNED = {int32: "uint32_t", int64: "uint64_t"}
SUFFIX = {float32: "f", float64: ""}
_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_BITS = {float32: "f32", int32: "i32", float64: "f64", int64: "i64"}
_FLOAT_ARITH = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
_LIBM = {"exp": "exp", "log": "log", "sqrt": "sqrt", "tanh": "tanh", "log1p": "log1p",
         "expm1": "expm1", "floor": "floor", "abs": "fabs"}

HELPERS = r"""/* numpy's float max and min: NaN wins; +0 is above -0 */
GRAPHC_INLINE double gc_max(double a, double b) {
    return (a > b || a != a) ? a : (b > a || b != b) ? b : (signbit(a) ? b : a);
}
GRAPHC_INLINE double gc_min(double a, double b) {
    return (a < b || a != a) ? a : (b < a || b != b) ? b : (signbit(a) ? a : b);
}
GRAPHC_INLINE float gc_maxf(float a, float b) {
    return (a > b || a != a) ? a : (b > a || b != b) ? b : (signbit(a) ? b : a);
}
GRAPHC_INLINE float gc_minf(float a, float b) {
    return (a < b || a != a) ? a : (b < a || b != b) ? b : (signbit(a) ? a : b);
}
/* a value's bits as another type of the same size */
GRAPHC_INLINE int32_t gc_bits_f32_i32(float x) { int32_t y; memcpy(&y, &x, 4); return y; }
GRAPHC_INLINE float gc_bits_i32_f32(int32_t x) { float y; memcpy(&y, &x, 4); return y; }
GRAPHC_INLINE int64_t gc_bits_f64_i64(double x) { int64_t y; memcpy(&y, &x, 8); return y; }
GRAPHC_INLINE double gc_bits_i64_f64(int64_t x) { double y; memcpy(&y, &x, 8); return y; }
/* Python's floor division and modulo */
GRAPHC_INLINE int64_t gc_floordiv(int64_t a, int64_t b) {
    int64_t q = a / b, r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? q - 1 : q;
}
GRAPHC_INLINE int64_t gc_mod(int64_t a, int64_t b) {
    int64_t r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
"""
"""The helper functions every C-family program uses; the language's prelude defines
GRAPHC_INLINE (C: `static inline`; CUDA: a device function too)."""

PRELUDE = "#include <math.h>\n#include <stdint.h>\n#include <string.h>\n\n" \
    "#define GRAPHC_INLINE static inline\n\n" + \
    HELPERS
"""The C backend's prelude."""


def c_type(dtype: DType) -> str:
    return STORAGE[dtype]


def literal(value, dtype: DType) -> str:
    """A constant as C source of exactly its value and type."""
    if dtype.is_floating:
        value = float(value)
        if math.isnan(value):
            return "NAN" if dtype == float32 else "(double) NAN"
        if math.isinf(value):
            text = "INFINITY" if dtype == float32 else "(double) INFINITY"
            return text if value > 0 else f"(-{text})"
        text = repr(value)
        if "e" not in text and "." not in text and "n" not in text:
            text += ".0"
        return f"{text}{SUFFIX[dtype]}" if value >= 0 else f"({text}{SUFFIX[dtype]})"
    if dtype.is_bool:
        return "1" if value else "0"
    value = int(value)
    bits = 64 if dtype == int64 else 32
    if value == -(1 << (bits - 1)):
        return f"(-INT{bits}_C({(1 << (bits - 1)) - 1}) - 1)"
    return f"INT{bits}_C({value})" if value >= 0 else f"(-INT{bits}_C({-value}))"


def _reads_a_local(e) -> bool:
    return any(isinstance(x, Local) for x in walk([e]))


class CStyleRenderer:
    """Renders one kernel as a C function of its buffers."""

    kernel_qualifier = "static void"
    restrict = "restrict"

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.dtypes = {p.name: p.dtype for p in kernel.params}
        self.lines: list[str] = []
        self.depth = 1
        self.block = ExpressionCache()
        self.counter = 0
        self.statements = {Loop: self.loop, Store: self.store, Declare: self.declare,
                           Assign: self.assign}
        self.expressions = {Const: self.const, Var: self.var, Local: self.local,
                            Load: self.load, Unary: self.unary, Binary: self.binary,
                            Compare: self.compare, Select: self.select, Cast: self.cast}

    # -- the function -----------------------------------------------------------------------
    def parameters(self) -> list[str]:
        return [f"{c_type(p.dtype)} *{self.restrict + ' ' if p.distinct else ''}{p.name}"
                for p in self.kernel.params]

    def function(self) -> str:
        self.emit(self.kernel.body)
        head = f"{self.kernel_qualifier} {self.kernel.name}({', '.join(self.parameters())})"
        return "\n".join([head + " {"] + self.lines + ["}"])

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    # -- statements -------------------------------------------------------------------------
    def emit(self, stmts) -> None:
        for s in stmts:
            if isinstance(s, Routine):
                self.routine(s)
            else:
                self.statements[type(s)](s)

    def loop(self, s: Loop) -> None:
        extent = self.expr(s.extent)
        self.loop_header(s)
        v = s.var.name
        self.line(f"for (int64_t {v} = 0; {v} < {extent}; {v}++) {{")
        self.nested(s.body)
        self.line("}")

    def loop_header(self, s: Loop) -> None:
        """Lines before a loop (a parallel pragma, in subclasses)."""

    def nested(self, body) -> None:
        self.scoped(lambda: self.emit(body))

    def scoped(self, emit) -> None:
        """Run `emit` one block deeper, with values it builds kept inside."""
        self.depth += 1
        self.block = ExpressionCache(self.block)
        emit()
        self.block = self.block.parent
        self.depth -= 1

    def store(self, s: Store) -> None:
        value = self.expr(s.value)
        index = self.expr(s.index)
        dtype = self.dtypes[s.buffer]
        if dtype.is_bool:
            value = f"(uint8_t) ({value} != 0)"
        when = f"if ({self.expr(s.when)}) " if s.when is not None else ""
        self.line(f"{when}{s.buffer}[{index}] = {value};")
        self.block.forget_loads(s.buffer)

    def declare(self, s: Declare) -> None:
        self.line(f"{VALUE[s.dtype]} {s.name} = {self.expr(s.init)};")

    def assign(self, s: Assign) -> None:
        self.line(f"{s.name} = {self.expr(s.value)};")

    def routine(self, r: Routine) -> None:
        raise TypeError(f"no native {r.name} in this backend: lowering for its target should "
                        "have expanded it")

    # -- expressions ------------------------------------------------------------------------
    def expr(self, e) -> str:
        """C source of e's value: an operand, or the name of a temporary holding it."""
        if isinstance(e, Const | Var | Local):
            return self.expressions[type(e)](e)
        name = self.block.get(e)
        if name is not None:
            return name
        text = self.expressions[type(e)](e)
        if _reads_a_local(e):
            return text
        self.counter += 1
        name = f"e{self.counter}"
        self.line(f"const {VALUE[e.dtype]} {name} = {text};")
        self.block.put(e, name)
        return name

    def const(self, e: Const) -> str:
        return literal(e.value, e.dtype)

    def var(self, e: Var) -> str:
        return e.name

    def local(self, e: Local) -> str:
        return e.name

    def load(self, e: Load) -> str:
        text = f"{e.buffer}[{self.expr(e.index)}]"
        return f"({text} != 0)" if e.dtype.is_bool else text

    def math(self, name: str, dtype: DType) -> str:
        """The C library function for a float type: expf or exp."""
        return name + SUFFIX[dtype]

    def unary(self, e: Unary) -> str:
        x, dtype = self.expr(e.x), e.dtype
        if e.op == "neg":
            return f"(-{x})" if dtype.is_floating else \
                f"(({VALUE[dtype]}) (0 - ({UNSIGNED[dtype]}) {x}))"
        if e.op == "not":
            return f"(!{x})"
        if e.op == "abs" and not dtype.is_floating:
            return f"({x} < 0 ? -{x} : {x})"
        if e.op == "rsqrt":
            return f"({literal(1, dtype)} / {self.math('sqrt', dtype)}({x}))"
        return f"{self.math(_LIBM[e.op], dtype)}({x})"

    def binary(self, e: Binary) -> str:
        a, b, dtype = self.expr(e.a), self.expr(e.b), e.a.dtype
        op = e.op
        if dtype.is_floating:
            if op in _FLOAT_ARITH:
                return f"({a} {_FLOAT_ARITH[op]} {b})"
            if op in ("max", "min"):
                return f"gc_{op}{SUFFIX[dtype]}({a}, {b})"
            if op == "pow":
                return f"{self.math('pow', dtype)}({a}, {b})"
            if op == "floordiv":
                return f"{self.math('floor', dtype)}({a} / {b})"
            if op == "mod":
                return f"({a} - {self.math('floor', dtype)}({a} / {b}) * {b})"
        else:
            if dtype.is_bool and op in ("and", "or"):
                return f"({a} {'&&' if op == 'and' else '||'} {b})"
            wrap = {"add": "+", "sub": "-", "mul": "*"}
            if op in wrap:                     # wrapping arithmetic, as in the loop IR
                u = UNSIGNED[dtype]
                return f"(({VALUE[dtype]}) (({u}) {a} {wrap[op]} ({u}) {b}))"
            bitwise = {"and": "&", "or": "|", "xor": "^"}
            if op in bitwise:
                return f"({a} {bitwise[op]} {b})"
            if op in ("shr", "shl"):           # on the unsigned bits: no overflow
                shift = ">>" if op == "shr" else "<<"
                return f"(({VALUE[dtype]}) (({UNSIGNED[dtype]}) {a} {shift} {b}))"
            if op == "sar":                    # arithmetic on every C compiler graphc uses
                return f"({a} >> {b})"
            if op in ("max", "min"):
                return f"({a} {'>' if op == 'max' else '<'} {b} ? {a} : {b})"
            if op in ("floordiv", "mod"):
                call = f"gc_{op}((int64_t) {a}, (int64_t) {b})"
                return call if dtype == int64 else f"(({VALUE[dtype]}) {call})"
        raise TypeError(f"no C rendering of {op} for {dtype}")

    def compare(self, e: Compare) -> str:
        return f"({self.expr(e.a)} {_COMPARE[e.op]} {self.expr(e.b)})"

    def select(self, e: Select) -> str:
        return f"({self.expr(e.cond)} ? {self.expr(e.a)} : {self.expr(e.b)})"

    def cast(self, e: Cast) -> str:
        x, src, dst = self.expr(e.x), e.x.dtype, e.dtype
        if src == dst:
            return x
        if e.bits:
            return f"gc_bits_{_BITS[src]}_{_BITS[dst]}({x})"
        if dst.is_bool:
            return f"({x} != 0)"
        return f"(({VALUE[dst]}) {x})"
