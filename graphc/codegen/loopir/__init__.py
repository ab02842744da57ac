"""`backend="loopir"`: the lowered program run by the loop-IR interpreter, in Python."""
