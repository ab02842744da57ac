"""Pictures on disk: renderer choice, SVG/PNG/PDF output, atomic writes, `graphc render`."""
import os
import textwrap

import numpy as np
import pytest

import graphc as gc
from graphc.cli import main
from graphc.viz import RenderError, find_renderer, render
from graphc.viz import drawing
from graphc.viz import renderers

RENDERER = find_renderer()
needs_renderer = pytest.mark.skipif(
    RENDERER is None, reason="no Graphviz renderer installed (pip install graphviz-pure, "
                             "a graphc dependency, or apt-get install graphviz)")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def circuit():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 3), name="x")
        w = gc.Variable(np.ones((3, 2), np.float32), name="w")
        loss = gc.reduce_sum(gc.nn.sigmoid(gc.matmul(x, w)), name="loss")
        (dw,) = gc.gradients(loss, [w])
    return g, loss, dw


def mlp10_train_step(width=32):
    """A 10-layer ReLU MLP, softmax cross-entropy, and an SGD update of all 20 variables."""
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 64), name="x")
        y = gc.placeholder(gc.int32, (None,), name="y")
        h = x
        for i in range(9):
            h = gc.layers.dense(h, width, activation=gc.nn.relu, seed=i)
        logits = gc.layers.dense(h, 10, seed=9)
        loss = gc.reduce_mean(gc.nn.sparse_softmax_cross_entropy_with_logits(
            labels=y, logits=logits), name="loss")
        params = gc.trainable_variables()
        grads = gc.gradients(loss, params)
        with gc.name_scope("sgd"):
            updates = [gc.assign_sub(w, 0.01 * gw) for w, gw in zip(params, grads)]
        train = gc.group(*updates, name="train")
    return g, loss, train


@needs_renderer
def test_svg_and_png_files(tmp_path):
    g, loss, dw = circuit()
    svg = render([loss, dw], tmp_path / "step.svg")
    png = render(g, tmp_path / "graph.png", legend=True)
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "placeholder f32[?,3]" in text
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert sorted(os.listdir(tmp_path)) == ["graph.png", "step.svg"]   # no temp files left


@needs_renderer
def test_a_digraph_renders_as_it_is(tmp_path):
    g, loss, dw = circuit()
    dot = gc.viz.to_dot(loss, title="forward only")
    out = render(dot, str(tmp_path / "forward.svg"))
    assert "forward only" in out.read_text()
    with pytest.raises(TypeError, match="options"):
        render(dot, tmp_path / "x.svg", legend=True)


def test_pdf_needs_real_dot(tmp_path):
    g, loss, dw = circuit()
    if RENDERER is not None and RENDERER.name == "dot":
        assert render(loss, tmp_path / "g.pdf").read_bytes()[:4] == b"%PDF"
        return
    with pytest.raises(RenderError, match="apt-get install graphviz"):
        render(loss, tmp_path / "g.pdf")
    assert not os.listdir(tmp_path)


def pure_renderer():
    import shutil
    path = shutil.which("graphviz-pure") or renderers._beside_python("graphviz-pure")
    return renderers.Renderer("graphviz-pure", path, renderers.PURE_FORMATS) if path else None


@pytest.mark.skipif(pure_renderer() is None, reason="graphviz-pure is not installed")
def test_graphviz_pure_writes_svg_and_png_and_refuses_pdf(tmp_path, monkeypatch):
    pure = pure_renderer()

    def only_pure():
        return pure

    monkeypatch.setattr(renderers, "find_renderer", only_pure)
    g, loss, dw = circuit()
    assert "<svg" in render([loss, dw], tmp_path / "g.svg").read_text()
    assert render([loss, dw], tmp_path / "g.png").read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(RenderError, match="apt-get install graphviz"):
        render(loss, tmp_path / "g.pdf")
    assert sorted(os.listdir(tmp_path)) == ["g.png", "g.svg"]


def test_without_a_renderer_the_error_names_the_fix_and_dot_text_still_works(
        tmp_path, monkeypatch):
    def no_renderer():
        return None

    monkeypatch.setattr(renderers, "find_renderer", no_renderer)
    g, loss, dw = circuit()
    with pytest.raises(RenderError, match="pip install graphviz-pure") as err:
        render(loss, tmp_path / "g.svg")
    assert "to_dot(...).source" in str(err.value)
    assert not os.listdir(tmp_path)
    out = render(loss, tmp_path / "g.dot")
    assert out.read_text().startswith("digraph")
    assert out.read_text() == gc.viz.to_dot(loss).source


def test_unknown_extension_and_missing_directory(tmp_path):
    g, loss, dw = circuit()
    with pytest.raises(ValueError, match="extensions"):
        render(loss, tmp_path / "g.jpeg2000")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        render(loss, tmp_path / "nowhere" / "g.dot")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    g, loss, dw = circuit()
    target = tmp_path / "g.dot"
    target.write_text("old picture")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(renderers.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        render(loss, target)
    assert target.read_text() == "old picture"
    assert os.listdir(tmp_path) == ["g.dot"]


def test_renderer_failure_is_reported(tmp_path, monkeypatch):
    fake = renderers.Renderer("graphviz-pure", "/bin/false", frozenset({"svg"}))
    def failing_renderer():
        return fake

    monkeypatch.setattr(renderers, "find_renderer", failing_renderer)
    g, loss, dw = circuit()
    with pytest.raises(RenderError, match="failed"):
        render(loss, tmp_path / "g.svg")
    assert not os.listdir(tmp_path)


def test_graphviz_package_is_pointed_at_graphviz_pure_when_there_is_no_dot(monkeypatch):
    from graphviz.backend import dot_command
    from pathlib import Path
    monkeypatch.setattr(dot_command, "DOT_BINARY", Path("dot"))
    pure = renderers.Renderer("graphviz-pure", "/opt/bin/graphviz-pure",
                                  renderers.PURE_FORMATS)
    renderers.use_renderer_for_graphviz_package(pure)
    assert dot_command.DOT_BINARY == Path("/opt/bin/graphviz-pure")
    monkeypatch.setattr(dot_command, "DOT_BINARY", Path("/my/dot"))  # the user's choice stays
    renderers.use_renderer_for_graphviz_package(pure)
    assert dot_command.DOT_BINARY == Path("/my/dot")


@needs_renderer
def test_ten_layer_mlp_train_step_renders(tmp_path):
    g, loss, train = mlp10_train_step()
    view = drawing.v.build_view([loss, train])
    assert len(view.items) <= drawing.v.DEFAULT_MAX_ITEMS < len(g.nodes)
    # a deep net: each layer is one box with its shapes; its backward pass is framed
    # by the layer it differentiates
    assert {s for s in view.expanded if len(s) == 1} == {("gradients",)}
    frames = {i.scope for i in view.items if i.kind == "scope"} | \
        {c.path for c in view.clusters}
    assert {f"gradients/dense_{k}" for k in range(1, 10)} <= frames
    out = render([loss, train], tmp_path / "mlp.svg", legend=True)
    text = out.read_text()
    assert "dense_9/" in text and "gradients/" in text
    assert "f32[?,32] → f32[?,32]" in text and "kernel f32[32,32], bias f32[32]" in text
    assert render([loss, train], tmp_path / "mlp.png").read_bytes()[:8] == PNG_MAGIC


# -- graphc render ----------------------------------------------------------------------------
SCRIPT = '''
import numpy as np
import graphc as gc

x = gc.placeholder(gc.float32, (None, 2), name="x")       # the default graph
w = gc.Variable(np.ones((2, 1), np.float32), name="w")
out = gc.matmul(x, w, name="out")


def build():
    g = gc.Graph()
    with g.as_default():
        a = gc.placeholder(gc.float32, (), name="a")
        b = gc.exp(a, name="b")
    return g, {"b": b}


if __name__ == "__main__":
    raise SystemExit("the main block must not run when rendering")
'''


def write_script(tmp_path):
    script = tmp_path / "model.py"
    script.write_text(textwrap.dedent(SCRIPT))
    return script


def test_cli_renders_a_named_tensor_a_builder_and_the_default_graph(tmp_path, capsys):
    script = write_script(tmp_path)
    assert main(["render", f"{script}:out", "--out", str(tmp_path / "out.dot")]) == 0
    text = (tmp_path / "out.dot").read_text()
    assert "out\\nmatmul f32[?,1]" in text and "w\\nvariable f32[2,1]" in text
    assert main(["render", f"{script}:build", "--out", str(tmp_path / "b.dot")]) == 0
    assert "b\\nexp f32[]" in (tmp_path / "b.dot").read_text()
    assert main(["render", str(script), "--out", str(tmp_path / "all.dot"),
                 "--collapse-depth", "0", "--rankdir", "LR"]) == 0
    assert "rankdir=LR" in (tmp_path / "all.dot").read_text()
    assert "wrote" in capsys.readouterr().out


def test_cli_renders_a_module(tmp_path):
    out = tmp_path / "two.dot"
    assert main(["render", "graphc.examples_support:two_layer_graph", "--out", str(out),
                 "--no-backward", "--legend"]) == 0
    text = out.read_text()
    assert "hidden_backward" in text and "legend" in text


@needs_renderer
def test_cli_writes_svg(tmp_path):
    script = write_script(tmp_path)
    assert main(["render", f"{script}:out", "--out", str(tmp_path / "out.svg")]) == 0
    assert "<svg" in (tmp_path / "out.svg").read_text()


def test_cli_errors_are_one_clear_line(tmp_path, capsys):
    script = write_script(tmp_path)
    assert main(["render", f"{script}:nothing", "--out", str(tmp_path / "x.dot")]) == 1
    assert "has no 'nothing'" in capsys.readouterr().err
    assert main(["render", str(tmp_path / "missing.py"), "--out", "x.dot"]) == 1
    assert "no such script" in capsys.readouterr().err
    assert main(["render", f"{script}:np", "--out", str(tmp_path / "x.dot")]) == 1
    assert "expected a gc.Graph" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["render", f"{script}:out", "--out", "x.dot", "--collapse-depth", "-2"])
    assert not (tmp_path / "x.dot").exists()


@pytest.mark.parametrize("text", ["<b>bold</b>", "C:\\models\\", 'say "hi"', "a\\nb", "<>"])
def test_titles_and_notes_are_drawn_as_the_literal_text(tmp_path, text):
    import html
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (2,), name="x")
        y = gc.exp(x, name="y")
    path = render(y, tmp_path / "g.svg", title=text, notes={y: text})
    assert html.unescape(path.read_text()).count(text) >= 2      # the title and the note
