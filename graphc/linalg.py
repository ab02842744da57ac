"""`gc.linalg`: TF1's tf.linalg names for graphc's matrix functions."""
from .ops.constructors import eye
from .ops.determinant import det
from .ops.linalg import matmul

__all__ = ["det", "eye", "matmul"]
