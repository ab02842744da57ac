"""`gc.bitwise`: TF1's tf.bitwise on int32 / int64 tensors."""
from .ops.bitwise import (bitwise_and, bitwise_or, bitwise_xor, invert, left_shift,
                          right_shift)

__all__ = ["bitwise_and", "bitwise_or", "bitwise_xor", "invert", "left_shift", "right_shift"]
