"""The default pictures of the README's and examples' models stay readable on a laptop.

Each model's train step and gradient flow is rendered to PNG with no options at all, and
its size checked against a bound: about 2,000 px on the long side (a laptop screen at
full size, or one zoom step), a little more for the 22-block ResNet whose forward chain
alone is 22 boxes tall. Before the layer grouping, these pictures were up to 43,395 px
wide (cifar_resnet's train step) and 7,860 × 6,113 px (the 12-layer MLP's flow).
"""
import struct

import pytest

import graphc as gc
from graphc import models
from graphc.viz import find_renderer

pytestmark = pytest.mark.skipif(find_renderer() is None,
                                reason="no Graphviz renderer (pip install graphviz-pure)")

LONG_SIDE = 2500
BOUNDS = {"mlp": LONG_SIDE, "lenet5": LONG_SIDE, "deep_mlp": LONG_SIDE,
          "cifar_vgg": 2700, "cifar_resnet": 3300}


def png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG's header chunk."""
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_default_train_step_picture_fits_a_laptop_screen(name, tmp_path):
    m = getattr(models, name)()
    path = gc.viz.render([m.loss, m.train_op], tmp_path / "step.png")
    width, height = png_size(path)
    assert max(width, height) <= BOUNDS[name], (width, height)
    assert min(width, height) >= 600                # not shrunk to a stamp either


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_default_gradient_flow_picture_fits_a_laptop_screen(name, tmp_path):
    m = getattr(models, name)()
    _, norms = gc.viz.render_gradient_flow(m.loss, feed_dict=m.batch(2),
                                           path=tmp_path / "flow.png")
    width, height = png_size(tmp_path / "flow.png")
    assert max(width, height) <= BOUNDS[name], (width, height)
    assert len(norms) == len(m.graph.get_collection("trainable_variables"))
