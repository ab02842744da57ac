"""docs/ops.md lists every registered op, once, with a gradient rule."""
import os
import re

import graphc  # noqa: F401 - importing graphc registers every op
from graphc.ir import OPS

DOC = os.path.join(os.path.dirname(__file__), "..", "docs", "ops.md")
ROW = re.compile(r"^\| `([a-z0-9_]+)` \|(.+)\|(.+)\|\s*$")


def _documented() -> dict[str, str]:
    rows = {}
    with open(DOC, encoding="utf-8") as f:
        for line in f:
            match = ROW.match(line)
            if match:
                name, _, gradient = match.groups()
                assert name not in rows, f"op '{name}' is listed twice in docs/ops.md"
                rows[name] = gradient.strip()
    return rows


def test_every_registered_op_is_in_the_op_reference():
    missing = sorted(set(OPS) - set(_documented()))
    assert not missing, f"ops missing from docs/ops.md (add one line each): {missing}"


def test_the_op_reference_lists_only_registered_ops():
    stale = sorted(set(_documented()) - set(OPS))
    assert not stale, f"docs/ops.md lists ops that are not registered: {stale}"


def test_every_line_states_a_gradient_rule():
    empty = [name for name, gradient in _documented().items() if not gradient]
    assert not empty, f"ops without a gradient rule in docs/ops.md: {empty}"
