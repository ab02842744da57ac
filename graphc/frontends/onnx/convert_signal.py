"""ONNX's signal ops on gc.signal: DFT and STFT (ONNX's trailing axis of 1 or 2 holds a
real or a complex value; graphc works on (real, imag) pairs), the windows and
MelWeightMatrix (constants: their sizes must be known when the graph is built)."""
from __future__ import annotations

from ... import ops
from ...ops import signal
from .context import converter
from .dtypes import TO_GRAPHC, onnx_type_name


def _parts(ctx, x):
    """(real, imag or None) of an ONNX signal [..., 1 | 2]."""
    if x.shape[-1] not in (1, 2):
        raise ctx.error(f"the last axis of {x.type} must hold 1 (real) or 2 (complex) values")
    real = ops.getitem(x, (Ellipsis, 0))
    return real, ops.getitem(x, (Ellipsis, 1)) if x.shape[-1] == 2 else None


def _complex(real, imag):
    return ops.stack([real, imag], axis=-1)


def _dtype(ctx):
    to = ctx.attr("output_datatype", 1)
    if to not in TO_GRAPHC:
        raise ctx.error(f"output_datatype {onnx_type_name(to)}: graphc lacks that dtype")
    return TO_GRAPHC[to]


@converter("DFT", attrs=("axis", "inverse", "onesided"))
def dft(ctx):
    x = ctx.input(0)
    length = ctx.static_ints(1, None)
    axis = ctx.static_ints(2, None)[0] if ctx.has_input(2) else ctx.attr("axis", 1)
    axis %= x.rank
    if axis == x.rank - 1:
        raise ctx.error("the transformed axis cannot be the last (real, imag) axis")
    inverse, onesided = bool(ctx.attr("inverse", 0)), bool(ctx.attr("onesided", 0))
    real, imag = _parts(ctx, x)
    y = signal.dft(real, imag, axis, inverse, onesided, None if length is None else length[0])
    if inverse and onesided:
        return ops.expand_dims(y, -1)
    return _complex(*y)


@converter("STFT", attrs=("onesided",))
def stft(ctx):
    x = ctx.input(0)
    step = ctx.static_ints(1)[0]
    window = ctx.input(2) if ctx.has_input(2) else None
    length = ctx.static_ints(3)[0] if ctx.has_input(3) else \
        window.shape[0] if window is not None else x.shape[1]
    real, imag = _parts(ctx, x)
    return _complex(*signal.stft(real, length, step, window_fn=None, window=window,
                                 onesided=bool(ctx.attr("onesided", 1)), imag=imag))


_WINDOWS = {"HannWindow": signal.hann_window,
            "HammingWindow": lambda n, periodic, dtype: signal.hamming_window(
                n, periodic, dtype, alpha=25 / 46, beta=21 / 46),
            "BlackmanWindow": signal.blackman_window}


@converter(*_WINDOWS, attrs=("output_datatype", "periodic"))
def window(ctx):
    return _WINDOWS[ctx.op_type](ctx.static_ints(0)[0], bool(ctx.attr("periodic", 1)),
                                 _dtype(ctx))


@converter("MelWeightMatrix", attrs=("output_datatype",))
def mel_weight_matrix(ctx):
    num_mel_bins, dft_length, rate = (ctx.static_ints(i)[0] for i in range(3))
    low, high = (float(ctx.static(i)) for i in (3, 4))
    return signal.mel_weight_matrix(num_mel_bins, dft_length, rate, low, high, _dtype(ctx))
