"""`gc.init`: initial values for variables."""
from .frontends.initializers import (constant, gaussian, glorot_normal, glorot_uniform,
                                     he_normal, he_uniform, ones, uniform, xavier_normal,
                                     xavier_uniform, zeros)

__all__ = ["constant", "gaussian", "glorot_normal", "glorot_uniform", "he_normal",
           "he_uniform", "ones", "uniform", "xavier_normal", "xavier_uniform", "zeros"]
