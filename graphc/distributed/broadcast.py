"""`broadcast_variables`: every rank takes rank `root`'s variable values, so training
starts (or, after a checkpoint restore on one rank, continues) from the same weights."""
from __future__ import annotations

import numpy as np

from ..ops.collective import world
from ..ops.state import global_variables


def broadcast_variables(session, root: int = 0, var_list=None) -> None:
    """Overwrite this session's variables (all of its graph's by default, optimizer slots
    included) with rank `root`'s. Every rank must call it with the same variables."""
    comm = world()
    if comm is None or comm.Get_size() == 1:
        return
    if var_list is None:
        var_list = global_variables(session.graph)
    for var in var_list:
        value = np.array(session.variable_value(var), order="C")   # 0-d stays 0-d
        comm.Bcast(value, root=root)
        session.set_variable_value(var, value)
