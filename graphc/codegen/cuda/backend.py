"""`backend="cuda"`: programs compiled by nvcc and run on an NVIDIA GPU, the session's
variables kept on the device between runs. `backend="cuda-host"` builds the same
generated source for the CPU (prelude.py): how the CUDA code is tested without a GPU."""
from __future__ import annotations

from ...ir import GraphcError
from ..base.backend import CompiledBackend
from .executable import CUDAExecutable, DeviceVariables
from .toolchain import memory


class CUDABackend(CompiledBackend):
    name = "cuda"
    host_build = False

    def __init__(self, check_numerics: bool = False, static_batch: bool = False,
                 matmul_precision: str = "highest"):
        super().__init__(check_numerics, static_batch, matmul_precision)
        mem = memory(self.host_build)
        count, why = mem.devices()
        if not count:
            raise GraphcError(f"backend 'cuda' found no usable NVIDIA GPU ({why or 'none'}); "
                              "backend='cuda-host' runs the same generated CUDA code on the "
                              "CPU, slowly, for tests")
        self.device_variables = DeviceVariables(mem)

    def make_executable(self, program, lowered=None):
        return CUDAExecutable(program, self.device_variables, self.check_numerics,
                              self.host_build, tf32=self.matmul_precision == "high")

    def sync_variables(self, variables: dict) -> None:
        """Copy the variables a run updated on the device back into the session's
        arrays (before the session reads or saves them)."""
        self.device_variables.sync_to_host(variables)


class CUDAHostBackend(CUDABackend):
    name = "cuda-host"
    host_build = True
