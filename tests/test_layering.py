"""graphc's packages form layers: each imports only from the layers below it, lazy
(function-level) imports included, so there is no import cycle and the compiler core
does not reach up into sessions or down into a particular backend."""
import ast
import pathlib

import graphc

ROOT = pathlib.Path(graphc.__file__).parent

LAYERS = [
    {"ir", "log"},
    {"ops"},
    {"autodiff", "runtime"},
    {"passes"},
    {"lower"},
    {"codegen"},
    {"session", "export"},
    {"distributed"},
    {"frontends", "nn", "losses", "data", "bitwise", "linalg", "signal", "image"},
    {"init", "layers", "train", "viz", "test"},
    {"models", "examples_support"},
    {"cli", "__init__", "__main__"},
]
LAYER_OF = {name: depth for depth, names in enumerate(LAYERS) for name in names}
TOOLS = {"__main__.py", "codegen/cuda/selftest.py", "export/cli.py", "frontends/onnx_cli.py"}
"""Commands run as `python -m ...` that drive the whole library: the top layer."""


def _package(path: pathlib.Path) -> str:
    """The top-level part of graphc a source file belongs to ("ir", "autodiff", ...)."""
    first = path.relative_to(ROOT).parts[0]
    return first[:-3] if first.endswith(".py") else first


def _imports(path: pathlib.Path):
    """(line, the graphc package imported) for every import in the file, nested ones too."""
    module = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = base + (node.module.split(".") if node.module else [])
            if not node.module and len(target) == 1:      # from . import x (in graphc/)
                targets = [target + [alias.name] for alias in node.names]
            else:
                targets = [target]
        elif isinstance(node, ast.Import):
            targets = [alias.name.split(".") for alias in node.names]
        else:
            continue
        for t in targets:
            if t[0] == "graphc" and len(t) > 1:
                yield node.lineno, t[1]


def test_every_package_imports_only_from_layers_below():
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        own = _package(path)
        assert own in LAYER_OF, f"{own} is in no layer: add it to LAYERS"
        layer = len(LAYERS) if str(path.relative_to(ROOT)) in TOOLS else LAYER_OF[own]
        for line, target in _imports(path):
            if target != own and LAYER_OF.get(target, -1) >= layer:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports graphc.{target}")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_lazy_upward_import(tmp_path):
    source = "def f():\n    from ..session import Session\n    return Session\n"
    path = ROOT / "lower" / "_probe_for_the_layering_test.py"
    path.write_text(source)
    try:
        assert list(_imports(path)) == [(2, "session")]
    finally:
        path.unlink()
