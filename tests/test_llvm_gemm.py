"""The generated GEMM against numpy: every transpose variant, f32 and f64, odd and
rectangular sizes, accumulate, submatrices, K = 0, pool vs no pool bit for bit, and tiny
blockings that push every loop of the generator through many blocks and edges. The
epilogue is called once on every block of C, each block final when it is called."""
import ctypes
import itertools

import llvmlite.ir as ir
import numpy as np
import pytest

from graphc.codegen.llvm import gemm, parallel
from graphc.codegen.llvm.jit import JIT

VARIANTS = list(itertools.product(("f32", "f64"), (False, True), (False, True)))
DTYPES = {"f32": np.float32, "f64": np.float64}
SHAPES = [(1, 1, 1), (3, 3, 3), (17, 17, 17), (129, 129, 129), (1, 129, 3), (130, 1, 17),
          (5, 300, 7), (64, 1000, 100), (128, 784, 256), (784, 256, 128), (3, 4100, 5),
          (784, 6, 25), (25, 6, 784), (40, 3, 600)]       # few columns: conv1's products


def compile_variants(variants, config=None):
    engine = JIT()
    parallel.install_runtime(engine)
    module = ir.Module(name="gemm_test")
    for dtype, trans_a, trans_b in variants:
        gemm.define_gemm(module, dtype, trans_a, trans_b, config)
    engine.add(str(module))
    return engine


def caller(engine, dtype, trans_a, trans_b):
    """A Python function gemm(pool, A, B, C, accumulate) over numpy (sub)matrices."""
    p, i = ctypes.c_void_p, ctypes.c_int64
    scalar = ctypes.c_float if dtype == "f32" else ctypes.c_double
    fn = engine.function(gemm.gemm_name(dtype, trans_a, trans_b), None,
                         p, i, i, i, p, i, p, i, p, i, scalar, scalar, p, p)

    def call(pool, a, b, c, accumulate=False, alpha=1.0, beta=None, epilogue=None):
        """C = alpha·op(A)·op(B) + beta·C; beta defaults to 1 with accumulate, else 0;
        epilogue: a BlockLog the GEMM reports each final block of C to."""
        m, n = c.shape
        k = a.shape[0] if trans_a else a.shape[1]
        if beta is None:
            beta = 1.0 if accumulate else 0.0
        fn(pool, m, n, k, a.ctypes.data, leading(a), b.ctypes.data, leading(b),
           c.ctypes.data, leading(c), beta, alpha,
           epilogue.callback if epilogue else None, None)
    return call


class BlockLog:
    """An epilogue for the GEMM: records each block [r0, r1) × [c0, c1) it is called on,
    with a copy of C's block at that moment (from whichever thread calls it)."""

    def __init__(self, c):
        self.c, self.blocks = c, []
        self.callback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, *[ctypes.c_int64] * 4)(
            self._record)

    def _record(self, ctx, r0, r1, c0, c1):
        self.blocks.append(((r0, r1, c0, c1), self.c[r0:r1, c0:c1].copy()))

    def check(self):
        """Every element of C was in exactly one block, and each block was final (as C is
        now) when the epilogue saw it."""
        seen = np.zeros(self.c.shape, np.int64)
        for (r0, r1, c0, c1), snapshot in self.blocks:
            seen[r0:r1, c0:c1] += 1
            np.testing.assert_array_equal(snapshot, self.c[r0:r1, c0:c1])
        assert np.all(seen == 1), f"elements seen {seen.min()}..{seen.max()} times"


def leading(x):
    """Row stride in elements of a row-major (sub)matrix."""
    if x.size == 0:
        return max(1, x.shape[1])
    assert x.strides[1] == x.itemsize
    return x.strides[0] // x.itemsize


@pytest.fixture(scope="module")
def engine():
    return compile_variants(VARIANTS)


@pytest.fixture(scope="module")
def pool(engine):
    with parallel.ThreadPool(engine, 2) as p:
        yield p


def operands(rng, dtype, m, n, k, trans_a, trans_b):
    t = DTYPES[dtype]
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(t)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(t)
    return a, b


def reference(a, b, trans_a, trans_b):
    """op(A)·op(B) in float64, and a rounding bound for each element."""
    a64 = (a.T if trans_a else a).astype(np.float64)
    b64 = (b.T if trans_b else b).astype(np.float64)
    k = a64.shape[1]
    bound = 2 * (k + 2) * np.finfo(a.dtype).eps * (np.abs(a64) @ np.abs(b64)) + 1e-30
    return a64 @ b64, bound


def assert_close(c, expected, bound):
    err = np.abs(c.astype(np.float64) - expected)
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert np.all(err <= bound), f"at {worst}: got {c[worst]}, want {expected[worst]}"


def check_product(call, pool, rng, dtype, trans_a, trans_b, m, n, k):
    """C = op(A)·op(B) within rounding of numpy's float64 product, and the same bits
    with the pool as without."""
    a, b = operands(rng, dtype, m, n, k, trans_a, trans_b)
    expected, bound = reference(a, b, trans_a, trans_b)
    c = np.full((m, n), np.nan, DTYPES[dtype])
    call(None, a, b, c)
    assert_close(c, expected, bound)
    c_pool = np.full((m, n), np.nan, DTYPES[dtype])
    blocks = BlockLog(c_pool)
    call(pool.address, a, b, c_pool, epilogue=blocks)
    np.testing.assert_array_equal(c_pool, c)
    blocks.check()


@pytest.mark.parametrize("dtype,trans_a,trans_b", VARIANTS)
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_matches_numpy(engine, pool, rng, dtype, trans_a, trans_b, m, n, k):
    check_product(caller(engine, dtype, trans_a, trans_b), pool, rng, dtype, trans_a, trans_b,
                  m, n, k)


@pytest.mark.parametrize("dtype,trans_a,trans_b", VARIANTS)
def test_accumulate_adds_to_c(engine, pool, rng, dtype, trans_a, trans_b):
    call = caller(engine, dtype, trans_a, trans_b)
    m, n, k = 67, 45, 600                      # two K slices: the second always adds
    a, b = operands(rng, dtype, m, n, k, trans_a, trans_b)
    expected, bound = reference(a, b, trans_a, trans_b)
    c0 = rng.standard_normal((m, n)).astype(DTYPES[dtype])
    c = c0.copy()
    call(pool.address, a, b, c, accumulate=True)
    assert_close(c, expected + c0, bound + np.abs(c0) * np.finfo(c.dtype).eps)


@pytest.mark.parametrize("dtype,trans_a,trans_b", VARIANTS)
def test_alpha_scales_the_product(engine, pool, rng, dtype, trans_a, trans_b):
    """C += alpha·op(A)·op(B): the SGD update W −= lr·Xᵀ·dY as one call."""
    call = caller(engine, dtype, trans_a, trans_b)
    m, n, k = 37, 45, 600
    a, b = operands(rng, dtype, m, n, k, trans_a, trans_b)
    expected, bound = reference(a, b, trans_a, trans_b)
    c0 = rng.standard_normal((m, n)).astype(DTYPES[dtype])
    for pool_address in (None, pool.address):
        c = c0.copy()
        call(pool_address, a, b, c, accumulate=True, alpha=-0.25)
        assert_close(c, c0 - 0.25 * expected,
                     0.25 * bound + np.abs(c0) * np.finfo(c.dtype).eps)
        fresh = np.full((m, n), np.nan, DTYPES[dtype])
        call(pool_address, a, b, fresh, alpha=3.0)
        assert_close(fresh, 3.0 * expected, 3.0 * bound)


@pytest.mark.parametrize("dtype,trans_a,trans_b", VARIANTS)
def test_submatrices_with_leading_dimensions(engine, pool, rng, dtype, trans_a, trans_b):
    """A, B, C are views into larger arrays; C's neighbours stay untouched."""
    call = caller(engine, dtype, trans_a, trans_b)
    t = DTYPES[dtype]
    m, n, k = 37, 70, 29
    big_a = rng.standard_normal((k + 5, m + 9) if trans_a else (m + 5, k + 9)).astype(t)
    big_b = rng.standard_normal((n + 3, k + 11) if trans_b else (k + 3, n + 11)).astype(t)
    a = big_a[2:2 + k, 4:4 + m] if trans_a else big_a[2:2 + m, 4:4 + k]
    b = big_b[1:1 + n, 5:5 + k] if trans_b else big_b[1:1 + k, 5:5 + n]
    big_c = rng.standard_normal((m + 4, n + 13)).astype(t)
    before = big_c.copy()
    c = big_c[3:3 + m, 6:6 + n]
    expected, bound = reference(a, b, trans_a, trans_b)
    call(pool.address, a, b, c)
    assert_close(c, expected, bound)
    outside = np.ones(big_c.shape, bool)
    outside[3:3 + m, 6:6 + n] = False
    np.testing.assert_array_equal(big_c[outside], before[outside])


@pytest.mark.parametrize("m", [9, 64, 128, 184])
@pytest.mark.parametrize("dtype,trans_a,trans_b", VARIANTS)
def test_small_m_on_a_pool(engine, pool, rng, dtype, trans_a, trans_b, m):
    """Up to 23 MR panels of rows on two threads make one row band per thread, and each
    task packs its own copy of B: right answers over two K slices, accumulating with an
    alpha, and the same bits as the caller alone."""
    call = caller(engine, dtype, trans_a, trans_b)
    check_product(call, pool, rng, dtype, trans_a, trans_b, m, 100, 1000)
    a, b = operands(rng, dtype, m, 45, 1000, trans_a, trans_b)
    expected, bound = reference(a, b, trans_a, trans_b)
    c0 = rng.standard_normal((m, 45)).astype(DTYPES[dtype])
    results = []
    for pool_address in (None, pool.address):
        c = c0.copy()
        call(pool_address, a, b, c, accumulate=True, alpha=-0.5)
        assert_close(c, c0 - 0.5 * expected, 0.5 * bound + np.abs(c0) * np.finfo(c.dtype).eps)
        results.append(c)
    np.testing.assert_array_equal(results[1], results[0])


def test_pool_and_no_pool_bit_identical_on_large_product(engine, pool, rng):
    call = caller(engine, "f32", False, True)
    a, b = operands(rng, "f32", 300, 520, 700, False, True)
    results = []
    for address in (None, pool.address, pool.address, None):
        c = np.empty((300, 520), np.float32)
        call(address, a, b, c)
        results.append(c)
    for c in results[1:]:
        np.testing.assert_array_equal(c, results[0])


@pytest.mark.parametrize("dtype,trans_a,trans_b", VARIANTS)
@pytest.mark.parametrize("m,n,k", [(37, 45, 600), (64, 100, 300), (5, 3, 7)])
def test_beta_scales_c(engine, pool, rng, dtype, trans_a, trans_b, m, n, k):
    """C = alpha·op(A)·op(B) + beta·C (the momentum velocity v = ρ·v + g is one call),
    over one or two K slices, on the pool and off it with the same bits."""
    call = caller(engine, dtype, trans_a, trans_b)
    a, b = operands(rng, dtype, m, n, k, trans_a, trans_b)
    expected, bound = reference(a, b, trans_a, trans_b)
    c0 = rng.standard_normal((m, n)).astype(DTYPES[dtype])
    results = []
    for pool_address in (None, pool.address):
        c = c0.copy()
        call(pool_address, a, b, c, alpha=2.0, beta=0.9)
        assert_close(c, 2.0 * expected + 0.9 * c0.astype(np.float64),
                     2.0 * bound + 2 * np.abs(c0) * np.finfo(c.dtype).eps)
        results.append(c)
    np.testing.assert_array_equal(results[1], results[0])


def test_beta_zero_never_reads_c(engine, pool, rng):
    """BLAS's rule: with beta 0 whatever C held (NaN included) does not leak in."""
    call = caller(engine, "f32", False, False)
    a, b = operands(rng, "f32", 70, 40, 50, False, False)
    expected, bound = reference(a, b, False, False)
    for pool_address in (None, pool.address):
        c = np.full((70, 40), np.nan, np.float32)
        call(pool_address, a, b, c, beta=0.0)
        assert_close(c, expected, bound)


@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5])
def test_empty_products(engine, rng, beta):
    call = caller(engine, "f32", False, False)
    c0 = rng.standard_normal((4, 5)).astype(np.float32)
    c = c0.copy()
    blocks = BlockLog(c)
    call(None, np.empty((4, 0), np.float32), np.empty((0, 5), np.float32), c, beta=beta,
         epilogue=blocks)
    np.testing.assert_array_equal(c, c0 * np.float32(beta))      # K == 0: C = beta·C
    blocks.check()                                               # and it is final
    call(None, np.empty((0, 3), np.float32), np.ones((3, 5), np.float32),
         np.empty((0, 5), np.float32), beta=beta)          # M == 0: nothing to do


TINY_CONFIGS = {
    # power-of-two panels: register transposes in packing, several blocks of each loop
    "pow2": gemm.GemmConfig(width=4, mr=4, nr=8, kc=8, mc=8, nc=16, parallel_flops=0,
                            oversubscribe=3),
    # odd MR and a non-fma build: the gather-only packing path
    "odd": gemm.GemmConfig(width=4, mr=3, nr=12, kc=5, mc=6, nc=24, fma=False,
                           parallel_flops=0),
}


@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_tiny_blocking_exercises_every_loop(name, rng):
    variants = [("f32", False, False), ("f32", True, True), ("f64", False, True)]
    engine = compile_variants(variants, TINY_CONFIGS[name])
    with parallel.ThreadPool(engine, 3) as pool:
        for dtype, trans_a, trans_b in variants:
            call = caller(engine, dtype, trans_a, trans_b)
            for m, n, k in [(1, 1, 1), (3, 5, 7), (17, 33, 19), (40, 50, 23)]:
                check_product(call, pool, rng, dtype, trans_a, trans_b, m, n, k)


def test_without_workspace_memory_the_answer_is_still_right(monkeypatch, rng):
    """If the packing workspace cannot be allocated, an unblocked loop computes C."""
    monkeypatch.setattr(gemm._GemmEmitter, "ALLOCATOR", "graphc_test_no_memory")
    engine = JIT()
    parallel.install_runtime(engine)
    engine.add("define ptr @graphc_test_no_memory(i64 %size) {\n  ret ptr null\n}\n")
    variants = [("f32", True, False), ("f64", False, True)]
    module = ir.Module(name="gemm_no_memory")
    for dtype, trans_a, trans_b in variants:
        gemm.define_gemm(module, dtype, trans_a, trans_b)
    assert "graphc_test_no_memory" in str(module)
    engine.add(str(module))
    for dtype, trans_a, trans_b in variants:
        a, b = operands(rng, dtype, 19, 23, 31, trans_a, trans_b)
        expected, bound = reference(a, b, trans_a, trans_b)
        c0 = rng.standard_normal((19, 23)).astype(DTYPES[dtype])
        c = c0.copy()
        blocks = BlockLog(c)
        caller(engine, dtype, trans_a, trans_b)(None, a, b, c, alpha=-0.5, beta=0.75,
                                                epilogue=blocks)
        assert_close(c, 0.75 * c0.astype(np.float64) - 0.5 * expected,
                     bound + 2 * np.abs(c0) * np.finfo(c.dtype).eps)
        blocks.check()


def test_define_gemm_is_idempotent_and_checks_dtype():
    module = ir.Module()
    first = gemm.define_gemm(module, "f32", True, False)
    assert gemm.define_gemm(module, "f32", True, False) is first
    assert first.name == "graphc_gemm_f32_tn"
    with pytest.raises(ValueError, match="f32"):
        gemm.define_gemm(module, "f16", False, False)


def test_host_config_is_consistent():
    for dtype in ("f32", "f64"):
        cfg = gemm.host_config(dtype)
        assert cfg.nr % cfg.width == 0 and cfg.mc % cfg.mr == 0 and cfg.nc % cfg.nr == 0


def test_variants_share_one_blockings_micro_kernels(rng):
    """With shared_kernels a variant only declares its micro-kernels; one module of them
    serves every transpose variant of the blocking, linked in one JIT."""
    config = gemm.host_config("f32")
    prefix = gemm.micro_kernels_name("f32", config)
    kernels = ir.Module(name="kernels")
    gemm.define_micro_kernels(kernels, "f32", config)
    defined = {f.name for f in kernels.functions if f.name.startswith(prefix) and f.blocks}
    assert len(defined) >= 2
    engine = JIT()
    parallel.install_runtime(engine)
    engine.add(str(kernels))
    variants = [("f32", False, False), ("f32", True, False), ("f32", False, True)]
    for dtype, trans_a, trans_b in variants:
        module = ir.Module(name="variant")
        gemm.define_gemm(module, dtype, trans_a, trans_b, shared_kernels=True)
        used = {f.name for f in module.functions if f.name.startswith(prefix)}
        assert used <= defined and used
        assert all(not module.get_global(name).blocks for name in used)   # declared only
        engine.add(str(module))
    with parallel.ThreadPool(engine, 2) as pool:
        for dtype, trans_a, trans_b in variants:
            check_product(caller(engine, dtype, trans_a, trans_b), pool, rng, dtype,
                          trans_a, trans_b, 37, 100, 45)


def test_b_read_in_place_gives_the_bits_of_packed_b(monkeypatch, rng):
    """Whole panels of an untransposed B with short rows are read where they lie; the
    products are bit for bit those of packing every panel (same operations, same order),
    with ragged last panels, several K slices and both task layouts."""
    variants = [("f32", False, False), ("f32", True, False), ("f64", False, False)]
    in_place = compile_variants(variants)
    monkeypatch.setattr(gemm._GemmEmitter, "DIRECT_B_ROW_BYTES", 0)
    packed = compile_variants(variants)
    with parallel.ThreadPool(in_place, 2) as pool:
        for dtype, trans_a, trans_b in variants:
            calls = [caller(engine, dtype, trans_a, trans_b) for engine in (in_place, packed)]
            for m, n, k in [(64, 100, 1000), (129, 129, 129), (784, 256, 128), (7, 45, 600),
                            (3, 200, 5)]:
                a, b = operands(rng, dtype, m, n, k, trans_a, trans_b)
                for address in (None, pool.address):
                    c_in_place, c_packed = (np.full((m, n), np.nan, DTYPES[dtype])
                                            for _ in range(2))
                    calls[0](address, a, b, c_in_place)
                    calls[1](address, a, b, c_packed)
                    np.testing.assert_array_equal(c_in_place, c_packed)


def test_the_four_variants_share_one_core(rng):
    """define_gemm_family: one core, one packing function per operand layout, and four
    variants that are calls of the core; each computes its own product."""
    module = ir.Module(name="family")
    gemm.define_gemm_family(module, "f32")
    defined = {f.name for f in module.functions if f.blocks}
    prefix = "graphc_gemm_f32"
    assert {f"{prefix}.core", f"{prefix}.pack_a_n", f"{prefix}.pack_a_t", f"{prefix}.pack_b_n",
            f"{prefix}.pack_b_t"} <= defined
    variants = [("f32", ta, tb) for ta, tb in gemm.TRANSPOSES]
    for _, ta, tb in variants:
        entry = module.get_global(gemm.gemm_name("f32", ta, tb))
        assert len(entry.blocks) == 1                 # a call of the core, nothing else
    engine = JIT()
    parallel.install_runtime(engine)
    engine.add(str(module))
    with parallel.ThreadPool(engine, 2) as pool:
        for dtype, trans_a, trans_b in variants:
            for m, n, k in [(37, 100, 45), (64, 10, 100), (130, 33, 600)]:
                check_product(caller(engine, dtype, trans_a, trans_b), pool, rng, dtype,
                              trans_a, trans_b, m, n, k)


def test_a_read_in_place_gives_the_bits_of_packed_a(monkeypatch, rng):
    """Whole MR panels of op(A) are read where they lie (row by row for A, k-row by k-row
    for Aᵀ); only a ragged last panel is packed. The products are bit for bit those of
    packing every panel, for every transpose, several K slices and both task layouts."""
    variants = [("f32", ta, tb) for ta, tb in gemm.TRANSPOSES] + [("f64", True, False)]
    in_place = compile_variants(variants)
    monkeypatch.setattr(gemm._GemmEmitter, "A_IN_PLACE", False)
    packed = compile_variants(variants)
    with parallel.ThreadPool(in_place, 2) as pool:
        for dtype, trans_a, trans_b in variants:
            calls = [caller(engine, dtype, trans_a, trans_b) for engine in (in_place, packed)]
            for m, n, k in [(64, 100, 1000), (129, 129, 129), (784, 256, 128), (7, 45, 600),
                            (203, 10, 64)]:
                a, b = operands(rng, dtype, m, n, k, trans_a, trans_b)
                for address in (None, pool.address):
                    c_in_place, c_packed = (np.full((m, n), np.nan, DTYPES[dtype])
                                            for _ in range(2))
                    calls[0](address, a, b, c_in_place)
                    calls[1](address, a, b, c_packed)
                    np.testing.assert_array_equal(c_in_place, c_packed)


@pytest.mark.parametrize("n", [1, 15, 16, 17, 127, 128, 129, 300])
@pytest.mark.parametrize("dtype,trans_a", [("f32", False), ("f32", True), ("f64", False)])
def test_one_row_streams_b_as_a_gemv(engine, pool, rng, dtype, trans_a, n):
    """M = 1 with B as stored (batch-1 inference) takes the GEMV path: every column
    block edge, alpha and beta (NaN in C never leaks in with beta 0), a B that is a
    submatrix, and the epilogue called on the finished row."""
    call = caller(engine, dtype, trans_a, False)
    for k in (1, 7, 784):
        a, b = operands(rng, dtype, 1, n + 3, k, trans_a, False)
        b = b[:, 2: n + 2]                                # leading dimension n + 3
        expected, bound = reference(a, b, trans_a, False)
        c = np.full((1, n), np.nan, DTYPES[dtype])
        blocks = BlockLog(c)
        call(pool.address, a, b, c, epilogue=blocks)
        assert_close(c, expected, bound)
        blocks.check()
        c0 = rng.standard_normal((1, n)).astype(DTYPES[dtype])
        c = c0.copy()
        call(None, a, b, c, alpha=-0.5, beta=2.0)
        assert_close(c, -0.5 * expected + 2.0 * c0.astype(np.float64),
                     0.5 * bound + 4 * np.abs(c0) * np.finfo(c.dtype).eps)
