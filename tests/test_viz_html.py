"""gc.viz.render(..., "graph.html"): one self-contained interactive page.

The page's structure is checked here in Python; tests/test_viz_browser.py drives it in
headless Chromium.
"""
import json
import re

import numpy as np
import pytest

import graphc as gc
from graphc import models
from graphc.viz import find_renderer

pytestmark = pytest.mark.skipif(find_renderer() is None,
                                reason="no Graphviz renderer (pip install graphviz-pure)")


def page_data(path) -> dict:
    text = path.read_text(encoding="utf-8")
    data = re.search(r'<script id="graphc-data" type="application/json">(.*?)</script>',
                     text, re.S).group(1)
    return json.loads(data.replace("<\\/", "</"))


def trained_mlp(steps_recorded_every=2):
    """A small MLP trained a few steps with gradient norms recorded, and its history."""
    m = models.mlp(lr=0.05)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 784)).astype(np.float32)
    y = rng.integers(0, 10, 48).astype(np.int32)
    sess = gc.Session(m.graph, backend="numpy")
    history = gc.train.fit(sess, m.train_op, m.loss, (m.x, m.y), (x, y), epochs=2,
                           batch_size=16, progress=False, log=None,
                           record_gradients=steps_recorded_every)
    return m, history


def test_the_page_is_one_file_that_needs_no_network(tmp_path):
    m = models.mlp()
    path = gc.viz.render([m.loss, m.train_op], tmp_path / "step.html")
    text = path.read_text(encoding="utf-8")
    assert "<script src" not in text and "<link" not in text and "@import" not in text
    # the only URLs are the SVG namespace names, which are never fetched
    urls = set(re.findall(r'https?://[^\s"\'<>)\\]+', text))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink",
                    "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"}
    data = page_data(path)
    names = [p["name"] for p in data["pictures"]]
    assert names == ["overview", "default", "everything"]
    for picture in data["pictures"]:
        assert picture["svg"].startswith("<svg")
        keys = set(re.findall(r'class="node">\s*<title>(\w+)</title>', picture["svg"]))
        assert keys == set(picture["items"])       # every box can be clicked


def test_a_backward_box_names_its_forward_node_and_source_line(tmp_path):
    m = models.mlp()
    data = page_data(gc.viz.render([m.loss, m.train_op], tmp_path / "s.html"))
    everything = data["pictures"][-1]["items"]
    grads = [i for i in everything.values()
             if dict(i["rows"]).get("forward node") == "dense_2/matmul"]
    # the source line is the first frame outside graphc: here, this test
    assert grads and all(dict(i["rows"])["source"].startswith("test_viz_html.py:")
                         for i in grads)
    kernel = next(i for i in everything.values() if i["title"] == "dense/kernel")
    assert dict(kernel["rows"]).items() >= {"op": "variable", "dtype": "float32",
                                            "shape": "f32[784,256]"}.items()
    overview = data["pictures"][0]
    frames = [i for i in overview["items"].values() if i["kind"] == "scope"]
    assert {"gradients", "Momentum"} <= {i["scope"] for i in frames}


def test_the_flow_view_carries_every_recorded_step(tmp_path):
    m, history = trained_mlp()
    assert history.gradients.steps == [1, 3, 5]
    path = gc.viz.render([m.loss, m.train_op], tmp_path / "f.html", history=history)
    flow = page_data(path)["pictures"][-1]
    assert flow["name"] == "gradient flow"
    assert flow["flow"]["steps"] == [1, 3, 5]
    tensors = {t["name"]: t for t in flow["flow"]["tensors"]}
    assert set(tensors) == set(history.gradients.grad_norms)
    kernel = tensors["dense/kernel"]
    first = history.gradients.grad_norms["dense/kernel"][0]
    assert kernel["lines"][0][0] == f"‖g‖ = {first:.3g}"
    assert len(kernel["colour"]) == len(kernel["edge"]) == 3
    assert f'<title>{kernel["node"]}&#45;&gt;{kernel["grad"]}</title>' in flow["svg"]


def test_bad_requests_are_refused_clearly(tmp_path):
    m = models.mlp()
    with pytest.raises(ValueError, match="record_gradients"):
        gc.viz.render(m.loss, tmp_path / "x.html", history=gc.train.History())
    with pytest.raises(TypeError, match="every level"):
        gc.viz.render(m.loss, tmp_path / "x.html", collapse_depth=1)
    assert not list(tmp_path.iterdir())


def test_graphc_render_writes_a_page(tmp_path, monkeypatch):
    from graphc.cli import main
    script = tmp_path / "model.py"
    script.write_text("import graphc as gc\n"
                      "x = gc.placeholder(gc.float32, (None, 2), name='x')\n"
                      "out = gc.nn.relu(x, name='out')\n")
    monkeypatch.chdir(tmp_path)
    assert main(["render", "model.py:out", "--out", "out.html"]) == 0
    data = page_data(tmp_path / "out.html")
    assert any(i["title"] == "out" for i in data["pictures"][0]["items"].values())
