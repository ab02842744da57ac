"""Loop IR → LLVM IR, with llvmlite's IR builder.

The renderer is a table from loop IR node to instruction (`_statement`, `_expression`,
routines by class in templates.py): it knows nothing about graph ops. Each kernel
becomes a function of its buffers; top-level parallel loops are outlined into tasks for
the native thread pool; one entry point,
`graphc_program(i8** table, i8* pool)`, calls every kernel in order with pointers from
the table — a whole train step is one native call.
"""
from __future__ import annotations

import re

import llvmlite.ir as ir

from ...ir import DType, bool_, float32, float64, int32, int64
from ...lower.access import loop_work, walk
from ...lower.loopir import (Assign, Binary, Cast, Compare, Const, Declare, Kernel, Load,
                             Local, Loop, Select, Store, Unary, Var)
from ...lower.routines import Gemm, Routine
from ..base.scope import ExpressionCache
from .loop_hints import loop_hints, loop_id
from . import vmath

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
F32, F64 = ir.FloatType(), ir.DoubleType()
VOID = ir.VoidType()
I8P = I8.as_pointer()

FAST_FLAGS = ("reassoc", "contract")
_STORAGE = {float32: F32, float64: F64, int32: I32, int64: I64, bool_: I8}
_VALUE = {float32: F32, float64: F64, int32: I32, int64: I64, bool_: I1}
_FCMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_LIBM = {("tanh", float32): "tanhf", ("tanh", float64): "tanh",
         ("log1p", float32): "log1pf", ("log1p", float64): "log1p",
         ("expm1", float32): "expm1f", ("expm1", float64): "expm1"}
_INTRINSIC = {"sqrt": "llvm.sqrt", "abs": "llvm.fabs", "floor": "llvm.floor"}
_VECTOR_MATH = {"exp": vmath.exp, "log": vmath.log}     # not llvm.exp: see vmath.py


def storage_type(dtype: DType) -> ir.Type:
    return _STORAGE[dtype]


def value_type(dtype: DType) -> ir.Type:
    return _VALUE[dtype]


class FunctionEmitter:
    """Emits one loop IR body into an LLVM function whose buffers are given."""

    def __init__(self, module: ir.Module, fn: ir.Function, buffers: dict, dtypes: dict,
                 pool, templates):
        self.module = module
        self.fn = fn
        self.buffers = buffers          # name -> pointer value
        self.dtypes = dtypes            # name -> DType
        self.pool = pool
        self.templates = templates      # routine class -> function(emitter, routine)
        self.entry = fn.append_basic_block("entry")
        self.builder = ir.IRBuilder(fn.append_basic_block("body"))
        self.locals: dict[str, tuple] = {}
        self.scope = ExpressionCache()
        self.vars: dict[str, ir.Value] = {}

    def finish(self):
        self.builder.ret_void()
        ir.IRBuilder(self.entry).branch(self.fn.blocks[1])

    # -- statements --------------------------------------------------------------------
    def emit(self, stmts):
        for s in stmts:
            if isinstance(s, Routine):
                self.routine(s)
            else:
                self._statement[type(s)](self, s)

    def _loop_statement(self, s: Loop) -> None:
        self.loop(s.var.name, self.expr(s.extent), s.body, hints=loop_hints(s))

    def _store(self, s: Store) -> None:
        value = self.expr(s.value)
        self.scope.forget_loads(s.buffer)
        ptr = self.builder.gep(self.buffers[s.buffer], [self.expr(s.index)])
        if s.when is None:
            self.builder.store(self.to_storage(value, self.dtypes[s.buffer]), ptr)
            return
        with self.builder.if_then(self.expr(s.when), likely=False):
            self.builder.store(self.to_storage(value, self.dtypes[s.buffer]), ptr)

    def _declare(self, s: Declare) -> None:
        slot = ir.IRBuilder(self.entry).alloca(value_type(s.dtype), name=s.name)
        self.locals[s.name] = (slot, s.dtype)
        self.builder.store(self.expr(s.init), slot)

    def _assign(self, s: Assign) -> None:
        self.builder.store(self.expr(s.value), self.locals[s.name][0])

    _statement = {Loop: _loop_statement, Store: _store, Declare: _declare, Assign: _assign}

    def routine(self, r: Routine, epilogue=None) -> None:
        """A native routine (with the function and context of its epilogue, from
        `kernel_function`); lowering expanded the ones the target lacks."""
        native = self.templates.get(type(r))
        if native is None:
            raise TypeError(f"no native {r.name} in this backend: lowering for its target "
                            "should have expanded it")
        if epilogue is not None:
            native(self, r, epilogue=epilogue)
        else:
            native(self, r)
            self.emit(r.nested())            # an epilogue not outlined: after the product
        for name in r.buffers() + tuple(s.buffer for s in walk(r.nested())
                                        if isinstance(s, Store)):
            self.scope.forget_loads(name)

    def loop(self, var: str, extent: ir.Value, body, start: ir.Value | None = None,
             hints: tuple = ()):
        """for var in start..extent: body (statements, or a function emitting them)."""
        b = self.builder
        pre = b.block
        header = self.fn.append_basic_block(f"{var}.head")
        inner = self.fn.append_basic_block(f"{var}.body")
        done = self.fn.append_basic_block(f"{var}.done")
        b.branch(header)
        b.position_at_end(header)
        i = b.phi(I64, name=var)
        i.add_incoming(start if start is not None else ir.Constant(I64, 0), pre)
        b.cbranch(b.icmp_signed("<", i, extent), inner, done)
        b.position_at_end(inner)
        saved = self.vars.get(var)
        self.vars[var] = i
        self.scope = ExpressionCache(self.scope)
        body() if callable(body) else self.emit(body)
        self.scope = self.scope.parent
        nxt = b.add(i, ir.Constant(I64, 1))
        i.add_incoming(nxt, b.block)
        latch = b.branch(header)
        if hints:
            latch.set_metadata("llvm.loop", loop_id(self.module, hints))
        b.position_at_end(done)
        if saved is not None:
            self.vars[var] = saved

    # -- expressions -------------------------------------------------------------------
    def expr(self, e) -> ir.Value:
        if isinstance(e, Local):
            return self.builder.load(self.locals[e.name][0])
        if isinstance(e, Var):
            return self.vars[e.name]
        cached = self.scope.get(e)
        if cached is not None:
            return cached
        value = self._build(e)
        self.scope.put(e, value)
        return value

    def _build(self, e) -> ir.Value:
        return self._expression[type(e)](self, e)

    def _const(self, e: Const) -> ir.Value:
        return ir.Constant(value_type(e.dtype), e.value)

    def _load(self, e: Load) -> ir.Value:
        ptr = self.builder.gep(self.buffers[e.buffer], [self.expr(e.index)])
        return self.from_storage(self.builder.load(ptr), e.dtype)

    def _unary(self, e: Unary) -> ir.Value:
        return self.unary(e.op, self.expr(e.x), e.dtype)

    def _binary(self, e: Binary) -> ir.Value:
        return self.binary(e.op, self.expr(e.a), self.expr(e.b), e.a.dtype)

    def _compare(self, e: Compare) -> ir.Value:
        b, a, c = self.builder, self.expr(e.a), self.expr(e.b)
        if e.a.dtype.is_floating:        # ordered, but for ne (true for NaN, as in numpy)
            op = _FCMP[e.op]
            return b.fcmp_unordered(op, a, c) if e.op == "ne" else b.fcmp_ordered(op, a, c)
        return b.icmp_signed(_FCMP[e.op], a, c)

    def _select(self, e: Select) -> ir.Value:
        return self.builder.select(self.expr(e.cond), self.expr(e.a), self.expr(e.b))

    def _cast(self, e: Cast) -> ir.Value:
        if e.bits:
            return self.builder.bitcast(self.expr(e.x), value_type(e.dtype))
        return self.cast(self.expr(e.x), e.x.dtype, e.dtype)

    _expression = {Const: _const, Load: _load, Unary: _unary, Binary: _binary,
                   Compare: _compare, Select: _select, Cast: _cast}

    def intrinsic(self, name: str, dtype: DType, *args):
        """A float intrinsic overloaded on its type (`llvm.exp.f32`), declared once."""
        t = value_type(dtype)
        full = f"{name}.{'f32' if t == F32 else 'f64'}"
        fn = self.module.globals.get(full)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(t, [t] * len(args)), full)
        return self.builder.call(fn, list(args))

    def libm(self, name: str, dtype: DType, *args):
        fn = self.module.globals.get(name)
        if fn is None:
            t = value_type(dtype)
            fn = ir.Function(self.module, ir.FunctionType(t, [t] * len(args)), name)
        return self.builder.call(fn, list(args))

    def unary(self, op, x, dtype):
        b = self.builder
        t = value_type(dtype)
        if op == "neg":
            return b.fneg(x) if dtype.is_floating else b.neg(x)
        if op == "not":
            return b.xor(x, ir.Constant(I1, 1))
        if op == "abs" and not dtype.is_floating:
            return b.select(b.icmp_signed("<", x, ir.Constant(t, 0)), b.neg(x), x)
        if op in _INTRINSIC:
            return self.intrinsic(_INTRINSIC[op], dtype, x)
        if op in _VECTOR_MATH:
            return _VECTOR_MATH[op](b, self.module, x)
        if op == "rsqrt":
            return b.fdiv(ir.Constant(t, 1.0), self.intrinsic("llvm.sqrt", dtype, x))
        if (op, dtype) in _LIBM:
            return self.libm(_LIBM[(op, dtype)], dtype, x)
        raise TypeError(f"no rendering of {op} for {dtype}")

    def binary(self, op, a, bv, dtype):
        b = self.builder
        if dtype.is_floating:
            simple = {"add": b.fadd, "sub": b.fsub, "mul": b.fmul, "div": b.fdiv}
            if op in simple:
                # reassociation lets LLVM vectorise reductions; no-NaN / no-inf flags are
                # never set, so NaN and inf propagate as they do in numpy
                return simple[op](a, bv, flags=FAST_FLAGS)
            if op in ("max", "min"):   # NaN-propagating, like numpy
                return self.intrinsic("llvm.maximum" if op == "max" else "llvm.minimum",
                                      dtype, a, bv)
            if op == "pow":
                return self.intrinsic("llvm.pow", dtype, a, bv)
            if op == "floordiv":
                return self.intrinsic("llvm.floor", dtype, b.fdiv(a, bv))
            if op == "mod":
                q = self.intrinsic("llvm.floor", dtype, b.fdiv(a, bv))
                return b.fsub(a, b.fmul(q, bv))
        else:
            simple = {"add": b.add, "sub": b.sub, "mul": b.mul, "and": b.and_, "or": b.or_,
                      "xor": b.xor, "shr": b.lshr, "shl": b.shl, "sar": b.ashr}
            if op in simple:
                return simple[op](a, bv)
            if op == "max":
                return b.select(b.icmp_signed(">", a, bv), a, bv)
            if op == "min":
                return b.select(b.icmp_signed("<", a, bv), a, bv)
            if op in ("floordiv", "mod"):
                return self.floor_divmod(op, a, bv)
        raise TypeError(f"no rendering of {op} for {dtype}")

    def floor_divmod(self, op, a, bv):
        """Python's floor semantics (the loop IR's), cheap when the divisor is a positive
        constant and the dividend turns out non-negative."""
        b = self.builder
        q = b.sdiv(a, bv)
        r = b.srem(a, bv)
        zero = ir.Constant(a.type, 0)
        adjust = b.and_(b.icmp_signed("!=", r, zero),
                        b.icmp_signed("!=", b.icmp_signed("<", r, zero),
                                      b.icmp_signed("<", bv, zero)))
        if op == "floordiv":
            return b.select(adjust, b.sub(q, ir.Constant(a.type, 1)), q)
        return b.select(adjust, b.add(r, bv), r)

    def cast(self, x, src: DType, dst: DType):
        b = self.builder
        t = value_type(dst)
        if src == dst:
            return x
        if dst.is_bool:
            return b.fcmp_unordered("!=", x, ir.Constant(x.type, 0.0)) if src.is_floating \
                else b.icmp_signed("!=", x, ir.Constant(x.type, 0))
        if src.is_floating and dst.is_floating:
            return b.fpext(x, t) if dst.itemsize > src.itemsize else b.fptrunc(x, t)
        if src.is_floating:
            return b.fptosi(x, t)
        if dst.is_floating:
            return b.uitofp(x, t) if src.is_bool else b.sitofp(x, t)
        if src.is_bool:
            return b.zext(x, t)
        return b.sext(x, t) if dst.itemsize > src.itemsize else b.trunc(x, t)

    def to_storage(self, value, dtype):
        return self.builder.zext(value, I8) if dtype.is_bool else value

    def from_storage(self, value, dtype):
        return self.builder.icmp_signed("!=", value, ir.Constant(I8, 0)) if dtype.is_bool \
            else value


def _dynamic_task_count(em, loop: Loop, policy):
    """The task policy's decision at run time, for a loop whose work depends on N: 1 runs
    the single task inline."""
    b = em.builder
    work, extent = em.expr(loop_work(loop)), em.expr(loop.extent)
    one, cap = ir.Constant(I64, 1), ir.Constant(I64, policy.max_tasks)

    def smaller(x, y):
        return b.select(b.icmp_signed("<", x, y), x, y)
    wanted = b.sdiv(work, ir.Constant(I64, policy.min_work))
    wanted = b.select(b.icmp_signed("<", wanted, ir.Constant(I64, 2)), ir.Constant(I64, 2),
                      wanted)
    count = smaller(smaller(wanted, cap), extent)
    small = b.or_(b.icmp_signed("<", work, ir.Constant(I64, policy.min_work)),
                  b.icmp_signed("<", extent, ir.Constant(I64, 2)))
    return b.select(small, one, count)


def _chunk(module, kernel: Kernel, name: str, extras: int, templates):
    """An internal, always-inlined function of the kernel's buffers (`noalias` as in the
    kernel) and `extras` more i64 arguments; returns it, an emitter for its body and the
    extra arguments."""
    signature = kernel_signature(kernel)
    chunk = ir.Function(module, ir.FunctionType(VOID, signature.args[:-1] + (I64,) * extras),
                        name)
    chunk.linkage = "internal"
    chunk.attributes.add("alwaysinline")
    _mark_distinct(chunk, kernel)
    pointers = chunk.args[:len(kernel.params)]
    em = FunctionEmitter(module, chunk, {p.name: arg for p, arg in zip(kernel.params, pointers)},
                         {p.name: p.dtype for p in kernel.params}, ir.Constant(I8P, None),
                         templates)
    return chunk, em, chunk.args[len(kernel.params):]


def _table_caller(module, kernel: Kernel, name: str, extras: int):
    """`void name(i8* ctx, i64 ...)`, ctx a table of the kernel's buffer pointers in
    parameter order (`_buffer_table`); returns it, a builder in its body, the table and
    the buffers loaded from it."""
    fn = ir.Function(module, ir.FunctionType(VOID, [I8P] + [I64] * extras), name)
    fn.linkage = "internal"
    fn.attributes.add("noinline")      # called directly too: its body is compiled once
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    table = b.bitcast(fn.args[0], I8P.as_pointer())
    buffers = [b.bitcast(b.load(b.gep(table, [ir.Constant(I64, k)])),
                         storage_type(p.dtype).as_pointer())
               for k, p in enumerate(kernel.params)]
    return fn, b, table, buffers


def _buffer_table(em, kernel: Kernel, fn: ir.Function):
    """The kernel's buffer pointers in a stack table with one slot to spare (a task
    count), for `_table_caller` functions: (the table, it as an i8*)."""
    b = em.builder
    ctx = ir.IRBuilder(em.entry).alloca(ir.ArrayType(I8P, len(kernel.params) + 1))
    for k, arg in enumerate(fn.args[:-1]):
        b.store(b.bitcast(arg, I8P), b.gep(ctx, [ir.Constant(I32, 0), ir.Constant(I32, k)]))
    return ctx, b.bitcast(ctx, I8P)


def _outline(module, kernel: Kernel, loop: Loop, n_tasks, templates, index: int):
    """A task `void(i8* ctx, i64 t)` running chunk t of `loop`; ctx holds the kernel's
    buffer pointers in parameter order, then (n_tasks None: decided at run time) the
    task count. The chunk itself is a function of the buffers (inlined into the task), so
    the buffers' `noalias` holds inside the task as it does in the kernel."""
    chunk, em, (task, count) = _chunk(module, kernel, f"{kernel.name}_task{index}.chunk", 2,
                                      templates)
    b = em.builder
    extent = em.expr(loop.extent)
    lo = b.sdiv(b.mul(task, extent), count)
    hi = b.sdiv(b.mul(b.add(task, ir.Constant(I64, 1)), extent), count)
    em.loop(loop.var.name, hi, loop.body, start=lo, hints=loop_hints(loop))
    em.finish()

    fn, b, table, buffers = _table_caller(module, kernel, f"{kernel.name}_task{index}", 1)
    count = ir.Constant(I64, n_tasks) if n_tasks is not None else \
        b.ptrtoint(b.load(b.gep(table, [ir.Constant(I64, len(kernel.params))])), I64)
    b.call(chunk, buffers + [fn.args[1], count])
    b.ret_void()
    return fn


def _epilogue(module, kernel: Kernel, epilogue: Loop, templates, index: int):
    """`void(i8* ctx, i64 r0, i64 r1, i64 c0, i64 c1)`: a GEMM's pointwise epilogue
    (lower/epilogue.py) over one block of C, for the GEMM to call on each final block."""
    chunk, em, (r0, r1, c0, c1) = _chunk(module, kernel, f"{kernel.name}_epilogue{index}.chunk",
                                         4, templates)
    rows, (columns,) = epilogue, epilogue.body
    em.loop(rows.var.name, r1,
            lambda: em.loop(columns.var.name, c1, columns.body, start=c0,
                            hints=loop_hints(columns)),
            start=r0, hints=loop_hints(rows))
    em.finish()
    fn, b, _, buffers = _table_caller(module, kernel, f"{kernel.name}_epilogue{index}", 4)
    b.call(chunk, buffers + list(fn.args[1:]))
    b.ret_void()
    return fn


def _mark_distinct(fn: ir.Function, kernel: Kernel) -> None:
    """`noalias` on the buffers no other parameter of the kernel overlaps (`distinct`):
    LLVM then needs no run-time overlap checks, nor the scalar copies of loops they guard."""
    for p, arg in zip(kernel.params, fn.args):
        if p.distinct:
            arg.add_attribute("noalias")


def _parallel_for(module):
    fn = module.globals.get("graphc_parallel_for")
    if fn is None:
        task_type = ir.FunctionType(VOID, [I8P, I64]).as_pointer()
        fn = ir.Function(module, ir.FunctionType(VOID, [I8P, task_type, I8P, I64]),
                         "graphc_parallel_for")
    return fn


def kernel_function(module: ir.Module, kernel: Kernel, templates, name=None,
                    tasks=None) -> ir.Function:
    """`void kernel(T0* b0, ..., i8* pool)`. With a task policy (`tasks`, the target's),
    each big top-level parallel loop is outlined into tasks handed to the pool
    (`graphc_parallel_for`); a loop whose size depends on N decides at run time whether
    to split."""
    fn = ir.Function(module, kernel_signature(kernel), name or kernel.name)
    fn.linkage = "internal"
    # a call per kernel costs nothing next to its loops, and kernels inlined into the
    # entry point make one huge function that takes LLVM far longer to compile than its
    # kernels one by one (ResNet's step: 1.84 -> 1.3 s of compile)
    fn.attributes.add("noinline")
    _mark_distinct(fn, kernel)
    buffers = {p.name: arg for p, arg in zip(kernel.params, fn.args)}
    dtypes = {p.name: p.dtype for p in kernel.params}
    em = FunctionEmitter(module, fn, buffers, dtypes, fn.args[-1], templates)
    for index, stmt in enumerate(kernel.body):
        if isinstance(stmt, Gemm) and stmt.epilogue is not None:
            finish = _epilogue(module, kernel, stmt.epilogue, templates, index + 1)
            _, ctx_ptr = _buffer_table(em, kernel, fn)
            em.routine(stmt, epilogue=(finish, ctx_ptr))
            em.scope = ExpressionCache()   # the call wrote C and whatever the epilogue writes
            continue
        dynamic = tasks is not None and isinstance(stmt, Loop) and stmt.kind == "parallel" and \
            not isinstance(loop_work(stmt), int)
        n_tasks = tasks.task_count(stmt) if tasks is not None and isinstance(stmt, Loop) else 0
        if not n_tasks and not dynamic:
            em.emit([stmt])
            continue
        task = _outline(module, kernel, stmt, None if dynamic else n_tasks, templates, index)
        b = em.builder
        ctx, ctx_ptr = _buffer_table(em, kernel, fn)
        if not dynamic:
            b.call(_parallel_for(module), [fn.args[-1], task, ctx_ptr,
                                           ir.Constant(I64, n_tasks)])
            continue
        count = _dynamic_task_count(em, stmt, tasks)
        b.store(b.inttoptr(count, I8P),
                b.gep(ctx, [ir.Constant(I32, 0), ir.Constant(I32, len(kernel.params))]))
        with b.if_else(b.icmp_signed(">", count, ir.Constant(I64, 1))) as (split, inline):
            with split:
                b.call(_parallel_for(module), [fn.args[-1], task, ctx_ptr, count])
            with inline:
                b.call(task, [ctx_ptr, ir.Constant(I64, 0)])
        em.scope = ExpressionCache()   # values built in the branches do not dominate the rest
    em.finish()
    return fn


def program_module(kernels: list[Kernel], table_slots: dict[str, int], templates,
                   entry: str = "graphc_program", tasks=None,
                   profile_slot: int | None = None, stop_slot: int | None = None) -> ir.Module:
    """All kernels plus the entry point `void entry(i8** table, i8* pool)`. With a
    profile slot, the cycles each kernel takes are added to an i64 array in that slot;
    with a stop slot, the run returns after the first kernel that leaves that i64 != 0
    (checked after each kernel that has it among its buffers)."""
    return program_modules(kernels, table_slots, templates, entry, tasks, profile_slot,
                           stop_slot, parts=1)[0]


def kernel_signature(kernel: Kernel) -> ir.FunctionType:
    """`void (T0* b0, ..., i8* pool)`: a kernel's buffers in its parameter order."""
    return ir.FunctionType(VOID, [storage_type(p.dtype).as_pointer() for p in kernel.params]
                           + [I8P])


def program_modules(kernels: list[Kernel], table_slots: dict[str, int], templates,
                    entry: str = "graphc_program", tasks=None,
                    profile_slot: int | None = None, stop_slot: int | None = None,
                    parts: int = 1, only: int | None = None) -> list[ir.Module]:
    """The program as `parts` modules that compile independently (side by side): kernels
    dealt by size over the modules, the entry point in the last one, calling kernels of
    the others by name (one JIT links them). One part is `program_module`. With `only`,
    just that part is rendered (a compile worker builds the module it compiles)."""
    wanted = range(parts) if only is None else [only]
    modules = {i: ir.Module(name=f"graphc_part{i}") for i in wanted}
    same = same_code(kernels)
    unique = [k for k in kernels if same[k.name] is k]
    load = [0] * parts
    home = {}
    weight = {k.name: _weight(k) for k in unique}
    for k in sorted(unique, key=lambda k: -weight[k.name]):
        part = min(range(parts), key=load.__getitem__)
        home[k.name] = part
        load[part] += weight[k.name]
    entry_module = modules.get(parts - 1)
    defined = {}
    for k in unique:
        if home[k.name] in modules:
            fn = kernel_function(modules[home[k.name]], k, templates, tasks=tasks)
            if home[k.name] != parts - 1:
                fn.linkage = "external"
        if entry_module is not None and home[k.name] != parts - 1:
            fn = ir.Function(entry_module, kernel_signature(k), k.name)   # a declaration
        defined[k.name] = fn if entry_module is not None else None
    if entry_module is not None:
        functions = [defined[same[k.name].name] for k in kernels]
        _entry_function(entry_module, kernels, functions, table_slots, entry, profile_slot,
                        stop_slot)
    return [modules[i] for i in wanted]


def same_code(kernels: list[Kernel]) -> dict[str, Kernel]:
    """For each kernel, the first kernel whose code is the same but for the buffers it is
    given (a ResNet's seven batch norms: one function, called seven times with their own
    buffers), so each distinct kernel is compiled once."""
    first: dict[str, Kernel] = {}
    out = {}
    for k in kernels:
        out[k.name] = first.setdefault(_code_key(k), k)
    return out


def _code_key(kernel: Kernel) -> str:
    """The kernel's text with its name and its buffers' names replaced by their places
    (its buffers' types, sizes and `distinct` flags stay in the text)."""
    places = {p.name: f"%{i}" for i, p in enumerate(kernel.params)}
    names = sorted(places, key=len, reverse=True)
    text = str(kernel).replace(kernel.name, "%kernel", 1)
    flags = "".join("d" if p.distinct else "-" for p in kernel.params)
    if not names:
        return flags + text
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    return flags + pattern.sub(lambda m: places[m.group(1)], text)


def _weight(kernel: Kernel) -> int:
    """A kernel's share of compile time, roughly: its statements and expressions."""
    return len(str(kernel))


def _entry_function(module, kernels, functions, table_slots, entry, profile_slot, stop_slot):
    fn = ir.Function(module, ir.FunctionType(VOID, [I8P.as_pointer(), I8P]), entry)
    table, pool = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    counters = None
    if profile_slot is not None:
        cycles = ir.Function(module, ir.FunctionType(I64, []), "graphc_cycles")
        raw = b.load(b.gep(table, [ir.Constant(I64, profile_slot)]))
        counters = b.bitcast(raw, I64.as_pointer())
    for index, (k, kfn) in enumerate(zip(kernels, functions)):
        args = []
        for p in k.params:
            raw = b.load(b.gep(table, [ir.Constant(I64, table_slots[p.name])]))
            args.append(b.bitcast(raw, storage_type(p.dtype).as_pointer()))
        start = b.call(cycles, []) if counters is not None else None
        b.call(kfn, args + [pool])
        if counters is not None:
            slot = b.gep(counters, [ir.Constant(I64, index)])
            b.store(b.add(b.load(slot), b.sub(b.call(cycles, []), start)), slot)
        if stop_slot is not None and any(table_slots[p.name] == stop_slot for p in k.params):
            raw = b.load(b.gep(table, [ir.Constant(I64, stop_slot)]))
            failed = b.icmp_signed("!=", b.load(b.bitcast(raw, I64.as_pointer())),
                                   ir.Constant(I64, 0))
            with b.if_then(failed):
                b.ret_void()
    b.ret_void()
