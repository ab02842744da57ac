"""gc.signal: windows, framing, discrete Fourier transforms, the short-time Fourier
transform and mel filter banks (TF1's tf.signal names), composed of graphc ops.

graphc has no complex dtype, so a complex tensor is a (real, imag) pair of real ones.
Shapes are static, so a DFT of length N is a product with constant N x K cosine and
sine matrices (O(N·K) per transform, not an FFT's O(N log N): meant for the short
signals of models); its gradient is the product with the transposed matrices. Windows
and mel matrices are constants computed in float64.
"""
from __future__ import annotations

import numpy as np

from ..ir import Node, ShapeError, as_dtype, float32
from .base import as_tensor, normalize_axis
from .indexing import gather, getitem, pad
from .linalg import matmul
from .shape import transpose
from .state import constant, identity


# -- windows --------------------------------------------------------------------------------
def _cosine_window(window_length, periodic, dtype, coefficients, name) -> Node:
    """Σ_m (−1)^m a_m cos(2π m n / N'), N' = N when periodic, N − 1 when symmetric."""
    n = int(window_length)
    span = n if periodic else n - 1
    phase = 2 * np.pi * np.arange(n) / max(span, 1)
    w = sum((-1) ** m * a * np.cos(m * phase) for m, a in enumerate(coefficients))
    return constant(np.asarray(w, as_dtype(dtype).np_type), name=name)


def hann_window(window_length, periodic=True, dtype=float32, name=None) -> Node:
    """0.5 − 0.5·cos(2πn/N')."""
    return _cosine_window(window_length, periodic, dtype, (0.5, 0.5), name or "hann_window")


def hamming_window(window_length, periodic=True, dtype=float32, name=None, alpha=0.54,
                   beta=0.46) -> Node:
    """alpha − beta·cos(2πn/N') (TF1's 0.54 and 0.46 by default; ONNX uses 25/46 and
    21/46)."""
    return _cosine_window(window_length, periodic, dtype, (alpha, beta),
                          name or "hamming_window")


def blackman_window(window_length, periodic=True, dtype=float32, name=None) -> Node:
    """0.42 − 0.5·cos(2πn/N') + 0.08·cos(4πn/N')."""
    return _cosine_window(window_length, periodic, dtype, (0.42, 0.5, 0.08),
                          name or "blackman_window")


# -- framing --------------------------------------------------------------------------------
def frame(signal, frame_length, frame_step, axis=-1, name=None) -> Node:
    """The frames signal[..., t·step : t·step + length, ...] for t = 0 .. (n − length) //
    step, stacked: `axis` becomes [frames, frame_length] (TF1's tf.signal.frame without
    padding)."""
    signal = as_tensor(signal)
    axis = normalize_axis(int(axis), signal.rank)
    n, length, step = signal.shape[axis], int(frame_length), int(frame_step)
    if n is None or not 0 < length <= n or step < 1:
        raise ShapeError(f"frame of '{signal.name}' {signal.type} along axis {axis}: need a "
                         f"known size of at least frame_length {length}, and step >= 1")
    starts = np.arange((n - length) // step + 1)[:, None] * step
    return gather(signal, constant(starts + np.arange(length)), axis=axis,
                  name=name or "frame")


# -- discrete Fourier transforms ----------------------------------------------------------
def _resized(x: Node, axis: int, size: int) -> Node:
    """x cut or zero-padded to `size` along axis."""
    n = x.shape[axis]
    if n == size:
        return x
    if n > size:
        return getitem(x, (slice(None),) * axis + (slice(0, size),))
    widths = [(0, 0)] * x.rank
    widths[axis] = (0, size - n)
    return pad(x, widths)


def _along(x: Node, axis: int, matrix: np.ndarray) -> Node:
    """Σ_n x[..., n, ...] · matrix[n, k] along `axis` (a matmul with the axis moved last)."""
    last = x.rank - 1
    perm = [a for a in range(x.rank) if a != axis] + [axis]
    t = x if axis == last else transpose(x, perm)
    y = matmul(t, constant(matrix.astype(x.dtype.np_type)))
    return y if axis == last else transpose(y, np.argsort(perm).tolist())


def _plus(a, b):
    return b if a is None else a if b is None else a + b


def dft(real, imag=None, axis=-1, inverse=False, onesided=False, length=None,
        name=None):
    """The DFT of the complex signal real + i·imag (imag None: a real signal) along
    `axis`: y[k] = Σ_n x[n] e^(∓2πi kn/N), the inverse with + and divided by N.
    `length` N cuts or zero-pads the input (default its size). onesided: forward, only
    the N//2 + 1 bins of a real signal's Hermitian spectrum; inverse, those bins in and
    the real signal of length N out (default 2·(bins − 1)), as numpy's irfft.
    Returns (real, imag), or the real signal for a onesided inverse."""
    real = as_tensor(real)
    imag = None if imag is None else as_tensor(imag)
    axis = normalize_axis(int(axis), real.rank)
    n_in = real.shape[axis]
    if n_in is None:
        raise ShapeError(f"dft of '{real.name}' {real.type}: axis {axis} needs a known size")
    if inverse and onesided:
        n = int(length) if length is not None else 2 * (n_in - 1)
        bins = n // 2 + 1
        k, t = np.arange(bins)[:, None], np.arange(n)[None, :]
        weight = np.where((k == 0) | (2 * k == n), 1.0, 2.0) / n
        angle = 2 * np.pi * k * t / n
        y = _along(_resized(real, axis, bins), axis, weight * np.cos(angle))
        if imag is not None:
            y = y - _along(_resized(imag, axis, bins), axis, weight * np.sin(angle))
        return y if name is None else identity(y, name=name)
    n = int(length) if length is not None else n_in
    k = n // 2 + 1 if onesided else n
    angle = 2 * np.pi * np.arange(n)[:, None] * np.arange(k)[None, :] / n
    scale = 1.0 / n if inverse else 1.0
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    if inverse:
        sin = -sin                       # e^(+iθ) = cos θ + i sin θ: (−sin) in the rules
    xr = _resized(real, axis, n)
    xi = None if imag is None else _resized(imag, axis, n)
    # (xr + i·xi)(cos − i·sin) = (xr·cos + xi·sin) + i(xi·cos − xr·sin)
    out_real = _plus(_along(xr, axis, cos), None if xi is None else _along(xi, axis, sin))
    out_imag = _along(xr, axis, -sin)
    if xi is not None:
        out_imag = _along(xi, axis, cos) + out_imag
    return out_real, out_imag


def rfft(input_tensor, fft_length=None, name=None):
    """The onesided DFT of a real signal along its last axis: (real, imag), each with
    fft_length // 2 + 1 bins (TF1's tf.signal.rfft, as a pair)."""
    return dft(input_tensor, None, -1, onesided=True, length=fft_length, name=name)


def irfft(real, imag, fft_length=None, name=None) -> Node:
    """The real signal of length fft_length whose onesided spectrum is real + i·imag
    along the last axis (TF1's tf.signal.irfft of a pair)."""
    return dft(real, imag, -1, inverse=True, onesided=True, length=fft_length, name=name)


def stft(signals, frame_length, frame_step, fft_length=None, window_fn=hann_window,
         pad_end=False, name=None, window=None, onesided=True, imag=None):
    """Short-time Fourier transform along the last axis: frames of `frame_length` every
    `frame_step`, times the window (`window_fn(frame_length, dtype=...)`, or a given
    `window` tensor; None: rectangular), then the DFT of length fft_length (default
    frame_length), onesided by default. Returns (real, imag) shaped
    [..., frames, bins] (TF1's tf.signal.stft, as a pair; `imag`: a complex signal's
    imaginary part, with onesided=False)."""
    if pad_end:
        raise ValueError("stft: pad_end=True is not supported")
    signals = as_tensor(signals)
    frames = frame(signals, frame_length, frame_step, axis=-1)
    frames_imag = None if imag is None else frame(imag, frame_length, frame_step, axis=-1)
    if window is None and window_fn is not None:
        window = window_fn(int(frame_length), dtype=signals.dtype)
    if window is not None:
        frames = frames * window
        frames_imag = None if frames_imag is None else frames_imag * window
    return dft(frames, frames_imag, -1, onesided=onesided,
               length=frame_length if fft_length is None else fft_length, name=name)


# -- mel filter banks -----------------------------------------------------------------------
def mel_weight_matrix(num_mel_bins, dft_length, sample_rate, lower_edge_hertz,
                      upper_edge_hertz, dtype=float32, name=None) -> Node:
    """ONNX's MelWeightMatrix, [dft_length // 2 + 1, num_mel_bins]: triangular filters of
    peak 1 on the mel scale mel(f) = 2595·log10(1 + f/700), their edges num_mel_bins + 2
    points mel_step = (mel(upper) − mel(lower)) / (num_mel_bins + 2) apart from
    mel(lower), each rounded down to a spectrogram bin ⌊(dft_length + 1)·f / rate⌋.
    (TF1's linear_to_mel_weight_matrix places its edges differently.)"""
    bins, spectrum = int(num_mel_bins), int(dft_length) // 2 + 1
    low = 2595 * np.log1p(lower_edge_hertz / 700) / np.log(10)
    high = 2595 * np.log1p(upper_edge_hertz / 700) / np.log(10)
    mels = np.arange(bins + 2) * ((high - low) / (bins + 2)) + low
    hertz = 700 * np.expm1(mels / 2595 * np.log(10))
    edges = ((int(dft_length) + 1) * hertz // sample_rate).astype(int)
    j = np.arange(spectrum)[:, None]
    left, center, right = edges[:-2], edges[1:-1], edges[2:]
    rising = np.where((j >= left) & (j <= center),
                      (j - left) / np.maximum(center - left, 1), 0.0)
    rising = np.where((center == left) & (j == center), 1.0, rising)
    falling = np.where((j >= center) & (j < right),
                       (right - j) / np.maximum(right - center, 1), 0.0)
    matrix = np.where((j >= center) & (j < right), falling, rising)
    return constant(matrix.astype(as_dtype(dtype).np_type), name=name or "mel_weight_matrix")
