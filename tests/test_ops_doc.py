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


REWRITTEN_BEFORE_LOWERING = {"sum_like": "simplify turns it into reduce_sum"}


def test_every_op_says_how_it_lowers_on_its_opdef():
    """Everything about an op lives in its OpDef, its lowering too: an elementwise rule,
    a data-movement rule, a reshape's view, a kernel template — or it is a source."""
    silent = sorted(name for name, op in OPS.items()
                    if not (op.source or op.scalar is not None or op.element is not None
                            or op.row_major_view or op.lowering)
                    and name not in REWRITTEN_BEFORE_LOWERING)
    assert not silent, f"ops with no lowering on their OpDef: {silent}"


def test_no_graph_op_name_appears_in_the_code_generators():
    """Renderers translate loop IR; an op's name in graphc/codegen would mean lowering
    left it op-specific work. Loop-IR operator names (exp, add, ...) and buffer kinds
    (variable, constant) coincide with some op names and are allowed."""
    import ast
    import pathlib
    from graphc.lower.loopir import BINARY_OPS, COMPARE_OPS, UNARY_OPS
    allowed = set(UNARY_OPS) | set(BINARY_OPS) | set(COMPARE_OPS) | {
        "variable", "constant", "gather"}       # buffer kinds; LLVM's masked gather intrinsic
    root = pathlib.Path(graphc.__file__).parent / "codegen"
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in OPS and node.value not in allowed:
                found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value!r}")
    assert not found, "\n".join(found)
