"""TF1 fetch structures: a tensor, a name, or lists / tuples / dicts of them, nested."""
from __future__ import annotations

from ..ir import Graph, GraphMismatchError, Node


def flatten_fetches(graph: Graph, fetches) -> list[Node]:
    out: list[Node] = []
    _collect(graph, fetches, out, "fetches")
    return out


def _collect(graph, item, out, where: str):
    if isinstance(item, Node):
        if item.graph is not graph:
            raise GraphMismatchError(f"fetch '{item.name}' belongs to another graph than the "
                                     "session's")
        out.append(item)
    elif isinstance(item, str):
        out.append(graph.get_tensor_by_name(item))
    elif isinstance(item, dict):
        for k, v in item.items():
            _collect(graph, v, out, f"{where}[{k!r}]")
    elif isinstance(item, list | tuple):
        for i, v in enumerate(item):
            _collect(graph, v, out, f"{where}[{i}]")
    elif item is None:
        raise TypeError(f"{where} is None: gc.gradients gives None for a variable the loss "
                        "does not depend on (no path from the loss to it); leave that "
                        "gradient out, or check that the model uses the variable")
    else:
        raise TypeError(f"cannot fetch {item!r} ({where}): fetch tensors, names, or "
                        "lists/tuples/dicts of them")


def rebuild(fetches, values: list, position: list | None = None):
    """Put flat `values` back into the shape of `fetches` (in flatten order)."""
    position = position if position is not None else [0]
    if isinstance(fetches, Node | str):
        v = values[position[0]]
        position[0] += 1
        return v
    if isinstance(fetches, dict):
        return type(fetches)((k, rebuild(v, values, position)) for k, v in fetches.items())
    items = [rebuild(v, values, position) for v in fetches]
    if isinstance(fetches, tuple) and hasattr(fetches, "_fields"):   # namedtuple
        return type(fetches)(*items)
    return type(fetches)(items)
