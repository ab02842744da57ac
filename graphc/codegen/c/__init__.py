"""The C backend: loop IR rendered as one C99 translation unit per program."""
