"""`gc.signal`: windows, frames, DFTs (complex values as (real, imag) pairs), the STFT
and mel filter banks, with TF1's tf.signal names."""
from .ops.signal import (blackman_window, dft, frame, hamming_window, hann_window, irfft,
                         mel_weight_matrix, rfft, stft)

__all__ = ["blackman_window", "dft", "frame", "hamming_window", "hann_window", "irfft",
           "mel_weight_matrix", "rfft", "stft"]
