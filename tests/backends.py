"""The backends the suite's backend tests run on, from one list: the numpy interpreter
(the oracle), the loop-IR interpreter (lowering checked without a code generator) and
the native backends. A new backend joins here."""
NATIVE = ("llvm", "c")              # compiled to machine code: fast enough for any shape
COMPILED = ("loopir",) + NATIVE     # every backend that lowers programs to loop IR
ALL = ("numpy",) + COMPILED
