"""exp and log as plain LLVM arithmetic, so that loops calling them vectorise.

Why: LLVM lowers `llvm.exp.f32` / `llvm.log.f32` in a vectorised loop to one scalar libm
call per lane, with the vector spilled to the stack around each call. seed-2layer's
sigmoid over 64×100 values took ~16 µs that way. Written as multiplies, adds, bit
operations and selects, the same functions vectorise like any other arithmetic.

exp(x) = 2^n · e^r with n = rint(x / ln 2) and r = x − n·ln 2 in [−ln 2/2, ln 2/2]:
- r is computed in two steps (n·LN2_HI is exact, n·LN2_LO adds the rest), so it carries
  no error from the reduction;
- e^r is its Taylor polynomial, of the degree whose remainder r^(d+1)/(d+1)! is below
  half an ulp at |r| = ln 2/2 (7 for f32, 13 for f64);
- 2^n is applied in two halves, 2^(n−n//2) · 2^(n//2), each a valid normal number, so
  results that are subnormal or overflow to inf round correctly in the last multiply;
- x is clamped to a range slightly wider than where exp is finite and non-zero; NaN
  passes through.

log(x) = e·ln 2 + log(m) with x = m·2^e and m in [√½, √2):
- log(m) = log(1 + f) = 2·atanh(s) = 2s + 2s³/3 + 2s⁵/5 + … with f = m − 1 (exact) and
  s = f/(2 + f), |s| ≤ 0.172, to the term below half an ulp (s¹¹ for f32, s²¹ for f64);
  it is summed as f − (f²/2 − s·(f²/2 + 2s²/3 + …)), so that the exact f leads and
  the rounding errors fall on a smaller correction;
- subnormal x is scaled into the normal range first; x < 0 gives NaN, 0 gives −inf,
  inf gives inf, NaN passes through.

Both are within about 1 ulp of the exact result (measured: at most 0.9 ulp for f32 and
1.1 for f64; tests/test_llvm_vmath.py checks 2 ulp over the whole range, specials
included). No fast-math flags are set
on the reduction: reassociating it would undo the two-step subtraction.
"""
from __future__ import annotations

import decimal
import math
from dataclasses import dataclass

import llvmlite.ir as ir


@dataclass(frozen=True)
class _Format:
    """What exp and log need to know about a float type."""
    float_type: ir.Type
    int_type: ir.Type
    mantissa_bits: int
    bias: int
    exp_degree: int            # Taylor degree of e^r
    log_terms: int             # terms of the atanh series
    exp_low: float             # exp(x) rounds to 0 below this
    exp_high: float            # and to inf above this
    split_bits: int            # LN2_HI keeps this many fraction bits (n·LN2_HI exact)


_F32 = _Format(ir.FloatType(), ir.IntType(32), 23, 127, 7, 6, -104.0, 89.0, 16)
_F64 = _Format(ir.DoubleType(), ir.IntType(64), 52, 1023, 13, 11, -746.0, 710.0, 32)


def _format(value: ir.Value) -> _Format:
    return _F32 if isinstance(value.type, ir.FloatType) else _F64


def _const(fmt: _Format, value: float) -> ir.Constant:
    return ir.Constant(fmt.float_type, value)


def _intrinsic(module: ir.Module, name: str, fmt: _Format) -> ir.Function:
    full = f"{name}.{'f32' if fmt is _F32 else 'f64'}"
    fn = module.globals.get(full)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(fmt.float_type, [fmt.float_type]), full)
    return fn


def _ln2_parts(fmt: _Format) -> tuple[float, float]:
    """ln 2 as HI + LO, HI with few enough bits that n·HI is exact for every n used, LO
    the rest of ln 2 to 40 digits (not of the double nearest ln 2: for |n| ~ 1000 that
    double's error alone would be ~200 ulp of an f64 result)."""
    with decimal.localcontext() as context:
        context.prec = 40
        ln2 = decimal.Decimal(2).ln()
        scale = 2 ** fmt.split_bits
        high = decimal.Decimal(int(ln2 * scale)) / scale      # exact: a dyadic fraction
        return float(high), float(ln2 - high)


def _power_of_two(b: ir.IRBuilder, fmt: _Format, n: ir.Value) -> ir.Value:
    """2^n as a float, for n (an integer value) within the normal exponent range."""
    biased = b.add(n, ir.Constant(fmt.int_type, fmt.bias))
    return b.bitcast(b.shl(biased, ir.Constant(fmt.int_type, fmt.mantissa_bits)),
                     fmt.float_type)


def _horner(b: ir.IRBuilder, fmt: _Format, x: ir.Value, coefficients) -> ir.Value:
    """Σ coefficients[k]·x^k, highest power first (multiply-adds may fuse)."""
    acc = _const(fmt, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        acc = b.fadd(b.fmul(acc, x, flags=("contract",)), _const(fmt, c),
                     flags=("contract",))
    return acc


def exp(b: ir.IRBuilder, module: ir.Module, x: ir.Value) -> ir.Value:
    """e^x of a float or double value."""
    fmt = _format(x)
    clamped = b.select(b.fcmp_ordered(">", x, _const(fmt, fmt.exp_high)),
                       _const(fmt, fmt.exp_high), x)
    clamped = b.select(b.fcmp_ordered("<", clamped, _const(fmt, fmt.exp_low)),
                       _const(fmt, fmt.exp_low), clamped)
    n = b.call(_intrinsic(module, "llvm.rint", fmt),
               [b.fmul(clamped, _const(fmt, 1 / math.log(2)))])
    high, low = _ln2_parts(fmt)
    r = b.fsub(clamped, b.fmul(n, _const(fmt, high)))
    r = b.fsub(r, b.fmul(n, _const(fmt, low)))
    taylor = _horner(b, fmt, r, [1 / math.factorial(k) for k in range(fmt.exp_degree + 1)])
    whole = b.fptosi(n, fmt.int_type)
    half = b.ashr(whole, ir.Constant(fmt.int_type, 1))
    scaled = b.fmul(b.fmul(taylor, _power_of_two(b, fmt, b.sub(whole, half))),
                    _power_of_two(b, fmt, half))
    return b.select(b.fcmp_unordered("uno", x, x), x, scaled)


def log(b: ir.IRBuilder, module: ir.Module, x: ir.Value) -> ir.Value:
    """Natural log of a float or double value."""
    fmt = _format(x)
    it, bits = fmt.int_type, fmt.mantissa_bits
    smallest_normal = 2.0 ** (1 - fmt.bias)
    subnormal = b.fcmp_ordered("<", x, _const(fmt, smallest_normal))
    normal = b.select(subnormal, b.fmul(x, _const(fmt, 2.0 ** bits)), x)
    word = b.bitcast(normal, it)
    exponent = b.sub(b.lshr(word, ir.Constant(it, bits)), ir.Constant(it, fmt.bias))
    exponent = b.select(subnormal, b.sub(exponent, ir.Constant(it, bits)), exponent)
    mantissa_mask = (1 << bits) - 1
    one_bits = fmt.bias << bits
    m = b.bitcast(b.or_(b.and_(word, ir.Constant(it, mantissa_mask)),
                        ir.Constant(it, one_bits)), fmt.float_type)      # in [1, 2)
    big = b.fcmp_ordered(">", m, _const(fmt, math.sqrt(2)))
    m = b.select(big, b.fmul(m, _const(fmt, 0.5)), m)                 # in [√½, √2)
    exponent = b.select(big, b.add(exponent, ir.Constant(it, 1)), exponent)
    f = b.fsub(m, _const(fmt, 1.0))                                   # exact
    s = b.fdiv(f, b.fadd(f, _const(fmt, 2.0)))
    z = b.fmul(s, s)
    rest = b.fmul(z, _horner(b, fmt, z, [2 / (2 * k + 3) for k in range(fmt.log_terms - 1)]))
    # log(1+f) = 2s + s·rest and 2s = f − s·f = f − (f²/2 − s·f²/2): f leads, exactly
    half_square = b.fmul(_const(fmt, 0.5), b.fmul(f, f))
    log_m = b.fsub(f, b.fsub(half_square, b.fmul(s, b.fadd(half_square, rest))))
    high, low = _ln2_parts(fmt)
    e = b.sitofp(exponent, fmt.float_type)
    result = b.fadd(b.fmul(e, _const(fmt, high)), b.fadd(log_m, b.fmul(e, _const(fmt, low))))
    # specials: 0 → −inf, +inf → +inf, x < 0 or NaN → NaN
    result = b.select(b.fcmp_ordered("==", x, _const(fmt, 0.0)), _const(fmt, -math.inf),
                      result)
    result = b.select(b.fcmp_ordered("==", x, _const(fmt, math.inf)), x, result)
    return b.select(b.fcmp_unordered("<", x, _const(fmt, 0.0)), _const(fmt, math.nan),
                    result)
