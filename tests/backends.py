"""The backends the suite's backend tests run on, from one list: the numpy interpreter
(the oracle), the loop-IR interpreter (lowering checked without a code generator), the
native CPU backends, and the CUDA backend's generated source built for the CPU
("cuda-host": how CI, which has no GPU, runs the CUDA code). A new backend joins here."""
NATIVE = ("llvm", "c", "cuda-host")   # compiled to machine code: fast enough for any shape
COMPILED = ("loopir",) + NATIVE     # every backend that lowers programs to loop IR
ALL = ("numpy",) + COMPILED
