"""graphc's exp and log in plain LLVM arithmetic (codegen/llvm/vmath.py): accurate to 2
ulp of the exact result over the whole float range, IEEE specials as numpy gives them,
and loops over them vectorise with no libm call left."""
import ctypes

import llvmlite.ir as ir
import numpy as np
import pytest

import graphc as gc
from graphc import passes
from graphc.codegen.llvm import vmath
from graphc.codegen.llvm.executable import LLVMExecutable
from graphc.codegen.llvm.jit import JIT, assembly_of

TYPES = {np.float32: ir.FloatType(), np.float64: ir.DoubleType()}


def _array_module(name: str, dtype) -> str:
    """`void <name>(T *src, T *dst, i64 n)`: dst[i] = vmath.<name>(src[i])."""
    t = TYPES[dtype]
    module = ir.Module(name="vmath_test")
    i64 = ir.IntType(64)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [t.as_pointer(), t.as_pointer(),
                                                            i64]), name)
    src, dst, n = fn.args
    entry, loop, done = (fn.append_basic_block(label) for label in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", n, ir.Constant(i64, 0)), loop, done)
    b.position_at_end(loop)
    i = b.phi(i64)
    i.add_incoming(ir.Constant(i64, 0), entry)
    b.store(getattr(vmath, name)(b, module, b.load(b.gep(src, [i]))), b.gep(dst, [i]))
    following = b.add(i, ir.Constant(i64, 1))
    i.add_incoming(following, loop)
    b.cbranch(b.icmp_signed("<", following, n), loop, done)
    b.position_at_end(done)
    b.ret_void()
    return str(module)


def _apply(name: str, x: np.ndarray) -> np.ndarray:
    jit = JIT()
    jit.add(_array_module(name, x.dtype.type))
    fn = jit.function(name, None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
    x = np.ascontiguousarray(x)
    out = np.full_like(x, 7.0)
    fn(x.ctypes.data, out.ctypes.data, x.size)
    return out


def _inputs(name: str, dtype, rng) -> np.ndarray:
    info = np.finfo(dtype)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, info.max, -info.max,
                info.tiny, info.smallest_subnormal]
    if name == "exp":
        edge = float(np.log(info.max))                  # 88.7 / 709.8
        low = float(np.log(info.smallest_subnormal))    # -103.3 / -744.4
        parts = [rng.uniform(-1.2 * edge, 1.2 * edge, 50_000), rng.uniform(-1, 1, 20_000),
                 rng.uniform(low - 2, low + 20, 10_000), rng.uniform(edge - 1, edge + 1, 1000)]
    else:
        int_type = np.int32 if dtype == np.float32 else np.int64
        bits = rng.integers(0, np.iinfo(int_type).max, 50_000, dtype=int_type)
        parts = [bits.view(dtype), rng.uniform(0.5, 2.0, 20_000),          # all magnitudes
                 rng.uniform(-1e-3, 1e-3, 1000) + 1.0,                     # near 1
                 -rng.uniform(0, 10, 100)]                                 # negative: NaN
    return np.concatenate([np.asarray(p, dtype) for p in parts + [specials]]).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["exp", "log"])
def test_within_two_ulp_of_exact_with_numpys_specials(name, dtype):
    x = _inputs(name, dtype, np.random.default_rng(3))
    got = _apply(name, x)
    with np.errstate(all="ignore"):
        exact = getattr(np, name)(x.astype(np.longdouble))
        rounded = exact.astype(dtype)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(rounded))
    finite = np.isfinite(rounded)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(rounded)],
                                  rounded[~finite & ~np.isnan(rounded)])     # ±inf
    np.testing.assert_array_equal(got[rounded == 0], 0)
    check = finite & (rounded != 0)
    ulp = np.spacing(np.abs(rounded[check])).astype(np.longdouble)
    error = np.abs(got[check].astype(np.longdouble) - exact[check]) / ulp
    assert error.max() <= 2.0, (name, x[check][np.argmax(error)], error.max())


def test_exp_reaches_the_subnormal_range_and_overflows_to_inf():
    x = np.array([-100.0, -103.0, 88.5, 89.0, 200.0, -200.0], np.float32)
    got = _apply("exp", x)
    with np.errstate(over="ignore"):
        want = np.exp(x.astype(np.float64)).astype(np.float32)
    assert 0 < got[0] < np.finfo(np.float32).tiny           # subnormal, not flushed
    np.testing.assert_allclose(got[:3], want[:3], rtol=2e-7)
    assert got[3] == np.inf and got[4] == np.inf and got[5] == 0


@pytest.mark.parametrize("name", ["exp", "log"])
def test_a_loop_over_it_vectorises_without_libm_calls(name):
    asm = assembly_of(_array_module(name, np.float32))
    assert f"{name}f" not in asm                      # no scalar libm call left
    assert "%zmm" in asm or "%ymm" in asm or "%xmm" in asm
    assert any(op in asm for op in ("vfmadd", "vmulps"))   # packed arithmetic


def test_sigmoid_softmax_and_log_in_a_program_match_the_interpreter(graph):
    rng = np.random.default_rng(5)
    x = gc.placeholder(gc.float32, (None, 37), name="x")
    s = gc.sigmoid(x * 9.0, name="s")
    p = gc.nn.softmax(x * 4.0, name="p")
    lg = gc.log(gc.abs(x) + 1e-3, name="lg")
    fetches = [s, p, lg]
    program = passes.compile_program(fetches, {x: (29, 37)}).program
    exe = LLVMExecutable(program)
    assert "expf" not in exe.llvm_ir and "llvm.exp" not in exe.llvm_ir
    data = rng.standard_normal((29, 37)).astype(np.float32) * 3
    got = exe.run({x: data}, {})
    want = gc.Session(graph, backend="numpy").run(fetches, {x: data})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=3e-6, atol=1e-7)
