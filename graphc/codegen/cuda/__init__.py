"""The CUDA backend: the loop IR rendered as one CUDA translation unit per program."""
